"""参考实现：沿任意维的数值稳定 softmax（NumPy，float64，无循环）。

Reference: numerically stable softmax along any axis (NumPy, float64, no loops)."""

import numpy as np


def softmax(x, axis=-1):
    """沿 `axis` 计算 exp(x) / sum(exp(x))，不会溢出；不修改 `x`。

    softmax 沿 `axis` 具有平移不变性，所以减去每条切片自己的最大值在数学上什么也没改变，却让最大的
    指数变成 exp(0) = 1：exp 不会溢出，每个和都 >= 1。-inf 元素（被遮住）恰好变成 0，只要这条切片
    里还有一个有限的元素。

    exp(x) / sum(exp(x)) along `axis`, without overflow; `x` is not modified.

    Softmax is shift-invariant along `axis`, so subtracting each slice's own max changes nothing
    mathematically but makes the largest exponent exp(0) = 1: exp cannot overflow and every sum is >= 1.
    -inf entries (masked) become exactly 0, as long as the slice has one finite entry.
    """
    # 与 x 同形；每条切片的最大值现在是 0
    shifted = x - x.max(axis=axis, keepdims=True)  # same shape as x; each slice's max is now 0
    # 在 [0, 1] 内；exp(-inf) = 0
    e = np.exp(shifted)  # in [0, 1]; exp(-inf) = 0
    # 与 x 同形；沿 `axis` 的每条切片求和为 1
    return e / e.sum(axis=axis, keepdims=True)  # same shape as x; each slice along `axis` sums to 1
