"""参考实现：手写反向的 LayerNorm（torch.autograd.Function）/ Reference: LayerNorm with a hand-written backward.

前向同 NumPy 版；反向 / backward, with g = d_y * weight (dL/dx_hat):
  d_x = r * (g - mean(g) - x_hat * mean(g * x_hat))    均值沿最后一维 / means over the last axis
  d_weight = sum(d_y * x_hat), d_bias = sum(d_y)        对除最后一维外的所有维求和 / over every axis but the last
"""

import torch


class LayerNormFunction(torch.autograd.Function):
    """LayerNormFunction.apply(x, weight, bias, eps)：手写反向的 LayerNorm / LayerNorm with a hand-written backward."""

    @staticmethod
    def forward(ctx, x, weight, bias, eps):
        """前向，保存 x_hat、r 和 weight 给反向用 / the forward, saving x_hat, r and weight for the backward."""
        mean = x.mean(dim=-1, keepdim=True)  # (..., 1)
        var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)  # (..., 1)：有偏 / biased
        r = 1.0 / torch.sqrt(var + eps)  # (..., 1)
        x_hat = (x - mean) * r  # (..., D)
        ctx.save_for_backward(x_hat, r, weight)  # 反向只需要这些 / all backward needs
        return x_hat * weight + bias

    @staticmethod
    def backward(ctx, d_y):
        """返回 (d_x, d_weight, d_bias, None)，公式见文件开头 / the gradients, as the module docstring derives them."""
        x_hat, r, weight = ctx.saved_tensors
        g = d_y * weight  # (..., D)：dL/dx_hat
        mean_g = g.mean(dim=-1, keepdim=True)  # (..., 1)：经过 mean 的一项 / the path through the mean
        mean_gx = (g * x_hat).mean(dim=-1, keepdim=True)  # (..., 1)：经过 var 的一项 / the path through the variance
        d_x = r * (g - mean_g - x_hat * mean_gx)  # (..., D)
        D = x_hat.shape[-1]
        d_weight = (d_y * x_hat).reshape(-1, D).sum(dim=0)  # (D,)：所有 token 求和 / summed over every token
        d_bias = d_y.reshape(-1, D).sum(dim=0)  # (D,)
        return d_x, d_weight, d_bias, None  # eps 不是张量 / eps is not a tensor
