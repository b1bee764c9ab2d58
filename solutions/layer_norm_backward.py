"""参考实现：LayerNorm 的反向传播，NumPy（float64，无循环）。

前向（对最后一维的每一行，D 个特征）：mean、有偏的 var、r = 1/sqrt(var + eps)，
x_hat = (x - mean) * r，y = x_hat * gamma + beta。已知 d_out = dL/dy：
  dbeta  = d_out 在所有前导维上求和                                 (D,)
  dgamma = (d_out * x_hat) 在所有前导维上求和                       (D,)
  g = d_out * gamma  （= dL/dx_hat）
  dx = r * (g - mean(g) - x_hat * mean(g * x_hat))                  均值都沿最后一维
两个均值项分别是经过均值和经过方差的路径，它们都依赖这一行的每个 x。

Reference: the LayerNorm backward pass, in NumPy (float64, no loops).

Forward (per row of the last axis, D features): mean, biased var, r = 1/sqrt(var + eps),
x_hat = (x - mean) * r, y = x_hat * gamma + beta. Given d_out = dL/dy:
  dbeta  = d_out summed over every leading axis                      (D,)
  dgamma = (d_out * x_hat) summed over every leading axis            (D,)
  g = d_out * gamma  (= dL/dx_hat)
  dx = r * (g - mean(g) - x_hat * mean(g * x_hat))                   means over the last axis
The two mean terms are the paths through the mean and the variance, which both depend on every x of the row.
"""

import numpy as np


def moments(x):
    """最后一维上每一行的均值和有偏方差，分两遍计算。

    Mean and biased variance of each row of the last axis, two passes."""
    mean = x.mean(axis=-1, keepdims=True)  # (..., 1)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)  # (..., 1): divided by D
    return mean, var


def inv_std(var, eps):
    """r = 1 / sqrt(var + eps)：eps 在平方根里面。

    r = 1 / sqrt(var + eps): eps INSIDE the square root."""
    return 1.0 / np.sqrt(var + eps)  # (..., 1)


def grad_x_hat(d_out, gamma):
    """dL/dx_hat = d_out * gamma（y = x_hat * gamma + beta）。

    dL/dx_hat = d_out * gamma (y = x_hat * gamma + beta)."""
    return d_out * gamma  # (..., D)


def input_grad(g, x_hat, r):
    """由 g = dL/dx_hat 求 dL/dx：r * (g - mean(g) - x_hat * mean(g * x_hat))，均值沿最后一维。

    dL/dx from g = dL/dx_hat: r * (g - mean(g) - x_hat * mean(g * x_hat)), means over the last axis."""
    # (..., 1)：经过均值的路径
    mean_g = g.mean(axis=-1, keepdims=True)  # (..., 1): the path through the mean
    # (..., 1)：经过方差的路径
    mean_gx = (g * x_hat).mean(axis=-1, keepdims=True)  # (..., 1): the path through the variance
    return r * (g - mean_g - x_hat * mean_gx)  # (..., D)


def sum_leading(a):
    """在除最后一维以外的所有维上求和：参数的梯度要汇总所有用到它的行。

    Sum over every axis but the last: a parameter's gradient collects every row that used it."""
    return a.reshape(-1, a.shape[-1]).sum(axis=0)  # (..., D) -> (rows, D) -> (D,)


def layer_norm_backward(d_out, x, gamma, beta, eps):
    """sum(layer_norm(x, gamma, beta, eps) * d_out) 的梯度：{"x": (..., D), "gamma": (D,), "beta": (D,)}。

    Gradients of sum(layer_norm(x, gamma, beta, eps) * d_out): {"x": (..., D), "gamma": (D,), "beta": (D,)}."""
    D = x.shape[-1]
    assert d_out.shape == x.shape and gamma.shape == (D,) and beta.shape == (D,)
    x = np.asarray(x, dtype=np.float64)
    mean, var = moments(x)  # (..., 1) each
    r = inv_std(var, eps)  # (..., 1)
    x_hat = (x - mean) * r  # (..., D)
    dx = input_grad(grad_x_hat(d_out, gamma), x_hat, r)  # (..., D)
    return {"x": dx, "gamma": sum_leading(d_out * x_hat), "beta": sum_leading(d_out)}
