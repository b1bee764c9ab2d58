"""LayerNorm 的反向传播，写成 torch.autograd.Function / The LayerNorm backward, as a torch.autograd.Function.

【中文】写 class LayerNormFunction(torch.autograd.Function)：
- forward(ctx, x, weight, bias, eps)：x：(..., D)，前导维任意，也可以没有；weight（gamma）、bias（beta）：(D,)。
  沿最后一维：mean、有偏方差 var（除以 D），r = 1 / sqrt(var + eps)，x_hat = (x − mean) * r，
  返回 y = x_hat * weight + bias。用 ctx.save_for_backward 存下反向要用的张量（比如 x_hat、r、weight）。
- backward(ctx, d_y)：手写梯度，返回 (d_x, d_weight, d_bias, None)（eps 不是张量，它的梯度是 None）：
  g = d_y * weight；d_x = r * (g − mean(g) − x_hat * mean(g * x_hat))（均值沿最后一维）；
  d_weight = (d_y * x_hat) 对除最后一维外的所有维求和，d_bias = d_y 同样求和，形状都是 (D,)。
- 不许在 backward 里再调用 autograd（.backward()、torch.autograd.grad）；不许用 F.layer_norm、nn.LayerNorm。
- 评测：LayerNormFunction.apply(x, gamma, beta, eps)，对输出反传用例给的 d_out，检查 x、gamma、beta 的 .grad。float64。

[English] Write class LayerNormFunction(torch.autograd.Function):
- forward(ctx, x, weight, bias, eps): x (..., D), any leading axes or none; weight (gamma), bias (beta): (D,).
  Over the last axis: mean, BIASED var (divided by D), r = 1 / sqrt(var + eps), x_hat = (x - mean) * r; return
  y = x_hat * weight + bias. Save what backward needs with ctx.save_for_backward (x_hat, r and weight, say).
- backward(ctx, d_y): the gradients by hand; return (d_x, d_weight, d_bias, None) (eps is not a tensor):
  g = d_y * weight; d_x = r * (g - mean(g) - x_hat * mean(g * x_hat)) (means over the last axis);
  d_weight = (d_y * x_hat) summed over every axis but the last, d_bias = d_y summed likewise, both (D,).
- No autograd inside backward (.backward(), torch.autograd.grad); no F.layer_norm or nn.LayerNorm.
- Graded: LayerNormFunction.apply(x, gamma, beta, eps), then the case's d_out back-propagated and the .grad of
  x, gamma and beta checked. float64.
"""

import torch


class LayerNormFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, eps):
        raise NotImplementedError("LayerNormFunction.forward: 请实现 / write me")

    @staticmethod
    def backward(ctx, d_y):
        raise NotImplementedError("LayerNormFunction.backward: 请实现 / write me")
