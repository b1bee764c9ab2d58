"""Reference: DeepSeek-V2's multi-head latent attention (MLA) forward in NumPy (float64, no Python loops).

DeepSeek-V2 (arXiv 2405.04434), section 2.1, equations 9-19, written x @ W with W of shape (in, out):
  c_kv = h @ W_DKV                                   (9)   the latent: the only per-head-free thing cached
  k_C = c_kv @ W_UK,  v_C = c_kv @ W_UV              (10, 11) split into heads of d_h
  c_q = h @ W_DQ  (c_q = h when W_DQ is None)        (12)
  q_C = c_q @ W_UQ                                   (13)  split into heads of d_h
  q_R = RoPE(c_q @ W_QR)                             (14, 15) split into heads of d_R
  k_R = RoPE(h @ W_KR)                               (16)  ONE d_R key shared by every head
  q_i = [q_C,i ; q_R,i],  k_i = [k_C,i ; k_R]        (17, 18) content first, in both
  o_i = causal softmax(q_i . k_i / sqrt(d_h + d_R)) v_C,i;  u = [o_1 .. o_H] @ W_O   (19)
What a decoder caches per token is c_kv (d_c) and the rotated k_R (d_R): d_c + d_R numbers, no head axis.

RoPE convention: the half-split ("rotate_half") pairing, as in the rope exercise: dimension j pairs with
j + d/2 and turns by position * base^(-2j/d). (DeepSeek's released weights store the rotary dimensions
interleaved and their modeling code de-interleaves them before rotate_half: a permutation of W_QR's and
W_KR's columns, the same attention.) The released code also RMS-normalises c_q and c_kv; the paper's
equations, followed here, do not.
"""

import numpy as np


def softmax(x, axis=-1):
    """Numerically stable softmax along `axis` (subtract the max so exp never overflows)."""
    e = np.exp(x - x.max(axis=axis, keepdims=True))  # exp(-inf) = 0 for masked entries
    return e / e.sum(axis=axis, keepdims=True)


def rope(x, positions, base):
    """Half-split RoPE on the last axis of x (..., T, d) at integer positions (T,); returns a new array.

    Pair (x_j, x_{j+d/2}) at position m turns by the angle m * base^(-2j/d), j = 0 .. d/2-1.
    """
    d = x.shape[-1]
    assert d % 2 == 0, "RoPE needs an even feature size"
    angles = np.asarray(positions)[:, None] * base ** (-np.arange(0, d, 2) / d)  # (T, d/2)
    cos, sin = np.cos(angles), np.sin(angles)  # (T, d/2) each
    x1, x2 = x[..., : d // 2], x[..., d // 2:]  # (..., T, d/2) each
    return np.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1)  # (..., T, d)


def split_heads(x, num_heads):
    """(B, T, H*d) -> (B, H, T, d): head i takes columns i*d:(i+1)*d."""
    B, T, width = x.shape
    return x.reshape(B, T, num_heads, width // num_heads).transpose(0, 2, 1, 3)


def merge_heads(x):
    """(B, H, T, d) -> (B, T, H*d): the exact inverse of split_heads (heads concatenated in order)."""
    B, H, T, d = x.shape
    return x.transpose(0, 2, 1, 3).reshape(B, T, H * d)


def join(content, rotary):
    """[content ; rotary] on the feature axis: (B, H, T, d_h) and (B, H or 1, T, d_R) -> (B, H, T, d_h + d_R)."""
    rotary = np.broadcast_to(rotary, content.shape[:-1] + rotary.shape[-1:])  # a shared key reaches every head
    return np.concatenate([content, rotary], axis=-1)


def queries(h, params, num_heads, positions, rope_base):
    """q_i = [q_C,i ; RoPE(q_R,i)] for every head: (B, H, T, d_h + d_R)."""
    c_q = h if params["W_DQ"] is None else h @ params["W_DQ"]  # (B, T, d_cq): the query latent (12)
    q_c = split_heads(c_q @ params["W_UQ"], num_heads)  # (B, H, T, d_h): no position in the content part (13)
    q_r = rope(split_heads(c_q @ params["W_QR"], num_heads), positions, rope_base)  # (B, H, T, d_R) (14, 15)
    return join(q_c, q_r)  # (B, H, T, d_h + d_R) (17)


def latent_cache(h, params, positions, rope_base):
    """What MLA caches per token: c_kv (B, T, d_c) and the rotated shared key k_rope (B, T, d_R)."""
    c_kv = h @ params["W_DKV"]  # (B, T, d_c) (9)
    k_rope = rope(h @ params["W_KR"], positions, rope_base)  # (B, T, d_R): from h, not from c_kv (16)
    return {"c_kv": c_kv, "k_rope": k_rope}


def shared_key(k_rope):
    """(B, T, d_R) -> (B, 1, T, d_R): one rotary key for every head of the same sequence."""
    return k_rope[:, None]


def keys_values(cache, params, num_heads):
    """Up-project the latent: k_i = [k_C,i ; k_R] (B, H, T, d_h + d_R) and v_i (B, H, T, d_h)."""
    k_c = split_heads(cache["c_kv"] @ params["W_UK"], num_heads)  # (B, H, T, d_h) (10)
    v = split_heads(cache["c_kv"] @ params["W_UV"], num_heads)  # (B, H, T, d_h) (11)
    return join(k_c, shared_key(cache["k_rope"])), v  # (B, H, T, d_h + d_R) (18), (B, H, T, d_h)


def causal_mask(T):
    """(T, T) boolean, True where token t may attend to token j <= t."""
    return np.tril(np.ones((T, T), dtype=bool))


def attention_weights(q, k, mask):
    """softmax(q k^T / sqrt(d_qk)) over the keys, d_qk = d_h + d_R: the whole width of the dot product."""
    scores = q @ k.swapaxes(-1, -2) / np.sqrt(q.shape[-1])  # (B, H, T, T)
    return softmax(np.where(mask, scores, -np.inf), axis=-1)  # (B, H, T, T)


def mla_forward(h, params, num_heads, positions, rope_base=10000.0):
    """Causal MLA self-attention over h (B, T, D); returns (u (B, T, D), {"c_kv", "k_rope"})."""
    B, T, D = h.shape
    assert params["W_UK"].shape[1] % num_heads == 0 and params["W_KR"].shape[1] % 2 == 0
    assert np.shape(positions) == (T,), "one absolute position per token"
    q = queries(h, params, num_heads, positions, rope_base)  # (B, H, T, d_h + d_R)
    cache = latent_cache(h, params, positions, rope_base)  # c_kv (B, T, d_c), k_rope (B, T, d_R)
    k, v = keys_values(cache, params, num_heads)  # (B, H, T, d_h + d_R), (B, H, T, d_h)
    P = attention_weights(q, k, causal_mask(T))  # (B, H, T, T)
    u = merge_heads(P @ v) @ params["W_O"]  # (B, H, T, d_h) -> (B, T, H*d_h) -> (B, T, D) (19)
    return u, cache
