"""LayerNorm（沿最后一维），用 NumPy 实现（float64）/ LayerNorm over the last axis, in NumPy (float64).

【中文】约定：
- x：(..., D)，前面可以有任意多个维度（也可以没有，即一维的 (D,)）；gamma、beta：(D,)；eps：一个正数。
- 对 x 的每一“行”（沿最后一维的 D 个特征）各自计算均值 mean 和方差 var：
  y = (x − mean) / sqrt(var + eps) * gamma + beta。
- 方差用有偏估计：除以 D（不是 D − 1），与 torch.nn.LayerNorm 相同；eps 加在方差上、在根号里面。
- 方差用两遍法：先求 mean，再求 mean((x − mean)²)；不要用 E[x²] − E[x]²（输入离 0 很远时会丢失精度）。
- 返回 y，形状与 x 相同。全程 float64。不要修改输入。不需要 Python 循环。

[English] Conventions:
- x: (..., D), any number of leading axes (or none: a 1-D (D,)); gamma, beta: (D,); eps: a positive number.
- For every "row" of x (its D features along the last axis), its own mean and variance:
  y = (x - mean) / sqrt(var + eps) * gamma + beta.
- The variance is BIASED: divided by D (not D - 1), as in torch.nn.LayerNorm; eps is added to the variance,
  INSIDE the square root.
- Two passes for the variance: the mean first, then mean((x - mean)^2); not E[x^2] - E[x]^2 (it loses
  precision when the inputs sit far from zero).
- Return y, the shape of x. float64 throughout. Do not modify the inputs. No Python loops needed.
"""

import numpy as np


def layer_norm(x, gamma, beta, eps):
    """Return y = (x - mean) / sqrt(var + eps) * gamma + beta, statistics over the last axis; shape of x."""
    raise NotImplementedError("layer_norm: 请实现 / write me")
