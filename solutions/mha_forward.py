"""参考实现：多头注意力的前向传播，NumPy（float64，不在 batch、头或位置上写 Python 循环）。

约定（所有 mhaquiz 练习通用）：
  投影是 x @ W + b，W 的形状为 (D, D)；第 h 个头使用第 h*dh:(h+1)*dh 列；
  mask 是布尔数组，True 表示这个 query 可以看这个 key，可广播到 (B, Tq, Tk)。

Reference: multi-head attention forward in NumPy (float64, no Python loops over batch, heads or positions).

Conventions (shared by every mhaquiz exercise):
  projections are x @ W + b with W of shape (D, D); head h owns columns h*dh:(h+1)*dh;
  mask is boolean, True = this query MAY attend to this key, broadcastable to (B, Tq, Tk).
"""

import numpy as np


def softmax(x, axis=-1, out=None, where=True):
    """沿 `axis` 的数值稳定 softmax，只在 `where` 为 True 的位置上计算，其余位置为 0。

    减去每行最大值让 exp 不会溢出。用 `where` 做 mask 而不是把分数设为 -inf，得到的权重相同，
    还省掉了 exp(-inf)：NumPy 算 exp(-inf) 比算普通数的 exp 慢好几倍。
    给了 `out` 就写进 `out`（out=x 会覆盖 x）；否则返回一个新数组。

    Numerically stable softmax along `axis` over the entries where `where` is True; the others get 0.

    Subtracting the row max keeps exp from overflowing. Masking with `where` rather than -inf scores gives
    the same weights and skips exp(-inf), which NumPy computes several times slower than exp of a number.
    Writes into `out` when given (out=x overwrites x); otherwise returns a new array.
    """
    e = np.subtract(x, np.max(x, axis=axis, keepdims=True, where=where, initial=-np.inf), out=out)
    np.exp(e, out=e, where=where)
    if where is not True:
        # 被遮住的位置：权重恰好为 0
        np.copyto(e, 0.0, where=~where)  # masked entries: exactly zero weight
    e /= e.sum(axis=axis, keepdims=True)
    return e


def split_heads(x, num_heads):
    """(B, T, D) -> (B, H, T, dh)：第 h 个头取第 h*dh:(h+1)*dh 列。

    (B, T, D) -> (B, H, T, dh): head h takes columns h*dh:(h+1)*dh."""
    B, T, D = x.shape
    return x.reshape(B, T, num_heads, D // num_heads).transpose(0, 2, 1, 3)


def merge_heads(x):
    """(B, H, T, dh) -> (B, T, H*dh)：split_heads 的精确逆操作（各头按顺序拼接）。

    (B, H, T, dh) -> (B, T, H*dh): the exact inverse of split_heads (heads concatenated in order)."""
    B, H, T, dh = x.shape
    return x.transpose(0, 2, 1, 3).reshape(B, T, H * dh)


def add_head_axis(mask):
    """(B, Tq, Tk) 或 (Tq, Tk) -> (B, 1, Tq, Tk) 或 (1, Tq, Tk)：每个头用同一个 mask。

    (B, Tq, Tk) or (Tq, Tk) -> (B, 1, Tq, Tk) or (1, Tq, Tk): the same mask for every head."""
    return np.expand_dims(mask, -3)


def attention_weights(Q, K, mask=None):
    """对 key 做 softmax(Q K^T / sqrt(dh))，排除被遮住的位置。Q：(..., Tq, dh)，K：(..., Tk, dh)。

    softmax(Q K^T / sqrt(dh)) over keys, masked positions excluded. Q: (..., Tq, dh), K: (..., Tk, dh)."""
    dh = Q.shape[-1]
    # (..., Tq, Tk)；缩放 Q 比缩放分数便宜
    scores = (Q / np.sqrt(dh)) @ K.swapaxes(-1, -2)  # (..., Tq, Tk); scaling Q is cheaper than scaling scores
    allowed = True if mask is None else mask
    return softmax(scores, axis=-1, out=scores, where=allowed)  # 原地计算：scores 是我们自己的临时数组 / in place: scores is our own temporary


def mha_forward(q, k, v, params, num_heads, mask=None):
    """多头注意力。q：(B, Tq, D)；k、v：(B, Tk, D)；返回 (B, Tq, D)。

    Multi-head attention. q: (B, Tq, D); k, v: (B, Tk, D); returns (B, Tq, D)."""
    D = q.shape[-1]
    assert D % num_heads == 0, "D must be divisible by num_heads"
    Q = split_heads(q @ params["W_q"] + params["b_q"], num_heads)  # (B, H, Tq, dh)
    K = split_heads(k @ params["W_k"] + params["b_k"], num_heads)  # (B, H, Tk, dh)
    V = split_heads(v @ params["W_v"] + params["b_v"], num_heads)  # (B, H, Tk, dh)
    # (B, 1, Tq, Tk)：每个头相同
    head_mask = None if mask is None else add_head_axis(mask)  # (B, 1, Tq, Tk): same for every head
    P = attention_weights(Q, K, head_mask)  # (B, H, Tq, Tk)
    heads = merge_heads(P @ V)  # (B, H, Tq, dh) -> (B, Tq, D)
    return heads @ params["W_o"] + params["b_o"]  # (B, Tq, D)
