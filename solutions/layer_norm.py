"""参考实现：沿最后一维的 LayerNorm，NumPy（float64，无循环）。

y = (x - mean) / sqrt(var + eps) * gamma + beta，mean 和 var 沿最后一维（D 个特征）计算，var 是有偏的
（除以 D），eps 在平方根里面：与 torch.nn.LayerNorm / F.layer_norm 的计算相同（Ba et al. 2016，
arXiv 1607.06450）。方差分两遍计算（先求均值，再求偏差平方的均值）：一遍算的 E[x^2] - E[x]^2
在特征远离 0 时会发生灾难性抵消。

Reference: LayerNorm over the last axis, in NumPy (float64, no loops).

y = (x - mean) / sqrt(var + eps) * gamma + beta, mean and var over the LAST axis (D features), var BIASED
(divided by D), eps INSIDE the square root: what torch.nn.LayerNorm / F.layer_norm compute (Ba et al. 2016,
arXiv 1607.06450). The variance takes two passes (mean first, then the mean of squared deviations): the
one-pass E[x^2] - E[x]^2 cancels catastrophically when the features sit far from zero.
"""

import numpy as np


def moments(x):
    """最后一维上每一行的均值和有偏方差，分两遍计算。

    Mean and biased variance of each row of the last axis, two passes."""
    mean = x.mean(axis=-1, keepdims=True)  # (..., 1)
    # (..., 1)：除以 D，不是 D - 1
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)  # (..., 1): divided by D, not D - 1
    return mean, var


def inv_std(var, eps):
    """1 / sqrt(var + eps)：eps 在平方根里面。

    1 / sqrt(var + eps): eps INSIDE the square root."""
    return 1.0 / np.sqrt(var + eps)  # (..., 1)


def normalize(x, eps):
    """x_hat：最后一维上的每一行平移到均值 0，缩放到方差 var / (var + eps)。

    x_hat: each row of the last axis shifted to mean 0 and scaled to variance var / (var + eps)."""
    mean, var = moments(x)
    return (x - mean) * inv_std(var, eps)  # (..., D)


def affine(x_hat, gamma, beta):
    """可学习的逐特征缩放和平移。

    The learned per-feature scale and shift."""
    return x_hat * gamma + beta  # (..., D) * (D,) + (D,) -> (..., D)


def layer_norm(x, gamma, beta, eps):
    """x (..., D) 沿最后一维的 LayerNorm；gamma、beta：(D,)。返回与 x 同形的 y。

    LayerNorm of x (..., D) over its last axis; gamma, beta: (D,). Returns y, the shape of x."""
    D = x.shape[-1]
    assert gamma.shape == (D,) and beta.shape == (D,), (gamma.shape, beta.shape, x.shape)
    # 无论输入是什么 dtype，统计量都用 float64 计算
    x = np.asarray(x, dtype=np.float64)  # statistics in float64 whatever the input dtype
    return affine(normalize(x, eps), gamma, beta)  # (..., D)
