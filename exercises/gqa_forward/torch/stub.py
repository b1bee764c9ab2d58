"""分组查询注意力（GQA），用 PyTorch 写成 nn.Module / Grouped-query attention (GQA), as a PyTorch nn.Module.

【中文】约定：
- GroupedQueryAttention(d_model, num_heads, num_kv_heads, bias=True)；forward(q, k, v, mask=None) 返回 (B, Tq, D)。
- q：(B, Tq, D)；k、v：(B, Tk, D)。dh = d_model // num_heads；num_kv_heads 整除 num_heads。
- 四个投影层：q_proj = nn.Linear(D, D)，k_proj、v_proj = nn.Linear(D, num_kv_heads*dh)，
  o_proj = nn.Linear(D, D)（也认 W_q/wq/query/q_linear、out_proj/fc_out，或一个融合的 qkv：按 q、k、v 的顺序）。评测按名字装载权重。
- 第 h 个 query 头用第 h // G 个 KV 头，G = num_heads // num_kv_heads（相邻的 query 头共享一个 KV 头：
  repeat_interleave，与 Llama 的 repeat_kv 一致；不是 .repeat）。
- 分数乘以 1/sqrt(dh)；softmax 沿 key 维度。mask：None，或可广播到 (B, Tq, Tk) 的布尔张量，True 表示“可以看”。
- 不许用 F.scaled_dot_product_attention、nn.MultiheadAttention。评测用 float64。

[English] Conventions:
- GroupedQueryAttention(d_model, num_heads, num_kv_heads, bias=True); forward(q, k, v, mask=None) returns (B, Tq, D).
- q: (B, Tq, D); k, v: (B, Tk, D). dh = d_model // num_heads; num_kv_heads divides num_heads.
- Four projections: q_proj = nn.Linear(D, D), k_proj and v_proj = nn.Linear(D, num_kv_heads*dh), o_proj =
  nn.Linear(D, D) (W_q/wq/query/q_linear, out_proj/fc_out, or one fused qkv in q, k, v order are recognised
  too). The grader loads the case's weights BY NAME.
- Query head h uses KV head h // G, G = num_heads // num_kv_heads (consecutive query heads share a KV head:
  repeat_interleave, as Llama's repeat_kv; not .repeat).
- Scores scaled by 1/sqrt(dh); softmax over the keys. mask: None or a boolean tensor broadcastable to
  (B, Tq, Tk), True = may attend.
- F.scaled_dot_product_attention and nn.MultiheadAttention are not allowed. Graded in float64.
"""

import math

import torch
from torch import nn


class GroupedQueryAttention(nn.Module):
    def __init__(self, d_model: int, num_heads: int, num_kv_heads: int, bias: bool = True):
        super().__init__()
        raise NotImplementedError("GroupedQueryAttention: 请实现 / write me")

    def forward(self, q, k, v, mask=None):
        """Return the attention output, (B, Tq, D)."""
        raise NotImplementedError("GroupedQueryAttention.forward: 请实现 / write me")
