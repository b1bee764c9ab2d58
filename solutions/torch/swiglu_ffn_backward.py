"""参考实现：手写反向的 SwiGLU 前馈层（torch.autograd.Function）/ Reference: the SwiGLU FFN with a hand-written
backward.

前向 / forward: a = x @ W1, b = x @ W3, s = sigmoid(a), h = a * s * b, y = h @ W2 (W 按 (输入, 输出) 布局 / (in, out)).
反向 / backward: dh = d_y @ W2^T; da = dh * b * s * (1 + a * (1 - s)); db = dh * a * s;
  d_x = da @ W1^T + db @ W3^T; d_W1 = x^T da, d_W3 = x^T db, d_W2 = h^T d_y (对所有 token 求和 / over every token).
"""

import torch


class SwiGLUFunction(torch.autograd.Function):
    """SwiGLUFunction.apply(x, W1, W2, W3)：手写反向的 SwiGLU FFN，W 按 (in, out) 布局。

    SwiGLUFunction.apply(x, W1, W2, W3): the SwiGLU FFN with a hand-written backward, W laid out (in, out)."""

    @staticmethod
    def forward(ctx, x, W1, W2, W3):
        """前向，保存 a、b 和 sigmoid(a) 给反向用 / the forward, saving a, b and sigmoid(a) for the backward."""
        a = x @ W1  # (..., F)：门的预激活 / the gate's pre-activation
        b = x @ W3  # (..., F)：up 投影 / the up projection
        s = torch.sigmoid(a)  # 不会溢出 / cannot overflow
        ctx.save_for_backward(x, W1, W2, W3, a, b, s)
        return (a * s * b) @ W2  # (..., F) @ (F, D) -> (..., D)

    @staticmethod
    def backward(ctx, d_y):
        """返回 (d_x, d_W1, d_W2, d_W3)，公式见文件开头 / the gradients, as the module docstring derives them."""
        x, W1, W2, W3, a, b, s = ctx.saved_tensors
        D, F = W1.shape
        g = a * s  # silu(a)
        dh = d_y @ W2.T  # (..., D) @ (D, F) -> (..., F)
        da = dh * b * s * (1 + a * (1 - s))  # silu'(a) = s + a s (1 - s)：乘积法则 / the product rule
        db = dh * g  # (..., F)
        d_x = da @ W1.T + db @ W3.T  # (..., D)：x 进入两路 / x feeds both branches
        rows = x.reshape(-1, D)  # (tokens, D)：前导维展平 / the leading axes flattened
        d_W1 = rows.T @ da.reshape(-1, F)  # (D, F)：对所有 token 求和 / summed over every token
        d_W3 = rows.T @ db.reshape(-1, F)  # (D, F)
        d_W2 = (g * b).reshape(-1, F).T @ d_y.reshape(-1, D)  # (F, D)：h^T d_y
        return d_x, d_W1, d_W2, d_W3
