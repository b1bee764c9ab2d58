"""参考实现：FlashAttention-2 的反向传播，NumPy（float64）：从前向保存的 O 和 L 出发，按 key 分块重算 P。

前向只保存了输出 O (..., Tq, dv) 和每一行的 log-sum-exp L (..., Tq)，没有保存 (Tq, Tk) 的概率矩阵。
反向每次取一块 key，重算这一块的分数 S 和概率 P = exp(S - L)（L 里已经有了最大值和求和，所以这就是
softmax 本身），再算这一块对 dQ、dK、dV 的贡献，然后丢掉。内存是 O(Tq * block) 而不是 O(Tq * Tk)。

它与 Dao 2023（FlashAttention-2，arXiv 2307.08691）的 Algorithm 2 的对应关系（只有一个 query 块，B_r = Tq）：
    先算一次  D = rowsum(dO ∘ O)                                -> row_dot(...)
    对每个 key 块 j：K_j, V_j                                    -> key_blocks(...) 上的循环
        S = Q K_j^T（乘 1/sqrt(d)，带 mask）                     -> score_block(...)
        P = exp(S - L)                                          -> probabilities(...)
        dV_j = P^T dO；dP = dO V_j^T                             -> block_grads(...)
        dS = P ∘ (dP - D)                                       -> softmax_grad(...)
        dQ += dS K_j，dK_j = dS^T Q（都乘 1/sqrt(d)）             -> block_grads(...)、accumulate(...)
D = rowsum(dO ∘ O) 等于 rowsum(dP ∘ P)（因为 O = P V），但只用 (Tq, dv) 的数组就能算出来，不必先走一遍所有块。

Reference: FlashAttention-2's backward pass in NumPy (float64): from the O and L the forward saved, P
recomputed key block by key block.

The forward saved only the output O (..., Tq, dv) and each row's log-sum-exp L (..., Tq), no (Tq, Tk)
matrix of probabilities. The backward takes one block of keys at a time, recomputes its scores S and its
probabilities P = exp(S - L) (L holds the max and the sum already, so this is the softmax itself), adds the
block's share of dQ, dK and dV, and drops the tile. Memory is O(Tq * block) instead of O(Tq * Tk).

How it maps onto Algorithm 2 of Dao 2023 (FlashAttention-2, arXiv 2307.08691), with one query block (B_r = Tq):
    once      D = rowsum(dO ∘ O)                                 -> row_dot(...)
    for each key block j: K_j, V_j                                -> the loop over key_blocks(...)
        S = Q K_j^T (times 1/sqrt(d), masked)                     -> score_block(...)
        P = exp(S - L)                                            -> probabilities(...)
        dV_j = P^T dO; dP = dO V_j^T                              -> block_grads(...)
        dS = P ∘ (dP - D)                                         -> softmax_grad(...)
        dQ += dS K_j, dK_j = dS^T Q (both times 1/sqrt(d))        -> block_grads(...), accumulate(...)
D = rowsum(dO ∘ O) equals rowsum(dP ∘ P) (since O = P V), but takes only (Tq, dv) arrays: no pass over the
blocks first.
"""

import numpy as np


def softmax_scale(d):
    """1/sqrt(d)：分数的缩放，反向里 dQ、dK 也要乘它。

    1/sqrt(d): the scores' scale, which dQ and dK carry too."""
    return 1.0 / np.sqrt(d)


def key_blocks(Tk, block_size):
    """每一块 key 的范围 [start, stop)；最后一块可能更短。

    The key ranges [start, stop) of each block; the last one may be shorter."""
    return [(start, min(start + block_size, Tk)) for start in range(0, Tk, block_size)]


def score_block(q, k_block, mask_block):
    """与前向相同的分数块：(..., Tq, d) x (..., Bc, d) -> (..., Tq, Bc)，被遮住处为 -inf。

    The forward's tile of scores: (..., Tq, d) x (..., Bc, d) -> (..., Tq, Bc), -inf where masked."""
    s = q @ k_block.swapaxes(-1, -2)  # (..., Tq, Bc)
    s *= softmax_scale(q.shape[-1])  # 就地缩放，不多占一块 / scaled in place: no second tile
    if mask_block is not None:
        # True 表示可以看；被遮住处就地设为 -inf
        np.copyto(s, -np.inf, where=~mask_block)  # True = may attend; -inf written in place where masked
    return s


