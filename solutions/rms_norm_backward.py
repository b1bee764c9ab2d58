"""参考实现：RMSNorm 的反向传播，NumPy（float64，无循环）。

前向（对最后一维的每一行，D 个特征）：r = 1/sqrt(mean(x^2) + eps)，x_hat = x * r，y = x_hat * gamma。
已知 d_out = dL/dy：
  dgamma = (d_out * x_hat) 在所有前导维上求和                       (D,)
  g = d_out * gamma  （= dL/dx_hat）
  dx = r * (g - x_hat * mean(g * x_hat))                            均值沿最后一维
修正项是经过 r 的路径，r 依赖这一行的每个 x；这里没有均值项（RMSNorm 不减均值）。

Reference: the RMSNorm backward pass, in NumPy (float64, no loops).

Forward (per row of the last axis, D features): r = 1/sqrt(mean(x^2) + eps), x_hat = x * r, y = x_hat * gamma.
Given d_out = dL/dy:
  dgamma = (d_out * x_hat) summed over every leading axis            (D,)
  g = d_out * gamma  (= dL/dx_hat)
  dx = r * (g - x_hat * mean(g * x_hat))                             mean over the last axis
The correction term is the path through r, which depends on every x of the row; there is no mean term
(RMSNorm subtracts no mean).
"""

import numpy as np


def mean_square(x):
    """最后一维上每一行的 mean(x^2)。

    mean(x^2) of each row of the last axis."""
    return (x * x).mean(axis=-1, keepdims=True)  # (..., 1)


def inv_rms(ms, eps):
    """r = 1 / sqrt(mean(x^2) + eps)：eps 在平方根里面。

    r = 1 / sqrt(mean(x^2) + eps): eps INSIDE the square root."""
    return 1.0 / np.sqrt(ms + eps)  # (..., 1)


def grad_x_hat(d_out, gamma):
    """dL/dx_hat = d_out * gamma（y = x_hat * gamma）。

    dL/dx_hat = d_out * gamma (y = x_hat * gamma)."""
    return d_out * gamma  # (..., D)


def input_grad(g, x_hat, r):
    """由 g = dL/dx_hat 求 dL/dx：r * (g - x_hat * mean(g * x_hat))，均值沿最后一维。

    dL/dx from g = dL/dx_hat: r * (g - x_hat * mean(g * x_hat)), the mean over the last axis."""
    # (..., 1)：经过 r 的路径
    mean_gx = (g * x_hat).mean(axis=-1, keepdims=True)  # (..., 1): the path through r
    return r * (g - x_hat * mean_gx)  # (..., D)


def sum_leading(a):
    """在除最后一维以外的所有维上求和：gamma 的梯度要汇总所有用到它的行。

    Sum over every axis but the last: gamma's gradient collects every row that used it."""
    return a.reshape(-1, a.shape[-1]).sum(axis=0)  # (..., D) -> (rows, D) -> (D,)


def rms_norm_backward(d_out, x, gamma, eps):
    """sum(rms_norm(x, gamma, eps) * d_out) 的梯度：{"x": (..., D), "gamma": (D,)}。

    Gradients of sum(rms_norm(x, gamma, eps) * d_out): {"x": (..., D), "gamma": (D,)}."""
    D = x.shape[-1]
    assert d_out.shape == x.shape and gamma.shape == (D,)
    x = np.asarray(x, dtype=np.float64)
    r = inv_rms(mean_square(x), eps)  # (..., 1)
    x_hat = x * r  # (..., D)
    dx = input_grad(grad_x_hat(d_out, gamma), x_hat, r)  # (..., D)
    return {"x": dx, "gamma": sum_leading(d_out * x_hat)}
