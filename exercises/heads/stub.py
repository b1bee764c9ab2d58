"""把模型维度拆成注意力头、再合并回来，用 NumPy 实现（float64）/ Splitting the model dimension into attention
heads, and merging them back, in NumPy (float64).

【中文】约定：
- split_heads(x, num_heads)：x (B, T, D) -> (B, H, T, dh)，其中 H = num_heads，dh = D // H（D 一定能被
  H 整除）。第 h 个头拥有 x 最后一维的第 h*dh:(h+1)*dh 列：out[b, h, t, :] == x[b, t, h*dh:(h+1)*dh]。
- merge_heads(x)：(B, H, T, dh) -> (B, T, H*dh)，是严格的逆操作：各头按顺序拼接，所以
  merge_heads(split_heads(x, H)) == x。
- 不要修改输入（返回视图没问题）。不需要 Python 循环。

[English] Conventions:
- split_heads(x, num_heads): x (B, T, D) -> (B, H, T, dh) with H = num_heads, dh = D // H (D is
  divisible by H). Head h owns columns h*dh:(h+1)*dh of x's last axis: out[b, h, t, :] == x[b, t, h*dh:(h+1)*dh].
- merge_heads(x): (B, H, T, dh) -> (B, T, H*dh), the exact inverse: heads concatenated in order, so
  merge_heads(split_heads(x, H)) == x.
- Do not modify the inputs (returning a view is fine). No Python loops needed.
"""

import numpy as np


def split_heads(x, num_heads):
    """Return x split into heads, shape (B, num_heads, T, D // num_heads)."""
    raise NotImplementedError("split_heads: 请实现 / write me")


def merge_heads(x):
    """Return the heads of x concatenated in order, shape (B, T, H * dh)."""
    raise NotImplementedError("merge_heads: 请实现 / write me")
