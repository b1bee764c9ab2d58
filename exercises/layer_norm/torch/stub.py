"""LayerNorm，用 PyTorch 写成 nn.Module / LayerNorm as a PyTorch nn.Module.

【中文】约定：
- LayerNorm(d_model, eps=1e-5)；forward(x) 返回与 x 同形状的张量。x：(..., d_model)，前导维任意，也可以没有。
- 参数：weight（gamma，形状 (d_model,)）和 bias（beta，形状 (d_model,)），都是 nn.Parameter（也认 gamma/beta、g/b、
  a_2/b_2）。评测按名字把用例的 gamma、beta 装进去，与初始化无关。
- 沿最后一维，每个 token 一份统计量：y = (x − mean) / sqrt(var + eps) * weight + bias。
- var 是有偏方差（除以 D），注意 torch.var() 和 x.std() 默认是无偏的（除以 D − 1）；eps 在根号里。
- 方差用两遍法（先 mean，再 mean((x − mean)²)）：不要用 E[x²] − E[x]²；torch.var 是一遍的 Welford 算法，特征在 1.2e7
  附近时误差约 1e-9，会被报成精度问题。eps 用构造函数传入的值，不要写死。
- 不许用 F.layer_norm、nn.LayerNorm、torch.layer_norm、F.group_norm（这道题就是要你自己写）。评测用 float64。

[English] Conventions:
- LayerNorm(d_model, eps=1e-5); forward(x) returns a tensor of x's shape. x: (..., d_model), any leading axes
  or none.
- Parameters: weight (gamma, shape (d_model,)) and bias (beta, shape (d_model,)), both nn.Parameter (gamma/beta,
  g/b and a_2/b_2 are recognised too). The grader loads the case's gamma and beta into them by name, whatever
  their initialisation.
- Over the last axis, one set of statistics per token: y = (x - mean) / sqrt(var + eps) * weight + bias.
- var is the BIASED variance (divided by D); torch.var() and x.std() are unbiased by default (D - 1). eps goes
  inside the square root.
- Two passes for the variance (mean first, then mean((x - mean)^2)): not E[x^2] - E[x]^2; torch.var is Welford's
  one-pass algorithm, off by about 1e-9 on features near 1.2e7, which is reported as a precision problem. Use the
  eps given to the constructor; never hard-wire it.
- F.layer_norm, nn.LayerNorm, torch.layer_norm and F.group_norm are not allowed (this exercise is writing
  them). Graded in float64.
"""

import torch
from torch import nn


class LayerNorm(nn.Module):
    def __init__(self, d_model: int, eps: float = 1e-5):
        super().__init__()
        raise NotImplementedError("LayerNorm: 请实现 / write me")

    def forward(self, x):
        """Return the normalised x, same shape."""
        raise NotImplementedError("LayerNorm.forward: 请实现 / write me")
