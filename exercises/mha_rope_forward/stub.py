"""多头注意力加 RoPE，前向传播，用 NumPy 实现（float64）/ Multi-head attention with RoPE, forward, in NumPy (float64).

【中文】约定：
- q：(B, Tq, D)；k、v：(B, Tk, D)。Tq 可以不等于 Tk（例如 KV cache：新 token 对全部历史 token 做注意力）。
- params："W_q"、"W_k"、"W_v"、"W_o" 形状为 (D, D)，"b_q"、"b_k"、"b_v"、"b_o" 形状为 (D,)。
  投影是 x @ W + b（不是 PyTorch 的 x @ W.T）。
- dh = D // num_heads（dh 为偶数）；第 h 个头使用投影后 q、k、v 的第 h*dh:(h+1)*dh 列。
- RoPE：拆头之后，对每个头的 Q 按 q_positions (Tq,)、K 按 k_positions (Tk,) 旋转；V 不旋转。
  频率 θ_j = base^(-2j/d)，j = 0 .. d/2-1，这里 d = dh。
  配对方式（重要！）：前后两半（Hugging Face Llama 的 rotate_half / GPT-NeoX）：第 j 维和第 j + dh/2 维是一对，
      out = x·cos(mθ) + rotate_half(x)·sin(mθ)，rotate_half(x) = concat(-x2, x1)。
  RoFormer 论文和 Meta 原版 Llama 代码用的是相邻两维交错配对，本题不用。
- 分数乘以 1/sqrt(dh)；softmax 沿 key 的维度做；各头按顺序拼接，再 @ W_o + b_o。
- mask：None，或可广播到 (B, Tq, Tk) 的布尔数组；True 表示“这个 query 可以看这个 key”。评测用例不会把整行都遮住。
- 全程 float64。不要修改输入。不需要在 batch、头或位置上写 Python 循环。

[English] Conventions:
- q: (B, Tq, D); k, v: (B, Tk, D). Tq may differ from Tk (e.g. a KV cache: new tokens attend to every past one).
- params: "W_q", "W_k", "W_v", "W_o" of shape (D, D) and "b_q", "b_k", "b_v", "b_o" of shape (D,).
  Projections are x @ W + b (NOT PyTorch's x @ W.T).
- dh = D // num_heads (dh even); head h owns columns h*dh:(h+1)*dh of the projected q, k and v.
- RoPE: after the head split, each head's Q is rotated at q_positions (Tq,) and K at k_positions (Tk,);
  V is NOT rotated. Frequencies theta_j = base^(-2j/d), j = 0 .. d/2-1, with d = dh.
  Pairing (IMPORTANT!): the two HALVES (Hugging Face's Llama rotate_half, GPT-NeoX): dimension j goes with
  dimension j + dh/2, out = x*cos(m theta) + rotate_half(x)*sin(m theta), rotate_half(x) = concat(-x2, x1).
  The RoFormer paper and Meta's original Llama code pair ADJACENT dimensions instead: not ours.
- scores are scaled by 1/sqrt(dh); softmax over the keys; heads concatenated in order, then @ W_o + b_o.
- mask: None, or a boolean array broadcastable to (B, Tq, Tk); True means "this query MAY attend to
  this key". No graded row is fully masked.
- float64 throughout. Do not modify the inputs. No Python loops over batch, heads or positions needed.
"""

import numpy as np


def mha_rope_forward(q, k, v, params, num_heads, q_positions, k_positions, base, mask=None):
    """Return the attention output, shape (B, Tq, D)."""
    raise NotImplementedError("mha_rope_forward: 请实现 / write me")
