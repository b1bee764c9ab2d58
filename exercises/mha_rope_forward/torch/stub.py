"""多头注意力加 RoPE，用 PyTorch 写成 nn.Module / Multi-head attention with RoPE, as a PyTorch nn.Module.

【中文】约定：
- RoPEMultiHeadAttention(d_model, num_heads, base=10000.0, bias=True)；
  forward(q, k, v, q_positions, k_positions, mask=None) 返回 (B, Tq, D)。
- q：(B, Tq, D)；k、v：(B, Tk, D)；q_positions：(Tq,)，k_positions：(Tk,)，int64 张量（位置可以无序，可以很大）。
- 四个投影层用 nn.Linear(d_model, d_model)，命名为 q_proj、k_proj、v_proj、o_proj（也认 W_q/wq/query/q_linear、
  out_proj/fc_out，或一个融合的 qkv）。评测按名字把权重装进你的层。
- dh = d_model // num_heads（偶数）；拆头之后对每个头的 Q 按 q_positions、K 按 k_positions 做 RoPE；V 不旋转。
  θ_j = base^(-2j/dh)；配对方式：前后两半（Hugging Face Llama 的 rotate_half），rotate_half(x) = cat(-x2, x1)，
  out = x·cos + rotate_half(x)·sin。不是相邻两维交错配对。
- 分数乘以 1/sqrt(dh)；softmax 沿 key 维度。mask：None，或可广播到 (B, Tq, Tk) 的布尔张量，True 表示“可以看”。
- 不许用 F.scaled_dot_product_attention、nn.MultiheadAttention。评测用 float64。

[English] Conventions:
- RoPEMultiHeadAttention(d_model, num_heads, base=10000.0, bias=True);
  forward(q, k, v, q_positions, k_positions, mask=None) returns (B, Tq, D).
- q: (B, Tq, D); k, v: (B, Tk, D); q_positions (Tq,) and k_positions (Tk,), int64 tensors (unsorted, large).
- The four projections are nn.Linear(d_model, d_model) named q_proj, k_proj, v_proj, o_proj (W_q/wq/query/
  q_linear, out_proj/fc_out, or one fused qkv are recognised too). The grader loads the weights BY NAME.
- dh = d_model // num_heads (even); after the head split, each head's Q is rotated at q_positions and K at
  k_positions; V is not rotated. theta_j = base^(-2j/dh); pairing: the two HALVES (Hugging Face Llama's
  rotate_half), rotate_half(x) = cat(-x2, x1), out = x*cos + rotate_half(x)*sin. Not adjacent pairs.
- Scores scaled by 1/sqrt(dh); softmax over the keys. mask: None or a boolean tensor broadcastable to
  (B, Tq, Tk), True = may attend.
- F.scaled_dot_product_attention and nn.MultiheadAttention are not allowed. Graded in float64.
"""

import math

import torch
from torch import nn


class RoPEMultiHeadAttention(nn.Module):
    def __init__(self, d_model: int, num_heads: int, base: float = 10000.0, bias: bool = True):
        super().__init__()
        raise NotImplementedError("RoPEMultiHeadAttention: 请实现 / write me")

    def forward(self, q, k, v, q_positions, k_positions, mask=None):
        """Return the attention output, (B, Tq, D)."""
        raise NotImplementedError("RoPEMultiHeadAttention.forward: 请实现 / write me")
