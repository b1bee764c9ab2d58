"""数值稳定的 softmax，用 NumPy 实现（float64）/ Numerically stable softmax, in NumPy (float64).

【中文】约定：
- x：任意形状（一维、二维、三维……）的 float64 数组；axis：沿哪一维归一化，可以是负数
  （axis=-1 是最后一维，axis=0 是第一维）。
- 返回与 x 同形状的数组，沿 axis 的每条切片都等于 softmax(切片) = exp(切片) / sum(exp(切片))：
  沿 axis 的每条切片求和为 1。
- 必须数值稳定：|x| 达到约 1e3 的输入也要给出有限的结果（np.exp 的输入超过约 709 就溢出）。
- -inf 表示“被遮住”，概率必须恰好为 0。评测用例中不会有整条切片都是 -inf。
- 不要修改 x。不需要在其他维上写 Python 循环。

[English] Conventions:
- x: a float64 array of any shape (1-D, 2-D, 3-D, ...); axis: the axis to normalise along, possibly
  negative (axis=-1 is the last axis, axis=0 the first).
- Return an array of x's shape whose slices along `axis` are softmax(slice) = exp(slice) / sum(exp(slice)):
  every slice along `axis` sums to 1.
- Numerically stable: inputs up to |x| ~ 1e3 must give finite results (np.exp overflows above ~709).
- -inf entries mean "masked" and get probability exactly 0. No graded slice is entirely -inf.
- Do not modify x. No Python loops over the other axes needed.
"""

import numpy as np


def softmax(x, axis=-1):
    """Return softmax(x) along `axis`, same shape as x."""
    raise NotImplementedError("softmax: 请实现 / write me")
