"""Reference: single-head scaled dot-product attention in NumPy (float64, no loops).

Conventions: q (..., Tq, d), k (..., Tk, d), v (..., Tk, dv); scores scaled by 1/sqrt(d); softmax over
the keys; boolean mask broadcastable to (..., Tq, Tk), True = this query MAY attend to this key
(as in F.scaled_dot_product_attention; the opposite of nn.MultiheadAttention's boolean mask).
"""

import numpy as np


def softmax(x, axis=-1):
    """Numerically stable softmax along `axis` (subtract each slice's max so exp never overflows)."""
    shifted = x - x.max(axis=axis, keepdims=True)  # same shape as x
    e = np.exp(shifted)  # exp(-inf) = 0 for masked entries
    return e / e.sum(axis=axis, keepdims=True)


def attention_weights(Q, K, mask=None):
    """softmax(Q K^T / sqrt(d)) over the keys, masked keys excluded. Q: (..., Tq, d), K: (..., Tk, d)."""
    d = Q.shape[-1]
    scores = Q @ K.swapaxes(-1, -2) / np.sqrt(d)  # (..., Tq, Tk): q.k has variance d, so divide by sqrt(d)
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)  # (..., Tq, Tk); -inf BEFORE the softmax: weight exactly 0
    return softmax(scores, axis=-1)  # (..., Tq, Tk): each row (one query) sums to 1 over the keys


def attention(q, k, v, mask=None):
    """Scaled dot-product attention: returns (output (..., Tq, dv), weights (..., Tq, Tk))."""
    weights = attention_weights(q, k, mask)  # (..., Tq, Tk)
    return weights @ v, weights  # (..., Tq, Tk) @ (..., Tk, dv) -> (..., Tq, dv)
