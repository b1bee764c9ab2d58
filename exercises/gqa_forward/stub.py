"""分组查询注意力（GQA），前向传播，用 NumPy 实现（float64）/ Grouped-query attention (GQA), forward pass,
in NumPy (float64).

【中文】约定：
- q：(B, Tq, D)；k、v：(B, Tk, D)。允许交叉注意力：Tq 可以不等于 Tk，k、v 也不一定就是 q。
- num_heads 个 query 头，num_kv_heads 个 key/value 头；num_kv_heads 整除 num_heads；dh = D // num_heads。
  num_kv_heads == num_heads 就是普通的 MHA；num_kv_heads == 1 就是多查询注意力（MQA）。
- params："W_q"、"W_o" 形状为 (D, D)；"W_k"、"W_v" 形状为 (D, num_kv_heads*dh)；
  "b_q"、"b_o" 形状为 (D,)；"b_k"、"b_v" 形状为 (num_kv_heads*dh,)。投影是 x @ W + b
  （不是 PyTorch 的 x @ W.T）。
- 第 h 个 query 头使用投影后 q 的第 h*dh:(h+1)*dh 列；第 j 个 KV 头使用投影后 k、v 的第 j*dh:(j+1)*dh 列。
  令 G = num_heads // num_kv_heads，第 h 个 query 头用第 h // G 个 KV 头（相邻的 query 头共享同一个
  KV 头：即 repeat_interleave，与 Llama 的 repeat_kv、PyTorch SDPA 的 enable_gqa=True 一致）。
- 分数乘以 1/sqrt(dh)；softmax 沿 key 的维度做；各头按顺序拼接，再 @ W_o + b_o。
- mask：None，或可广播到 (B, Tq, Tk) 的布尔数组；True 表示“这个 query 可以看这个 key”。
  评测用例不会把整行都遮住。
- 全程 float64。不要修改输入。不需要在 batch、头或位置上写 Python 循环。

[English] Conventions:
- q: (B, Tq, D); k, v: (B, Tk, D). Cross-attention is allowed: Tq != Tk, and k, v need not be q.
- num_heads query heads, num_kv_heads key/value heads; num_kv_heads divides num_heads; dh = D // num_heads.
  num_kv_heads == num_heads is ordinary MHA; num_kv_heads == 1 is multi-query attention (MQA).
- params: "W_q", "W_o" of shape (D, D); "W_k", "W_v" of shape (D, num_kv_heads*dh);
  "b_q", "b_o" of shape (D,); "b_k", "b_v" of shape (num_kv_heads*dh,). Projections are x @ W + b
  (NOT PyTorch's x @ W.T).
- Query head h owns columns h*dh:(h+1)*dh of the projected q; KV head j owns columns j*dh:(j+1)*dh of the
  projected k and v. With G = num_heads // num_kv_heads, query head h uses KV head h // G (consecutive query
  heads share a KV head: repeat_interleave, as in Llama's repeat_kv and PyTorch SDPA's enable_gqa=True).
- scores are scaled by 1/sqrt(dh); softmax over the keys; heads concatenated in order, then @ W_o + b_o.
- mask: None, or a boolean array broadcastable to (B, Tq, Tk); True means "this query MAY attend to
  this key". No graded row is fully masked.
- float64 throughout. Do not modify the inputs. No Python loops over batch, heads or positions needed.
"""

import numpy as np


def gqa_forward(q, k, v, params, num_heads, num_kv_heads, mask=None):
    """Return the attention output, shape (B, Tq, D)."""
    raise NotImplementedError("gqa_forward: 请实现 / write me")
