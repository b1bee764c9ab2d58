"""Numerically stable softmax, in NumPy (float64).

Conventions:
- x: a float64 array of any shape (1-D, 2-D, 3-D, ...); axis: the axis to normalise along, possibly
  negative (axis=-1 is the last axis, axis=0 the first).
- Return an array of x's shape whose slices along `axis` are softmax(slice) = exp(slice) / sum(exp(slice)):
  every slice along `axis` sums to 1.
- Numerically stable: inputs up to |x| ~ 1e3 must give finite results (np.exp overflows above ~709).
- -inf entries mean "masked" and get probability exactly 0. No graded slice is entirely -inf.
- Do not modify x. No Python loops over the other axes needed.
"""

import numpy as np


def softmax(x, axis=-1):
    """Return softmax(x) along `axis`, same shape as x."""
    raise NotImplementedError("softmax: write me")
