"""注意力权重上的 inverted dropout，用 PyTorch 写成 autograd.Function 加 nn.Module / Inverted dropout on attention
weights, in PyTorch: a torch.autograd.Function with a hand-written backward, and the nn.Module that uses it.

【中文】keep_mask 由调用方给出（与 p 同形状的布尔张量，True = 保留），所以结果是确定的；rate 是丢弃的概率，0 <= rate < 1。
- AttentionDropoutFunction(torch.autograd.Function)：
  forward(ctx, p, keep_mask, rate)：保留的位置 p / (1 - rate)，丢弃的位置 0；存下 backward 要用的东西。
  backward(ctx, d_out)：手写 dL/dp，返回 (d_p, None, None)（keep_mask、rate 不需要梯度）。backward 里不许用 autograd。
- AttentionDropout(nn.Module)：AttentionDropout(rate)；forward(p, keep_mask)：训练模式（self.training 为 True）
  调用 AttentionDropoutFunction.apply(p, keep_mask, self.rate)；评估模式（module.eval()）原样返回 p。
- 不许用 F.dropout、nn.Dropout、torch.dropout（这道题就是要你自己写，况且 keep_mask 是给定的）。评测用 float64。

[English] keep_mask is given (a boolean tensor of p's shape, True = KEEP), so the result is deterministic; rate is
the probability of DROPPING, 0 <= rate < 1.
- AttentionDropoutFunction(torch.autograd.Function):
  forward(ctx, p, keep_mask, rate): p / (1 - rate) where kept, 0 where dropped; save what backward needs.
  backward(ctx, d_out): dL/dp by hand; return (d_p, None, None) (keep_mask and rate need no gradient).
  No autograd inside backward.
- AttentionDropout(nn.Module): AttentionDropout(rate); forward(p, keep_mask): in training mode (self.training)
  AttentionDropoutFunction.apply(p, keep_mask, self.rate); in evaluation mode (module.eval()) p unchanged.
- F.dropout, nn.Dropout and torch.dropout are not allowed (this exercise is writing them, and keep_mask is
  given). Graded in float64.
"""

import torch
from torch import nn


class AttentionDropoutFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, p, keep_mask, rate):
        raise NotImplementedError("AttentionDropoutFunction.forward: 请实现 / write me")

    @staticmethod
    def backward(ctx, d_out):
        raise NotImplementedError("AttentionDropoutFunction.backward: 请实现 / write me")


class AttentionDropout(nn.Module):
    def __init__(self, rate: float):
        super().__init__()
        raise NotImplementedError("AttentionDropout: 请实现 / write me")

    def forward(self, p, keep_mask):
        """Return the attention weights after dropout, shape of p."""
        raise NotImplementedError("AttentionDropout.forward: 请实现 / write me")
