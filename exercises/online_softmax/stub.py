"""在线 softmax：逐块读一行，维护运行中的最大值和指数和（NumPy，float64）/ Online softmax: read each row block
by block, keeping a running max and a running sum of exponentials (NumPy, float64).

【中文】约定：
- x：(..., N)，对最后一维（每一行）做 softmax。前面的维度 "..." 可以有任意多个，也可以没有。
- 按列分块读取：第 1 块是 x[..., 0:block_size]，第 2 块是 x[..., block_size:2*block_size]，以此类推；
  N 不一定能被 block_size 整除（最后一块可以更短），block_size 也可以 >= N（只有一块）。
- 对每一行维护运行中的最大值 m 和 l = sum(exp(x - m))（Milakov & Gimelshein 2018，arXiv 1805.02867，Algorithm 3）：
      m_new = max(m, 这一块的最大值)
      l_new = l * exp(m - m_new) + sum(exp(这一块 - m_new))
  初始 m = -inf，l = 0。读完所有块后再算 p = exp(x - m) / l。
- x 可以含 -inf（概率为 0），甚至一整块都是 -inf；但不会有整行都是 -inf 的行。任何一步都不能出现 NaN：
  一行还只见过 -inf 时（m = -inf），exp(-inf - (-inf)) = NaN，要避免。
- 返回三元组 (p, m, l)：p 形状 (..., N)；m 形状 (...,)，每行的最大值；l 形状 (...,)，sum(exp(x - m))。
- 全程 float64。不要修改输入。本题就是要写按块的循环。

[English] Conventions:
- x: (..., N); the softmax runs over the last axis (each row). Any number of leading axes "...", or none.
- Read the columns in blocks: block 1 is x[..., 0:block_size], block 2 is x[..., block_size:2*block_size],
  and so on; N need not be divisible by block_size (the last block may be shorter), and block_size may
  be >= N (a single block).
- Keep, per row, a running max m and l = sum(exp(x - m)) (Milakov & Gimelshein 2018, arXiv 1805.02867,
  Algorithm 3):
      m_new = max(m, the block's max)
      l_new = l * exp(m - m_new) + sum(exp(block - m_new))
  starting from m = -inf, l = 0. After the last block, p = exp(x - m) / l.
- x may contain -inf (probability 0), even a whole block of them, but no row is -inf everywhere. No step
  may produce NaN: while a row has seen only -inf (m = -inf), exp(-inf - (-inf)) = NaN must be avoided.
- Return the tuple (p, m, l): p (..., N); m (...,) the row max; l (...,) = sum(exp(x - m)).
- float64 throughout. Do not modify the inputs. The loop over blocks is the exercise.
"""

import numpy as np


def online_softmax(x, block_size):
    """Return (p (..., N), m (...,), l (...,))."""
    raise NotImplementedError("online_softmax: 请实现 / write me")
