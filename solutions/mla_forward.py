"""参考实现：DeepSeek-V2 的多头潜在注意力（MLA）的前向传播，NumPy（float64，无 Python 循环）。

DeepSeek-V2（arXiv 2405.04434）第 2.1 节，公式 9-19，写成 x @ W，W 的形状为 (in, out)：
  c_kv = h @ W_DKV                                   (9)   潜在向量：唯一被缓存、且与头无关的量
  k_C = c_kv @ W_UK,  v_C = c_kv @ W_UV              (10, 11) 拆成维度为 d_h 的头
  c_q = h @ W_DQ  （W_DQ 为 None 时 c_q = h）         (12)
  q_C = c_q @ W_UQ                                   (13)  拆成维度为 d_h 的头
  q_R = RoPE(c_q @ W_QR)                             (14, 15) 拆成维度为 d_R 的头
  k_R = RoPE(h @ W_KR)                               (16)  所有头共享的一个 d_R 维 key
  q_i = [q_C,i ; q_R,i],  k_i = [k_C,i ; k_R]        (17, 18) 两者都是内容部分在前
  o_i = causal softmax(q_i . k_i / sqrt(d_h + d_R)) v_C,i;  u = [o_1 .. o_H] @ W_O   (19)
解码器每个 token 缓存的是 c_kv（d_c）和旋转后的 k_R（d_R）：一共 d_c + d_R 个数，没有头的维度。

RoPE 约定：对半拆分（rotate_half）的配对方式，与 rope 练习相同：第 j 维与第 j + d/2 维配对，
转过 position * base^(-2j/d)。（DeepSeek 发布的权重把旋转维度交错存放，其建模代码在 rotate_half
之前先把它们反交错：相当于对 W_QR 和 W_KR 的列做一个置换，注意力结果相同。）发布的代码还对 c_q 和
c_kv 做了 RMS 归一化；这里遵循论文的公式，不做。

Reference: DeepSeek-V2's multi-head latent attention (MLA) forward in NumPy (float64, no Python loops).

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
    """沿 `axis` 的数值稳定 softmax（先减去最大值，exp 就不会溢出）。

    Numerically stable softmax along `axis` (subtract the max so exp never overflows)."""
    # 被遮住的位置 exp(-inf) = 0
    e = np.exp(x - x.max(axis=axis, keepdims=True))  # exp(-inf) = 0 for masked entries
    return e / e.sum(axis=axis, keepdims=True)


def rope(x, positions, base):
    """在整数位置 (T,) 上对 x (..., T, d) 的最后一维做对半拆分的 RoPE；返回新数组。

    在位置 m，维度对 (x_j, x_{j+d/2}) 转过角度 m * base^(-2j/d)，j = 0 .. d/2-1。

    Half-split RoPE on the last axis of x (..., T, d) at integer positions (T,); returns a new array.

    Pair (x_j, x_{j+d/2}) at position m turns by the angle m * base^(-2j/d), j = 0 .. d/2-1.
    """
    d = x.shape[-1]
    assert d % 2 == 0, "RoPE needs an even feature size"
    angles = np.asarray(positions)[:, None] * base ** (-np.arange(0, d, 2) / d)  # (T, d/2)
    cos, sin = np.cos(angles), np.sin(angles)  # (T, d/2) each
    x1, x2 = x[..., : d // 2], x[..., d // 2:]  # (..., T, d/2) each
    return np.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1)  # (..., T, d)


def split_heads(x, num_heads):
    """(B, T, H*d) -> (B, H, T, d)：第 i 个头取第 i*d:(i+1)*d 列。

    (B, T, H*d) -> (B, H, T, d): head i takes columns i*d:(i+1)*d."""
    B, T, width = x.shape
    return x.reshape(B, T, num_heads, width // num_heads).transpose(0, 2, 1, 3)


def merge_heads(x):
    """(B, H, T, d) -> (B, T, H*d)：split_heads 的精确逆操作（各头按顺序拼接）。

    (B, H, T, d) -> (B, T, H*d): the exact inverse of split_heads (heads concatenated in order)."""
    B, H, T, d = x.shape
    return x.transpose(0, 2, 1, 3).reshape(B, T, H * d)


def join(content, rotary):
    """在特征维上拼接 [内容 ; 旋转]：(B, H, T, d_h) 和 (B, H 或 1, T, d_R) -> (B, H, T, d_h + d_R)。

    [content ; rotary] on the feature axis: (B, H, T, d_h) and (B, H or 1, T, d_R) -> (B, H, T, d_h + d_R)."""
    # 共享的 key 分给每个头
    rotary = np.broadcast_to(rotary, content.shape[:-1] + rotary.shape[-1:])  # a shared key reaches every head
    return np.concatenate([content, rotary], axis=-1)


def queries(h, params, num_heads, positions, rope_base):
    """每个头的 q_i = [q_C,i ; RoPE(q_R,i)]：(B, H, T, d_h + d_R)。

    q_i = [q_C,i ; RoPE(q_R,i)] for every head: (B, H, T, d_h + d_R)."""
    # (B, T, d_cq)：query 的潜在向量 (12)
    c_q = h if params["W_DQ"] is None else h @ params["W_DQ"]  # (B, T, d_cq): the query latent (12)
    # (B, H, T, d_h)：内容部分不含位置信息 (13)
    q_c = split_heads(c_q @ params["W_UQ"], num_heads)  # (B, H, T, d_h): no position in the content part (13)
    q_r = rope(split_heads(c_q @ params["W_QR"], num_heads), positions, rope_base)  # (B, H, T, d_R) (14, 15)
    return join(q_c, q_r)  # (B, H, T, d_h + d_R) (17)


def latent_cache(h, params, positions, rope_base):
    """MLA 每个 token 缓存的内容：c_kv (B, T, d_c) 和旋转后的共享 key k_rope (B, T, d_R)。

    What MLA caches per token: c_kv (B, T, d_c) and the rotated shared key k_rope (B, T, d_R)."""
    c_kv = h @ params["W_DKV"]  # (B, T, d_c) (9)
    # (B, T, d_R)：由 h 算出，不是由 c_kv (16)
    k_rope = rope(h @ params["W_KR"], positions, rope_base)  # (B, T, d_R): from h, not from c_kv (16)
    return {"c_kv": c_kv, "k_rope": k_rope}


def shared_key(k_rope):
    """(B, T, d_R) -> (B, 1, T, d_R)：同一序列的所有头共用一个旋转 key。

    (B, T, d_R) -> (B, 1, T, d_R): one rotary key for every head of the same sequence."""
    return k_rope[:, None]


def keys_values(cache, params, num_heads):
    """把潜在向量上投影：k_i = [k_C,i ; k_R] (B, H, T, d_h + d_R) 和 v_i (B, H, T, d_h)。

    Up-project the latent: k_i = [k_C,i ; k_R] (B, H, T, d_h + d_R) and v_i (B, H, T, d_h)."""
    k_c = split_heads(cache["c_kv"] @ params["W_UK"], num_heads)  # (B, H, T, d_h) (10)
    v = split_heads(cache["c_kv"] @ params["W_UV"], num_heads)  # (B, H, T, d_h) (11)
    return join(k_c, shared_key(cache["k_rope"])), v  # (B, H, T, d_h + d_R) (18), (B, H, T, d_h)


def causal_mask(T):
    """(T, T) 的布尔数组，token t 可以看 token j <= t 的位置为 True。

    (T, T) boolean, True where token t may attend to token j <= t."""
    return np.tril(np.ones((T, T), dtype=bool))


def attention_weights(q, k, mask):
    """对 key 做 softmax(q k^T / sqrt(d_qk))，d_qk = d_h + d_R：点积的全部宽度。

    softmax(q k^T / sqrt(d_qk)) over the keys, d_qk = d_h + d_R: the whole width of the dot product."""
    scores = q @ k.swapaxes(-1, -2) / np.sqrt(q.shape[-1])  # (B, H, T, T)
    return softmax(np.where(mask, scores, -np.inf), axis=-1)  # (B, H, T, T)


def mla_forward(h, params, num_heads, positions, rope_base=10000.0):
    """对 h (B, T, D) 做因果 MLA 自注意力；返回 (u (B, T, D), {"c_kv", "k_rope"})。

    Causal MLA self-attention over h (B, T, D); returns (u (B, T, D), {"c_kv", "k_rope"})."""
    B, T, D = h.shape
    assert params["W_UK"].shape[1] % num_heads == 0 and params["W_KR"].shape[1] % 2 == 0
    assert np.shape(positions) == (T,), "one absolute position per token"
    q = queries(h, params, num_heads, positions, rope_base)  # (B, H, T, d_h + d_R)
    cache = latent_cache(h, params, positions, rope_base)  # c_kv (B, T, d_c), k_rope (B, T, d_R)
    k, v = keys_values(cache, params, num_heads)  # (B, H, T, d_h + d_R), (B, H, T, d_h)
    P = attention_weights(q, k, causal_mask(T))  # (B, H, T, T)
    u = merge_heads(P @ v) @ params["W_O"]  # (B, H, T, d_h) -> (B, T, H*d_h) -> (B, T, D) (19)
    return u, cache
