"""参考实现：用运行中的最大值和运行中的和，逐块计算 x 每一行的 softmax。

Milakov & Gimelshein 2018（arXiv 1805.02867）的 Algorithm 3（“Safe softmax with online normalizer
calculation”），像 FlashAttention §3.1（Dao et al. 2022）那样每次处理一块列：
    m_new = max(m, max(block))
    l_new = l * exp(m - m_new) + sum(exp(block - m_new))
然后第二遍计算 p = exp(x - m) / l。在块上的循环正是这个练习的重点。

-inf 元素：如果某行到目前为止的块全是 -inf，那么 m = -inf、l = 0；这时减去 0 而不是 m
（FlashAttention 的 CUDA kernel 也是这样做的，csrc/flash_attn/src/softmax.h），所以不会出现
exp(-inf - (-inf)) = NaN。没有整行都是 -inf 的情况（那样的 softmax 是 0/0）。

Reference: softmax of each row of x computed block by block with a running max and a running sum.

Milakov & Gimelshein 2018 (arXiv 1805.02867), Algorithm 3 ("Safe softmax with online normalizer
calculation"), taken a block of columns at a time as in FlashAttention §3.1 (Dao et al. 2022):
    m_new = max(m, max(block))
    l_new = l * exp(m - m_new) + sum(exp(block - m_new))
then a second pass p = exp(x - m) / l. The loop over blocks is the point of the exercise.

-inf entries: a row whose blocks so far are all -inf has m = -inf and l = 0; it subtracts 0 instead of
m (FlashAttention's CUDA kernel does the same, csrc/flash_attn/src/softmax.h), so exp(-inf - (-inf)) = NaN
never happens. No row is -inf everywhere (its softmax would be 0/0).
"""

import numpy as np


def safe_max(m):
    """要减去的最大值：m；某行只看到过 -inf 时用 0（exp(-inf - 0) = 0，不会是 NaN）。

    The max to subtract: m, or 0 where a row has seen only -inf (exp(-inf - 0) = 0, never NaN)."""
    return np.where(np.isneginf(m), 0.0, m)  # (...,)


def rescale(m_old, m_new):
    """exp(m_old - m_new) <= 1：把相对 m_old 求的和换算到新的最大值 m_new 上。

    exp(m_old - m_new) <= 1: moves a sum taken relative to m_old onto the new max m_new."""
    # (...,)；m_old = -inf 时为 0（反正那时和是 0）
    return np.exp(m_old - safe_max(m_new))  # (...,); 0 while m_old = -inf (the sum is 0 anyway)


def block_sum(x_block, m_new):
    """在这一块的各列上求 sum(exp(x_block - m_new))。x_block：(..., B)，m_new：(...,)。

    sum(exp(x_block - m_new)) over the block's columns. x_block: (..., B), m_new: (...,)."""
    return np.exp(x_block - safe_max(m_new)[..., None]).sum(axis=-1)  # (..., B) -> (...,)


def update(m, l, x_block):
    """一步：把一块列 (..., B) 折算进运行最大值 m 和运行和 l（都是 (...,)）。

    One step: fold a block of columns (..., B) into the running max m and sum l (both (...,))."""
    # (...,)：到目前为止所有列的最大值
    m_new = np.maximum(m, x_block.max(axis=-1))  # (...,): the max over every column seen so far
    # (...,)：旧的和换算到 m_new 上，再加上这一块
    l_new = l * rescale(m, m_new) + block_sum(x_block, m_new)  # (...,): old sum moved onto m_new, plus the block
    return m_new, l_new


def normalise(x, m, l):
    """第二遍：用每行最终的最大值和最终的和计算 p = exp(x - m) / l。

    Second pass: p = exp(x - m) / l with the FINAL max and sum of each row."""
    return np.exp(x - m[..., None]) / l[..., None]  # (..., N)


def online_softmax(x, block_size):
    """沿最后一维的 softmax，按每块 `block_size` 列读取 x (..., N)。

    返回（p (..., N)，每行最大值 m (...,)，归一化因子 l (...,) = sum(exp(x - m))）。

    Softmax over the last axis, reading x (..., N) in blocks of `block_size` columns.

    Returns (p (..., N), m (...,) the row max, l (...,) = sum(exp(x - m)) the normaliser)."""
    assert block_size >= 1
    N = x.shape[-1]
    # (...,)：还什么都没看到
    m = np.full(x.shape[:-1], -np.inf)  # (...,): nothing seen yet
    l = np.zeros(x.shape[:-1])  # (...,)
    # 最后一块可能更短
    for start in range(0, N, block_size):  # the last block may be shorter
        m, l = update(m, l, x[..., start:start + block_size])  # x block: (..., <= block_size)
    return normalise(x, m, l), m, l
