"""Single-head scaled dot-product attention, in NumPy (float64).

Conventions:
- q: (..., Tq, d); k: (..., Tk, d); v: (..., Tk, dv). The leading axes "..." (batch, heads, or none at
  all) are the same for q, k and v. Tq != Tk and d != dv are allowed.
- scores = q @ k^T / sqrt(d), shape (..., Tq, Tk); weights = softmax of the scores over the keys (the
  last axis), so every row sums to 1; output = weights @ v, shape (..., Tq, dv).
- mask: None, or a boolean array broadcastable to (..., Tq, Tk); True means "this query MAY attend to
  this key" (as in F.scaled_dot_product_attention; the OPPOSITE of nn.MultiheadAttention's boolean mask).
  A masked key gets weight exactly 0. No graded row is fully masked.
- Must be numerically stable (scores of size ~1e4 occur).
- Return the tuple (output, weights). Do not modify the inputs. No Python loops needed.
"""

import numpy as np


def attention(q, k, v, mask=None):
    """Return (output (..., Tq, dv), weights (..., Tq, Tk))."""
    raise NotImplementedError("attention: write me")
