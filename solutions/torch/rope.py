"""参考实现：旋转位置编码 RoPE（PyTorch nn.Module，前后两半配对）/ Reference: RoPE as a PyTorch nn.Module,
the half-split (rotate_half) pairing of Hugging Face's Llama and GPT-NeoX.

第 j 维和第 j + d/2 维是一对，在位置 m 旋转 m * theta_j，theta_j = base^(-2j/d)。
Dimension j pairs with j + d/2 and turns by m * theta_j at position m, theta_j = base^(-2j/d).
"""

import torch
from torch import nn


class RoPE(nn.Module):
    """RoPE(head_dim, base=10000.0)：按位置旋转每一对维度，没有可学习参数 / rotary embedding, no learned parameters."""

    def __init__(self, head_dim: int, base: float = 10000.0):
        super().__init__()
        assert head_dim % 2 == 0, "RoPE needs an even head_dim"
        # theta_j = base^(-2j/d)，j = 0 .. d/2-1；float64，角度才不会丢精度 / in float64, so the angles keep their digits
        inv_freq = base ** (-torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)  # (d/2,)
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    @staticmethod
    def rotate_half(x):
        """每一对转 90 度：(x1, x2) -> (-x2, x1) / every pair turned by 90 degrees."""
        x1, x2 = x.chunk(2, dim=-1)
        return torch.cat((-x2, x1), dim=-1)  # (..., T, d)

    def forward(self, x, positions):
        """x (..., T, d) 在 positions (T,) 上旋转，形状不变 / x rotated at its positions, same shape."""
        angles = positions[..., None].to(self.inv_freq.dtype) * self.inv_freq  # (..., T, 1) * (d/2,) -> (..., T, d/2)
        angles = torch.cat((angles, angles), dim=-1)  # (..., T, d)：两半用同一组角度 / both halves share the angles
        return x * angles.cos() + self.rotate_half(x) * angles.sin()  # (..., T, d)
