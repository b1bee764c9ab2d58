"""参考实现：在 Q 和 K 上加旋转位置编码（RoPE）的多头注意力，NumPy（float64，无循环）。

约定（所有 mhaquiz 练习通用）：投影是 x @ W + b，W 的形状为 (D, D)；第 h 个头使用第 h*dh:(h+1)*dh 列；
mask 是布尔数组，True 表示这个 query 可以看这个 key，可广播到 (B, Tq, Tk)。
RoPE：Hugging Face 的 Llama 和 GPT-NeoX 的对半拆分（rotate_half）配对方式，在拆头之后逐头使用
（d = dh），Q 用 q_positions，K 用 k_positions；V 不旋转。

Reference: multi-head attention with rotary position embedding (RoPE) on Q and K, in NumPy (float64, no loops).

Conventions (shared by every mhaquiz exercise): projections are x @ W + b with W of shape (D, D); head h owns
columns h*dh:(h+1)*dh; mask is boolean, True = this query MAY attend to this key, broadcastable to (B, Tq, Tk).
RoPE: the half-split ("rotate_half") pairing of Hugging Face's Llama and GPT-NeoX, applied per head (d = dh)
after the head split, to Q at q_positions and to K at k_positions; V is not rotated.
"""

import numpy as np


def softmax(x, axis=-1, out=None, where=True):
    """沿 `axis` 的数值稳定 softmax，只在 `where` 为 True 的位置上计算，其余位置为 0。

    Numerically stable softmax along `axis` over the entries where `where` is True; the others get 0."""
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


def inv_freq(d, base):
    """theta_j = base^(-2j/d)，j = 0 .. d/2-1：形状 (d/2,)。

    theta_j = base^(-2j/d) for j = 0 .. d/2-1: shape (d/2,)."""
    return base ** (-np.arange(0, d, 2) / d)  # (d/2,)


def cos_sin(positions, d, base):
    """角度 m * theta_j 的 cos 和 sin，形状都是 (..., T, d)：第 j 维和第 j + d/2 维共用第 j 个角度。

    cos and sin of the angles m * theta_j, each (..., T, d): dimensions j and j + d/2 share angle j."""
    angles = np.asarray(positions)[..., None] * inv_freq(d, base)  # (T, d/2)
    angles = np.concatenate([angles, angles], axis=-1)  # (T, d)
    return np.cos(angles), np.sin(angles)


def rotate_half(x):
    """在最后一维的前后两半上做 (x1, x2) -> (-x2, x1)。

    (x1, x2) -> (-x2, x1) on the two halves of the last axis."""
    half = x.shape[-1] // 2
    return np.concatenate([-x[..., half:], x[..., :half]], axis=-1)


def rope(x, positions, base):
    """在位置 (T,) 上旋转 x (..., T, d)：在位置 m，维度对 (x_j, x_{j+d/2}) 转过 m * theta_j。

    Rotate x (..., T, d) at positions (T,): pair (x_j, x_{j+d/2}) turns by m * theta_j at position m."""
    cos, sin = cos_sin(positions, x.shape[-1], base)  # (T, d) each
    return x * cos + rotate_half(x) * sin  # (..., T, d)


def attention_weights(Q, K, mask=None):
    """对 key 做 softmax(Q K^T / sqrt(dh))，排除被遮住的位置。Q：(..., Tq, dh)，K：(..., Tk, dh)。

    softmax(Q K^T / sqrt(dh)) over keys, masked positions excluded. Q: (..., Tq, dh), K: (..., Tk, dh)."""
    dh = Q.shape[-1]
    scores = (Q / np.sqrt(dh)) @ K.swapaxes(-1, -2)  # (..., Tq, Tk)
    allowed = True if mask is None else mask
    return softmax(scores, axis=-1, out=scores, where=allowed)  # 原地计算：scores 是我们自己的临时数组 / in place: scores is our own temporary


def mha_rope_forward(q, k, v, params, num_heads, q_positions, k_positions, base, mask=None):
    """在 Q 和 K 上加 RoPE 的多头注意力。q：(B, Tq, D)；k、v：(B, Tk, D)；返回 (B, Tq, D)。

    Multi-head attention with RoPE on Q and K. q: (B, Tq, D); k, v: (B, Tk, D); returns (B, Tq, D)."""
    D = q.shape[-1]
    assert D % num_heads == 0 and (D // num_heads) % 2 == 0, "need dh = D / H, and dh even for RoPE"
    Q = split_heads(q @ params["W_q"] + params["b_q"], num_heads)  # (B, H, Tq, dh)
    K = split_heads(k @ params["W_k"] + params["b_k"], num_heads)  # (B, H, Tk, dh)
    V = split_heads(v @ params["W_v"] + params["b_v"], num_heads)  # (B, H, Tk, dh)
    # (B, H, Tq, dh)：每个头在自己的 dh 个特征上旋转
    Q = rope(Q, q_positions, base)  # (B, H, Tq, dh): each head rotated on its own dh features
    K = rope(K, k_positions, base)  # (B, H, Tk, dh); V stays as it is
    # (B, 1, Tq, Tk)：每个头相同
    head_mask = None if mask is None else add_head_axis(mask)  # (B, 1, Tq, Tk): same for every head
    # (B, H, Tq, Tk)：只依赖 q_positions - k_positions
    P = attention_weights(Q, K, head_mask)  # (B, H, Tq, Tk): depends on q_positions - k_positions only
    heads = merge_heads(P @ V)  # (B, H, Tq, dh) -> (B, Tq, D)
    return heads @ params["W_o"] + params["b_o"]  # (B, Tq, D)
