"""Softmax backward pass (the vector-Jacobian product), in NumPy (float64).

Conventions:
- p = softmax(x, axis) for some x you are not given (p >= 0, every slice along `axis` sums to 1;
  masked entries have p = 0).
- d_p: the upstream gradient dL/dp, same shape as p; axis may be negative.
- Return d_x = dL/dx, same shape as p: per slice along `axis`, d_x = J^T d_p with J the softmax Jacobian.
- Do not build the Jacobian (it is n x n per slice); the answer is O(n) per slice. No loops.
- Do not modify p or d_p.
"""

import numpy as np


def softmax_backward(p, d_p, axis=-1):
    """Return d_x, the gradient with respect to the softmax's input, shape of p."""
    raise NotImplementedError("softmax_backward: write me")
