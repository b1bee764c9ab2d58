"""参考实现：手写反向的 softmax（torch.autograd.Function）。

Reference: softmax with a hand-written backward (torch.autograd.Function).
"""

import torch


class Softmax(torch.autograd.Function):
    """Softmax.apply(x, dim)：手写反向的 softmax / softmax with a hand-written backward."""

    @staticmethod
    def forward(ctx, x, dim=-1):
        """沿 dim 的数值稳定 softmax，只保存输出 p / numerically stable softmax along dim, saving only p."""
        e = torch.exp(x - x.amax(dim=dim, keepdim=True))  # 不会溢出 / cannot overflow
        p = e / e.sum(dim=dim, keepdim=True)
        ctx.save_for_backward(p)  # 反向只需要输出 / backward needs the output only
        ctx.dim = dim
        return p

    @staticmethod
    def backward(ctx, d_p):
        """向量-雅可比积 p * (d_p - sum(d_p * p)) / the vector-Jacobian product, without building the Jacobian."""
        (p,) = ctx.saved_tensors
        # 向量-雅可比积：J = diag(p) - p p^T / the vector-Jacobian product of J = diag(p) - p p^T
        d_x = p * (d_p - (d_p * p).sum(dim=ctx.dim, keepdim=True))
        return d_x, None  # dim 不是张量 / dim is not a tensor