def probabilities(s, lse):
    """重算这一块的 softmax：P = exp(S - L)，L (..., Tq) 是整行的 log-sum-exp；被遮住处 exp(-inf) = 0。
    就地把分数块变成概率块（分数之后不再用到）。

    This tile's softmax, recomputed: P = exp(S - L), L (..., Tq) the whole row's log-sum-exp; 0 where masked.
    Turns the tile of scores into probabilities in place (the scores are not needed afterwards)."""
    s -= lse[..., None]  # (..., Tq, Bc)
    return np.exp(s, out=s)


def row_dot(d_out, out):
    """D = rowsum(dO ∘ O)：(..., Tq, dv) -> (..., Tq)；等于 rowsum(dP ∘ P)。

    D = rowsum(dO ∘ O): (..., Tq, dv) -> (..., Tq); equal to rowsum(dP ∘ P)."""
    return (d_out * out).sum(axis=-1)


def softmax_grad(p, dp, D):
    """softmax 的反向，逐块：dS = P ∘ (dP - D)，(..., Tq, Bc)；就地写在 dP 上。

    The softmax's backward, per tile: dS = P ∘ (dP - D), (..., Tq, Bc); written over dP in place."""
    dp -= D[..., None]  # (..., Tq, Bc)
    dp *= p
    return dp


def block_grads(q, k_block, v_block, p, d_out, D):
    """一块 key 的贡献：(dQ 的一部分 (..., Tq, d)，dK_块 (..., Bc, d)，dV_块 (..., Bc, dv))。

    One key block's share: (part of dQ (..., Tq, d), dK_block (..., Bc, d), dV_block (..., Bc, dv))."""
    scale = softmax_scale(q.shape[-1])
    dv_block = p.swapaxes(-1, -2) @ d_out  # (..., Bc, Tq) @ (..., Tq, dv) -> (..., Bc, dv)
    dp = d_out @ v_block.swapaxes(-1, -2)  # (..., Tq, dv) @ (..., dv, Bc) -> (..., Tq, Bc)
    ds = softmax_grad(p, dp, D)  # (..., Tq, Bc)
    dq_part = (ds @ k_block) * scale  # (..., Tq, Bc) @ (..., Bc, d) -> (..., Tq, d)
    dk_block = (ds.swapaxes(-1, -2) @ q) * scale  # (..., Bc, Tq) @ (..., Tq, d) -> (..., Bc, d)
    return dq_part, dk_block, dv_block


def accumulate(dq, dq_part):
    """dQ 是所有 key 块贡献之和。

    dQ sums the shares of every key block."""
    return dq + dq_part


def flash_attention_backward(q, k, v, out, lse, d_out, mask, block_size):
    """按 `block_size` 大小的 key 块算注意力的梯度：返回 (dq (..., Tq, d), dk (..., Tk, d), dv (..., Tk, dv))。

    Attention's gradients over key blocks of `block_size`: returns (dq (..., Tq, d), dk (..., Tk, d), dv (..., Tk, dv))."""
    Tq, Tk, d, dv_dim = q.shape[-2], k.shape[-2], q.shape[-1], v.shape[-1]
    assert k.shape[-1] == d and v.shape[-2] == Tk and block_size >= 1
    lead = np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    if mask is not None:
        # 视图：不复制 (Tq, Tk) 的数组
        mask = np.broadcast_to(mask, np.broadcast_shapes(mask.shape, (Tq, Tk)))  # a view: no (Tq, Tk) copy
    D = row_dot(d_out, out)  # (..., Tq)
    dq = np.zeros(lead + (Tq, d))
    dk = np.zeros(lead + (Tk, d))
    dv = np.zeros(lead + (Tk, dv_dim))
    for start, stop in key_blocks(Tk, block_size):
        k_block, v_block = k[..., start:stop, :], v[..., start:stop, :]  # (..., Bc, d), (..., Bc, dv)
        s = score_block(q, k_block, None if mask is None else mask[..., start:stop])  # (..., Tq, Bc)
        p = probabilities(s, lse)  # (..., Tq, Bc)
        dq_part, dk[..., start:stop, :], dv[..., start:stop, :] = block_grads(q, k_block, v_block, p, d_out, D)
        dq = accumulate(dq, dq_part)
    return dq, dk, dv
