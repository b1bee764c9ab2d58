"""参考实现：注意力权重上的 inverted dropout，keep_mask 给定（PyTorch）/ Reference: inverted dropout on attention
weights with the keep-mask given (PyTorch).

训练：out = p * keep_mask / (1 - rate)，E[out] = p；评估：dropout 关闭，原样返回 p。
Training: out = p * keep_mask / (1 - rate), so E[out] = p; evaluation: dropout is off, p comes back unchanged.
"""

import torch
from torch import nn


class AttentionDropoutFunction(torch.autograd.Function):
    """手写反向的 inverted dropout / inverted dropout with a hand-written backward."""

    @staticmethod
    def forward(ctx, p, keep_mask, rate):
        """前向：p 乘 keep_mask 再除以 (1 - rate)，只保存 mask。

        The forward: p times keep_mask over (1 - rate), saving the mask only."""
        ctx.save_for_backward(keep_mask)  # 反向只需要 mask 和 rate / backward needs the mask and the rate only
        ctx.rate = rate
        return p * keep_mask / (1.0 - rate)  # (..., Tq, Tk)：丢弃处为 0，保留处放大 / dropped 0, survivors scaled up

    @staticmethod
    def backward(ctx, d_out):
        """dL/dp：同一个 mask、同一个缩放 / dL/dp: the same mask and the same scale."""
        (keep_mask,) = ctx.saved_tensors
        # 前向对 p 是线性的：同一个 mask、同一个缩放 / the forward is linear in p: same mask, same scale
        d_p = d_out * keep_mask / (1.0 - ctx.rate)
        return d_p, None, None  # keep_mask、rate 不需要梯度 / no gradient for keep_mask and rate


class AttentionDropout(nn.Module):
    """注意力权重上的 dropout，AttentionDropout(rate) / dropout on the attention weights, AttentionDropout(rate)."""

    def __init__(self, rate: float):
        super().__init__()
        self.rate = rate

    def forward(self, p, keep_mask):
        """训练时丢弃并放大，eval() 时原样返回 p / dropped and rescaled in training, p as it is in eval()."""
        if not self.training:  # eval()：不丢弃，也不缩放 / evaluation: nothing dropped, nothing rescaled
            return p
        return AttentionDropoutFunction.apply(p, keep_mask, self.rate)
