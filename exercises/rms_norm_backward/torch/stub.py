"""RMSNorm 的反向传播，写成 torch.autograd.Function / The RMSNorm backward, as a torch.autograd.Function.

【中文】写 class RMSNormFunction(torch.autograd.Function)：
- forward(ctx, x, weight, eps)：x：(..., D)，前导维任意，也可以没有；weight（gamma）：(D,)。沿最后一维：
  r = 1 / sqrt(mean(x²) + eps)，x_hat = x * r，返回 y = x_hat * weight（不减均值，没有 bias）。
  用 ctx.save_for_backward 存下反向要用的张量（比如 x_hat、r、weight）。
- backward(ctx, d_y)：手写梯度，返回 (d_x, d_weight, None)（eps 不是张量，它的梯度是 None）：
  g = d_y * weight；d_x = r * (g − x_hat * mean(g * x_hat))（均值沿最后一维；没有 −mean(g) 这一项）；
  d_weight = (d_y * x_hat) 对除最后一维外的所有维求和，形状 (D,)。
- 不许在 backward 里再调用 autograd（.backward()、torch.autograd.grad）；不许用 F.rms_norm、nn.RMSNorm。
- 评测：RMSNormFunction.apply(x, gamma, eps)，对输出反传用例给的 d_out，检查 x、gamma 的 .grad。float64。

[English] Write class RMSNormFunction(torch.autograd.Function):
- forward(ctx, x, weight, eps): x (..., D), any leading axes or none; weight (gamma): (D,). Over the last axis:
  r = 1 / sqrt(mean(x^2) + eps), x_hat = x * r; return y = x_hat * weight (no mean subtracted, no bias).
  Save what backward needs with ctx.save_for_backward (x_hat, r and weight, say).
- backward(ctx, d_y): the gradients by hand; return (d_x, d_weight, None) (eps is not a tensor):
  g = d_y * weight; d_x = r * (g - x_hat * mean(g * x_hat)) (the mean over the last axis; there is no -mean(g)
  term); d_weight = (d_y * x_hat) summed over every axis but the last, shape (D,).
- No autograd inside backward (.backward(), torch.autograd.grad); no F.rms_norm or nn.RMSNorm.
- Graded: RMSNormFunction.apply(x, gamma, eps), then the case's d_out back-propagated and the .grad of x and
  gamma checked. float64.
"""

import torch


class RMSNormFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, eps):
        raise NotImplementedError("RMSNormFunction.forward: 请实现 / write me")

    @staticmethod
    def backward(ctx, d_y):
        raise NotImplementedError("RMSNormFunction.backward: 请实现 / write me")
