"""注意力权重上的 inverted dropout，前向与反向，用 NumPy 实现（float64）/ Inverted dropout on attention
weights, forward and backward, in NumPy (float64).

【中文】约定：
- p：softmax 之后的注意力权重，形状 (..., Tq, Tk)。
- keep_mask：与 p 同形状的布尔数组，True = 保留这个权重。由调用方采样（每个元素以 1 - rate 的概率为
  True）后交给你，所以结果是确定的。
- rate：dropout 的概率（丢弃一个权重的概率），0 <= rate < 1。
- 前向，training=True：inverted dropout，保留的位置 out = p / (1 - rate)，丢弃的位置为 0，
  所以 E[out] = p。training=False（评估）：dropout 关闭，原样返回 p（忽略 keep_mask 和 rate）。
- 反向（训练模式）：给定 d_out = dL/d(out)，返回 dL/dp，与 p 同形状。
- 这里的 dropout 是正则化，它不是注意力 mask，也不是用来防止梯度消失的。
- 全程 float64。不要修改输入。不需要 Python 循环。

[English] Conventions:
- p: attention weights after the softmax, shape (..., Tq, Tk).
- keep_mask: a boolean array of p's shape, True = this weight is KEPT. It is drawn by the caller, each
  entry True with probability 1 - rate, and handed to you, so the result is deterministic.
- rate: the dropout probability (the probability of DROPPING a weight), 0 <= rate < 1.
- Forward, training=True: inverted dropout, out = p where kept, scaled by 1 / (1 - rate), and 0 where
  dropped; so E[out] = p. training=False (evaluation): dropout is off, return p unchanged (keep_mask and
  rate are ignored).
- Backward (training mode): return dL/dp given d_out = dL/d(out), same shape as p.
- Dropout here is a regulariser; it is not an attention mask and not a fix for vanishing gradients.
- float64 throughout. Do not modify the inputs. No Python loops needed.
"""

import numpy as np


def attention_dropout_forward(p, keep_mask, rate, training=True):
    """Return the attention weights after dropout, shape of p."""
    raise NotImplementedError("attention_dropout_forward: 请实现 / write me")


def attention_dropout_backward(d_out, keep_mask, rate):
    """Return dL/dp, shape of d_out."""
    raise NotImplementedError("attention_dropout_backward: 请实现 / write me")
