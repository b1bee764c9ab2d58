"""多头注意力，反向传播，用 NumPy 实现（float64）/ Multi-head attention, backward pass, in NumPy (float64).

【中文】前向就是 mha_forward（见该练习）：q：(B, Tq, D)；k、v：(B, Tk, D)；投影是 x @ W + b，
W 形状为 (D, D)，b 形状为 (D,)（不是 PyTorch 的 x @ W.T）；第 h 个头使用投影后的第 h*dh:(h+1)*dh 列；
分数乘以 1/sqrt(dh)；softmax 沿 key 的维度做；各头按顺序拼接，再 @ W_o + b_o；mask 是可广播到
(B, Tq, Tk) 的布尔数组，True = 可以看。

返回 sum(mha_forward(q, k, v, params, num_heads, mask) * d_out) 对每个输入的梯度，放在一个 dict 里，
键为 "q"、"k"、"v"、"W_q"、"W_k"、"W_v"、"W_o"、"b_q"、"b_k"、"b_v"、"b_o"，每个梯度的形状与对应输入相同。
全程 float64。不要修改输入。

[English] The forward is mha_forward (see its exercise): q: (B, Tq, D); k, v: (B, Tk, D); projections x @ W + b
with W (D, D) and b (D,) (NOT PyTorch's x @ W.T); head h owns columns h*dh:(h+1)*dh; scores scaled by
1/sqrt(dh); softmax over keys; heads concatenated, then @ W_o + b_o; boolean mask broadcastable to
(B, Tq, Tk), True = may attend.

Return the gradient of sum(mha_forward(q, k, v, params, num_heads, mask) * d_out) with respect to every
input, as a dict with keys "q", "k", "v", "W_q", "W_k", "W_v", "W_o", "b_q", "b_k", "b_v", "b_o",
each of the same shape as that input. float64 throughout. Do not modify the inputs.
"""

import numpy as np


def mha_backward(d_out, q, k, v, params, num_heads, mask=None):
    """d_out: (B, Tq, D). Return a dict of gradients (see the module docstring)."""
    raise NotImplementedError("mha_backward: 请实现 / write me")
