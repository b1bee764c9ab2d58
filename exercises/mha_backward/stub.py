"""Multi-head attention, backward pass, in NumPy (float64).

The forward is mha_forward (see its exercise): q: (B, Tq, D); k, v: (B, Tk, D); projections x @ W + b
with W (D, D) and b (D,); head h owns columns h*dh:(h+1)*dh; scores scaled by 1/sqrt(dh); softmax over
keys; heads concatenated, then @ W_o + b_o; boolean mask broadcastable to (B, Tq, Tk), True = may attend.

Return the gradient of sum(mha_forward(q, k, v, params, num_heads, mask) * d_out) with respect to every
input, as a dict with keys "q", "k", "v", "W_q", "W_k", "W_v", "W_o", "b_q", "b_k", "b_v", "b_o",
each of the same shape as that input. Do not modify the inputs.
"""

import numpy as np


def mha_backward(d_out, q, k, v, params, num_heads, mask=None):
    """d_out: (B, Tq, D). Return a dict of gradients (see the module docstring)."""
    raise NotImplementedError("mha_backward: write me")
