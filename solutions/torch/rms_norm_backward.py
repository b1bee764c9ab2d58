"""参考实现：手写反向的 RMSNorm（torch.autograd.Function）/ Reference: RMSNorm with a hand-written backward.

前向同 NumPy 版；反向 / backward, with g = d_y * weight (dL/dx_hat):
  d_x = r * (g - x_hat * mean(g * x_hat))    均值沿最后一维；不减均值，所以没有 -mean(g)
                                             the mean over the last axis; no mean subtracted, so no -mean(g)
  d_weight = sum(d_y * x_hat)                对除最后一维外的所有维求和 / over every axis but the last
"""

import torch


class RMSNormFunction(torch.autograd.Function):
    """RMSNormFunction.apply(x, weight, eps)：手写反向的 RMSNorm / RMSNorm with a hand-written backward."""

    @staticmethod
    def forward(ctx, x, weight, eps):
        """前向，保存 x_hat、r 和 weight 给反向用 / the forward, saving x_hat, r and weight for the backward."""
        r = torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + eps)  # (..., 1)
        x_hat = x * r  # (..., D)
        ctx.save_for_backward(x_hat, r, weight)  # 反向只需要这些 / all backward needs
        return x_hat * weight

    @staticmethod
    def backward(ctx, d_y):
        """返回 (d_x, d_weight, None)，公式见文件开头 / the gradients, as the module docstring derives them."""
        x_hat, r, weight = ctx.saved_tensors
        g = d_y * weight  # (..., D)：dL/dx_hat
        mean_gx = (g * x_hat).mean(dim=-1, keepdim=True)  # (..., 1)：经过 r 的一项 / the path through r
        d_x = r * (g - x_hat * mean_gx)  # (..., D)
        d_weight = (d_y * x_hat).reshape(-1, x_hat.shape[-1]).sum(dim=0)  # (D,)：所有 token 求和 / every token
        return d_x, d_weight, None  # eps 不是张量 / eps is not a tensor
