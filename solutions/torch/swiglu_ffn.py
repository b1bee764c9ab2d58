"""参考实现：SwiGLU 前馈层（PyTorch nn.Module，Llama 的写法）/ Reference: the SwiGLU FFN as a PyTorch nn.Module
(Llama's).

y = w2(silu(w1(x)) * w3(x))：w1 是门，w3 是 up 投影，w2 是 down 投影，都没有偏置。
w1 is the gate, w3 the up projection, w2 the down projection; no biases (meta-llama/llama model.py).
"""

import torch.nn.functional as F
from torch import nn


class SwiGLUFFN(nn.Module):
    """SwiGLUFFN(d_model, d_ff)：w1 门、w3 up、w2 down，都没有偏置 / the Llama feed-forward block, no biases."""

    def __init__(self, d_model: int, d_ff: int):
        super().__init__()
        self.w1 = nn.Linear(d_model, d_ff, bias=False)  # 门 / the gate
        self.w3 = nn.Linear(d_model, d_ff, bias=False)  # up 投影 / the up projection
        self.w2 = nn.Linear(d_ff, d_model, bias=False)  # down 投影 / the down projection

    def forward(self, x):
        """(..., D) -> (..., D)，中间宽度为 F / through a hidden width of F."""
        # (..., D) -> (..., F)：SiLU 只加在门上，再逐元素乘 up / SiLU on the gate only, times up element-wise
        hidden = F.silu(self.w1(x)) * self.w3(x)
        return self.w2(hidden)  # (..., F) -> (..., D)
