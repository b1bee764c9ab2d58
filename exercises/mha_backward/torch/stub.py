"""多头注意力的反向传播，用 PyTorch 写成手写 backward 的 torch.autograd.Function / Multi-head attention with a
hand-written backward, as a torch.autograd.Function.

【中文】写 class MultiHeadAttentionFunction(torch.autograd.Function)：
- forward(ctx, q, k, v, w_q, b_q, w_k, b_k, w_v, b_v, w_o, b_o, num_heads, mask=None) 返回 (B, Tq, D)。
  q：(B, Tq, D)；k、v：(B, Tk, D)。权重是 nn.Linear 的存法：w_q 就是 q_proj.weight，形状 (D_out, D_in) = (D, D)，
  投影为 F.linear(q, w_q, b_q) = q @ w_q.T + b_q；b_q 形状 (D,)。其余与 mha_forward 相同：dh = D // num_heads，
  第 h 个头用第 h*dh:(h+1)*dh 列，分数乘以 1/sqrt(dh)，softmax 沿 key，各头拼接后过 (w_o, b_o)；
  mask：None 或可广播到 (B, Tq, Tk) 的布尔张量，True 表示“可以看”。用 ctx.save_for_backward 存下反向要用的张量。
- backward(ctx, d_out)：手写全部梯度，按 forward 输入的顺序返回
  (d_q, d_k, d_v, d_w_q, d_b_q, d_w_k, d_b_k, d_w_v, d_b_v, d_w_o, d_b_o, None, None)，
  每个梯度与对应输入同形状（num_heads、mask 不需要梯度）。backward 里不许用 autograd（.backward()、torch.autograd.grad、enable_grad）。
- 不许用 F.scaled_dot_product_attention、nn.MultiheadAttention。评测用 float64，并与有限差分比较。

[English] Write class MultiHeadAttentionFunction(torch.autograd.Function):
- forward(ctx, q, k, v, w_q, b_q, w_k, b_k, w_v, b_v, w_o, b_o, num_heads, mask=None) returns (B, Tq, D).
  q: (B, Tq, D); k, v: (B, Tk, D). Weights in nn.Linear's layout: w_q is q_proj.weight, (D_out, D_in) = (D, D),
  the projection F.linear(q, w_q, b_q) = q @ w_q.T + b_q; b_q (D,). The rest is mha_forward: dh = D // num_heads,
  head h owns columns h*dh:(h+1)*dh, scores scaled by 1/sqrt(dh), softmax over the keys, heads concatenated then
  (w_o, b_o); mask: None or a boolean tensor broadcastable to (B, Tq, Tk), True = may attend. Save what backward
  needs with ctx.save_for_backward.
- backward(ctx, d_out): every gradient by hand, in the order of forward's inputs:
  (d_q, d_k, d_v, d_w_q, d_b_q, d_w_k, d_b_k, d_w_v, d_b_v, d_w_o, d_b_o, None, None), each of its input's shape
  (num_heads and mask need none). No autograd inside backward (.backward(), torch.autograd.grad, enable_grad).
- F.scaled_dot_product_attention and nn.MultiheadAttention are not allowed. Graded in float64, and against
  finite differences.
"""

import math

import torch


class MultiHeadAttentionFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, v, w_q, b_q, w_k, b_k, w_v, b_v, w_o, b_o, num_heads, mask=None):
        raise NotImplementedError("MultiHeadAttentionFunction.forward: 请实现 / write me")

    @staticmethod
    def backward(ctx, d_out):
        raise NotImplementedError("MultiHeadAttentionFunction.backward: 请实现 / write me")
