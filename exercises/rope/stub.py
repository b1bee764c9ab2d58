"""旋转位置编码 RoPE，用 NumPy 实现（float64）/ Rotary position embedding (RoPE), in NumPy (float64).

【中文】约定：
- x：(..., T, d)，d 为偶数；前面的维度 “...” 可以是 (B, H)、(B,) 或者没有。
- positions：整数位置，形状 (T,)，或可与 x 的前面维度广播的 (..., T)。位置不一定从 0 开始
  （有 KV cache 时新 token 的位置是 P, P+1, ...）。
- 频率：θ_j = base^(-2j/d)，j = 0 .. d/2-1（RoFormer 论文 eq. 15 从 1 开始数：θ_i = 10000^(-2(i-1)/d)）。
- 配对方式（重要！）：本题用“前后两半”配对，即 Hugging Face Llama 的 rotate_half / GPT-NeoX 的写法：
  第 j 维和第 j + d/2 维是一对，在位置 m 旋转角度 m·θ_j：
      out[..., j]       = x[..., j] · cos(m θ_j) − x[..., j + d/2] · sin(m θ_j)
      out[..., j + d/2] = x[..., j + d/2] · cos(m θ_j) + x[..., j] · sin(m θ_j)
  RoFormer 论文和 Meta 原版 Llama 代码用的是相邻两维 (x_2j, x_2j+1) 交错配对，那是另一种约定，本题不用。
- 返回新的数组 (..., T, d)，float64。不要修改输入。不需要 Python 循环。

[English] Conventions:
- x: (..., T, d) with d even; the leading axes "..." may be (B, H), (B,) or none at all.
- positions: integer positions of shape (T,), or (..., T) broadcastable against x's leading axes. They need
  not start at 0 (with a KV cache the new tokens sit at P, P+1, ...).
- Frequencies: theta_j = base^(-2j/d), j = 0 .. d/2-1 (RoFormer eq. 15 counts from 1: 10000^(-2(i-1)/d)).
- Pairing (IMPORTANT!): the two HALVES are paired, as in Hugging Face's Llama rotate_half and GPT-NeoX:
  dimension j goes with dimension j + d/2, and at position m the pair turns by the angle m * theta_j:
      out[..., j]       = x[..., j] * cos(m theta_j) - x[..., j + d/2] * sin(m theta_j)
      out[..., j + d/2] = x[..., j + d/2] * cos(m theta_j) + x[..., j] * sin(m theta_j)
  The RoFormer paper and Meta's original Llama code pair ADJACENT dimensions (x_2j, x_2j+1) instead: a
  different convention, not ours.
- Return a new (..., T, d) float64 array. Do not modify the inputs. No Python loops needed.
"""

import numpy as np


def rope(x, positions, base):
    """Return x rotated at `positions`, shape (..., T, d)."""
    raise NotImplementedError("rope: 请实现 / write me")
