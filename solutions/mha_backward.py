"""参考实现：多头注意力的反向传播，NumPy（float64，向量化）。

mha_backward 返回 sum(mha_forward(...) * d_out) 对每个输入的梯度。
对每个头，记 s = 1/sqrt(dh)，S = s Q K^T（带 mask），P = softmax(S)，O = P V：
  dV = P^T dO；dP = dO V^T；dS = P * (dP - rowsum(dP * P))；dQ = s dS K；dK = s dS^T Q
而且 rowsum(dP * P) == rowsum(dO * O)，这样能省掉一个 (Tq, Tk) 的临时数组。

Reference: multi-head attention backward in NumPy (float64, vectorised).

mha_backward returns the gradient of sum(mha_forward(...) * d_out) with respect to every input.
Per head, with s = 1/sqrt(dh), S = s Q K^T (masked), P = softmax(S), O = P V:
  dV = P^T dO;  dP = dO V^T;  dS = P * (dP - rowsum(dP * P));  dQ = s dS K;  dK = s dS^T Q
and rowsum(dP * P) == rowsum(dO * O), which avoids one (Tq, Tk) temporary.
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

    返回连续存储的副本而不是视图：这样每个头的 (T, dh) 块是一个稠密矩阵，反向传播里对它的大量矩阵乘法
    在 T = 1024 时快约 20%（benchmarks/bench_grade.py）。

    (B, T, D) -> (B, H, T, dh): head h takes columns h*dh:(h+1)*dh.

    A contiguous copy, not a view: each head's (T, dh) block is then one dense matrix, and the backward's
    many matmuls on it run about 20% faster at T = 1024 (benchmarks/bench_grade.py).
    """
    B, T, D = x.shape
    return np.ascontiguousarray(x.reshape(B, T, num_heads, D // num_heads).transpose(0, 2, 1, 3))


def merge_heads(x):
    """(B, H, T, dh) -> (B, T, H*dh)：split_heads 的逆操作。

    (B, H, T, dh) -> (B, T, H*dh): the inverse of split_heads."""
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


def softmax_backward(P, dP, row_dot):
    """dS = P * (dP - rowsum(dP * P))，其中 row_dot = rowsum(dP * P)，形状 (..., Tq, 1)。复用 dP 的内存。

    dS = P * (dP - rowsum(dP * P)), given row_dot = rowsum(dP * P) of shape (..., Tq, 1). Reuses dP."""
    dP -= row_dot
    dP *= P
    return dP


def weight_grad(x, dy):
    """d(x @ W)/dW 在 batch 和时间上求和：x^T dy。x：(B, T, Din)，dy：(B, T, Dout) -> (Din, Dout)。

    d(x @ W)/dW summed over batch and time: x^T dy. x: (B, T, Din), dy: (B, T, Dout) -> (Din, Dout)."""
    return x.reshape(-1, x.shape[-1]).T @ dy.reshape(-1, dy.shape[-1])


def bias_grad(dy):
    """在每个（batch，时间）位置都加上的偏置的梯度：(B, T, D) -> (D,)。

    Gradient of a bias added at every (batch, time) position: (B, T, D) -> (D,)."""
    return dy.sum(axis=(0, 1))


def mha_backward(d_out, q, k, v, params, num_heads, mask=None):
    """sum(mha_forward(q, k, v, params, num_heads, mask) * d_out) 的梯度。d_out：(B, Tq, D)。

    Gradients of sum(mha_forward(q, k, v, params, num_heads, mask) * d_out). d_out: (B, Tq, D)."""
    D = q.shape[-1]
    assert D % num_heads == 0, "D must be divisible by num_heads"
    W_q, W_k, W_v, W_o = params["W_q"], params["W_k"], params["W_v"], params["W_o"]

    # 再做一遍前向，留下反向需要的量。
    # Forward again, keeping what the backward needs.
    Q = split_heads(q @ W_q + params["b_q"], num_heads)  # (B, H, Tq, dh)
    K = split_heads(k @ W_k + params["b_k"], num_heads)  # (B, H, Tk, dh)
    V = split_heads(v @ W_v + params["b_v"], num_heads)  # (B, H, Tk, dh)
    head_mask = None if mask is None else add_head_axis(mask)  # (B, 1, Tq, Tk)
    P = attention_weights(Q, K, head_mask)  # (B, H, Tq, Tk)
    O = P @ V  # (B, H, Tq, dh)

    # 输出投影 y = merge(O) @ W_o + b_o。
    # Output projection y = merge(O) @ W_o + b_o.
    grads = {"W_o": weight_grad(merge_heads(O), d_out), "b_o": bias_grad(d_out)}
    dO = split_heads(d_out @ W_o.T, num_heads)  # (B, Tq, D) -> (B, H, Tq, dh)

    # 注意力，逐头计算。
    # Attention, per head.
    dV = P.swapaxes(-1, -2) @ dO  # (B, H, Tk, dh)
    dP = dO @ V.swapaxes(-1, -2)  # (B, H, Tq, Tk)
    # (B, H, Tq, Tk)；被遮住的位置为 0
    dS = softmax_backward(P, dP, (dO * O).sum(axis=-1, keepdims=True))  # (B, H, Tq, Tk); masked entries are 0
    scale = 1.0 / np.sqrt(D // num_heads)
    dQ = (dS @ K) * scale  # (B, H, Tq, dh)
    dK = (dS.swapaxes(-1, -2) @ Q) * scale  # (B, H, Tk, dh)

    # 反向经过拆头和输入投影 x @ W + b。
    # Back through the head split and the input projections x @ W + b.
    for name, x, dY, W in (("q", q, dQ, W_q), ("k", k, dK, W_k), ("v", v, dV, W_v)):
        d_proj = merge_heads(dY)  # (B, T, D)
        grads[name] = d_proj @ W.T  # (B, T, D)
        grads["W_" + name] = weight_grad(x, d_proj)  # (D, D)
        grads["b_" + name] = bias_grad(d_proj)  # (D,)
    return grads
