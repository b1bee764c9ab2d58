"""单头缩放点积注意力，用 PyTorch 实现 / Single-head scaled dot-product attention, in PyTorch.

【中文】写一个函数 attention(q, k, v, mask=None)，返回二元组 (output, weights)：
- q：(..., Tq, d)；k：(..., Tk, d)；v：(..., Tk, dv)。前面的维度 “...”（batch、batch 加头，或者没有）三者相同。
- scores = q @ k^T / sqrt(d)，形状 (..., Tq, Tk)；weights = 对分数沿 key 维（最后一维）做 softmax；
  output = weights @ v，形状 (..., Tq, dv)。
- mask：None，或可广播到 (..., Tq, Tk) 的布尔张量；True 表示“可以看”（与 F.scaled_dot_product_attention 相同，
  与 nn.MultiheadAttention 的布尔 mask 相反）。被遮住的 key 权重必须恰好为 0。
- 不许用 F.scaled_dot_product_attention、nn.MultiheadAttention（这道题就是要你自己写）；torch.softmax 可以用。
- 评测用 float64 张量；不要修改输入。

[English] Write attention(q, k, v, mask=None) returning the tuple (output, weights):
- q: (..., Tq, d); k: (..., Tk, d); v: (..., Tk, dv). The leading axes "..." (batch, heads, or none) are the same.
- scores = q @ k^T / sqrt(d), shape (..., Tq, Tk); weights = softmax of the scores over the keys (last axis);
  output = weights @ v, shape (..., Tq, dv).
- mask: None or a boolean tensor broadcastable to (..., Tq, Tk); True means "may attend" (as in
  F.scaled_dot_product_attention, the opposite of nn.MultiheadAttention). A masked key gets weight exactly 0.
- F.scaled_dot_product_attention and nn.MultiheadAttention are not allowed (this exercise is writing them);
  torch.softmax is. Graded with float64 tensors; do not modify the inputs.
"""

import math

import torch


def attention(q, k, v, mask=None):
    """Return (output (..., Tq, dv), weights (..., Tq, Tk))."""
    raise NotImplementedError("attention: 请实现 / write me")
