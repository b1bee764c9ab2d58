"""Splitting the model dimension into attention heads, and merging them back, in NumPy (float64).

Conventions:
- split_heads(x, num_heads): x (B, T, D) -> (B, H, T, dh) with H = num_heads, dh = D // H (D is
  divisible by H). Head h owns columns h*dh:(h+1)*dh of x's last axis: out[b, h, t, :] == x[b, t, h*dh:(h+1)*dh].
- merge_heads(x): (B, H, T, dh) -> (B, T, H*dh), the exact inverse: heads concatenated in order, so
  merge_heads(split_heads(x, H)) == x.
- Do not modify the inputs (returning a view is fine). No Python loops needed.
"""

import numpy as np


def split_heads(x, num_heads):
    """Return x split into heads, shape (B, num_heads, T, D // num_heads)."""
    raise NotImplementedError("split_heads: write me")


def merge_heads(x):
    """Return the heads of x concatenated in order, shape (B, T, H * dh)."""
    raise NotImplementedError("merge_heads: write me")
