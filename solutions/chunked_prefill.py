"""Reference: causal attention of a chunk of new tokens against a K/V cache (chunked prefill), NumPy float64.

P tokens are cached; the chunk brings T_new more, at absolute positions P .. P+T_new-1. The keys are
[cache ; new] (T_total = P + T_new, oldest first), so key j sits at absolute position j. Query i sees key j
iff j <= P + i (the offset causal mask: a plain np.tril on the (T_new, T_total) scores is the classic bug),
and with a sliding window w also j > P + i - w: itself and the w - 1 keys before it, w keys in all
(Hugging Face's sliding_window_overlay, kv_idx > q_idx - sliding_window).
"""

import numpy as np


def softmax(x, axis=-1):
    """Numerically stable softmax along `axis` (subtract the max so exp never overflows)."""
    e = np.exp(x - x.max(axis=axis, keepdims=True))  # exp(-inf) = 0 for masked entries
    return e / e.sum(axis=axis, keepdims=True)


def append(cache, new):
    """The cache with the chunk's keys (or values) after it on the time axis: (B, H, P + T_new, d)."""
    return np.concatenate([cache, new], axis=-2)


def chunk_mask(T_new, P, window=None):
    """(T_new, P + T_new) boolean, True where new token i (absolute position P + i) may see key j."""
    q_pos = P + np.arange(T_new)[:, None]  # (T_new, 1): absolute positions of the queries
    k_pos = np.arange(P + T_new)[None, :]  # (1, T_total): key j sits at position j
    allowed = k_pos <= q_pos  # (T_new, T_total): the past and itself
    if window is not None:
        allowed &= k_pos > q_pos - window  # itself and the window - 1 keys before it
    return allowed


def attention(q, k, v, mask):
    """softmax(q k^T / sqrt(d)) v over the allowed keys. q (..., Tq, d), k (..., Tk, d), v (..., Tk, dv)."""
    scores = q @ k.swapaxes(-1, -2) / np.sqrt(q.shape[-1])  # (..., Tq, Tk)
    return softmax(np.where(mask, scores, -np.inf), axis=-1) @ v  # (..., Tq, dv)


def chunked_prefill(q, k_cache, v_cache, k_new, v_new, window=None):
    """q (B, H, T_new, d); caches (B, H, P, d|dv); new (B, H, T_new, d|dv).

    Returns (out (B, H, T_new, dv), k (B, H, P + T_new, d), v (B, H, P + T_new, dv)).
    """
    P, T_new = k_cache.shape[-2], q.shape[-2]
    assert k_new.shape[-2] == T_new, "one new key per new query"
    assert window is None or window >= 1, "a window holds at least the query itself"
    k = append(k_cache, k_new)  # (B, H, T_total, d)
    v = append(v_cache, v_new)  # (B, H, T_total, dv)
    out = attention(q, k, v, chunk_mask(T_new, P, window))  # (B, H, T_new, dv)
    return out, k, v
