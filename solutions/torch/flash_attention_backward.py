"""参考实现：FlashAttention-2，手写前向和反向的 torch.autograd.Function / Reference: FlashAttention-2 as a
torch.autograd.Function with a hand-written forward and backward.

前向按 key 分块算出 O 和每一行的 log-sum-exp L，只保存 q、k、v、mask、O、L（没有 (Tq, Tk) 的矩阵）；
反向先算一次 D = rowsum(dO ∘ O)，再逐块重算 P = exp(S - L)，累加 dQ、dK、dV（Dao 2023，Algorithm 2；
斯坦福 CS336 第二次作业）。
The forward computes O and each row's log-sum-exp L over key blocks and saves only q, k, v, mask, O and L (no
(Tq, Tk) matrix); the backward computes D = rowsum(dO ∘ O) once, then recomputes P = exp(S - L) block by
block and adds up dQ, dK, dV (Dao 2023, Algorithm 2; Stanford CS336, assignment 2).
"""

import math

import torch


def _scores(q, k_block, mask, start, stop, scale):
    """一块缩放、带 mask 的分数 (..., Tq, Bc) / one tile of scaled, masked scores (..., Tq, Bc)."""
    s = (q @ k_block.transpose(-1, -2)).mul_(scale)  # (..., Tq, Bc)
    if mask is not None:
        s.masked_fill_(~mask[..., start:stop], float("-inf"))  # True = 可以看 / may attend
    return s


class FlashAttention(torch.autograd.Function):
    """FlashAttention.apply(q, k, v, mask, block_size)：按 key 分块的前向和反向 / tiled forward and backward."""

    @staticmethod
    def forward(ctx, q, k, v, mask, block_size):
        """q 为 (..., Tq, d)，k 为 (..., Tk, d)，v 为 (..., Tk, dv)；mask 为 True 表示可以看。返回 O (..., Tq, dv)。

        q (..., Tq, d), k (..., Tk, d), v (..., Tk, dv); mask True = may attend. Returns O (..., Tq, dv)."""
        Tq, Tk, dv = q.shape[-2], k.shape[-2], v.shape[-1]
        lead = tuple(q.shape[:-2])  # 三者的前置维度相同 / the same leading axes for all three
        scale = 1.0 / math.sqrt(q.shape[-1])
        if mask is not None:
            mask = mask.expand(*lead, Tq, Tk)  # 只是视图，不复制 / a view, no copy
        m = torch.full(lead + (Tq,), float("-inf"), dtype=q.dtype)  # (..., Tq): 运行最大值 / running max
        # (..., Tq)：exp(score - m) 之和
        l = torch.zeros(lead + (Tq,), dtype=q.dtype)  # (..., Tq): sum of exp(score - m)
        # (..., Tq, dv)：exp(score - m) * v 之和
        acc = torch.zeros(lead + (Tq, dv), dtype=q.dtype)  # (..., Tq, dv): sum of exp(score - m) * v
        for start in range(0, Tk, block_size):  # 最后一块可以更短 / the last block may be shorter
            stop = min(start + block_size, Tk)
            s = _scores(q, k[..., start:stop, :], mask, start, stop, scale)
            m_new = torch.maximum(m, s.amax(dim=-1))
            # 还没见过可看的 key 时减 0 / subtract 0 until a key was allowed
            m_safe = torch.where(torch.isneginf(m_new), torch.zeros_like(m_new), m_new)
            alpha = torch.exp(m - m_safe)  # (..., Tq)
            p = s.sub_(m_safe[..., None]).exp_()  # (..., Tq, Bc)，就地 / in place
            l = alpha * l + p.sum(dim=-1)
            acc = alpha[..., None] * acc + p @ v[..., start:stop, :]
            m = m_new
        out = acc / l[..., None]  # (..., Tq, dv)
        lse = m + torch.log(l)  # (..., Tq): L = m + log(l)
        ctx.save_for_backward(q, k, v, mask, out, lse)  # 只有 O 和 L 是新的 / only O and L are new
        ctx.block_size = block_size
        return out

    @staticmethod
    def backward(ctx, d_out):
        """由 O 和 L 逐块重算 P，返回 dq、dk、dv / P recomputed block by block from O and L: dq, dk, dv."""
        q, k, v, mask, out, lse = ctx.saved_tensors
        Tk = k.shape[-2]
        scale = 1.0 / math.sqrt(q.shape[-1])
        # (..., Tq)：每行的 dO ∘ O 之和，等于 dP ∘ P 之和
        D = (d_out * out).sum(dim=-1)  # (..., Tq): rowsum(dO ∘ O) = rowsum(dP ∘ P)
        dq, dk, dv = torch.zeros_like(q), torch.zeros_like(k), torch.zeros_like(v)
        for start in range(0, Tk, ctx.block_size):
            stop = min(start + ctx.block_size, Tk)
            k_block, v_block = k[..., start:stop, :], v[..., start:stop, :]
            p = _scores(q, k_block, mask, start, stop, scale).sub_(lse[..., None]).exp_()  # (..., Tq, Bc): P = exp(S - L)
            dv[..., start:stop, :] = p.transpose(-1, -2) @ d_out  # (..., Bc, dv)
            ds = (d_out @ v_block.transpose(-1, -2)).sub_(D[..., None]).mul_(p)  # (..., Tq, Bc): P ∘ (dP - D)
            dq += (ds @ k_block) * scale  # 所有块之和 / summed over the blocks
            dk[..., start:stop, :] = (ds.transpose(-1, -2) @ q) * scale  # (..., Bc, d)
        return dq, dk, dv, None, None  # mask 和 block_size 没有梯度 / no gradient for mask and block_size
