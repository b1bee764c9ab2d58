"""参考实现：沿最后一维的 RMSNorm，NumPy（float64，无循环）。

y = x / sqrt(mean(x^2) + eps) * gamma，均值沿最后一维：不减均值，没有偏置
（Zhang & Sennrich 2019，arXiv 1910.07467），eps 在平方根里面，与 Llama 的 RMSNorm 相同
（meta-llama/llama model.py：x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight），
也与 torch.nn.functional.rms_norm 相同。

Reference: RMSNorm over the last axis, in NumPy (float64, no loops).

y = x / sqrt(mean(x^2) + eps) * gamma, the mean over the LAST axis: no mean subtracted, no bias
(Zhang & Sennrich 2019, arXiv 1910.07467), eps inside the square root as in Llama's RMSNorm
(meta-llama/llama model.py: x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight) and
torch.nn.functional.rms_norm.
"""

import numpy as np


def mean_square(x):
    """最后一维上每一行的 mean(x^2)（不先减均值）。

    mean(x^2) of each row of the last axis (no mean subtracted first)."""
    return (x * x).mean(axis=-1, keepdims=True)  # (..., 1)


def inv_rms(ms, eps):
    """1 / sqrt(mean(x^2) + eps)：eps 在平方根里面。

    1 / sqrt(mean(x^2) + eps): eps INSIDE the square root."""
    return 1.0 / np.sqrt(ms + eps)  # (..., 1)


def scale(x_hat, gamma):
    """可学习的逐特征增益（gamma，即 Llama 的 `weight`），按给定的值使用。

    The learned per-feature gain (gamma, Llama's `weight`), used as given."""
    return x_hat * gamma  # (..., D) * (D,) -> (..., D)


def rms_norm(x, gamma, eps):
    """x (..., D) 沿最后一维的 RMSNorm；gamma：(D,)。返回与 x 同形的 y。

    RMSNorm of x (..., D) over its last axis; gamma: (D,). Returns y, the shape of x."""
    D = x.shape[-1]
    assert gamma.shape == (D,), (gamma.shape, x.shape)
    # 无论输入是什么 dtype，统计量都用 float64 计算
    x = np.asarray(x, dtype=np.float64)  # statistics in float64 whatever the input dtype
    return scale(x * inv_rms(mean_square(x), eps), gamma)  # (..., D)
