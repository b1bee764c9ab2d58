"""旋转位置编码 RoPE，用 PyTorch 写成 nn.Module / Rotary position embedding (RoPE) as a PyTorch nn.Module.

【中文】约定：
- RoPE(head_dim, base=10000.0)；forward(x, positions) 返回与 x 同形状的张量。没有可学习的参数。
- x：(..., T, head_dim)，head_dim 为偶数，前面的维度可以是 (B, H)、(B,) 或者没有。
- positions：int64 张量，形状 (T,)，或可与 x 的前导维广播的 (..., T)（比如 (B, 1, T)）；不一定从 0 开始
  （有 KV cache 时新 token 的位置是 P, P+1, ...）。
- 频率 θ_j = base^(-2j/head_dim)，j = 0 .. head_dim/2 - 1。
- 前后两半配对（Hugging Face Llama 的 rotate_half）：rotate_half(x) = cat(-x2, x1)，
  out = x * cos(mθ) + rotate_half(x) * sin(mθ)，cos、sin 的表是角度拼接两次：cat((angles, angles), -1)。
  Meta 原版 Llama 的 view_as_complex 是相邻两维配对，那是另一种约定，本题不用。
- 用 float64 计算角度：HF 默认用 float32 的 inv_freq，在这里会被报成精度问题。
- 可以用 torch 的任何运算（PyTorch 没有现成的 RoPE）；不要调用 transformers、torchtune 里现成的 RoPE。

[English] Conventions:
- RoPE(head_dim, base=10000.0); forward(x, positions) returns a tensor of x's shape. No learnable parameters.
- x: (..., T, head_dim) with head_dim even; the leading axes may be (B, H), (B,) or none.
- positions: an int64 tensor of shape (T,), or (..., T) broadcastable against x's leading axes (say (B, 1, T));
  they need not start at 0 (with a KV cache the new tokens sit at P, P+1, ...).
- Frequencies theta_j = base^(-2j/head_dim), j = 0 .. head_dim/2 - 1.
- The two HALVES are paired (Hugging Face Llama's rotate_half): rotate_half(x) = cat(-x2, x1),
  out = x * cos(m theta) + rotate_half(x) * sin(m theta), the cos and sin tables being the angles concatenated
  twice: cat((angles, angles), -1). Meta's original Llama (view_as_complex) pairs adjacent dimensions: a
  different convention, not ours.
- Compute the angles in float64: HF's float32 inv_freq is reported here as a precision problem.
- Any torch op is allowed (PyTorch has no RoPE op); do not call a ready-made RoPE from transformers or torchtune.
"""

import torch
from torch import nn


class RoPE(nn.Module):
    def __init__(self, head_dim: int, base: float = 10000.0):
        super().__init__()
        raise NotImplementedError("RoPE: 请实现 / write me")

    def forward(self, x, positions):
        """Return x rotated at `positions`, shape (..., T, head_dim)."""
        raise NotImplementedError("RoPE.forward: 请实现 / write me")
