"""FlashAttention-2：手写前向和反向的 torch.autograd.Function / FlashAttention-2 as a torch.autograd.Function
with a hand-written forward and backward.

【中文】写 class FlashAttention(torch.autograd.Function)（斯坦福 CS336 第二次作业的 PyTorch 版）：
- forward(ctx, q, k, v, mask, block_size)：q (..., Tq, d)、k (..., Tk, d)、v (..., Tk, dv)，float64，前置维度相同；
  mask 为 None 或可广播到 (..., Tq, Tk) 的布尔张量，True 表示“可以看”；scores = q @ k^T / sqrt(d)。
  按 key 分块（每块 block_size 个，最后一块可以更短）算出 O (..., Tq, dv) 和每一行的 log-sum-exp
  L (..., Tq) = m + log(l)，从不构造 (Tq, Tk) 的矩阵；用 ctx.save_for_backward 只保存 O 和 L
  （加上 q、k、v、mask），返回 O。
- backward(ctx, d_out)：先算一次 D = rowsum(d_out ∘ O)，再逐块重算 S 和 P = exp(S - L)：
  dV_块 = P^T dO；dP = dO V_块^T；dS = P ∘ (dP - D)；dQ += dS K_块 / sqrt(d)；dK_块 = dS^T Q / sqrt(d)。
  返回 (dq, dk, dv, None, None)。不许在 backward 里再调用 autograd（.backward()、torch.autograd.grad）。
- 评测：FlashAttention.apply(q, k, v, mask, block_size)，检查 forward 保存了什么（任何一个有 Tq * Tk 个元素的
  张量都会被拒绝；必须恰好保存一个形状为 (..., Tq) 的张量，即 L），再反传给定的 d_out，比较 q、k、v 的 .grad。
- 内存有上限：Tq = Tk = 2048、block_size = 32 时，一次前向加反向的内存峰值不能超过 16 MiB。
  不许用 F.scaled_dot_product_attention、nn.MultiheadAttention 和 torch 自带的注意力 kernel。

[English] Write class FlashAttention(torch.autograd.Function) (Stanford CS336's assignment 2, in PyTorch):
- forward(ctx, q, k, v, mask, block_size): q (..., Tq, d), k (..., Tk, d), v (..., Tk, dv), float64, the same
  leading axes; mask None or a boolean tensor broadcastable to (..., Tq, Tk), True means "may attend";
  scores = q @ k^T / sqrt(d). Over key blocks of block_size (the last may be shorter) compute O (..., Tq, dv)
  and each row's log-sum-exp L (..., Tq) = m + log(l), never building a (Tq, Tk) matrix; save only O and L
  (plus q, k, v, mask) with ctx.save_for_backward; return O.
- backward(ctx, d_out): D = rowsum(d_out ∘ O) once, then per key block recompute S and P = exp(S - L):
  dV_block = P^T dO; dP = dO V_block^T; dS = P ∘ (dP - D); dQ += dS K_block / sqrt(d);
  dK_block = dS^T Q / sqrt(d). Return (dq, dk, dv, None, None). No autograd inside backward (.backward(),
  torch.autograd.grad).
- Graded: FlashAttention.apply(q, k, v, mask, block_size); what forward saved is checked (a tensor of Tq * Tk
  elements is refused; exactly one saved tensor of shape (..., Tq), L); the given d_out is back-propagated and q, k, v's
  .grad compared.
- Memory is bounded: at Tq = Tk = 2048, block_size = 32, one forward plus backward may peak at 16 MiB.
  F.scaled_dot_product_attention, nn.MultiheadAttention and torch's attention kernels are not allowed.
"""

import math

import torch


class FlashAttention(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, v, mask, block_size):
        raise NotImplementedError("FlashAttention.forward: 请实现 / write me")

    @staticmethod
    def backward(ctx, d_out):
        raise NotImplementedError("FlashAttention.backward: 请实现 / write me")
