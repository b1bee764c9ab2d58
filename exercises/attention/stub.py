"""单头缩放点积注意力，用 NumPy 实现（float64）/ Single-head scaled dot-product attention, in NumPy (float64).

【中文】约定：
- q：(..., Tq, d)；k：(..., Tk, d)；v：(..., Tk, dv)。前面的维度 “...”（batch、batch 加头，或者没有）
  三者相同。允许 Tq != Tk、d != dv。
- scores = q @ k^T / sqrt(d)，形状 (..., Tq, Tk)；weights = 对分数沿 key 维（最后一维）做 softmax，
  所以每一行求和为 1；output = weights @ v，形状 (..., Tq, dv)。
- mask：None，或可广播到 (..., Tq, Tk) 的布尔数组；True 表示“这个 query 可以看这个 key”
  （与 F.scaled_dot_product_attention 相同，与 nn.MultiheadAttention 的布尔 mask 相反）。
  被遮住的 key 权重必须恰好为 0。评测用例不会把整行都遮住。
- 必须数值稳定（会出现约 1e4 的分数）。
- 返回二元组 (output, weights)。全程 float64。不要修改输入。不需要 Python 循环。

[English] Conventions:
- q: (..., Tq, d); k: (..., Tk, d); v: (..., Tk, dv). The leading axes "..." (batch, heads, or none at
  all) are the same for q, k and v. Tq != Tk and d != dv are allowed.
- scores = q @ k^T / sqrt(d), shape (..., Tq, Tk); weights = softmax of the scores over the keys (the
  last axis), so every row sums to 1; output = weights @ v, shape (..., Tq, dv).
- mask: None, or a boolean array broadcastable to (..., Tq, Tk); True means "this query MAY attend to
  this key" (as in F.scaled_dot_product_attention; the OPPOSITE of nn.MultiheadAttention's boolean mask).
  A masked key gets weight exactly 0. No graded row is fully masked.
- Must be numerically stable (scores of size ~1e4 occur).
- Return the tuple (output, weights). float64 throughout. Do not modify the inputs. No Python loops needed.
"""

import numpy as np


def attention(q, k, v, mask=None):
    """Return (output (..., Tq, dv), weights (..., Tq, Tk))."""
    raise NotImplementedError("attention: 请实现 / write me")
