"""参考实现：RMSNorm（PyTorch nn.Module，Llama 的写法）/ Reference: RMSNorm as a PyTorch nn.Module (Llama's).

约定同 NumPy 版：沿最后一维，不减均值，eps 在根号里，weight 直接相乘。
Conventions as in the NumPy track: over the last axis, no mean subtracted, eps inside the root, weight as given.
"""

import torch
from torch import nn


class RMSNorm(nn.Module):
    """RMSNorm(d_model, eps=1e-6)：weight 是增益 gamma / RMSNorm over the last axis; weight is the gain."""

    def __init__(self, d_model: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d_model))  # gamma：增益 / the gain

    def forward(self, x):
        """(..., D) -> (..., D)：除以均方根再乘 weight / divided by the root mean square, times the weight."""
        mean_square = x.pow(2).mean(dim=-1, keepdim=True)  # (..., 1)：不减均值 / no mean subtracted
        return x * torch.rsqrt(mean_square + self.eps) * self.weight  # (..., D)：eps 在根号里 / eps inside the root
