"""参考实现：在线 softmax（PyTorch）/ Reference: online softmax (PyTorch).

Milakov & Gimelshein 2018, Algorithm 3, a block of columns at a time:
    m_new = max(m, max(block));  l_new = l * exp(m - m_new) + sum(exp(block - m_new))
then p = exp(x - m) / l. 一行只见过 -inf 时减 0，不会出现 NaN / a row that has seen only -inf subtracts 0: never NaN.
"""

import torch


def safe_max(m):
    """要减去的最大值：m，一行只见过 -inf 时为 0 / the max to subtract: m, or 0 where a row has seen only -inf."""
    return torch.where(torch.isneginf(m), torch.zeros_like(m), m)  # (...,)


def online_softmax(x: torch.Tensor, block_size: int):
    """沿最后一维分块扫一遍得到 m 和 l，第二遍算出 p；返回 (p, m, l)。

    One pass over the blocks of the last axis for m and l, a second for p; returns (p, m, l)."""
    N = x.shape[-1]
    m = torch.full(x.shape[:-1], float("-inf"), dtype=x.dtype)  # (...,)：还什么都没见过 / nothing seen yet
    l = torch.zeros(x.shape[:-1], dtype=x.dtype)  # (...,)
    for start in range(0, N, block_size):  # 最后一块可以更短 / the last block may be shorter
        block = x[..., start:start + block_size]  # (..., <= block_size)
        m_new = torch.maximum(m, block.amax(dim=-1))  # (...,)：目前为止的最大值 / the max so far
        shift = safe_max(m_new)  # (...,)
        # 旧的和换到新最大值上，再加上这一块 / the old sum moved onto the new max, plus the block
        l = l * torch.exp(m - shift) + torch.exp(block - shift.unsqueeze(-1)).sum(dim=-1)
        m = m_new
    p = torch.exp(x - m.unsqueeze(-1)) / l.unsqueeze(-1)  # (..., N)：第二遍，用最终的 m 和 l / with the final m, l
    return p, m, l
