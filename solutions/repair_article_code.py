"""Reference for repair_article_code: the interview article's multi_head_attention, repaired into mha_forward.

The article's steps and variable names are kept (scores, probabilities, context vector, output); each
"article:" comment quotes the line it replaces and says what was wrong with it. What was missing altogether
(the q/k/v projections and the head split) is added where it belongs.
"""

import numpy as np


def softmax(x, axis=-1, out=None):
    """article: np.softmax(...) -- NumPy has no softmax. Stable: subtract the max so exp never overflows."""
    e = np.subtract(x, x.max(axis=axis, keepdims=True), out=out)
    np.exp(e, out=e)
    e /= e.sum(axis=axis, keepdims=True)
    return e


def split_heads(x, num_heads):
    """(B, T, D) -> (B, H, T, dh): head h takes columns h*dh:(h+1)*dh. (The article's code had one head only.)"""
    B, T, D = x.shape
    return x.reshape(B, T, num_heads, D // num_heads).transpose(0, 2, 1, 3)


def merge_heads(x):
    """(B, H, T, dh) -> (B, T, H*dh): the concatenation the article's comment promised but never did."""
    B, H, T, dh = x.shape
    return x.transpose(0, 2, 1, 3).reshape(B, T, H * dh)


def add_head_axis(mask):
    """(B, Tq, Tk) or (Tq, Tk) -> (B, 1, Tq, Tk) or (1, Tq, Tk): the same mask for every head."""
    return np.expand_dims(mask, -3)


def attention_weights(Q, K, mask=None):
    """Softmax-normalised scores of every head. Q: (B, H, Tq, dh), K: (B, H, Tk, dh) -> (B, H, Tq, Tk)."""
    # 计算注意力分数 -- article: attention_scores = np.dot(q, k.T) / np.sqrt(k.shape[1])
    # k.T reverses ALL axes of a 3-D array and np.dot is no batched matmul: swap the last two axes, use @.
    # k.shape[1] of a (B, T, D) array is T; the scale is 1/sqrt(dh), the width of one head.
    dh = Q.shape[-1]
    attention_scores = (Q / np.sqrt(dh)) @ K.swapaxes(-1, -2)  # (B, H, Tq, Tk)
    # The attention mask (True = may attend) acts BEFORE the softmax: excluded keys get -inf, hence weight 0.
    if mask is not None:
        np.copyto(attention_scores, -np.inf, where=~mask)
    # 应用softmax函数进行归一化 -- article: np.softmax(attention_scores, axis=1): axis 1 would be the queries here.
    return softmax(attention_scores, axis=-1, out=attention_scores)  # rows (over keys) sum to 1


def mha_forward(q, k, v, params, num_heads, mask=None):
    """Multi-head attention. q: (B, Tq, D); k, v: (B, Tk, D); returns (B, Tq, D)."""
    D = q.shape[-1]
    assert D % num_heads == 0, "D must be divisible by num_heads"
    # The article's code attended with the raw q, k, v as one head: project first, then split into heads.
    Q = split_heads(q @ params["W_q"] + params["b_q"], num_heads)  # (B, H, Tq, dh)
    K = split_heads(k @ params["W_k"] + params["b_k"], num_heads)  # (B, H, Tk, dh)
    V = split_heads(v @ params["W_v"] + params["b_v"], num_heads)  # (B, H, Tk, dh)
    head_mask = None if mask is None else add_head_axis(mask)  # (B, 1, Tq, Tk): same for every head
    attention_probs = attention_weights(Q, K, head_mask)  # (B, H, Tq, Tk)

    # 生成mask，防止梯度消失 -- article: a "mask" of ones, then np.random.dropout (which does not exist). That was
    # dropout, not a mask, and dropout does not prevent vanishing gradients. A graded forward is deterministic:
    # no dropout (in training it would be inverted dropout on attention_probs, scaled by 1/(1-p)).

    # 计算加权值 -- article: context_vector = np.dot(attention_weights, v)
    context_vector = attention_probs @ V  # (B, H, Tq, dh)

    # 拼接多个注意力头的结果 -- article: output = np.dot(context_vector, heads.T): `heads` was really an output
    # projection, applied transposed. Concatenate the heads, then x @ W_o + b_o.
    output = merge_heads(context_vector) @ params["W_o"] + params["b_o"]  # (B, Tq, D)
    return output
