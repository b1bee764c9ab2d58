"""把模型维度拆成注意力头、再合并回来，用 PyTorch 实现 / Splitting the model dimension into attention heads,
and merging them back, in PyTorch.

【中文】写两个函数：
- split_heads(x, num_heads)：x (B, T, D) -> (B, H, T, dh)，H = num_heads，dh = D // H。第 h 个头拥有最后一维的
  第 h*dh:(h+1)*dh 列：out[b, h, t, :] == x[b, t, h*dh:(h+1)*dh]。
- merge_heads(x)：(B, H, T, dh) -> (B, T, H*dh)，是严格的逆操作：merge_heads(split_heads(x, H)) == x。
- 注意：transpose 之后张量不再连续，直接 .view 会报错；用 .reshape，或先 .contiguous() 再 .view。
- 评测用 float64 张量；不要修改 x（返回视图没问题）。

[English] Write two functions:
- split_heads(x, num_heads): x (B, T, D) -> (B, H, T, dh) with H = num_heads, dh = D // H. Head h owns columns
  h*dh:(h+1)*dh of the last axis: out[b, h, t, :] == x[b, t, h*dh:(h+1)*dh].
- merge_heads(x): (B, H, T, dh) -> (B, T, H*dh), the exact inverse: merge_heads(split_heads(x, H)) == x.
- After a transpose the tensor is not contiguous and .view raises: use .reshape, or .contiguous().view.
- Graded with float64 tensors; do not modify x (returning a view is fine).
"""

import torch


def split_heads(x: torch.Tensor, num_heads: int) -> torch.Tensor:
    """Return x split into heads, shape (B, num_heads, T, D // num_heads)."""
    raise NotImplementedError("split_heads: 请实现 / write me")


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """Return the heads of x concatenated in order, shape (B, T, H * dh)."""
    raise NotImplementedError("merge_heads: 请实现 / write me")
