"""参考实现：数值稳定的 softmax（PyTorch）。

Reference: numerically stable softmax (PyTorch).
"""

import torch


def softmax(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """沿 dim 做 softmax，不会溢出 / exp(x) over sum(exp(x)) along `dim`, without overflow."""
    shifted = x - x.amax(dim=dim, keepdim=True)  # 每个切片的最大值变成 0 / each slice's max is now 0
    e = torch.exp(shifted)  # 在 [0, 1] 内；exp(-inf) = 0 / in [0, 1]; exp(-inf) = 0
    return e / e.sum(dim=dim, keepdim=True)  # 形状同 x，每个切片和为 1 / same shape as x; each slice sums to 1
