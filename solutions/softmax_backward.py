"""参考实现：softmax 的反向传播，写成向量-雅可比积（NumPy，float64，不构造雅可比矩阵）。

对沿某一维的 p = softmax(x)，一条切片的雅可比矩阵是 J = diag(p) - p p^T（对称），所以
d_x = J^T d_p = p * d_p - p * <p, d_p> = p * (d_p - <p, d_p>)：每条切片 O(n)，而不是 O(n^2)。

Reference: the softmax backward pass as a vector-Jacobian product (NumPy, float64, no Jacobian built).

For p = softmax(x) along an axis, the Jacobian of one slice is J = diag(p) - p p^T (symmetric), so
d_x = J^T d_p = p * d_p - p * <p, d_p> = p * (d_p - <p, d_p>): O(n) per slice instead of O(n^2).
"""


def softmax_backward(p, d_p, axis=-1):
    """已知 p = softmax(x, axis) 和上游梯度 d_p（都与 x 同形），求 d_x。

    d_x given p = softmax(x, axis) and the upstream gradient d_p (both of x's shape)."""
    # 每条切片的 <p, d_p>：沿 `axis` 的长度为 1
    row_dot = (p * d_p).sum(axis=axis, keepdims=True)  # <p, d_p> per slice: size 1 along `axis`
    # 与 p 同形；沿 `axis` 的每条切片求和为 0
    return p * (d_p - row_dot)  # same shape as p; every slice along `axis` sums to 0
