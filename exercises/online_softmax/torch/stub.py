"""在线 softmax：逐块读一行，维护运行中的最大值和指数和（PyTorch）/ Online softmax: each row read block by block
with a running max and a running sum of exponentials (PyTorch).

【中文】写函数 online_softmax(x, block_size)，约定与 NumPy 版相同：
- x：(..., N) float64 张量，对最后一维做 softmax；按列分块：x[..., 0:block_size]、x[..., block_size:2*block_size] ...
  最后一块可以更短，block_size 也可以 >= N。
- 每行维护 m（运行中的最大值，初始 -inf）和 l = sum(exp(x − m))（初始 0）：
      m_new = max(m, 这一块的最大值)；l_new = l * exp(m − m_new) + sum(exp(这一块 − m_new))
  读完所有块后 p = exp(x − m) / l。
- x 可以含 -inf，甚至一整块都是 -inf（但没有整行都是 -inf 的）：任何一步都不能出现 exp(-inf − (-inf)) = NaN。
- 返回 (p, m, l)：p (..., N)；m、l (...,)。
- 不许用 torch.softmax、F.softmax、log_softmax、torch.logsumexp（这道题就是要你自己写）。循环按块写。float64。

[English] Write online_softmax(x, block_size), with the NumPy track's conventions:
- x: (..., N) float64 tensor, softmax over the last axis; columns read in blocks x[..., 0:block_size],
  x[..., block_size:2*block_size] ...; the last block may be shorter, and block_size may be >= N.
- Per row, a running max m (from -inf) and l = sum(exp(x - m)) (from 0):
      m_new = max(m, the block's max); l_new = l * exp(m - m_new) + sum(exp(block - m_new))
  and after the last block p = exp(x - m) / l.
- x may contain -inf, even a whole block of it (no row is -inf everywhere): no step may compute
  exp(-inf - (-inf)) = NaN.
- Return (p, m, l): p (..., N); m and l (...,).
- torch.softmax, F.softmax, log_softmax and torch.logsumexp are not allowed (this exercise is writing them).
  The loop over blocks is the exercise. float64.
"""

import torch


def online_softmax(x: torch.Tensor, block_size: int):
    """Return (p (..., N), m (...,), l (...,))."""
    raise NotImplementedError("online_softmax: 请实现 / write me")
