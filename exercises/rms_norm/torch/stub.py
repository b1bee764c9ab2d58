"""RMSNorm，用 PyTorch 写成 nn.Module / RMSNorm as a PyTorch nn.Module.

【中文】约定：
- RMSNorm(d_model, eps=1e-6)；forward(x) 返回与 x 同形状的张量。x：(..., d_model)，前导维任意，也可以没有。
- 参数：weight（gamma，形状 (d_model,)，nn.Parameter；也认 gamma、g、scale）。评测按名字把用例的 gamma 装进去，
  与初始化无关。没有 bias。
- 沿最后一维：y = x / sqrt(mean(x²) + eps) * weight（Llama：x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)）。
  不减均值；eps 在根号里；weight 直接相乘（不是 Gemma 的 1 + weight）。eps 用构造函数传入的值，不要写死。
- 全程用 x 的 dtype 计算（float64）：Hugging Face 的 LlamaRMSNorm 先转成 float32 再转回来，这里会被报成精度问题。
- 不许用 F.rms_norm、nn.RMSNorm、torch.rms_norm（这道题就是要你自己写）。评测用 float64。

[English] Conventions:
- RMSNorm(d_model, eps=1e-6); forward(x) returns a tensor of x's shape. x: (..., d_model), any leading axes or
  none.
- Parameter: weight (gamma, shape (d_model,), an nn.Parameter; gamma, g and scale are recognised too). The
  grader loads the case's gamma into it by name, whatever its initialisation. No bias.
- Over the last axis: y = x / sqrt(mean(x^2) + eps) * weight (Llama: x * torch.rsqrt(x.pow(2).mean(-1,
  keepdim=True) + eps)). No mean subtracted; eps inside the square root; weight multiplies as given (not
  Gemma's 1 + weight). Use the eps given to the constructor; never hard-wire it.
- Compute in x's dtype (float64): Hugging Face's LlamaRMSNorm goes through float32 and back, which is reported
  here as a precision problem.
- F.rms_norm, nn.RMSNorm and torch.rms_norm are not allowed (this exercise is writing them). Graded in float64.
"""

import torch
from torch import nn


class RMSNorm(nn.Module):
    def __init__(self, d_model: int, eps: float = 1e-6):
        super().__init__()
        raise NotImplementedError("RMSNorm: 请实现 / write me")

    def forward(self, x):
        """Return the normalised x, same shape."""
        raise NotImplementedError("RMSNorm.forward: 请实现 / write me")
