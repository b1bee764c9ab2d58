"""多头注意力，前向传播，用 NumPy 实现（float64）/ Multi-head attention, forward pass, in NumPy (float64).

【中文】约定：
- q：(B, Tq, D)；k、v：(B, Tk, D)。允许交叉注意力：Tq 可以不等于 Tk，k、v 也不一定就是 q。
- params："W_q"、"W_k"、"W_v"、"W_o" 形状为 (D, D)，"b_q"、"b_k"、"b_v"、"b_o" 形状为 (D,)。
  投影是 x @ W + b（不是 PyTorch 的 x @ W.T）。
- dh = D // num_heads；第 h 个头使用投影后 q、k、v 的第 h*dh:(h+1)*dh 列。
- 分数乘以 1/sqrt(dh)；softmax 沿 key 的维度做；各头按顺序拼接，再 @ W_o + b_o。
- mask：None，或可广播到 (B, Tq, Tk) 的布尔数组；True 表示“这个 query 可以看这个 key”
  （与 nn.MultiheadAttention 的布尔 mask 含义相反）。评测用例不会把整行都遮住。
- 全程 float64。不要修改输入。不需要在 batch、头或位置上写 Python 循环。

[English] Conventions:
- q: (B, Tq, D); k, v: (B, Tk, D). Cross-attention is allowed: Tq != Tk, and k, v need not be q.
- params: "W_q", "W_k", "W_v", "W_o" of shape (D, D) and "b_q", "b_k", "b_v", "b_o" of shape (D,).
  Projections are x @ W + b (NOT PyTorch's x @ W.T).
- dh = D // num_heads; head h owns columns h*dh:(h+1)*dh of the projected q, k and v.
- scores are scaled by 1/sqrt(dh); softmax over the keys; heads concatenated in order, then @ W_o + b_o.
- mask: None, or a boolean array broadcastable to (B, Tq, Tk); True means "this query MAY attend to
  this key" (the opposite of nn.MultiheadAttention's boolean mask). No graded row is fully masked.
- float64 throughout. Do not modify the inputs. No Python loops over batch, heads or positions needed.
"""

import numpy as np


def mha_forward(q, k, v, params, num_heads, mask=None):
    """Return the attention output, shape (B, Tq, D)."""
    raise NotImplementedError("mha_forward: 请实现 / write me")
