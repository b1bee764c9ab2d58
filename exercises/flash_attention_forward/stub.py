"""FlashAttention 的前向：按 key 分块计算精确注意力，不构造完整的分数矩阵（NumPy，float64）/
FlashAttention's forward pass: exact attention computed over key blocks, never building the full score
matrix (NumPy, float64).

【中文】约定：
- q：(..., Tq, d)；k：(..., Tk, d)；v：(..., Tk, dv)。前面的维度 "..."（batch、batch 加头，或者没有）三者相同。
  单头：不需要投影，也不需要拆头。
- 要算的就是普通的注意力：scores = q @ k^T / sqrt(d)，形状 (..., Tq, Tk)；softmax 沿 key 维（最后一维）；
  out = softmax(scores) @ v，形状 (..., Tq, dv)。
- mask：None，或可广播到 (..., Tq, Tk) 的布尔数组；True 表示“这个 query 可以看这个 key”
  （与 F.scaled_dot_product_attention 相同）。被遮住的 key 权重恰好为 0。
- 但不许构造 (Tq, Tk) 的分数矩阵：按 key 分块，每块 block_size 个 key（Tk 不一定能整除，最后一块可以更短，
  block_size 也可以 >= Tk），每块只算 (..., Tq, block) 的分数，并维护每个 query 的运行最大值 m、
  运行和 l = sum(exp(score - m)) 和输出累加器（Dao et al. 2022，arXiv 2205.14135，Algorithm 1）：
      m_new = max(m, 这一块分数的行最大值)
      l_new = exp(m - m_new) * l + rowsum(exp(S_块 - m_new))
      O_new = exp(m - m_new) * O + exp(S_块 - m_new) @ V_块      （O 不归一化，最后再除以 l）
- 可能有某些 query 的一整块 key 都被遮住（滑动窗口、左侧 padding）：运行状态必须保持有限，
  不能算出 exp(-inf - (-inf)) = NaN。评测用例不会把某个 query 的所有 key 都遮住。
- 返回二元组 (out, lse)：out 形状 (..., Tq, dv)；lse 形状 (..., Tq)，是每一行（缩放并 mask 之后的）
  分数的 log-sum-exp，即 m + log(l)（FlashAttention 为反向传播保存的就是它）。
- 内存有上限：在 Tq = Tk = 2048、block_size = 32 时，一次调用的内存峰值不能超过 8 MiB
  （完整的 float64 分数矩阵要 32 MiB）。全程 float64。不要修改输入。本题就是要写按块的循环。

[English] Conventions:
- q: (..., Tq, d); k: (..., Tk, d); v: (..., Tk, dv). The leading axes "..." (batch, batch and heads, or
  none) are the same for all three. One head: no projections, no head split.
- What is computed is plain attention: scores = q @ k^T / sqrt(d), shape (..., Tq, Tk); softmax over the
  keys (the last axis); out = softmax(scores) @ v, shape (..., Tq, dv).
- mask: None, or a boolean array broadcastable to (..., Tq, Tk); True means "this query MAY attend to this
  key" (as in F.scaled_dot_product_attention). A masked key gets weight exactly 0.
- But the (Tq, Tk) score matrix may not be built: go over the keys in blocks of block_size (Tk need not be
  divisible: the last block may be shorter; block_size may be >= Tk), compute only the (..., Tq, block)
  scores of each block, and keep per query a running max m, a running sum l = sum(exp(score - m)) and an
  output accumulator (Dao et al. 2022, arXiv 2205.14135, Algorithm 1):
      m_new = max(m, rowmax(S_block))
      l_new = exp(m - m_new) * l + rowsum(exp(S_block - m_new))
      O_new = exp(m - m_new) * O + exp(S_block - m_new) @ V_block      (O unnormalised; divide by l at the end)
- A whole block of keys may be masked for some queries (a sliding window, left padding): the running state
  must stay finite, never computing exp(-inf - (-inf)) = NaN. No graded query has ALL its keys masked.
- Return the tuple (out, lse): out (..., Tq, dv); lse (..., Tq), the log-sum-exp of each row of the
  (scaled, masked) scores, i.e. m + log(l) (what FlashAttention saves for the backward pass).
- Memory is bounded: at Tq = Tk = 2048, block_size = 32, one call may peak at 8 MiB at most (the full float64
  score matrix takes 32 MiB). float64 throughout. Do not modify the inputs. The loop over key blocks is the
  exercise.
"""

import numpy as np


def flash_attention_forward(q, k, v, mask, block_size):
    """Return (out (..., Tq, dv), lse (..., Tq))."""
    raise NotImplementedError("flash_attention_forward: 请实现 / write me")
