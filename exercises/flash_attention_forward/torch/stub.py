"""FlashAttention 的前向：按 key 分块计算精确注意力，用 PyTorch 实现 / FlashAttention's forward pass: exact
attention over key blocks, in PyTorch.

【中文】写一个函数 flash_attention_forward(q, k, v, mask, block_size)，约定与 NumPy 版相同：
- q：(..., Tq, d)；k：(..., Tk, d)；v：(..., Tk, dv)，float64 张量，前面的维度三者相同。单头，不需要投影。
- scores = q @ k^T / sqrt(d)，softmax 沿 key 维，out = softmax(scores) @ v。
- mask：None，或可广播到 (..., Tq, Tk) 的布尔张量；True 表示“可以看”。被遮住的 key 权重恰好为 0。
- 按 key 分块（每块 block_size 个，最后一块可以更短），每块只算 (..., Tq, block) 的分数，维护运行最大值 m、
  运行和 l 和输出累加器 O；一整块都被遮住时不能算出 NaN。
- 返回 (out, lse)：out (..., Tq, dv)；lse (..., Tq) = m + log(l)。
- 内存有上限：Tq = Tk = 2048、block_size = 32 时，一次调用的内存峰值不能超过 8 MiB（完整的分数矩阵要 32 MiB）。
  前置维度用 q.shape[:-2]（torch.broadcast_shapes 第一次调用会 import sympy，约 34 MiB）。不许用 F.scaled_dot_product_attention、nn.MultiheadAttention。

[English] Write flash_attention_forward(q, k, v, mask, block_size), the NumPy track's contract:
- q: (..., Tq, d); k: (..., Tk, d); v: (..., Tk, dv), float64 tensors with the same leading axes. One head,
  no projections.
- scores = q @ k^T / sqrt(d), softmax over the keys, out = softmax(scores) @ v.
- mask: None or a boolean tensor broadcastable to (..., Tq, Tk); True means "may attend". A masked key gets
  weight exactly 0.
- Go over the keys in blocks of block_size (the last may be shorter), computing only each (..., Tq, block)
  tile of scores, with a running max m, a running sum l and an output accumulator O; a fully masked block
  must not produce NaN.
- Return (out, lse): out (..., Tq, dv); lse (..., Tq) = m + log(l).
- Memory is bounded: at Tq = Tk = 2048, block_size = 32, one call may peak at 8 MiB (the full score matrix
  takes 32 MiB). Take the leading axes from q.shape[:-2] (torch.broadcast_shapes imports sympy, ~34 MiB). F.scaled_dot_product_attention and nn.MultiheadAttention are not allowed.
"""

import math

import torch


def flash_attention_forward(q, k, v, mask, block_size):
    """Return (out (..., Tq, dv), lse (..., Tq))."""
    raise NotImplementedError("flash_attention_forward: 请实现 / write me")
