"""参考实现：FlashAttention 前向，按 key 分块（PyTorch）/ Reference: FlashAttention's forward, tiled over key
blocks (PyTorch).

每块 key 只算 (..., Tq, block) 的分数，折进每个 query 的运行最大值 m、运行和 l 和未归一化的输出 acc，
从不构造 (Tq, Tk) 的矩阵（Dao et al. 2022，Algorithm 1；最后才除以 l，同 FlashAttention-2）。
Each key block gives a (..., Tq, block) tile of scores, folded into a running max m, a running sum l and an
unnormalised output acc per query; no (Tq, Tk) matrix is ever built (Dao et al. 2022, Algorithm 1; divided by
l once at the end, as FlashAttention-2 does).
"""

import math

import torch


def flash_attention_forward(q, k, v, mask, block_size):
    """q 为 (..., Tq, d)，k 为 (..., Tk, d)，v 为 (..., Tk, dv)；mask 为 True 表示可以看。返回 (out, lse)。

    q (..., Tq, d), k (..., Tk, d), v (..., Tk, dv); mask True = may attend. Returns (out, lse)."""
    Tq, Tk, dv = q.shape[-2], k.shape[-2], v.shape[-1]
    lead = tuple(q.shape[:-2])  # 三者的前置维度相同 / the same leading axes for all three
    scale = 1.0 / math.sqrt(q.shape[-1])
    if mask is not None:
        mask = mask.expand(*lead, Tq, Tk)  # 只是视图，不复制 / a view, no copy
    q = q * scale  # 先缩放 q：每块少一个 (Tq, Bc) 的临时张量 / scale q once: one (Tq, Bc) temporary less per block
    m = torch.full(lead + (Tq,), float("-inf"), dtype=q.dtype)  # (..., Tq): 运行最大值 / running max
    # (..., Tq)：exp(score - m) 之和
    l = torch.zeros(lead + (Tq,), dtype=q.dtype)  # (..., Tq): sum of exp(score - m)
    # (..., Tq, dv)：exp(score - m) * v 之和
    acc = torch.zeros(lead + (Tq, dv), dtype=q.dtype)  # (..., Tq, dv): sum of exp(score - m) * v
    for start in range(0, Tk, block_size):  # 最后一块可以更短 / the last block may be shorter
        stop = min(start + block_size, Tk)
        s = q @ k[..., start:stop, :].transpose(-1, -2)  # (..., Tq, Bc): 只有这一块 / this tile only
        if mask is not None:
            s.masked_fill_(~mask[..., start:stop], float("-inf"))  # 先遮住再取最大值 / mask before the max
        m_new = torch.maximum(m, s.amax(dim=-1))  # (..., Tq)
        # 还没见过可看的 key 时减 0，避免 exp(-inf - (-inf)) = NaN / subtract 0 until a key was allowed
        m_safe = torch.where(torch.isneginf(m_new), torch.zeros_like(m_new), m_new)
        alpha = torch.exp(m - m_safe)  # (..., Tq): 旧的部分挪到新最大值上 / old sums onto the new max
        p = s.sub_(m_safe[..., None]).exp_()  # (..., Tq, Bc): 未归一化的概率，就地算 / unnormalised, in place
        l = alpha * l + p.sum(dim=-1)
        acc = alpha[..., None] * acc + p @ v[..., start:stop, :]  # l 和 O 乘同一个 alpha / the same alpha for both
        m = m_new
    # 输出除以 l；每行的 log-sum-exp 为 m + log(l)
    return acc / l[..., None], m + torch.log(l)  # (..., Tq, dv), (..., Tq): lse = m + log(l)
