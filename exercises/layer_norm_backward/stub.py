"""LayerNorm 的反向传播，用 NumPy 实现（float64）/ LayerNorm backward pass, in NumPy (float64).

【中文】约定：
- 前向与 layer_norm 相同：x：(..., D)（前导维任意，也可以没有）；gamma、beta：(D,)；对每一行（沿最后一维）
  mean、有偏方差 var（除以 D），r = 1 / sqrt(var + eps)，x_hat = (x − mean) * r，y = x_hat * gamma + beta。
- d_out：上游梯度 dL/dy，与 x 同形状。
- 返回字典 {"x": dx, "gamma": dgamma, "beta": dbeta}：损失 L = sum(y * d_out) 对 x、gamma、beta 的梯度。
  dx 与 x 同形状；dgamma、dbeta 形状 (D,)，要对除最后一维以外的所有维求和。
- mean 和 var 都依赖于这一行的每一个 x：dx 里要包含经过它们的项，不能把它们当常数。
- 全程 float64。不要修改输入。不需要 Python 循环。

[English] Conventions:
- The forward is layer_norm's: x (..., D) (any leading axes, or none); gamma, beta (D,); per row of the last
  axis: mean, BIASED var (divided by D), r = 1 / sqrt(var + eps), x_hat = (x - mean) * r,
  y = x_hat * gamma + beta.
- d_out: the upstream gradient dL/dy, the shape of x.
- Return the dict {"x": dx, "gamma": dgamma, "beta": dbeta}: the gradients of L = sum(y * d_out) with respect to
  x, gamma and beta. dx has the shape of x; dgamma and dbeta have shape (D,): sum over EVERY axis but the last.
- mean and var depend on every x of the row: dx must include the terms through them (they are not constants).
- float64 throughout. Do not modify the inputs. No Python loops needed.
"""

import numpy as np


def layer_norm_backward(d_out, x, gamma, beta, eps):
    """Return {"x": dx (..., D), "gamma": dgamma (D,), "beta": dbeta (D,)}."""
    raise NotImplementedError("layer_norm_backward: 请实现 / write me")
