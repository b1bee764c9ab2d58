"""SwiGLU 前馈层的反向传播，写成 torch.autograd.Function / The SwiGLU FFN backward, as a torch.autograd.Function.

【中文】写 class SwiGLUFunction(torch.autograd.Function)：
- forward(ctx, x, W1, W2, W3)：x：(..., D)，前导维任意，也可以没有；W1（门）、W3（up）：(D, F)；W2（down）：(F, D)。
  权重按 NumPy 版的布局用：x @ W（nn.Linear 的 weight 是它们的转置），没有偏置。
  a = x @ W1，b = x @ W3，h = silu(a) * b，返回 y = h @ W2。用 ctx.save_for_backward 存下反向要用的张量。
- backward(ctx, d_y)：手写梯度，返回 (d_x, d_W1, d_W2, d_W3)：
  dh = d_y @ W2ᵀ；da = dh * b * silu'(a)，silu'(a) = s * (1 + a * (1 − s))，s = sigmoid(a)；db = dh * silu(a)；
  d_x = da @ W1ᵀ + db @ W3ᵀ（x 同时进入两路）；d_W1 = xᵀ da、d_W3 = xᵀ db、d_W2 = hᵀ d_y，都对所有 token 求和。
- forward 里可以用 F.silu、torch.sigmoid；backward 里不许再调用 autograd（.backward()、torch.autograd.grad）。
- 评测：SwiGLUFunction.apply(x, W1, W2, W3)，对输出反传用例给的 d_out，检查四个输入的 .grad。float64。

[English] Write class SwiGLUFunction(torch.autograd.Function):
- forward(ctx, x, W1, W2, W3): x (..., D), any leading axes or none; W1 (the gate) and W3 (up): (D, F); W2
  (down): (F, D). The weights are used in the NumPy track's layout, x @ W (nn.Linear's weight is their
  transpose), no biases. a = x @ W1, b = x @ W3, h = silu(a) * b; return y = h @ W2. Save what backward needs
  with ctx.save_for_backward.
- backward(ctx, d_y): the gradients by hand; return (d_x, d_W1, d_W2, d_W3):
  dh = d_y @ W2^T; da = dh * b * silu'(a), silu'(a) = s * (1 + a * (1 - s)), s = sigmoid(a); db = dh * silu(a);
  d_x = da @ W1^T + db @ W3^T (x feeds both branches); d_W1 = x^T da, d_W3 = x^T db, d_W2 = h^T d_y, each
  summed over every token.
- F.silu and torch.sigmoid are fine in forward; no autograd inside backward (.backward(), torch.autograd.grad).
- Graded: SwiGLUFunction.apply(x, W1, W2, W3), then the case's d_out back-propagated and the .grad of all four
  inputs checked. float64.
"""

import torch


class SwiGLUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, W1, W2, W3):
        raise NotImplementedError("SwiGLUFunction.forward: 请实现 / write me")

    @staticmethod
    def backward(ctx, d_y):
        raise NotImplementedError("SwiGLUFunction.backward: 请实现 / write me")
