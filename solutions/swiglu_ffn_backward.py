"""参考实现：SwiGLU FFN 的反向传播，NumPy（float64，无循环）。

前向（x 为 (..., D)；W1、W3 为 (D, F)；W2 为 (F, D)）：
  a = x @ W1，s = sigmoid(a)，g = a * s（= silu(a)），b = x @ W3，h = g * b，y = h @ W2。
已知 d_out = dL/dy，把 x 的所有前导维展平成行：
  dW2 = h^T d_out                          (F, D)
  dh = d_out @ W2^T；db = dh * g；da = dh * b * silu'(a)，silu'(a) = s * (1 + a * (1 - s))
  dW1 = x^T da，dW3 = x^T db               (D, F)：对所有行（token）求和
  dx = da @ W1^T + db @ W3^T               (..., D)：x 同时进入两个分支

Reference: the backward pass of the SwiGLU FFN, in NumPy (float64, no loops).

Forward (x (..., D); W1, W3 (D, F); W2 (F, D)):
  a = x @ W1, s = sigmoid(a), g = a * s (= silu(a)), b = x @ W3, h = g * b, y = h @ W2.
Given d_out = dL/dy, with every leading axis of x flattened into rows:
  dW2 = h^T d_out                          (F, D)
  dh = d_out @ W2^T;  db = dh * g;  da = dh * b * silu'(a),  silu'(a) = s * (1 + a * (1 - s))
  dW1 = x^T da,  dW3 = x^T db              (D, F): summed over every row (token)
  dx = da @ W1^T + db @ W3^T               (..., D): x feeds both branches
"""

import numpy as np


def sigmoid(z):
    """不会溢出的 1 / (1 + exp(-z))：exp 只作用在 -|z| 上。

    1 / (1 + exp(-z)) without overflow: exp is only ever taken of -|z|."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def silu(z):
    """silu(z) = z * sigmoid(z)，即 beta = 1 的 Swish。

    z * sigmoid(z)."""
    return z * sigmoid(z)


def silu_grad(a):
    """d silu(a) / da = s + a * s * (1 - s)，s = sigmoid(a)：对 a * sigmoid(a) 用乘积法则。

    d silu(a) / da = s + a * s * (1 - s), s = sigmoid(a): the product rule on a * sigmoid(a)."""
    s = sigmoid(a)
    return s * (1.0 + a * (1.0 - s))


def weight_grad(x, d):
    """x^T d，对所有行求和：(..., n) 和 (..., m) -> (n, m)。

    x^T d summed over every row: (..., n) and (..., m) -> (n, m)."""
    # 展平成行再相乘：矩阵乘法顺带对所有行求和
    return x.reshape(-1, x.shape[-1]).T @ d.reshape(-1, d.shape[-1])  # (rows, n)^T @ (rows, m) -> (n, m)


def input_grad(da, db, W1, W3):
    """dL/dx：x 既进入 gate（经过 W1），也进入 up 投影（经过 W3），两条路径的梯度相加。

    dL/dx: x feeds the gate (through W1) and the up projection (through W3)."""
    # 两次：(..., F) @ (F, D) -> (..., D)
    return da @ W1.T + db @ W3.T  # (..., F) @ (F, D) -> (..., D), twice


def swiglu_ffn_backward(d_out, x, W1, W2, W3):
    """sum(swiglu_ffn(x, W1, W2, W3) * d_out) 的梯度：{"x": (..., D), "W1": (D, F), "W2": (F, D), "W3": (D, F)}。

    Gradients of sum(swiglu_ffn(x, W1, W2, W3) * d_out): {"x": (..., D), "W1": (D, F), "W2": (F, D), "W3": (D, F)}."""
    D, F = W1.shape
    assert W3.shape == (D, F) and W2.shape == (F, D) and x.shape[-1] == D and d_out.shape == x.shape
    # (..., F)：gate 的激活前输入
    a = x @ W1  # (..., F): the gate's pre-activation
    # (..., F)：up 投影
    b = x @ W3  # (..., F): the up projection
    g = silu(a)  # (..., F)
    h = g * b  # (..., F)
    dh = d_out @ W2.T  # (..., D) @ (D, F) -> (..., F)
    da = dh * b * silu_grad(a)  # (..., F)
    db = dh * g  # (..., F)
    return {"x": input_grad(da, db, W1, W3), "W1": weight_grad(x, da), "W2": weight_grad(h, d_out),
            "W3": weight_grad(x, db)}
