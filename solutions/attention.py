"""参考实现：单头缩放点积注意力，NumPy（float64，无循环）。

约定：q (..., Tq, d)，k (..., Tk, d)，v (..., Tk, dv)；分数乘以 1/sqrt(d)；softmax 沿 key 的维度做；
布尔 mask 可广播到 (..., Tq, Tk)，True 表示这个 query 可以看这个 key
（与 F.scaled_dot_product_attention 相同，与 nn.MultiheadAttention 的布尔 mask 相反）。

Reference: single-head scaled dot-product attention in NumPy (float64, no loops).

Conventions: q (..., Tq, d), k (..., Tk, d), v (..., Tk, dv); scores scaled by 1/sqrt(d); softmax over
the keys; boolean mask broadcastable to (..., Tq, Tk), True = this query MAY attend to this key
(as in F.scaled_dot_product_attention; the opposite of nn.MultiheadAttention's boolean mask).
"""

import numpy as np


def softmax(x, axis=-1):
    """沿 `axis` 的数值稳定 softmax（先减去每条切片的最大值，exp 就不会溢出）。

    Numerically stable softmax along `axis` (subtract each slice's max so exp never overflows)."""
    # 与 x 同形
    shifted = x - x.max(axis=axis, keepdims=True)  # same shape as x
    # 被遮住的位置 exp(-inf) = 0
    e = np.exp(shifted)  # exp(-inf) = 0 for masked entries
    return e / e.sum(axis=axis, keepdims=True)


def attention_weights(Q, K, mask=None):
    """对 key 做 softmax(Q K^T / sqrt(d))，排除被遮住的 key。Q：(..., Tq, d)，K：(..., Tk, d)。

    softmax(Q K^T / sqrt(d)) over the keys, masked keys excluded. Q: (..., Tq, d), K: (..., Tk, d)."""
    d = Q.shape[-1]
    # (..., Tq, Tk)：q.k 的方差是 d，所以除以 sqrt(d)
    scores = Q @ K.swapaxes(-1, -2) / np.sqrt(d)  # (..., Tq, Tk): q.k has variance d, so divide by sqrt(d)
    if mask is not None:
        # (..., Tq, Tk)；在 softmax 之前填 -inf：权重恰好为 0
        scores = np.where(mask, scores, -np.inf)  # (..., Tq, Tk); -inf BEFORE the softmax: weight exactly 0
    # (..., Tq, Tk)：每行（一个 query）对所有 key 求和为 1
    return softmax(scores, axis=-1)  # (..., Tq, Tk): each row (one query) sums to 1 over the keys


def attention(q, k, v, mask=None):
    """缩放点积注意力：返回（输出 (..., Tq, dv)，权重 (..., Tq, Tk)）。

    Scaled dot-product attention: returns (output (..., Tq, dv), weights (..., Tq, Tk))."""
    weights = attention_weights(q, k, mask)  # (..., Tq, Tk)
    return weights @ v, weights  # (..., Tq, Tk) @ (..., Tk, dv) -> (..., Tq, dv)
