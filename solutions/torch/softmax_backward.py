"""参考实现：手写反向的 softmax（torch.autograd.Function）/ Reference: softmax with a hand-written backward."""

import torch


class Softmax(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, dim=-1):
        e = torch.exp(x - x.amax(dim=dim, keepdim=True))  # 不会溢出 / cannot overflow
        p = e / e.sum(dim=dim, keepdim=True)
        ctx.save_for_backward(p)  # 反向只需要输出 / backward needs the output only
        ctx.dim = dim
        return p

    @staticmethod
    def backward(ctx, d_p):
        (p,) = ctx.saved_tensors
        # 向量-雅可比积：J = diag(p) - p p^T / the vector-Jacobian product of J = diag(p) - p p^T
        d_x = p * (d_p - (d_p * p).sum(dim=ctx.dim, keepdim=True))
        return d_x, None  # dim 不是张量 / dim is not a tensor
