"""RMSNorm（沿最后一维），用 NumPy 实现（float64）/ RMSNorm over the last axis, in NumPy (float64).

【中文】约定：
- x：(..., D)，前面可以有任意多个维度（也可以没有，即一维的 (D,)）；gamma：(D,)；eps：一个正数。
- 对 x 的每一“行”（沿最后一维的 D 个特征）：y = x / sqrt(mean(x²) + eps) * gamma。
- 不减均值，没有 beta（Zhang & Sennrich 2019）；eps 加在 mean(x²) 上、在根号里面
  （Llama 的 RMSNorm 和 torch.nn.functional.rms_norm 都这样写）。
- gamma 直接相乘（Llama 的约定；Gemma 乘的是 1 + weight，这里不是）。
- 返回 y，形状与 x 相同。全程 float64。不要修改输入。不需要 Python 循环。

[English] Conventions:
- x: (..., D), any number of leading axes (or none: a 1-D (D,)); gamma: (D,); eps: a positive number.
- For every "row" of x (its D features along the last axis): y = x / sqrt(mean(x^2) + eps) * gamma.
- No mean subtracted, no beta (Zhang & Sennrich 2019); eps is added to mean(x^2), INSIDE the square root
  (as in Llama's RMSNorm and torch.nn.functional.rms_norm).
- gamma multiplies as given (Llama's convention; Gemma multiplies by 1 + weight, not here).
- Return y, the shape of x. float64 throughout. Do not modify the inputs. No Python loops needed.
"""

import numpy as np


def rms_norm(x, gamma, eps):
    """Return y = x / sqrt(mean(x^2) + eps) * gamma, the mean over the last axis; shape of x."""
    raise NotImplementedError("rms_norm: 请实现 / write me")
