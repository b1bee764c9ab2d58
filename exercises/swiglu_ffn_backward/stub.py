"""SwiGLU 前馈层的反向传播，用 NumPy 实现（float64）/ The SwiGLU feed-forward block's backward pass, in
NumPy (float64).

【中文】约定：
- 前向与 swiglu_ffn 相同：x：(..., D)（前导维任意，也可以没有）；W1、W3：(D, F)；W2：(F, D)；没有偏置。
  a = x @ W1，b = x @ W3，h = silu(a) * b，y = h @ W2；silu(z) = z * sigmoid(z)。
- d_out：上游梯度 dL/dy，与 x 同形状。
- 返回字典 {"x": dx, "W1": dW1, "W2": dW2, "W3": dW3}：损失 L = sum(y * d_out) 的梯度。
  dx 与 x 同形状；dW1、dW3 形状 (D, F)，dW2 形状 (F, D)：对所有 token（除最后一维外的所有维）求和。
- silu 的导数：sigmoid(a) + a * sigmoid(a) * (1 - sigmoid(a))。x 同时进入 W1 和 W3 两路。
- 有的预激活 |a| 达到 900：sigmoid 要写成不溢出的形式。
- 全程 float64。不要修改输入。不需要 Python 循环。

[English] Conventions:
- The forward is swiglu_ffn's: x (..., D) (any leading axes, or none); W1, W3 (D, F); W2 (F, D); no biases.
  a = x @ W1, b = x @ W3, h = silu(a) * b, y = h @ W2; silu(z) = z * sigmoid(z).
- d_out: the upstream gradient dL/dy, the shape of x.
- Return the dict {"x": dx, "W1": dW1, "W2": dW2, "W3": dW3}: the gradients of L = sum(y * d_out).
  dx has the shape of x; dW1 and dW3 are (D, F), dW2 is (F, D): summed over every token (every axis but the last).
- silu's derivative: sigmoid(a) + a * sigmoid(a) * (1 - sigmoid(a)). x feeds both W1 and W3.
- Some pre-activations reach |a| = 900: write sigmoid so that it cannot overflow.
- float64 throughout. Do not modify the inputs. No Python loops needed.
"""

import numpy as np


def swiglu_ffn_backward(d_out, x, W1, W2, W3):
    """Return {"x": (..., D), "W1": (D, F), "W2": (F, D), "W3": (D, F)}."""
    raise NotImplementedError("swiglu_ffn_backward: 请实现 / write me")
