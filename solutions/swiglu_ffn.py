"""Reference: the SwiGLU feed-forward block of Llama, in NumPy (float64, no loops).

y = (silu(x @ W1) * (x @ W3)) @ W2, silu(z) = z * sigmoid(z)   (Shazeer 2020, arXiv 2002.05202, Eq. 6;
meta-llama/llama model.py: self.w2(F.silu(self.w1(x)) * self.w3(x)), no biases).
Layout: x (..., D); W1 (the gate) and W3 (the up projection) (D, F); W2 (the down projection) (F, D). Our
weights are used as x @ W: nn.Linear's weight is their transpose.
"""

import numpy as np


def sigmoid(z):
    """1 / (1 + exp(-z)) without overflow: exp is only ever taken of -|z| (no warning for any z)."""
    e = np.exp(-np.abs(z))  # in (0, 1]: never overflows
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def silu(z):
    """SiLU (Swish with beta = 1): z * sigmoid(z)."""
    return z * sigmoid(z)


def swiglu_ffn(x, W1, W2, W3):
    """The SwiGLU FFN of x (..., D): W1, W3 (D, F), W2 (F, D). Returns y, the shape of x."""
    D, F = W1.shape
    assert W3.shape == (D, F) and W2.shape == (F, D) and x.shape[-1] == D, (x.shape, W1.shape, W2.shape, W3.shape)
    gate = silu(x @ W1)  # (..., D) @ (D, F) -> (..., F)
    up = x @ W3  # (..., F)
    return (gate * up) @ W2  # (..., F) @ (F, D) -> (..., D)
