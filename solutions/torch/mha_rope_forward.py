"""参考实现：多头注意力加 RoPE（PyTorch nn.Module）/ Reference: multi-head attention with RoPE (PyTorch nn.Module).

RoPE 用前后两半配对（Hugging Face Llama 的 rotate_half），拆头之后对每个头的 Q、K 旋转；V 不旋转。
RoPE pairs the two halves (Hugging Face Llama's rotate_half), applied per head after the split to Q and K; not V.
"""

import math

import torch
from torch import nn


def rotate_half(x):
    """最后一维的前后两半：(x1, x2) -> (-x2, x1) / the two halves of the last axis: (x1, x2) -> (-x2, x1)."""
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


class RoPEMultiHeadAttention(nn.Module):
    """带 RoPE 的多头注意力，RoPEMultiHeadAttention(d_model, num_heads, base=10000.0, bias=True)。

    Multi-head attention with RoPE on Q and K, RoPEMultiHeadAttention(d_model, num_heads, base=10000.0, bias=True)."""

    def __init__(self, d_model: int, num_heads: int, base: float = 10000.0, bias: bool = True):
        super().__init__()
        assert d_model % num_heads == 0 and (d_model // num_heads) % 2 == 0, "need dh = D / H, and dh even"
        self.num_heads, self.d_head, self.base = num_heads, d_model // num_heads, base
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)
        self.k_proj = nn.Linear(d_model, d_model, bias=bias)
        self.v_proj = nn.Linear(d_model, d_model, bias=bias)
        self.o_proj = nn.Linear(d_model, d_model, bias=bias)

    def split_heads(self, x):
        """拆头：(B, T, D) -> (B, H, T, dh) / split the heads: (B, T, D) -> (B, H, T, dh)."""
        B, T, _ = x.shape
        return x.view(B, T, self.num_heads, self.d_head).transpose(1, 2)

    def rope(self, x, positions):
        """在位置 (T,) 上旋转 x (B, H, T, dh)：第 (j, j + dh/2) 对转 m·θ_j / pair (j, j + dh/2) turns by m * theta_j."""
        dh = x.shape[-1]
        inv_freq = self.base ** (-torch.arange(0, dh, 2, dtype=torch.float64) / dh)  # (dh/2,)：θ_j，float64
        angles = positions.to(torch.float64)[:, None] * inv_freq  # (T, dh/2)
        angles = torch.cat((angles, angles), dim=-1)  # (T, dh)：第 j 维和第 j + dh/2 维同一个角 / halves share angle j
        return x * angles.cos().to(x.dtype) + rotate_half(x) * angles.sin().to(x.dtype)  # (B, H, T, dh)

    def forward(self, q, k, v, q_positions, k_positions, mask=None):
        """拆头之后旋转 Q 和 K，V 不转，返回 (B, Tq, D) / Q and K rotated after the head split, V not."""
        Q = self.rope(self.split_heads(self.q_proj(q)), q_positions)  # (B, H, Tq, dh)：拆头之后再转 / after the split
        K = self.rope(self.split_heads(self.k_proj(k)), k_positions)  # (B, H, Tk, dh)
        V = self.split_heads(self.v_proj(v))  # (B, H, Tk, dh)：V 不转 / V is not rotated
        scores = Q @ K.transpose(-2, -1) / math.sqrt(self.d_head)  # (B, H, Tq, Tk)：只依赖位置差 / relative only
        if mask is not None:
            scores = scores.masked_fill(~mask.unsqueeze(-3), float("-inf"))  # 加头的维度 / add the head axis
        weights = torch.softmax(scores, dim=-1)  # 沿 key / over the keys
        heads = weights @ V  # (B, H, Tq, dh)
        B, H, Tq, dh = heads.shape
        return self.o_proj(heads.transpose(1, 2).reshape(B, Tq, H * dh))  # 合并各头 / merge heads: (B, Tq, D)
