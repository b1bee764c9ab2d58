"""softmax 的反向传播（向量-雅可比积），用 NumPy 实现（float64）/ Softmax backward pass (the vector-Jacobian
product), in NumPy (float64).

【中文】约定：
- p = softmax(x, axis)，x 不提供给你（p >= 0，沿 axis 的每条切片求和为 1；被遮住的位置 p = 0）。
- d_p：上游梯度 dL/dp，与 p 同形状；axis 可以是负数。
- 返回 d_x = dL/dx，与 p 同形状：沿 axis 的每条切片上，d_x = J^T d_p，J 是 softmax 的雅可比矩阵。
- 不要构造雅可比矩阵（每条切片就是 n x n）；答案每条切片只需要 O(n) 的计算量。不需要循环。
- 全程 float64。不要修改 p 和 d_p。

[English] Conventions:
- p = softmax(x, axis) for some x you are not given (p >= 0, every slice along `axis` sums to 1;
  masked entries have p = 0).
- d_p: the upstream gradient dL/dp, same shape as p; axis may be negative.
- Return d_x = dL/dx, same shape as p: per slice along `axis`, d_x = J^T d_p with J the softmax Jacobian.
- Do not build the Jacobian (it is n x n per slice); the answer is O(n) per slice. No loops.
- float64 throughout. Do not modify p or d_p.
"""

import numpy as np


def softmax_backward(p, d_p, axis=-1):
    """Return d_x, the gradient with respect to the softmax's input, shape of p."""
    raise NotImplementedError("softmax_backward: 请实现 / write me")
