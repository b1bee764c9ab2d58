"""Reference: grouped-query attention (GQA) forward in NumPy (float64, no Python loops over batch or heads).

num_heads query heads share num_kv_heads key/value heads: with G = num_heads // num_kv_heads, query head h
uses KV head h // G (consecutive query heads form a group). That is what repeat_interleave on the KV-head
axis gives, as in Llama's repeat_kv and PyTorch's scaled_dot_product_attention(..., enable_gqa=True).
num_kv_heads == num_heads is ordinary multi-head attention; num_kv_heads == 1 is multi-query attention (MQA).

Conventions (shared by every mhaquiz exercise): projections are x @ W + b; head h owns columns h*dh:(h+1)*dh
of its projection; mask is boolean, True = this query MAY attend to this key, broadcastable to (B, Tq, Tk).
"""

import numpy as np


def softmax(x, axis=-1, out=None):
    """Numerically stable softmax along `axis` (subtract the max so exp never overflows)."""
    e = np.subtract(x, x.max(axis=axis, keepdims=True), out=out)
    np.exp(e, out=e)
    e /= e.sum(axis=axis, keepdims=True)
    return e


def split_heads(x, num_heads):
    """(B, T, H*dh) -> (B, H, T, dh): head h takes columns h*dh:(h+1)*dh."""
    B, T, D = x.shape
    return x.reshape(B, T, num_heads, D // num_heads).transpose(0, 2, 1, 3)


def merge_heads(x):
    """(B, H, T, dh) -> (B, T, H*dh): the exact inverse of split_heads."""
    B, H, T, dh = x.shape
    return x.transpose(0, 2, 1, 3).reshape(B, T, H * dh)


def repeat_kv(x, group_size):
    """(B, Hkv, T, dh) -> (B, Hkv*G, T, dh): KV head j serves query heads j*G .. j*G+G-1 (repeat_interleave).

    A copy, for readability; reshaping Q to (B, Hkv, G, Tq, dh) instead would avoid it.
    """
    return np.repeat(x, group_size, axis=1)


def add_head_axis(mask):
    """(B, Tq, Tk) or (Tq, Tk) -> (B, 1, Tq, Tk) or (1, Tq, Tk): the same mask for every head."""
    return np.expand_dims(mask, -3)


def attention_weights(Q, K, mask=None):
    """softmax(Q K^T / sqrt(dh)) over keys, masked positions excluded. Q: (..., Tq, dh), K: (..., Tk, dh)."""
    dh = Q.shape[-1]
    scores = (Q / np.sqrt(dh)) @ K.swapaxes(-1, -2)  # (..., Tq, Tk)
    if mask is not None:
        np.copyto(scores, -np.inf, where=~mask)
    return softmax(scores, axis=-1, out=scores)


def gqa_forward(q, k, v, params, num_heads, num_kv_heads, mask=None):
    """Grouped-query attention. q: (B, Tq, D); k, v: (B, Tk, D); returns (B, Tq, D).

    params: W_q, W_o (D, D); W_k, W_v (D, num_kv_heads*dh); b_q, b_o (D,); b_k, b_v (num_kv_heads*dh,).
    """
    D = q.shape[-1]
    assert D % num_heads == 0 and num_heads % num_kv_heads == 0, "need dh = D / H and Hkv dividing H"
    group_size = num_heads // num_kv_heads  # G query heads per KV head
    Q = split_heads(q @ params["W_q"] + params["b_q"], num_heads)  # (B, H, Tq, dh)
    K = split_heads(k @ params["W_k"] + params["b_k"], num_kv_heads)  # (B, Hkv, Tk, dh)
    V = split_heads(v @ params["W_v"] + params["b_v"], num_kv_heads)  # (B, Hkv, Tk, dh)
    K, V = repeat_kv(K, group_size), repeat_kv(V, group_size)  # (B, H, Tk, dh): query head h sees KV head h // G
    head_mask = None if mask is None else add_head_axis(mask)  # (B, 1, Tq, Tk): same for every head
    P = attention_weights(Q, K, head_mask)  # (B, H, Tq, Tk)
    heads = merge_heads(P @ V)  # (B, H, Tq, dh) -> (B, Tq, D)
    return heads @ params["W_o"] + params["b_o"]  # (B, Tq, D)
