"""参考实现：Llama 的 SwiGLU 前馈层，NumPy（float64，无循环）。

y = (silu(x @ W1) * (x @ W3)) @ W2，silu(z) = z * sigmoid(z)（Shazeer 2020，arXiv 2002.05202，式 6；
meta-llama/llama 的 model.py：self.w2(F.silu(self.w1(x)) * self.w3(x))，没有 bias）。
布局：x 为 (..., D)；W1（gate）和 W3（up 投影）为 (D, F)；W2（down 投影）为 (F, D)。这里的权重按 x @ W 使用：
nn.Linear 的 weight 是它们的转置。

Reference: the SwiGLU feed-forward block of Llama, in NumPy (float64, no loops).

y = (silu(x @ W1) * (x @ W3)) @ W2, silu(z) = z * sigmoid(z)   (Shazeer 2020, arXiv 2002.05202, Eq. 6;
meta-llama/llama model.py: self.w2(F.silu(self.w1(x)) * self.w3(x)), no biases).
Layout: x (..., D); W1 (the gate) and W3 (the up projection) (D, F); W2 (the down projection) (F, D). Our
weights are used as x @ W: nn.Linear's weight is their transpose.
"""

import numpy as np


def sigmoid(z):
    """不会溢出的 1 / (1 + exp(-z))：exp 只作用在 -|z| 上（任何 z 都不会有警告）。

    1 / (1 + exp(-z)) without overflow: exp is only ever taken of -|z| (no warning for any z)."""
    # 取值在 (0, 1]：永远不会溢出
    e = np.exp(-np.abs(z))  # in (0, 1]: never overflows
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def silu(z):
    """SiLU（beta = 1 的 Swish）：z * sigmoid(z)。

    SiLU (Swish with beta = 1): z * sigmoid(z)."""
    return z * sigmoid(z)


def swiglu_ffn(x, W1, W2, W3):
    """x (..., D) 的 SwiGLU FFN：W1、W3 为 (D, F)，W2 为 (F, D)。返回 y，形状与 x 相同。

    The SwiGLU FFN of x (..., D): W1, W3 (D, F), W2 (F, D). Returns y, the shape of x."""
    D, F = W1.shape
    assert W3.shape == (D, F) and W2.shape == (F, D) and x.shape[-1] == D, (x.shape, W1.shape, W2.shape, W3.shape)
    gate = silu(x @ W1)  # (..., D) @ (D, F) -> (..., F)
    up = x @ W3  # (..., F)
    return (gate * up) @ W2  # (..., F) @ (F, D) -> (..., D)
