"""Reference: numerically stable softmax along any axis (NumPy, float64, no loops)."""

import numpy as np


def softmax(x, axis=-1):
    """exp(x) / sum(exp(x)) along `axis`, without overflow; `x` is not modified.

    Softmax is shift-invariant along `axis`, so subtracting each slice's own max changes nothing
    mathematically but makes the largest exponent exp(0) = 1: exp cannot overflow and every sum is >= 1.
    -inf entries (masked) become exactly 0, as long as the slice has one finite entry.
    """
    shifted = x - x.max(axis=axis, keepdims=True)  # same shape as x; each slice's max is now 0
    e = np.exp(shifted)  # in [0, 1]; exp(-inf) = 0
    return e / e.sum(axis=axis, keepdims=True)  # same shape as x; each slice along `axis` sums to 1
