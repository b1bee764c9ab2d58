"""参考实现：多头注意力前向（PyTorch nn.Module）/ Reference: multi-head attention forward (PyTorch nn.Module).

约定同 NumPy 版：head h 用第 h*dh:(h+1)*dh 列；mask 为 True 表示可以看。
Conventions as in the NumPy track: head h owns columns h*dh:(h+1)*dh; mask True = may attend.
"""

import math

import torch
from torch import nn


class MultiHeadAttention(nn.Module):
    """多头注意力，MultiHeadAttention(d_model, num_heads, bias=True)。

    Multi-head attention, MultiHeadAttention(d_model, num_heads, bias=True), with q_proj, k_proj, v_proj and o_proj."""

    def __init__(self, d_model: int, num_heads: int, bias: bool = True):
        super().__init__()
        assert d_model % num_heads == 0, "d_model must be divisible by num_heads"
        self.num_heads, self.d_head = num_heads, d_model // num_heads
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)
        self.k_proj = nn.Linear(d_model, d_model, bias=bias)
        self.v_proj = nn.Linear(d_model, d_model, bias=bias)
        self.o_proj = nn.Linear(d_model, d_model, bias=bias)

    def split_heads(self, x):
        """拆头：(B, T, D) -> (B, H, T, dh) / split the heads: (B, T, D) -> (B, H, T, dh)."""
        B, T, _ = x.shape
        return x.view(B, T, self.num_heads, self.d_head).transpose(1, 2)

    def forward(self, q, k, v, mask=None):
        """q (B, Tq, D)，k、v (B, Tk, D) -> (B, Tq, D) / projections, attention per head, heads merged."""
        Q, K, V = self.split_heads(self.q_proj(q)), self.split_heads(self.k_proj(k)), self.split_heads(self.v_proj(v))
        scores = Q @ K.transpose(-2, -1) / math.sqrt(self.d_head)  # (B, H, Tq, Tk)
        if mask is not None:
            # 加头的维度；被遮住的位置填 -inf / add the head axis; masked scores become -inf
            scores = scores.masked_fill(~mask.unsqueeze(-3), float("-inf"))
        weights = torch.softmax(scores, dim=-1)  # 沿 key / over the keys
        heads = weights @ V  # (B, H, Tq, dh)
        B, H, Tq, dh = heads.shape
        return self.o_proj(heads.transpose(1, 2).reshape(B, Tq, H * dh))  # 合并各头 / merge heads
