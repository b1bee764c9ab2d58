"""参考实现：一层 pre-LN 的 Transformer 解码器层（GPT-2 的 block），NumPy（float64，无 Python 循环）。

    h = x + MHA(LN1(x), mask)        # 注意力子层：输入先归一化，外面包一条残差
    y = h + FFN(LN2(h))              # 前馈子层：同样的结构
    FFN(z) = gelu(z @ W_1 + b_1) @ W_2 + b_2，gelu 用 GPT-2 的 tanh 近似

与 openai/gpt-2 的 src/model.py（`block`、`norm`、`gelu`、`mlp`）相同：LayerNorm 沿最后一维，方差有偏，
eps 在平方根里面。MHA 与 mha_forward 完全相同：投影 x @ W + b，W 为 (D, D)；第 h 个头使用第
h*dh:(h+1)*dh 列；分数乘以 1/sqrt(dh)；mask 为 True 表示这个 query 可以看这个 key。
这一层自己不加 mask：调用方给的 mask（因果，或因果加 padding）原样使用。

Reference: one pre-LN Transformer decoder layer (GPT-2's block) in NumPy (float64, no Python loops).

    h = x + MHA(LN1(x), mask)        # attention sub-layer, its input normalised, the residual around it
    y = h + FFN(LN2(h))              # feed-forward sub-layer, the same pattern
    FFN(z) = gelu(z @ W_1 + b_1) @ W_2 + b_2,   gelu = GPT-2's tanh approximation

As openai/gpt-2 src/model.py (`block`, `norm`, `gelu`, `mlp`): LayerNorm over the last axis with the biased
variance and eps inside the square root. MHA exactly as mha_forward: projections x @ W + b with W (D, D);
head h owns columns h*dh:(h+1)*dh; scores scaled by 1/sqrt(dh); mask True = this query MAY attend to this key.
The layer adds no mask of its own: the caller's mask (causal, or causal and padding) is used as given.
"""

import numpy as np


def softmax(x, axis=-1, out=None, where=True):
    """沿 `axis` 的数值稳定 softmax，只在 `where` 为 True 的位置上计算，其余位置为 0。

    给了 `out` 就写进 `out`（out=x 会覆盖 x）；否则返回一个新数组。

    Numerically stable softmax along `axis` over the entries where `where` is True; the others get 0.

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
    """(B, T, T) 或 (T, T) -> (B, 1, T, T) 或 (1, T, T)：每个头用同一个 mask。

    (B, T, T) or (T, T) -> (B, 1, T, T) or (1, T, T): the same mask for every head."""
    return np.expand_dims(mask, -3)


def attention_weights(Q, K, mask=None):
    """对 key 做 softmax(Q K^T / sqrt(dh))，排除被遮住的位置。Q：(..., Tq, dh)，K：(..., Tk, dh)。

    softmax(Q K^T / sqrt(dh)) over keys, masked positions excluded. Q: (..., Tq, dh), K: (..., Tk, dh)."""
    dh = Q.shape[-1]
    scores = (Q / np.sqrt(dh)) @ K.swapaxes(-1, -2)  # (..., Tq, Tk)
    allowed = True if mask is None else mask
    return softmax(scores, axis=-1, out=scores, where=allowed)  # 原地计算：scores 是我们自己的临时数组 / in place: scores is our own temporary


def self_attention(x, params, num_heads, mask=None):
    """多头自注意力，等同于 mha_forward(x, x, x, ...)。x：(B, T, D)；返回 (B, T, D)。

    Multi-head self-attention, as mha_forward(x, x, x, ...). x: (B, T, D); returns (B, T, D)."""
    D = x.shape[-1]
    assert D % num_heads == 0, "D must be divisible by num_heads"
    Q = split_heads(x @ params["W_q"] + params["b_q"], num_heads)  # (B, H, T, dh)
    K = split_heads(x @ params["W_k"] + params["b_k"], num_heads)  # (B, H, T, dh)
    V = split_heads(x @ params["W_v"] + params["b_v"], num_heads)  # (B, H, T, dh)
    # (B, 1, T, T)：每个头相同
    head_mask = None if mask is None else add_head_axis(mask)  # (B, 1, T, T): same for every head
    P = attention_weights(Q, K, head_mask)  # (B, H, T, T)
    heads = merge_heads(P @ V)  # (B, H, T, dh) -> (B, T, D)
    return heads @ params["W_o"] + params["b_o"]  # (B, T, D)


def layer_norm(x, gamma, beta, eps):
    """沿最后一维的 LayerNorm：(x - mean) / sqrt(var + eps) * gamma + beta，方差有偏（除以 D）。

    LayerNorm over the last axis: (x - mean) / sqrt(var + eps) * gamma + beta, biased variance (/ D)."""
    mean = x.mean(axis=-1, keepdims=True)  # (B, T, 1)
    centred = x - mean  # (B, T, D)
    # (B, T, 1)：除以 D，不是 D - 1
    var = (centred * centred).mean(axis=-1, keepdims=True)  # (B, T, 1): divided by D, not D - 1
    # (B, T, D)：eps 在平方根里面
    return centred / np.sqrt(var + eps) * gamma + beta  # (B, T, D): eps INSIDE the square root


def gelu(x):
    """GPT-2 的 GELU：tanh 近似 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))。

    GPT-2's GELU: the tanh approximation 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x ** 3)))


def ffn(x, params):
    """逐位置的前馈网络。x：(B, T, D) -> (B, T, F) -> (B, T, D)。

    Position-wise feed-forward network. x: (B, T, D) -> (B, T, F) -> (B, T, D)."""
    hidden = gelu(x @ params["W_1"] + params["b_1"])  # (B, T, F)
    return hidden @ params["W_2"] + params["b_2"]  # (B, T, D)


def transformer_block(x, params, num_heads, mask=None):
    """pre-LN 解码器层。x：(B, T, D)；mask 可广播到 (B, T, T)，True 表示可以看；返回 (B, T, D)。

    Pre-LN decoder layer. x: (B, T, D); mask broadcastable to (B, T, T), True = may attend; returns (B, T, D)."""
    eps = params["eps"]
    a = self_attention(layer_norm(x, params["ln1_gamma"], params["ln1_beta"], eps), params, num_heads, mask)
    # (B, T, D)：残差流传的是 x 本身，而不是 LN1(x)
    h = x + a  # (B, T, D): the residual stream carries x itself, never LN1(x)
    m = ffn(layer_norm(h, params["ln2_gamma"], params["ln2_beta"], eps), params)  # (B, T, D)
    # (B, T, D)：相加之后不再做 LayerNorm（那是 post-LN）
    return h + m  # (B, T, D): no LayerNorm after the add (that would be post-LN)
