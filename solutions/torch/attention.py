"""参考实现：单头缩放点积注意力（PyTorch 函数）/ Reference: single-head scaled dot-product attention (PyTorch).

约定同 NumPy 版：分数乘以 1/sqrt(d)；softmax 沿 key；mask 为 True 表示可以看。
Conventions as in the NumPy track: scores scaled by 1/sqrt(d); softmax over the keys; mask True = may attend.
"""

import math

import torch


def attention(q, k, v, mask=None):
    """缩放点积注意力：返回（输出 (..., Tq, dv)，权重 (..., Tq, Tk)）。

    Scaled dot-product attention: (output (..., Tq, dv), weights (..., Tq, Tk))."""
    d = q.shape[-1]
    scores = q @ k.transpose(-2, -1) / math.sqrt(d)  # (..., Tq, Tk)：q·k 的方差是 d / q.k has variance d
    if mask is not None:
        # softmax 之前填 -inf：被遮住的 key 权重恰好为 0 / -inf BEFORE the softmax: weight exactly 0
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)  # (..., Tq, Tk)：每行（一个 query）和为 1 / each row sums to 1
    return weights @ v, weights  # (..., Tq, Tk) @ (..., Tk, dv) -> (..., Tq, dv)
