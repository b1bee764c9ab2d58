"""softmax 的反向传播，写成 torch.autograd.Function / The softmax backward, as a torch.autograd.Function.

【中文】写 class Softmax(torch.autograd.Function)：
- forward(ctx, x, dim)：沿 dim 做数值稳定的 softmax，用 ctx.save_for_backward 存下反向要用的张量，返回 p。
- backward(ctx, d_p)：手写向量-雅可比积 d_x = p * (d_p - sum(d_p * p, dim, keepdim=True))，返回 (d_x, None)
  （dim 不是张量，它的梯度是 None）。不许在 backward 里再调用 autograd（.backward()、torch.autograd.grad）。
- 评测：Softmax.apply(x, dim) 之后对输出反传给定的 d_p，检查 x.grad。float64。

[English] Write class Softmax(torch.autograd.Function):
- forward(ctx, x, dim): a numerically stable softmax along dim; save what backward needs with
  ctx.save_for_backward; return p.
- backward(ctx, d_p): the vector-Jacobian product by hand, d_x = p * (d_p - sum(d_p * p, dim, keepdim=True));
  return (d_x, None) (dim is not a tensor: its gradient is None). No autograd inside backward
  (.backward(), torch.autograd.grad).
- Graded: Softmax.apply(x, dim), then the given d_p is back-propagated and x.grad checked. float64.
"""

import torch


class Softmax(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, dim=-1):
        raise NotImplementedError("Softmax.forward: 请实现 / write me")

    @staticmethod
    def backward(ctx, d_p):
        raise NotImplementedError("Softmax.backward: 请实现 / write me")
