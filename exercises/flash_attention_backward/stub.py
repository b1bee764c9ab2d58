"""FlashAttention-2 的反向传播：从前向保存的 O 和 L 出发，按 key 分块重算 P（NumPy，float64）/
FlashAttention-2's backward pass: from the O and L the forward saved, P recomputed key block by key block
(NumPy, float64).

【中文】约定：
- q：(..., Tq, d)；k：(..., Tk, d)；v：(..., Tk, dv)。前面的维度 "..."（batch、batch 加头，或者没有）三者相同。
- 前向是普通的注意力：S = q @ k^T / sqrt(d)，被遮住处为 -inf；P = softmax(S)（沿 key 维）；out = P @ v。
  mask：None，或可广播到 (..., Tq, Tk) 的布尔数组；True 表示“这个 query 可以看这个 key”。
- 前向（FlashAttention）只保存了 out (..., Tq, dv) 和 lse (..., Tq)：每一行缩放并 mask 之后的分数的
  log-sum-exp L = m + log(l)。d_out (..., Tq, dv) 是损失对 out 的梯度。
- 返回三元组 (dq, dk, dv)，形状分别同 q、k、v：损失对 q、k、v 的梯度。
- 不许构造 (Tq, Tk) 的矩阵：按 key 分块，每块 block_size 个（最后一块可以更短，block_size 也可以 >= Tk），
  每块重算 S 和 P = exp(S - L)，再算这一块的贡献（Dao 2023，FlashAttention-2，Algorithm 2）：
      D = rowsum(d_out ∘ out)                       （只算一次，形状 (..., Tq)）
      dV_块 = P^T d_out；dP = d_out V_块^T；dS = P ∘ (dP - D)
      dQ += dS K_块 / sqrt(d)；dK_块 = dS^T Q / sqrt(d)
- 评测用例不会把某个 query 的所有 key 都遮住（L 总是有限的）。
- 内存有上限：在 Tq = Tk = 2048、block_size = 32 时，一次调用的内存峰值不能超过 16 MiB
  （一个完整的 float64 (Tq, Tk) 矩阵要 32 MiB）。全程 float64。不要修改输入。本题就是要写按块的循环。

[English] Conventions:
- q: (..., Tq, d); k: (..., Tk, d); v: (..., Tk, dv). The leading axes "..." (batch, batch and heads, or
  none) are the same for all three.
- The forward is plain attention: S = q @ k^T / sqrt(d), -inf where masked; P = softmax(S) over the keys;
  out = P @ v. mask: None, or a boolean array broadcastable to (..., Tq, Tk); True means "this query MAY
  attend to this key".
- The forward (FlashAttention) saved only out (..., Tq, dv) and lse (..., Tq): the log-sum-exp of each row
  of the scaled, masked scores, L = m + log(l). d_out (..., Tq, dv) is the loss's gradient with respect to out.
- Return the tuple (dq, dk, dv), shaped like q, k, v: the loss's gradients with respect to q, k, v.
- No (Tq, Tk) matrix may be built: go over the keys in blocks of block_size (the last block may be shorter;
  block_size may be >= Tk), recompute each block's S and P = exp(S - L), and add its share (Dao 2023,
  FlashAttention-2, Algorithm 2):
      D = rowsum(d_out ∘ out)                        (once, shape (..., Tq))
      dV_block = P^T d_out; dP = d_out V_block^T; dS = P ∘ (dP - D)
      dQ += dS K_block / sqrt(d); dK_block = dS^T Q / sqrt(d)
- No graded query has ALL its keys masked (L is always finite).
- Memory is bounded: at Tq = Tk = 2048, block_size = 32, one call may peak at 16 MiB at most (one full
  float64 (Tq, Tk) matrix takes 32 MiB). float64 throughout. Do not modify the inputs. The loop over key
  blocks is the exercise.
"""

import numpy as np


def flash_attention_backward(q, k, v, out, lse, d_out, mask, block_size):
    """Return (dq (..., Tq, d), dk (..., Tk, d), dv (..., Tk, dv))."""
    raise NotImplementedError("flash_attention_backward: 请实现 / write me")
