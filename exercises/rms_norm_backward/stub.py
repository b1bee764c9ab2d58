"""RMSNorm 的反向传播，用 NumPy 实现（float64）/ RMSNorm backward pass, in NumPy (float64).

【中文】约定：
- 前向与 rms_norm 相同：x：(..., D)（前导维任意，也可以没有）；gamma：(D,)；对每一行（沿最后一维）
  r = 1 / sqrt(mean(x²) + eps)，x_hat = x * r，y = x_hat * gamma（不减均值，没有 beta）。
- d_out：上游梯度 dL/dy，与 x 同形状。
- 返回字典 {"x": dx, "gamma": dgamma}：损失 L = sum(y * d_out) 对 x、gamma 的梯度。
  dx 与 x 同形状；dgamma 形状 (D,)，要对除最后一维以外的所有维求和。
- r 依赖于这一行的每一个 x：dx 里要包含经过 r 的项，不能把它当常数。
- 全程 float64。不要修改输入。不需要 Python 循环。

[English] Conventions:
- The forward is rms_norm's: x (..., D) (any leading axes, or none); gamma (D,); per row of the last axis
  r = 1 / sqrt(mean(x^2) + eps), x_hat = x * r, y = x_hat * gamma (no mean subtracted, no beta).
- d_out: the upstream gradient dL/dy, the shape of x.
- Return the dict {"x": dx, "gamma": dgamma}: the gradients of L = sum(y * d_out) with respect to x and gamma.
  dx has the shape of x; dgamma has shape (D,): sum over EVERY axis but the last.
- r depends on every x of the row: dx must include the term through r (it is not a constant).
- float64 throughout. Do not modify the inputs. No Python loops needed.
"""

import numpy as np


def rms_norm_backward(d_out, x, gamma, eps):
    """Return {"x": dx (..., D), "gamma": dgamma (D,)}."""
    raise NotImplementedError("rms_norm_backward: 请实现 / write me")
