"""参考实现：分组查询注意力（GQA）的前向传播，NumPy（float64，不在 batch 或头上写 Python 循环）。

num_heads 个 query 头共享 num_kv_heads 个 key/value 头：令 G = num_heads // num_kv_heads，第 h 个
query 头使用第 h // G 个 KV 头（相邻的 query 头组成一组）。这正是在 KV 头的维度上做 repeat_interleave
的结果，与 Llama 的 repeat_kv 和 PyTorch 的 scaled_dot_product_attention(..., enable_gqa=True) 一致。
num_kv_heads == num_heads 就是普通的多头注意力；num_kv_heads == 1 是多查询注意力（MQA）。

约定（所有 mhaquiz 练习通用）：投影是 x @ W + b；第 h 个头使用投影结果的第 h*dh:(h+1)*dh 列；
mask 是布尔数组，True 表示这个 query 可以看这个 key，可广播到 (B, Tq, Tk)。

Reference: grouped-query attention (GQA) forward in NumPy (float64, no Python loops over batch or heads).

num_heads query heads share num_kv_heads key/value heads: with G = num_heads // num_kv_heads, query head h
uses KV head h // G (consecutive query heads form a group). That is what repeat_interleave on the KV-head
axis gives, as in Llama's repeat_kv and PyTorch's scaled_dot_product_attention(..., enable_gqa=True).
num_kv_heads == num_heads is ordinary multi-head attention; num_kv_heads == 1 is multi-query attention (MQA).

Conventions (shared by every mhaquiz exercise): projections are x @ W + b; head h owns columns h*dh:(h+1)*dh
of its projection; mask is boolean, True = this query MAY attend to this key, broadcastable to (B, Tq, Tk).
"""

import numpy as np


def softmax(x, axis=-1, out=None):
    """沿 `axis` 的数值稳定 softmax（先减去最大值，exp 就不会溢出）。

    Numerically stable softmax along `axis` (subtract the max so exp never overflows)."""
    e = np.subtract(x, x.max(axis=axis, keepdims=True), out=out)
    np.exp(e, out=e)
    e /= e.sum(axis=axis, keepdims=True)
    return e


def split_heads(x, num_heads):
    """(B, T, H*dh) -> (B, H, T, dh)：第 h 个头取第 h*dh:(h+1)*dh 列。

    (B, T, H*dh) -> (B, H, T, dh): head h takes columns h*dh:(h+1)*dh."""
    B, T, D = x.shape
    return x.reshape(B, T, num_heads, D // num_heads).transpose(0, 2, 1, 3)


def merge_heads(x):
    """(B, H, T, dh) -> (B, T, H*dh)：split_heads 的精确逆操作。

    (B, H, T, dh) -> (B, T, H*dh): the exact inverse of split_heads."""
    B, H, T, dh = x.shape
    return x.transpose(0, 2, 1, 3).reshape(B, T, H * dh)


def repeat_kv(x, group_size):
    """(B, Hkv, T, dh) -> (B, Hkv*G, T, dh)：第 j 个 KV 头服务第 j*G .. j*G+G-1 个 query 头（repeat_interleave）。

    为了可读性这里复制了一份；把 Q reshape 成 (B, Hkv, G, Tq, dh) 就能避免复制。

    (B, Hkv, T, dh) -> (B, Hkv*G, T, dh): KV head j serves query heads j*G .. j*G+G-1 (repeat_interleave).

    A copy, for readability; reshaping Q to (B, Hkv, G, Tq, dh) instead would avoid it.
    """
    return np.repeat(x, group_size, axis=1)


def add_head_axis(mask):
    """(B, Tq, Tk) 或 (Tq, Tk) -> (B, 1, Tq, Tk) 或 (1, Tq, Tk)：每个头用同一个 mask。

    (B, Tq, Tk) or (Tq, Tk) -> (B, 1, Tq, Tk) or (1, Tq, Tk): the same mask for every head."""
    return np.expand_dims(mask, -3)


def attention_weights(Q, K, mask=None):
    """对 key 做 softmax(Q K^T / sqrt(dh))，排除被遮住的位置。Q：(..., Tq, dh)，K：(..., Tk, dh)。

    softmax(Q K^T / sqrt(dh)) over keys, masked positions excluded. Q: (..., Tq, dh), K: (..., Tk, dh)."""
    dh = Q.shape[-1]
    scores = (Q / np.sqrt(dh)) @ K.swapaxes(-1, -2)  # (..., Tq, Tk)
    if mask is not None:
        np.copyto(scores, -np.inf, where=~mask)
    return softmax(scores, axis=-1, out=scores)


def gqa_forward(q, k, v, params, num_heads, num_kv_heads, mask=None):
    """分组查询注意力。q：(B, Tq, D)；k、v：(B, Tk, D)；返回 (B, Tq, D)。

    params：W_q、W_o (D, D)；W_k、W_v (D, num_kv_heads*dh)；b_q、b_o (D,)；b_k、b_v (num_kv_heads*dh,)。

    Grouped-query attention. q: (B, Tq, D); k, v: (B, Tk, D); returns (B, Tq, D).

    params: W_q, W_o (D, D); W_k, W_v (D, num_kv_heads*dh); b_q, b_o (D,); b_k, b_v (num_kv_heads*dh,).
    """
    D = q.shape[-1]
    assert D % num_heads == 0 and num_heads % num_kv_heads == 0, "need dh = D / H and Hkv dividing H"
    # 每个 KV 头对应 G 个 query 头
    group_size = num_heads // num_kv_heads  # G query heads per KV head
    Q = split_heads(q @ params["W_q"] + params["b_q"], num_heads)  # (B, H, Tq, dh)
    K = split_heads(k @ params["W_k"] + params["b_k"], num_kv_heads)  # (B, Hkv, Tk, dh)
    V = split_heads(v @ params["W_v"] + params["b_v"], num_kv_heads)  # (B, Hkv, Tk, dh)
    # (B, H, Tk, dh)：第 h 个 query 头看第 h // G 个 KV 头
    K, V = repeat_kv(K, group_size), repeat_kv(V, group_size)  # (B, H, Tk, dh): query head h sees KV head h // G
    # (B, 1, Tq, Tk)：每个头相同
    head_mask = None if mask is None else add_head_axis(mask)  # (B, 1, Tq, Tk): same for every head
    P = attention_weights(Q, K, head_mask)  # (B, H, Tq, Tk)
    heads = merge_heads(P @ V)  # (B, H, Tq, dh) -> (B, Tq, D)
    return heads @ params["W_o"] + params["b_o"]  # (B, Tq, D)
