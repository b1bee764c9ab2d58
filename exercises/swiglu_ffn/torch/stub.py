"""SwiGLU 前馈层（Llama 的 FFN），用 PyTorch 写成 nn.Module / The SwiGLU feed-forward block (Llama's FFN) as a
PyTorch nn.Module.

【中文】约定：
- SwiGLUFFN(d_model, d_ff)；forward(x) 返回与 x 同形状的张量。x：(..., d_model)，前导维任意，也可以没有。
- 三个没有偏置的 nn.Linear：w1（门，d_model → d_ff）、w3（up，d_model → d_ff）、w2（down，d_ff → d_model），
  即 Llama 的命名；也认 Hugging Face 的 gate_proj、up_proj、down_proj，以及一个融合的 gate_up_proj（d_model → 2*d_ff，
  前一半是门，后一半是 up）。评测按名字装入权重，与创建顺序和初始化无关。
- y = w2(silu(w1(x)) * w3(x))，silu(z) = z * sigmoid(z)，只加在门上；* 是逐元素乘法。
- 可以用 F.silu、torch.sigmoid（这道题的重点是门控结构和三个投影，不是激活函数本身）；有的预激活 |z| 达到 900，
  自己写 sigmoid 的话要写成不会溢出的形式。评测用 float64。

[English] Conventions:
- SwiGLUFFN(d_model, d_ff); forward(x) returns a tensor of x's shape. x: (..., d_model), any leading axes or
  none.
- Three bias-free nn.Linear layers: w1 (the gate, d_model -> d_ff), w3 (up, d_model -> d_ff), w2 (down,
  d_ff -> d_model), Llama's names; Hugging Face's gate_proj, up_proj, down_proj are recognised too, and so is
  one fused gate_up_proj (d_model -> 2*d_ff, the gate's half first, then up's). The grader loads the weights
  by name, whatever order the layers are created in and however they start.
- y = w2(silu(w1(x)) * w3(x)), silu(z) = z * sigmoid(z), on the gate only; * is element-wise.
- F.silu and torch.sigmoid are allowed (the gating and the three projections are the point, not the
  activation itself); some pre-activations reach |z| = 900: a sigmoid of your own must not overflow. float64.
"""

import torch
from torch import nn
import torch.nn.functional as F


class SwiGLUFFN(nn.Module):
    def __init__(self, d_model: int, d_ff: int):
        super().__init__()
        raise NotImplementedError("SwiGLUFFN: 请实现 / write me")

    def forward(self, x):
        """Return y = w2(silu(w1(x)) * w3(x)), the shape of x."""
        raise NotImplementedError("SwiGLUFFN.forward: 请实现 / write me")
