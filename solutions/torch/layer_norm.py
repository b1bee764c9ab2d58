"""参考实现：LayerNorm（PyTorch nn.Module）/ Reference: LayerNorm as a PyTorch nn.Module.

约定同 NumPy 版：沿最后一维，有偏方差（除以 D），eps 在根号里，方差用两遍法。
Conventions as in the NumPy track: over the last axis, biased variance (divided by D), eps inside the root,
the variance in two passes.
"""

import torch
from torch import nn


class LayerNorm(nn.Module):
    """LayerNorm(d_model, eps=1e-5)：weight 是 gamma，bias 是 beta。

    LayerNorm(d_model, eps=1e-5) over the last axis; weight is gamma, bias is beta."""

    def __init__(self, d_model: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d_model))  # gamma：缩放 / the scale
        self.bias = nn.Parameter(torch.zeros(d_model))  # beta：平移 / the shift

    def forward(self, x):
        """(..., D) -> (..., D)：减均值、除以 sqrt(var + eps)，再缩放和平移 / normalised, then scaled and shifted."""
        mean = x.mean(dim=-1, keepdim=True)  # (..., 1)：每个 token 一份 / one per token
        var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)  # (..., 1)：有偏，两遍法 / biased, two passes
        x_hat = (x - mean) / torch.sqrt(var + self.eps)  # (..., D)：eps 在根号里 / eps inside the root
        return x_hat * self.weight + self.bias  # (..., D) * (D,) + (D,)
