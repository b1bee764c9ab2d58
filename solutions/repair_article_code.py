"""repair_article_code 的参考实现：把面试文章里的 multi_head_attention 修成 mha_forward。

保留了文章的步骤和变量名（scores、probabilities、context vector、output）；每条“article:”注释
引用它替换的那一行，并说明那一行错在哪里。文章完全漏掉的部分（q/k/v 投影和拆头）加在了该在的位置。

Reference for repair_article_code: the interview article's multi_head_attention, repaired into mha_forward.

The article's steps and variable names are kept (scores, probabilities, context vector, output); each
"article:" comment quotes the line it replaces and says what was wrong with it. What was missing altogether
(the q/k/v projections and the head split) is added where it belongs.
"""

import numpy as np


def softmax(x, axis=-1, out=None):
    """文章：np.softmax(...)——NumPy 没有 softmax。数值稳定：先减去最大值，exp 就不会溢出。

    article: np.softmax(...) -- NumPy has no softmax. Stable: subtract the max so exp never overflows."""
    e = np.subtract(x, x.max(axis=axis, keepdims=True), out=out)
    np.exp(e, out=e)
    e /= e.sum(axis=axis, keepdims=True)
    return e


def split_heads(x, num_heads):
    """(B, T, D) -> (B, H, T, dh)：第 h 个头取第 h*dh:(h+1)*dh 列。（文章的代码只有一个头。）

    (B, T, D) -> (B, H, T, dh): head h takes columns h*dh:(h+1)*dh. (The article's code had one head only.)"""
    B, T, D = x.shape
    return x.reshape(B, T, num_heads, D // num_heads).transpose(0, 2, 1, 3)


def merge_heads(x):
    """(B, H, T, dh) -> (B, T, H*dh)：文章的注释说要拼接，代码却从没做过。

    (B, H, T, dh) -> (B, T, H*dh): the concatenation the article's comment promised but never did."""
    B, H, T, dh = x.shape
    return x.transpose(0, 2, 1, 3).reshape(B, T, H * dh)


def add_head_axis(mask):
    """(B, Tq, Tk) 或 (Tq, Tk) -> (B, 1, Tq, Tk) 或 (1, Tq, Tk)：每个头用同一个 mask。

    (B, Tq, Tk) or (Tq, Tk) -> (B, 1, Tq, Tk) or (1, Tq, Tk): the same mask for every head."""
    return np.expand_dims(mask, -3)


def attention_weights(Q, K, mask=None):
    """每个头经 softmax 归一化的分数。Q：(B, H, Tq, dh)，K：(B, H, Tk, dh) -> (B, H, Tq, Tk)。

    Softmax-normalised scores of every head. Q: (B, H, Tq, dh), K: (B, H, Tk, dh) -> (B, H, Tq, Tk)."""
    # 计算注意力分数——文章：attention_scores = np.dot(q, k.T) / np.sqrt(k.shape[1])
    # 对三维数组，k.T 会把所有维度都反过来，而 np.dot 也不是批量矩阵乘法：应交换最后两维，并用 @。
    # 对 (B, T, D) 的数组，k.shape[1] 是 T；缩放应是 1/sqrt(dh)，即一个头的宽度。
    # 计算注意力分数 -- article: attention_scores = np.dot(q, k.T) / np.sqrt(k.shape[1])
    # k.T reverses ALL axes of a 3-D array and np.dot is no batched matmul: swap the last two axes, use @.
    # k.shape[1] of a (B, T, D) array is T; the scale is 1/sqrt(dh), the width of one head.
    dh = Q.shape[-1]
    attention_scores = (Q / np.sqrt(dh)) @ K.swapaxes(-1, -2)  # (B, H, Tq, Tk)
    # 注意力 mask（True 表示可以看）在 softmax 之前起作用：被排除的 key 填 -inf，权重因此为 0。
    # The attention mask (True = may attend) acts BEFORE the softmax: excluded keys get -inf, hence weight 0.
    if mask is not None:
        np.copyto(attention_scores, -np.inf, where=~mask)
    # 应用 softmax 函数进行归一化——文章：np.softmax(attention_scores, axis=1)：这里 axis 1 是 query 的维度。
    # 应用softmax函数进行归一化 -- article: np.softmax(attention_scores, axis=1): axis 1 would be the queries here.
    # 每行（对所有 key）求和为 1
    return softmax(attention_scores, axis=-1, out=attention_scores)  # rows (over keys) sum to 1


def mha_forward(q, k, v, params, num_heads, mask=None):
    """多头注意力。q：(B, Tq, D)；k、v：(B, Tk, D)；返回 (B, Tq, D)。

    Multi-head attention. q: (B, Tq, D); k, v: (B, Tk, D); returns (B, Tq, D)."""
    D = q.shape[-1]
    assert D % num_heads == 0, "D must be divisible by num_heads"
    # 文章的代码直接拿原始的 q、k、v 当一个头做注意力：应先投影，再拆成多个头。
    # The article's code attended with the raw q, k, v as one head: project first, then split into heads.
    Q = split_heads(q @ params["W_q"] + params["b_q"], num_heads)  # (B, H, Tq, dh)
    K = split_heads(k @ params["W_k"] + params["b_k"], num_heads)  # (B, H, Tk, dh)
    V = split_heads(v @ params["W_v"] + params["b_v"], num_heads)  # (B, H, Tk, dh)
    # (B, 1, Tq, Tk)：每个头相同
    head_mask = None if mask is None else add_head_axis(mask)  # (B, 1, Tq, Tk): same for every head
    attention_probs = attention_weights(Q, K, head_mask)  # (B, H, Tq, Tk)

    # 生成 mask，防止梯度消失——文章：先造一个全 1 的“mask”，再调用 np.random.dropout（这个函数不存在）。
    # 那其实是 dropout，不是 mask，而且 dropout 并不能防止梯度消失。评分用的前向是确定性的：
    # 不做 dropout（训练时应在 attention_probs 上做 inverted dropout，乘以 1/(1-p)）。
    # 生成mask，防止梯度消失 -- article: a "mask" of ones, then np.random.dropout (which does not exist). That was
    # dropout, not a mask, and dropout does not prevent vanishing gradients. A graded forward is deterministic:
    # no dropout (in training it would be inverted dropout on attention_probs, scaled by 1/(1-p)).

    # 计算加权值——文章：context_vector = np.dot(attention_weights, v)
    # 计算加权值 -- article: context_vector = np.dot(attention_weights, v)
    context_vector = attention_probs @ V  # (B, H, Tq, dh)

    # 拼接多个注意力头的结果——文章：output = np.dot(context_vector, heads.T)：`heads` 其实是一个输出投影，
    # 而且被转置着用了。应先把各头拼接起来，再算 x @ W_o + b_o。
    # 拼接多个注意力头的结果 -- article: output = np.dot(context_vector, heads.T): `heads` was really an output
    # projection, applied transposed. Concatenate the heads, then x @ W_o + b_o.
    output = merge_heads(context_vector) @ params["W_o"] + params["b_o"]  # (B, Tq, D)
    return output
