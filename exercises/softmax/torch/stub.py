"""数值稳定的 softmax，用 PyTorch 实现 / Numerically stable softmax, in PyTorch.

【中文】写一个函数 softmax(x, dim=-1)：沿 dim 做 softmax，返回与 x 同形状的张量。
- 不许调用 torch.softmax、F.softmax、x.softmax、log_softmax（这道题就是要你自己写它）。
- 先减去沿 dim 的最大值，否则 x 很大时 exp 会溢出成 inf/NaN。被遮住的位置（-inf）要得到 0。
- 评测用 float64 张量；不要修改 x。

[English] Write softmax(x, dim=-1): softmax along `dim`, a tensor of x's shape.
- torch.softmax, F.softmax, x.softmax and log_softmax are not allowed (this exercise is writing it).
- Subtract the max along `dim` first, or exp overflows to inf/NaN on large x. Masked entries (-inf) get 0.
- Graded with float64 tensors; do not modify x.
"""

import torch


def softmax(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Return softmax(x) along `dim`, same shape as x."""
    raise NotImplementedError("softmax: 请实现 / write me")
