"""参考实现：手写反向的多头注意力（torch.autograd.Function）/ Reference: multi-head attention with a hand-written
backward (torch.autograd.Function).

权重是 nn.Linear 的存法：y = x @ w.T + b。每个头：S = Q K^T / sqrt(dh)（被遮住处为 -inf），P = softmax(S)，O = P V；
dV = P^T dO，dP = dO V^T，dS = P * (dP - rowsum(dO * O))，dQ = dS K / sqrt(dh)，dK = dS^T Q / sqrt(dh)。
Weights in nn.Linear's layout: y = x @ w.T + b. Per head, as above; rowsum(dP * P) == rowsum(dO * O).
"""

import math

import torch
import torch.nn.functional as F


def split_heads(x, num_heads):
    """拆头：(B, T, D) -> (B, H, T, dh) / split the heads: (B, T, D) -> (B, H, T, dh)."""
    B, T, D = x.shape
    return x.view(B, T, num_heads, D // num_heads).transpose(1, 2)


def merge_heads(x):
    """合并各头：(B, H, T, dh) -> (B, T, H*dh) / merge the heads."""
    B, H, T, dh = x.shape
    return x.transpose(1, 2).reshape(B, T, H * dh)


def linear_backward(x, w, dy):
    """线性层 y = x @ w.T + b 的反向：(dx, dw, db)，在 batch 和时间上求和。

    The backward of the linear layer y = x @ w.T + b: (dx, dw, db), summed over batch and time."""
    dx = dy @ w  # (B, T, D_out) @ (D_out, D_in) -> (B, T, D_in)
    dw = dy.flatten(0, 1).T @ x.flatten(0, 1)  # (D_out, B*T) @ (B*T, D_in) -> (D_out, D_in)
    return dx, dw, dy.sum(dim=(0, 1))  # db: (D_out,)


class MultiHeadAttentionFunction(torch.autograd.Function):
    """手写反向的多头注意力，权重按 nn.Linear 的布局 (out, in) 传入。

    Multi-head attention with a hand-written backward, the weights laid out as nn.Linear's (out, in)."""

    @staticmethod
    def forward(ctx, q, k, v, w_q, b_q, w_k, b_k, w_v, b_v, w_o, b_o, num_heads, mask=None):
        """前向，保存反向要用的投影和注意力权重 P。

        The forward, saving the projections and the weights P for the backward."""
        Q = split_heads(F.linear(q, w_q, b_q), num_heads)  # (B, H, Tq, dh)
        K = split_heads(F.linear(k, w_k, b_k), num_heads)  # (B, H, Tk, dh)
        V = split_heads(F.linear(v, w_v, b_v), num_heads)  # (B, H, Tk, dh)
        scores = Q @ K.transpose(-2, -1) / math.sqrt(Q.shape[-1])  # (B, H, Tq, Tk)
        if mask is not None:
            scores = scores.masked_fill(~mask.unsqueeze(-3), float("-inf"))  # 加头的维度 / add the head axis
        P = torch.softmax(scores, dim=-1)  # (B, H, Tq, Tk)
        O = merge_heads(P @ V)  # (B, Tq, D)：各头拼接 / heads concatenated
        ctx.save_for_backward(q, k, v, w_q, w_k, w_v, w_o, Q, K, V, P, O)
        ctx.num_heads = num_heads
        return F.linear(O, w_o, b_o)  # (B, Tq, D)

    @staticmethod
    def backward(ctx, d_out):
        """每个输入、权重和偏置的梯度，顺序同 forward 的参数。

        The gradient of every input, weight and bias, in forward's order."""
        q, k, v, w_q, w_k, w_v, w_o, Q, K, V, P, O = ctx.saved_tensors
        H = ctx.num_heads
        # 输出投影 / the output projection: y = O @ w_o.T + b_o
        dO, d_w_o, d_b_o = linear_backward(O, w_o, d_out)  # dO: (B, Tq, D)
        dO = split_heads(dO, H)  # (B, H, Tq, dh)
        # 注意力，每个头 / attention, per head
        dV = P.transpose(-2, -1) @ dO  # (B, H, Tk, dh)
        dP = dO @ V.transpose(-2, -1)  # (B, H, Tq, Tk)
        row_dot = (dO * split_heads(O, H)).sum(dim=-1, keepdim=True)  # rowsum(dP * P) = rowsum(dO * O): (B, H, Tq, 1)
        dS = P * (dP - row_dot)  # (B, H, Tq, Tk)：被遮住处 P = 0，梯度也为 0 / masked entries get 0
        scale = 1.0 / math.sqrt(Q.shape[-1])
        dQ = dS @ K * scale  # (B, H, Tq, dh)
        dK = dS.transpose(-2, -1) @ Q * scale  # (B, H, Tk, dh)
        # 经过拆头和输入投影 / back through the head split and the input projections
        d_q, d_w_q, d_b_q = linear_backward(q, w_q, merge_heads(dQ))
        d_k, d_w_k, d_b_k = linear_backward(k, w_k, merge_heads(dK))
        d_v, d_w_v, d_b_v = linear_backward(v, w_v, merge_heads(dV))
        return d_q, d_k, d_v, d_w_q, d_b_q, d_w_k, d_b_k, d_w_v, d_b_v, d_w_o, d_b_o, None, None
