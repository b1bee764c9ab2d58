"""Chunked prefill：一块新 token 对 KV 缓存和自身做因果注意力，用 PyTorch 实现 / Chunked prefill: causal
attention of a chunk of new tokens against a K/V cache and themselves, in PyTorch.

【中文】写一个函数 chunked_prefill(q, k_cache, v_cache, k_new, v_new, window=None)，约定与 NumPy 版相同：
- q：(B, H, T_new, d)；k_cache：(B, H, P, d)，v_cache：(B, H, P, dv)（P 可以为 0）；k_new、v_new：(B, H, T_new, d|dv)。
  都是 float64 张量。
- key 为 [缓存; 新 token]：第 j 个 key 的绝对位置是 j，第 i 个新 token 是 P + i。可以看 j <= P + i；
  window 为整数 w 时还要 j > P + i - w（自己加之前的 w - 1 个，一共 w 个）。
- 分数 = q · k / sqrt(d)，softmax 沿 key 维。返回 (out, k, v)：out (B, H, T_new, dv)，k、v 为追加后的缓存。
- 不许用 F.scaled_dot_product_attention（它的 is_causal=True 按左上角对齐，正好是没有偏移的 tril）。

[English] Write chunked_prefill(q, k_cache, v_cache, k_new, v_new, window=None), the NumPy track's contract:
- q: (B, H, T_new, d); k_cache: (B, H, P, d), v_cache: (B, H, P, dv) (P may be 0); k_new, v_new:
  (B, H, T_new, d|dv). All float64 tensors.
- The keys are [cache ; new]: key j sits at absolute position j, new token i at P + i. It sees j <= P + i; with
  an integer window w also j > P + i - w (itself and the w - 1 keys before it, w in all).
- scores = q . k / sqrt(d), softmax over the keys. Return (out, k, v): out (B, H, T_new, dv), k and v the
  caches with the chunk appended.
- F.scaled_dot_product_attention is not allowed (its is_causal=True aligns to the top left: exactly the tril
  without the offset).
"""

import math

import torch


def chunked_prefill(q, k_cache, v_cache, k_new, v_new, window=None):
    """Return (out (B, H, T_new, dv), k (B, H, P + T_new, d), v (B, H, P + T_new, dv))."""
    raise NotImplementedError("chunked_prefill: 请实现 / write me")
