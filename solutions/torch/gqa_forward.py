"""参考实现：分组查询注意力（PyTorch nn.Module）/ Reference: grouped-query attention (PyTorch nn.Module).

第 h 个 query 头用第 h // G 个 KV 头（repeat_interleave，Llama 的 repeat_kv）；mask 为 True 表示可以看。
Query head h uses KV head h // G (repeat_interleave, Llama's repeat_kv); mask True = may attend.
"""

import math

import torch
from torch import nn


class GroupedQueryAttention(nn.Module):
    """分组查询注意力，GroupedQueryAttention(d_model, num_heads, num_kv_heads, bias=True)。

    Grouped-query attention, GroupedQueryAttention(d_model, num_heads, num_kv_heads, bias=True): H query heads
    share Hkv KV heads."""

    def __init__(self, d_model: int, num_heads: int, num_kv_heads: int, bias: bool = True):
        super().__init__()
        assert d_model % num_heads == 0 and num_heads % num_kv_heads == 0, "need dh = D / H and Hkv dividing H"
        self.num_heads, self.num_kv_heads, self.d_head = num_heads, num_kv_heads, d_model // num_heads
        kv_width = num_kv_heads * self.d_head  # K、V 比 Q 窄 / K and V are narrower than Q
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)
        self.k_proj = nn.Linear(d_model, kv_width, bias=bias)
        self.v_proj = nn.Linear(d_model, kv_width, bias=bias)
        self.o_proj = nn.Linear(d_model, d_model, bias=bias)

    def split_heads(self, x, num_heads):
        """拆头：(B, T, num_heads*dh) -> (B, num_heads, T, dh) / split the heads."""
        B, T, _ = x.shape
        return x.view(B, T, num_heads, self.d_head).transpose(1, 2)

    def forward(self, q, k, v, mask=None):
        """q (B, Tq, D)，k、v (B, Tk, D) -> (B, Tq, D)；KV 头先按组复制再做注意力。

        q (B, Tq, D), k and v (B, Tk, D) -> (B, Tq, D); the KV heads repeated per group, then attention."""
        group_size = self.num_heads // self.num_kv_heads  # 每个 KV 头服务 G 个 query 头 / G query heads per KV head
        Q = self.split_heads(self.q_proj(q), self.num_heads)  # (B, H, Tq, dh)
        K = self.split_heads(self.k_proj(k), self.num_kv_heads)  # (B, Hkv, Tk, dh)
        V = self.split_heads(self.v_proj(v), self.num_kv_heads)  # (B, Hkv, Tk, dh)
        # 第 h 个 query 头用第 h // G 个 KV 头 / query head h sees KV head h // G: (B, Hkv, Tk, dh) -> (B, H, Tk, dh)
        K = K.repeat_interleave(group_size, dim=1)
        V = V.repeat_interleave(group_size, dim=1)
        scores = Q @ K.transpose(-2, -1) / math.sqrt(self.d_head)  # (B, H, Tq, Tk)
        if mask is not None:
            # 加头的维度；被遮住的位置填 -inf / add the head axis; masked scores become -inf
            scores = scores.masked_fill(~mask.unsqueeze(-3), float("-inf"))
        weights = torch.softmax(scores, dim=-1)  # 沿 key / over the keys
        heads = weights @ V  # (B, H, Tq, dh)
        B, H, Tq, dh = heads.shape
        return self.o_proj(heads.transpose(1, 2).reshape(B, Tq, H * dh))  # 合并各头 / merge heads: (B, Tq, D)
