"""Reference: multi-head attention forward in NumPy (float64, no Python loops over batch, heads or positions).

Conventions (shared by every mhaquiz exercise):
  projections are x @ W + b with W of shape (D, D); head h owns columns h*dh:(h+1)*dh;
  mask is boolean, True = this query MAY attend to this key, broadcastable to (B, Tq, Tk).
"""

import numpy as np


def softmax(x, axis=-1, out=None, where=True):
    """Numerically stable softmax along `axis` over the entries where `where` is True; the others get 0.

    Subtracting the row max keeps exp from overflowing. Masking with `where` rather than -inf scores gives
    the same weights and skips exp(-inf), which NumPy computes several times slower than exp of a number.
    Writes into `out` when given (out=x overwrites x); otherwise returns a new array.
    """
    e = np.subtract(x, np.max(x, axis=axis, keepdims=True, where=where, initial=-np.inf), out=out)
    np.exp(e, out=e, where=where)
    if where is not True:
        np.copyto(e, 0.0, where=~where)  # masked entries: exactly zero weight
    e /= e.sum(axis=axis, keepdims=True)
    return e


def split_heads(x, num_heads):
    """(B, T, D) -> (B, H, T, dh): head h takes columns h*dh:(h+1)*dh."""
    B, T, D = x.shape
    return x.reshape(B, T, num_heads, D // num_heads).transpose(0, 2, 1, 3)


def merge_heads(x):
    """(B, H, T, dh) -> (B, T, H*dh): the exact inverse of split_heads (heads concatenated in order)."""
    B, H, T, dh = x.shape
    return x.transpose(0, 2, 1, 3).reshape(B, T, H * dh)


def add_head_axis(mask):
    """(B, Tq, Tk) or (Tq, Tk) -> (B, 1, Tq, Tk) or (1, Tq, Tk): the same mask for every head."""
    return np.expand_dims(mask, -3)


def attention_weights(Q, K, mask=None):
    """softmax(Q K^T / sqrt(dh)) over keys, masked positions excluded. Q: (..., Tq, dh), K: (..., Tk, dh)."""
    dh = Q.shape[-1]
    scores = (Q / np.sqrt(dh)) @ K.swapaxes(-1, -2)  # (..., Tq, Tk); scaling Q is cheaper than scaling scores
    allowed = True if mask is None else mask
    return softmax(scores, axis=-1, out=scores, where=allowed)  # in place: scores is our own temporary


def mha_forward(q, k, v, params, num_heads, mask=None):
    """Multi-head attention. q: (B, Tq, D); k, v: (B, Tk, D); returns (B, Tq, D)."""
    D = q.shape[-1]
    assert D % num_heads == 0, "D must be divisible by num_heads"
    Q = split_heads(q @ params["W_q"] + params["b_q"], num_heads)  # (B, H, Tq, dh)
    K = split_heads(k @ params["W_k"] + params["b_k"], num_heads)  # (B, H, Tk, dh)
    V = split_heads(v @ params["W_v"] + params["b_v"], num_heads)  # (B, H, Tk, dh)
    head_mask = None if mask is None else add_head_axis(mask)  # (B, 1, Tq, Tk): same for every head
    P = attention_weights(Q, K, head_mask)  # (B, H, Tq, Tk)
    heads = merge_heads(P @ V)  # (B, H, Tq, dh) -> (B, Tq, D)
    return heads @ params["W_o"] + params["b_o"]  # (B, Tq, D)
