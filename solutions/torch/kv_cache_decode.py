"""参考实现：KV 缓存与逐 token 解码的注意力层（PyTorch）/ Reference: a KV cache and the attention layer that
decodes one token at a time against it (PyTorch).

先追加、再注意：第 t 个 token 的 query 看 0..t 的 key，正好是追加了自己之后的缓存，所以一步之内不需要 mask。
Append, then attend: token t's query sees keys 0..t, exactly the cache once its own key is in: no mask in a step.
"""

import math

import torch
from torch import nn


class KVCache:
    """一层的 KV 缓存：k、v 为 (B, H, t, dh)，空的时候为 None / one layer's key and value cache, None while empty."""

    def __init__(self, k=None, v=None):
        self.k, self.v = k, v  # (B, H, t, dh) 或 None / or None while empty

    def update(self, k_t, v_t):
        """把 (B, H, 1, dh) 追加到时间维末尾，返回整个缓存 / append on the time axis, return the whole cache."""
        if self.k is None:  # 第一步：缓存还是空的 / the first step: nothing cached yet
            self.k, self.v = k_t, v_t
        else:
            self.k = torch.cat((self.k, k_t), dim=2)  # (B, H, t+1, dh)：新张量，不写旧的 / new tensors
            self.v = torch.cat((self.v, v_t), dim=2)
        return self.k, self.v


class CachedAttention(nn.Module):
    """逐 token 解码的多头注意力，CachedAttention(d_model, num_heads, bias=True)。

    Multi-head attention decoding one token at a time, CachedAttention(d_model, num_heads, bias=True)."""

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

    def forward(self, x_t, cache):
        """一步解码：x_t (B, 1, D) 先追加进缓存，再看缓存里的全部 key，返回 (B, 1, D)。

        One step: x_t (B, 1, D) is appended to the cache, then attends to every key in it; returns (B, 1, D)."""
        Q = self.split_heads(self.q_proj(x_t))  # (B, H, 1, dh)
        K, V = cache.update(self.split_heads(self.k_proj(x_t)), self.split_heads(self.v_proj(x_t)))  # (B, H, t+1, dh)
        scores = Q @ K.transpose(-2, -1) / math.sqrt(self.d_head)  # (B, H, 1, t+1)：全是过去的 key，不要 mask / no mask
        weights = torch.softmax(scores, dim=-1)
        heads = weights @ V  # (B, H, 1, dh)
        B, H, _, dh = heads.shape
        return self.o_proj(heads.transpose(1, 2).reshape(B, 1, H * dh))  # (B, 1, D)
