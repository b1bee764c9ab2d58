"""Inverted dropout on attention weights, forward and backward, in NumPy (float64).

Conventions:
- p: attention weights after the softmax, shape (..., Tq, Tk).
- keep_mask: a boolean array of p's shape, True = this weight is KEPT. It is drawn by the caller, each
  entry True with probability 1 - rate, and handed to you, so the result is deterministic.
- rate: the dropout probability (the probability of DROPPING a weight), 0 <= rate < 1.
- Forward, training=True: inverted dropout, out = p where kept, scaled by 1 / (1 - rate), and 0 where
  dropped; so E[out] = p. training=False (evaluation): dropout is off, return p unchanged (keep_mask and
  rate are ignored).
- Backward (training mode): return dL/dp given d_out = dL/d(out), same shape as p.
- Dropout here is a regulariser; it is not an attention mask and not a fix for vanishing gradients.
- Do not modify the inputs. No Python loops needed.
"""

import numpy as np


def attention_dropout_forward(p, keep_mask, rate, training=True):
    """Return the attention weights after dropout, shape of p."""
    raise NotImplementedError("attention_dropout_forward: write me")


def attention_dropout_backward(d_out, keep_mask, rate):
    """Return dL/dp, shape of d_out."""
    raise NotImplementedError("attention_dropout_backward: write me")
