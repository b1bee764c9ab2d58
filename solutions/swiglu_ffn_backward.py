"""Reference: the backward pass of the SwiGLU FFN, in NumPy (float64, no loops).

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
    """1 / (1 + exp(-z)) without overflow: exp is only ever taken of -|z|."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def silu(z):
    """z * sigmoid(z)."""
    return z * sigmoid(z)


def silu_grad(a):
    """d silu(a) / da = s + a * s * (1 - s), s = sigmoid(a): the product rule on a * sigmoid(a)."""
    s = sigmoid(a)
    return s * (1.0 + a * (1.0 - s))


def weight_grad(x, d):
    """x^T d summed over every row: (..., n) and (..., m) -> (n, m)."""
    return x.reshape(-1, x.shape[-1]).T @ d.reshape(-1, d.shape[-1])  # (rows, n)^T @ (rows, m) -> (n, m)


def input_grad(da, db, W1, W3):
    """dL/dx: x feeds the gate (through W1) and the up projection (through W3)."""
    return da @ W1.T + db @ W3.T  # (..., F) @ (F, D) -> (..., D), twice


def swiglu_ffn_backward(d_out, x, W1, W2, W3):
    """Gradients of sum(swiglu_ffn(x, W1, W2, W3) * d_out): {"x": (..., D), "W1": (D, F), "W2": (F, D), "W3": (D, F)}."""
    D, F = W1.shape
    assert W3.shape == (D, F) and W2.shape == (F, D) and x.shape[-1] == D and d_out.shape == x.shape
    a = x @ W1  # (..., F): the gate's pre-activation
    b = x @ W3  # (..., F): the up projection
    g = silu(a)  # (..., F)
    h = g * b  # (..., F)
    dh = d_out @ W2.T  # (..., D) @ (D, F) -> (..., F)
    da = dh * b * silu_grad(a)  # (..., F)
    db = dh * g  # (..., F)
    return {"x": input_grad(da, db, W1, W3), "W1": weight_grad(x, da), "W2": weight_grad(h, d_out),
            "W3": weight_grad(x, db)}
