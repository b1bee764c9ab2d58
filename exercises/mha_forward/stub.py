"""Multi-head attention, forward pass, in NumPy (float64).

Conventions:
- q: (B, Tq, D); k, v: (B, Tk, D). Cross-attention is allowed: Tq != Tk, and k, v need not be q.
- params: "W_q", "W_k", "W_v", "W_o" of shape (D, D) and "b_q", "b_k", "b_v", "b_o" of shape (D,).
  Projections are x @ W + b (NOT PyTorch's x @ W.T).
- dh = D // num_heads; head h owns columns h*dh:(h+1)*dh of the projected q, k and v.
- scores are scaled by 1/sqrt(dh); softmax over the keys; heads concatenated in order, then @ W_o + b_o.
- mask: None, or a boolean array broadcastable to (B, Tq, Tk); True means "this query MAY attend to
  this key" (the opposite of nn.MultiheadAttention's boolean mask). No graded row is fully masked.
- Do not modify the inputs. No Python loops over batch, heads or positions needed.
"""

import numpy as np


def mha_forward(q, k, v, params, num_heads, mask=None):
    """Return the attention output, shape (B, Tq, D)."""
    raise NotImplementedError("mha_forward: write me")
