"""多头注意力，前向传播，用 PyTorch 写成 nn.Module / Multi-head attention, forward pass, as a PyTorch nn.Module.

【中文】约定：
- MultiHeadAttention(d_model, num_heads, bias=True)；forward(q, k, v, mask=None) 返回 (B, Tq, D)。
- q：(B, Tq, D)；k、v：(B, Tk, D)。允许交叉注意力：Tq 可以不等于 Tk。
- 四个投影层用 nn.Linear(d_model, d_model)，命名为 q_proj、k_proj、v_proj、o_proj（也认 W_q/wq/query/q_linear、
  out_proj/fc_out，或一个融合的 qkv/c_attn：按 q、k、v 的顺序）。评测按名字把权重装进你的层，与创建顺序和初始化无关。
- dh = d_model // num_heads；第 h 个头用投影后的第 h*dh:(h+1)*dh 列；分数乘以 1/sqrt(dh)；softmax 沿 key 维度。
- mask：None，或可广播到 (B, Tq, Tk) 的布尔张量；True 表示“可以看”（与 F.scaled_dot_product_attention 相同，
  与 nn.MultiheadAttention 相反）。加头的维度是你的事：mask.unsqueeze(1)。
- 不许用 F.scaled_dot_product_attention、nn.MultiheadAttention（这道题就是要你自己写）。评测用 float64。

[English] Conventions:
- MultiHeadAttention(d_model, num_heads, bias=True); forward(q, k, v, mask=None) returns (B, Tq, D).
- q: (B, Tq, D); k, v: (B, Tk, D). Cross-attention is allowed: Tq may differ from Tk.
- The four projections are nn.Linear(d_model, d_model) named q_proj, k_proj, v_proj, o_proj (W_q/wq/query/
  q_linear, out_proj/fc_out, or one fused qkv/c_attn in q, k, v order are recognised too). The grader loads
  the case's weights into your layers BY NAME, whatever order you create them in and however they start.
- dh = d_model // num_heads; head h owns columns h*dh:(h+1)*dh after projection; scores scaled by
  1/sqrt(dh); softmax over the keys.
- mask: None or a boolean tensor broadcastable to (B, Tq, Tk); True means "may attend" (as in
  F.scaled_dot_product_attention, the opposite of nn.MultiheadAttention). Adding the head axis is your job.
- F.scaled_dot_product_attention and nn.MultiheadAttention are not allowed (this exercise is writing them).
  Graded in float64.
"""

import math

import torch
from torch import nn


class MultiHeadAttention(nn.Module):
    def __init__(self, d_model: int, num_heads: int, bias: bool = True):
        super().__init__()
        raise NotImplementedError("MultiHeadAttention: 请实现 / write me")

    def forward(self, q, k, v, mask=None):
        """Return the attention output, (B, Tq, D)."""
        raise NotImplementedError("MultiHeadAttention.forward: 请实现 / write me")
