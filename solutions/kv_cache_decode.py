"""Reference: one decoding step of causal self-attention with a growing K/V cache (NumPy, float64).

Fed the tokens of x one at a time, decode_step gives exactly mha_forward(x, x, x, params, H, causal_mask):
token t's query sees keys 0..t, which are precisely the cache after t's own key has been appended, so a
single step needs no mask at all. The loop over time belongs to the caller; one step is vectorised over
batch and heads.

Conventions (shared by every mhaquiz exercise): projections are x @ W + b with W of shape (D, D); head h owns
columns h*dh:(h+1)*dh; scores scaled by 1/sqrt(dh). The cache holds the projected, split keys and values.
"""

import numpy as np


def softmax(x, axis=-1, out=None):
    """Numerically stable softmax along `axis` (subtract the max so exp never overflows)."""
    e = np.subtract(x, x.max(axis=axis, keepdims=True), out=out)
    np.exp(e, out=e)
    e /= e.sum(axis=axis, keepdims=True)
    return e


def split_heads(x, num_heads):
    """(B, T, D) -> (B, H, T, dh): head h takes columns h*dh:(h+1)*dh."""
    B, T, D = x.shape
    return x.reshape(B, T, num_heads, D // num_heads).transpose(0, 2, 1, 3)


def merge_heads(x):
    """(B, H, T, dh) -> (B, T, H*dh): the exact inverse of split_heads."""
    B, H, T, dh = x.shape
    return x.transpose(0, 2, 1, 3).reshape(B, T, H * dh)


def attention_weights(Q, K, mask=None):
    """softmax(Q K^T / sqrt(dh)) over keys, masked positions excluded. Q: (..., Tq, dh), K: (..., Tk, dh)."""
    dh = Q.shape[-1]
    scores = (Q / np.sqrt(dh)) @ K.swapaxes(-1, -2)  # (..., Tq, Tk)
    if mask is not None:
        np.copyto(scores, -np.inf, where=~mask)
    return softmax(scores, axis=-1, out=scores)


def append_to_cache(cache, K_t, V_t):
    """A new cache with this step's keys and values appended on the time axis (axis 2 of (B, H, t, dh))."""
    if cache is None:  # the first step: nothing cached yet
        return {"k": K_t, "v": V_t}
    return {"k": np.concatenate([cache["k"], K_t], axis=2),  # (B, H, t+1, dh)
            "v": np.concatenate([cache["v"], V_t], axis=2)}  # (B, H, t+1, dh)


def decode_step(x_t, cache, params, num_heads):
    """One new token. x_t: (B, 1, D); cache: None or {"k", "v"} of shape (B, H, t, dh).

    Returns (y_t, cache): y_t (B, 1, D), and a new cache of shape (B, H, t+1, dh) (the old one is untouched).
    """
    D = x_t.shape[-1]
    assert D % num_heads == 0, "D must be divisible by num_heads"
    Q = split_heads(x_t @ params["W_q"] + params["b_q"], num_heads)  # (B, H, 1, dh)
    K_t = split_heads(x_t @ params["W_k"] + params["b_k"], num_heads)  # (B, H, 1, dh)
    V_t = split_heads(x_t @ params["W_v"] + params["b_v"], num_heads)  # (B, H, 1, dh)
    cache = append_to_cache(cache, K_t, V_t)  # first append, then attend: the token sees itself
    P = attention_weights(Q, cache["k"])  # (B, H, 1, t+1); every cached key is in the past: no mask
    heads = merge_heads(P @ cache["v"])  # (B, H, 1, dh) -> (B, 1, D)
    return heads @ params["W_o"] + params["b_o"], cache  # (B, 1, D)
