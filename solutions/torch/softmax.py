"""参考实现：数值稳定的 softmax（PyTorch）/ Reference: numerically stable softmax (PyTorch)."""

import torch


def softmax(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """exp(x) / sum(exp(x)) along `dim`, without overflow / 沿 dim 做 softmax，不会溢出。"""
    shifted = x - x.amax(dim=dim, keepdim=True)  # 每个切片的最大值变成 0 / each slice's max is now 0
    e = torch.exp(shifted)  # in [0, 1]; exp(-inf) = 0
    return e / e.sum(dim=dim, keepdim=True)  # same shape as x; each slice sums to 1
