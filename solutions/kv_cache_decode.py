"""参考实现：带不断增长的 K/V cache 的因果自注意力的一步解码（NumPy，float64）。

把 x 的 token 一个一个喂进去，decode_step 给出的结果与 mha_forward(x, x, x, params, H, causal_mask)
完全相同：token t 的 query 能看 key 0..t，恰好就是追加了 t 自己的 key 之后的 cache，所以单步解码
完全不需要 mask。时间上的循环由调用方负责；单步在 batch 和头上是向量化的。

约定（所有 mhaquiz 练习通用）：投影是 x @ W + b，W 的形状为 (D, D)；第 h 个头使用第
h*dh:(h+1)*dh 列；分数乘以 1/sqrt(dh)。cache 保存的是投影并拆头之后的 key 和 value。

Reference: one decoding step of causal self-attention with a growing K/V cache (NumPy, float64).

Fed the tokens of x one at a time, decode_step gives exactly mha_forward(x, x, x, params, H, causal_mask):
token t's query sees keys 0..t, which are precisely the cache after t's own key has been appended, so a
single step needs no mask at all. The loop over time belongs to the caller; one step is vectorised over
batch and heads.

Conventions (shared by every mhaquiz exercise): projections are x @ W + b with W of shape (D, D); head h owns
columns h*dh:(h+1)*dh; scores scaled by 1/sqrt(dh). The cache holds the projected, split keys and values.
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
    """(B, T, D) -> (B, H, T, dh)：第 h 个头取第 h*dh:(h+1)*dh 列。

    (B, T, D) -> (B, H, T, dh): head h takes columns h*dh:(h+1)*dh."""
    B, T, D = x.shape
    return x.reshape(B, T, num_heads, D // num_heads).transpose(0, 2, 1, 3)


def merge_heads(x):
    """(B, H, T, dh) -> (B, T, H*dh)：split_heads 的精确逆操作。

    (B, H, T, dh) -> (B, T, H*dh): the exact inverse of split_heads."""
    B, H, T, dh = x.shape
    return x.transpose(0, 2, 1, 3).reshape(B, T, H * dh)


def attention_weights(Q, K, mask=None):
    """对 key 做 softmax(Q K^T / sqrt(dh))，排除被遮住的位置。Q：(..., Tq, dh)，K：(..., Tk, dh)。

    softmax(Q K^T / sqrt(dh)) over keys, masked positions excluded. Q: (..., Tq, dh), K: (..., Tk, dh)."""
    dh = Q.shape[-1]
    scores = (Q / np.sqrt(dh)) @ K.swapaxes(-1, -2)  # (..., Tq, Tk)
    if mask is not None:
        np.copyto(scores, -np.inf, where=~mask)
    return softmax(scores, axis=-1, out=scores)


def append_to_cache(cache, K_t, V_t):
    """一个新的 cache：在时间维（(B, H, t, dh) 的第 2 维）上追加了这一步的 key 和 value。

    A new cache with this step's keys and values appended on the time axis (axis 2 of (B, H, t, dh))."""
    # 第一步：cache 里还什么都没有
    if cache is None:  # the first step: nothing cached yet
        return {"k": K_t, "v": V_t}
    return {"k": np.concatenate([cache["k"], K_t], axis=2),  # (B, H, t+1, dh)
            "v": np.concatenate([cache["v"], V_t], axis=2)}  # (B, H, t+1, dh)


def decode_step(x_t, cache, params, num_heads):
    """一个新 token。x_t：(B, 1, D)；cache：None 或形状为 (B, H, t, dh) 的 {"k", "v"}。

    返回 (y_t, cache)：y_t (B, 1, D)，以及形状为 (B, H, t+1, dh) 的新 cache（旧的不被修改）。

    One new token. x_t: (B, 1, D); cache: None or {"k", "v"} of shape (B, H, t, dh).

    Returns (y_t, cache): y_t (B, 1, D), and a new cache of shape (B, H, t+1, dh) (the old one is untouched).
    """
    D = x_t.shape[-1]
    assert D % num_heads == 0, "D must be divisible by num_heads"
    Q = split_heads(x_t @ params["W_q"] + params["b_q"], num_heads)  # (B, H, 1, dh)
    K_t = split_heads(x_t @ params["W_k"] + params["b_k"], num_heads)  # (B, H, 1, dh)
    V_t = split_heads(x_t @ params["W_v"] + params["b_v"], num_heads)  # (B, H, 1, dh)
    # 先追加，再做注意力：这个 token 能看到它自己
    cache = append_to_cache(cache, K_t, V_t)  # first append, then attend: the token sees itself
    # (B, H, 1, t+1)；cache 里的 key 都在过去：不需要 mask
    P = attention_weights(Q, cache["k"])  # (B, H, 1, t+1); every cached key is in the past: no mask
    heads = merge_heads(P @ cache["v"])  # (B, H, 1, dh) -> (B, 1, D)
    return heads @ params["W_o"] + params["b_o"], cache  # (B, 1, D)
