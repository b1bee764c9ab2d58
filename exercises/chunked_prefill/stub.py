"""Chunked prefill：一块新 token 对 KV 缓存和自身做因果注意力，用 NumPy 实现（float64）/ Chunked prefill: causal
attention of a chunk of new tokens against a K/V cache and themselves, in NumPy (float64).

【中文】约定：
- q：(B, H, T_new, d)，本块 T_new 个新 token 的 query（已经投影、拆好头）。
- k_cache：(B, H, P, d)，v_cache：(B, H, P, dv)：之前 P 个 token 的 key/value，按时间从旧到新排列；P 可以为 0。
- k_new：(B, H, T_new, d)，v_new：(B, H, T_new, dv)：本块新 token 的 key/value。
- key 为 [缓存; 新 token]（T_total = P + T_new），第 j 个 key 的绝对位置就是 j；第 i 个新 token 的绝对位置是 P + i。
- mask：第 i 个新 token 可以看第 j 个 key 当且仅当 j <= P + i（带偏移的因果 mask）。
- window：None，或整数 w >= 1（滑动窗口）。有窗口时还要满足 j > P + i - w：query 看自己和它之前的 w - 1 个 key，
  一共 w 个（与 Hugging Face 的 sliding_window_overlay 相同：kv_idx > q_idx - sliding_window）。
  w 大于 P + T_new 时窗口不起作用。
- 分数 = q · k / sqrt(d)，softmax 沿 key 维。
- 返回 (out, k, v)：out 形状 (B, H, T_new, dv)；k、v 为追加了新 token 之后的缓存，(B, H, P + T_new, d) 和
  (B, H, P + T_new, dv)。
- 全程 float64。不要修改输入（np.concatenate 本来就会生成新数组）。不需要 Python 循环。

[English] Conventions:
- q: (B, H, T_new, d), the queries of the chunk's T_new new tokens (projected and split into heads).
- k_cache: (B, H, P, d), v_cache: (B, H, P, dv): the keys/values of the P earlier tokens, oldest first;
  P may be 0.
- k_new: (B, H, T_new, d), v_new: (B, H, T_new, dv): the chunk's own keys/values.
- The keys are [cache ; new] (T_total = P + T_new): key j sits at absolute position j; new token i sits at
  absolute position P + i.
- Mask: new token i may see key j iff j <= P + i (the causal mask with an offset).
- window: None, or an integer w >= 1 (a sliding window). With a window, also j > P + i - w: the query sees
  itself and the w - 1 keys before it, w keys in all (as Hugging Face's sliding_window_overlay:
  kv_idx > q_idx - sliding_window). A w larger than P + T_new changes nothing.
- scores = q . k / sqrt(d), softmax over the keys.
- Return (out, k, v): out of shape (B, H, T_new, dv); k and v the caches with the new tokens appended,
  (B, H, P + T_new, d) and (B, H, P + T_new, dv).
- float64 throughout. Do not modify the inputs (np.concatenate makes new arrays anyway). No Python loops
  needed.
"""

import numpy as np


def chunked_prefill(q, k_cache, v_cache, k_new, v_new, window=None):
    """Return (out (B, H, T_new, dv), k (B, H, P + T_new, d), v (B, H, P + T_new, dv))."""
    raise NotImplementedError("chunked_prefill: 请实现 / write me")
