"""带 KV 缓存的因果自注意力，一次解码一个 token，用 PyTorch 实现 / Causal self-attention decoding one token at a
time against a KV cache, in PyTorch.

【中文】写两个类：
- KVCache(k=None, v=None)：属性 k、v 是缓存的 key 和 value，形状 (B, H, t, dh)，按时间从旧到新排列；空缓存为 None。
  update(k_t, v_t)：把这一步的 k_t、v_t（(B, H, 1, dh)）追加到时间维（dim=2）的末尾，返回追加后的
  (k, v)（与 Hugging Face 的 Cache.update 相同）。不要原地写入传进来的张量。
- CachedAttention(d_model, num_heads, bias=True)：forward(x_t, cache) 返回 y_t (B, 1, D)。x_t：(B, 1, D)，每个序列
  最新的 token。投影层 q_proj、k_proj、v_proj、o_proj = nn.Linear(d_model, d_model)（也认 W_q/wq/query、out_proj、
  融合的 qkv），评测按名字装载权重。先把当前 token 的 key/value 追加进缓存，再做注意力（它要看得到自己）；
  缓存里全是过去的 token，不需要 mask。dh = d_model // num_heads，第 h 个头用第 h*dh:(h+1)*dh 列，分数乘以 1/sqrt(dh)。
- 评测：KVCache()（或预填充的 KVCache(k, v)）逐个 token 调用 module(x_t, cache)，叠起来的 y_t 必须等于因果 MHA 的输出，
  最后检查 cache.k、cache.v。不许用 F.scaled_dot_product_attention、nn.MultiheadAttention。float64。

[English] Write two classes:
- KVCache(k=None, v=None): attributes k and v hold the cached keys and values, shape (B, H, t, dh), oldest
  first; None when empty. update(k_t, v_t): append this step's k_t, v_t ((B, H, 1, dh)) at the end of the time
  axis (dim=2) and return the appended (k, v) (as Hugging Face's Cache.update). Do not write into given tensors.
- CachedAttention(d_model, num_heads, bias=True): forward(x_t, cache) returns y_t (B, 1, D). x_t: (B, 1, D), the
  newest token of every sequence. Projections q_proj, k_proj, v_proj, o_proj = nn.Linear(d_model, d_model)
  (W_q/wq/query, out_proj, a fused qkv are recognised), loaded BY NAME. Append this token's key/value first,
  then attend (the token sees itself); everything cached is in the past, so no mask. dh = d_model // num_heads,
  head h owns columns h*dh:(h+1)*dh, scores scaled by 1/sqrt(dh).
- Graded: from KVCache() (or a prefilled KVCache(k, v)) module(x_t, cache) is called token by token; the stacked
  y_t must equal causal MHA, and cache.k, cache.v are checked at the end. F.scaled_dot_product_attention and
  nn.MultiheadAttention are not allowed. float64.
"""

import math

import torch
from torch import nn


class KVCache:
    def __init__(self, k=None, v=None):
        raise NotImplementedError("KVCache: 请实现 / write me")

    def update(self, k_t, v_t):
        """Append (B, H, 1, dh) key and value; return the whole cache (k, v), each (B, H, t+1, dh)."""
        raise NotImplementedError("KVCache.update: 请实现 / write me")


class CachedAttention(nn.Module):
    def __init__(self, d_model: int, num_heads: int, bias: bool = True):
        super().__init__()
        raise NotImplementedError("CachedAttention: 请实现 / write me")

    def forward(self, x_t, cache):
        """x_t (B, 1, D), cache a KVCache (updated); return y_t (B, 1, D)."""
        raise NotImplementedError("CachedAttention.forward: 请实现 / write me")
