"""参考实现：一块新 token 对 K/V cache 的因果注意力（chunked prefill），NumPy float64。

cache 里已有 P 个 token；这一块再带来 T_new 个，绝对位置为 P .. P+T_new-1。key 是 [cache ; new]
（T_total = P + T_new，最早的在前），所以第 j 个 key 的绝对位置就是 j。第 i 个 query 能看第 j 个 key
当且仅当 j <= P + i（带偏移的因果 mask：直接对 (T_new, T_total) 的分数用 np.tril 是经典错误）；
有滑动窗口 w 时还要 j > P + i - w：它自己和它之前的 w - 1 个 key，一共 w 个
（Hugging Face 的 sliding_window_overlay：kv_idx > q_idx - sliding_window）。

Reference: causal attention of a chunk of new tokens against a K/V cache (chunked prefill), NumPy float64.

P tokens are cached; the chunk brings T_new more, at absolute positions P .. P+T_new-1. The keys are
[cache ; new] (T_total = P + T_new, oldest first), so key j sits at absolute position j. Query i sees key j
iff j <= P + i (the offset causal mask: a plain np.tril on the (T_new, T_total) scores is the classic bug),
and with a sliding window w also j > P + i - w: itself and the w - 1 keys before it, w keys in all
(Hugging Face's sliding_window_overlay, kv_idx > q_idx - sliding_window).
"""

import numpy as np


def softmax(x, axis=-1):
    """沿 `axis` 的数值稳定 softmax（先减去最大值，exp 就不会溢出）。

    Numerically stable softmax along `axis` (subtract the max so exp never overflows)."""
    # 被遮住的位置 exp(-inf) = 0
    e = np.exp(x - x.max(axis=axis, keepdims=True))  # exp(-inf) = 0 for masked entries
    return e / e.sum(axis=axis, keepdims=True)


def append(cache, new):
    """在时间维上把这一块的 key（或 value）接在 cache 后面：(B, H, P + T_new, d)。

    The cache with the chunk's keys (or values) after it on the time axis: (B, H, P + T_new, d)."""
    return np.concatenate([cache, new], axis=-2)


def chunk_mask(T_new, P, window=None):
    """(T_new, P + T_new) 的布尔数组，新 token i（绝对位置 P + i）可以看 key j 的位置为 True。

    (T_new, P + T_new) boolean, True where new token i (absolute position P + i) may see key j."""
    # (T_new, 1)：各 query 的绝对位置
    q_pos = P + np.arange(T_new)[:, None]  # (T_new, 1): absolute positions of the queries
    # (1, T_total)：第 j 个 key 位于位置 j
    k_pos = np.arange(P + T_new)[None, :]  # (1, T_total): key j sits at position j
    # (T_new, T_total)：过去的 token 和它自己
    allowed = k_pos <= q_pos  # (T_new, T_total): the past and itself
    if window is not None:
        # 它自己和它之前的 window - 1 个 key
        allowed &= k_pos > q_pos - window  # itself and the window - 1 keys before it
    return allowed


def attention(q, k, v, mask):
    """在允许的 key 上计算 softmax(q k^T / sqrt(d)) v。q (..., Tq, d)，k (..., Tk, d)，v (..., Tk, dv)。

    softmax(q k^T / sqrt(d)) v over the allowed keys. q (..., Tq, d), k (..., Tk, d), v (..., Tk, dv)."""
    scores = q @ k.swapaxes(-1, -2) / np.sqrt(q.shape[-1])  # (..., Tq, Tk)
    return softmax(np.where(mask, scores, -np.inf), axis=-1) @ v  # (..., Tq, dv)


def chunked_prefill(q, k_cache, v_cache, k_new, v_new, window=None):
    """q (B, H, T_new, d)；cache (B, H, P, d|dv)；新的 (B, H, T_new, d|dv)。

    返回（out (B, H, T_new, dv)，k (B, H, P + T_new, d)，v (B, H, P + T_new, dv)）。

    q (B, H, T_new, d); caches (B, H, P, d|dv); new (B, H, T_new, d|dv).

    Returns (out (B, H, T_new, dv), k (B, H, P + T_new, d), v (B, H, P + T_new, dv)).
    """
    P, T_new = k_cache.shape[-2], q.shape[-2]
    assert k_new.shape[-2] == T_new, "one new key per new query"
    assert window is None or window >= 1, "a window holds at least the query itself"
    k = append(k_cache, k_new)  # (B, H, T_total, d)
    v = append(v_cache, v_new)  # (B, H, T_total, dv)
    out = attention(q, k, v, chunk_mask(T_new, P, window))  # (B, H, T_new, dv)
    return out, k, v
