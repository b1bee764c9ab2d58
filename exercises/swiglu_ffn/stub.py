"""SwiGLU 前馈层（Llama 的 FFN），用 NumPy 实现（float64）/ The SwiGLU feed-forward block (Llama's FFN), in
NumPy (float64).

【中文】约定：
- x：(..., D)，前面可以有任意多个维度（也可以没有，即一维的 (D,)）。
- W1（门，gate）和 W3（up 投影）：(D, F)；W2（down 投影）：(F, D)。用法是 x @ W（不是 nn.Linear 的
  x @ weight.T），没有偏置。
- y = (silu(x @ W1) * (x @ W3)) @ W2，其中 silu(z) = z * sigmoid(z)，sigmoid(z) = 1 / (1 + exp(-z))。
  SiLU 只加在门 x @ W1 上；* 是逐元素乘法。
- 有的预激活 |z| 超过 709（exp 的上限）：sigmoid 要写成不溢出、不出 NaN 的形式。
- 返回 y，形状与 x 相同。全程 float64。不要修改输入。不需要 Python 循环。

[English] Conventions:
- x: (..., D), any number of leading axes (or none: a 1-D (D,)).
- W1 (the gate) and W3 (the up projection): (D, F); W2 (the down projection): (F, D). Used as x @ W (not
  nn.Linear's x @ weight.T), no biases.
- y = (silu(x @ W1) * (x @ W3)) @ W2, with silu(z) = z * sigmoid(z), sigmoid(z) = 1 / (1 + exp(-z)).
  SiLU goes on the gate x @ W1 only; * is element-wise.
- Some pre-activations have |z| > 709 (exp's range): write sigmoid so that it neither overflows nor gives NaN.
- Return y, the shape of x. float64 throughout. Do not modify the inputs. No Python loops needed.
"""

import numpy as np


def swiglu_ffn(x, W1, W2, W3):
    """Return y = (silu(x @ W1) * (x @ W3)) @ W2, the shape of x."""
    raise NotImplementedError("swiglu_ffn: 请实现 / write me")
