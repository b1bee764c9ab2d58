"""Grouped-query attention (GQA), forward pass, in NumPy (float64).

Conventions:
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
- Do not modify the inputs. No Python loops over batch, heads or positions needed.
"""

import numpy as np


def gqa_forward(q, k, v, params, num_heads, num_kv_heads, mask=None):
    """Return the attention output, shape (B, Tq, D)."""
    raise NotImplementedError("gqa_forward: write me")
