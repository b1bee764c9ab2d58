"""Reference: LayerNorm over the last axis, in NumPy (float64, no loops).

y = (x - mean) / sqrt(var + eps) * gamma + beta, mean and var over the LAST axis (D features), var BIASED
(divided by D), eps INSIDE the square root: what torch.nn.LayerNorm / F.layer_norm compute (Ba et al. 2016,
arXiv 1607.06450). The variance takes two passes (mean first, then the mean of squared deviations): the
one-pass E[x^2] - E[x]^2 cancels catastrophically when the features sit far from zero.
"""

import numpy as np


def moments(x):
    """Mean and biased variance of each row of the last axis, two passes."""
    mean = x.mean(axis=-1, keepdims=True)  # (..., 1)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)  # (..., 1): divided by D, not D - 1
    return mean, var


def inv_std(var, eps):
    """1 / sqrt(var + eps): eps INSIDE the square root."""
    return 1.0 / np.sqrt(var + eps)  # (..., 1)


def normalize(x, eps):
    """x_hat: each row of the last axis shifted to mean 0 and scaled to variance var / (var + eps)."""
    mean, var = moments(x)
    return (x - mean) * inv_std(var, eps)  # (..., D)


def affine(x_hat, gamma, beta):
    """The learned per-feature scale and shift."""
    return x_hat * gamma + beta  # (..., D) * (D,) + (D,) -> (..., D)


def layer_norm(x, gamma, beta, eps):
    """LayerNorm of x (..., D) over its last axis; gamma, beta: (D,). Returns y, the shape of x."""
    D = x.shape[-1]
    assert gamma.shape == (D,) and beta.shape == (D,), (gamma.shape, beta.shape, x.shape)
    x = np.asarray(x, dtype=np.float64)  # statistics in float64 whatever the input dtype
    return affine(normalize(x, eps), gamma, beta)  # (..., D)
