"""Transformer 解码层（Pre-LN，GPT-2 的 block），用 PyTorch 写成 nn.Module / A pre-LN Transformer decoder layer
(GPT-2's block), as a PyTorch nn.Module.

【中文】约定（与 NumPy 版相同）：
- TransformerBlock(d_model, num_heads, d_ff, eps=1e-5)；forward(x, mask=None)：x (B, T, D)，返回 (B, T, D)：
      h = x + attn(ln1(x), mask)
      y = h + mlp(ln2(h))
- 参数按名字装载（创建顺序和初始化无所谓）：
    ln1、ln2：LayerNorm（可以用 nn.LayerNorm(d_model, eps=eps)，也可以自己写，参数叫 weight/bias 或 gamma/beta；
      也认 ln_1/norm1、ln_2/norm2）。有偏方差，eps 在根号里，eps 用构造函数传进来的值。
    attn：自己的注意力类（别叫 MultiHeadAttention，那个名字会被当作 mha_forward 评测；可以叫 SelfAttention），
      里面四个 nn.Linear(d_model, d_model)，q_proj、k_proj、v_proj、o_proj（也认 mha_forward 认的其他名字，
      或一个融合的 c_attn/qkv）。head h 用第 h*dh:(h+1)*dh 列，分数乘 1/sqrt(dh)。
    mlp：fc1 = nn.Linear(d_model, d_ff)，fc2 = nn.Linear(d_ff, d_model)（也认 c_fc/c_proj、w1/w2、
      up_proj/down_proj，或 nn.Sequential）。mlp(z) = fc2(gelu(fc1(z)))，gelu 是 GPT-2 的 tanh 近似：
      F.gelu(u, approximate="tanh")（nn.GELU() 默认是精确的 erf 形式，不对）。
- mask：可广播到 (B, T, T) 的布尔张量，True 表示“可以看”；本层不自己加因果 mask。加头的维度是你的事。
- 不许用 F.scaled_dot_product_attention、nn.MultiheadAttention、nn.TransformerEncoderLayer 等（这道题就是要你自己写）。

[English] Conventions (the NumPy track's):
- TransformerBlock(d_model, num_heads, d_ff, eps=1e-5); forward(x, mask=None): x (B, T, D), returns (B, T, D):
      h = x + attn(ln1(x), mask)
      y = h + mlp(ln2(h))
- Parameters loaded by name (creation order and initialisation do not matter):
    ln1, ln2: LayerNorms (nn.LayerNorm(d_model, eps=eps) or your own, with weight/bias or gamma/beta; ln_1/norm1,
      ln_2/norm2 recognised too). Biased variance, eps inside the square root, eps as the constructor gives it.
    attn: your attention class (not named MultiHeadAttention, which is graded as mha_forward too; SelfAttention,
      say) holding four nn.Linear(d_model, d_model) named q_proj, k_proj, v_proj, o_proj (or the other names mha_forward
      recognises, or one fused c_attn/qkv). Head h owns columns h*dh:(h+1)*dh; scores scaled by 1/sqrt(dh).
    mlp: fc1 = nn.Linear(d_model, d_ff), fc2 = nn.Linear(d_ff, d_model) (c_fc/c_proj, w1/w2, up_proj/down_proj
      or an nn.Sequential recognised too). mlp(z) = fc2(gelu(fc1(z))) with GPT-2's tanh GELU,
      F.gelu(u, approximate="tanh") (nn.GELU()'s default is the exact erf form: wrong here).
- mask: a boolean tensor broadcastable to (B, T, T), True = may attend; the layer adds no causal mask of its own.
  Adding the head axis is your job.
- F.scaled_dot_product_attention, nn.MultiheadAttention, nn.TransformerEncoderLayer and the like are not allowed.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn


class TransformerBlock(nn.Module):
    def __init__(self, d_model: int, num_heads: int, d_ff: int, eps: float = 1e-5):
        super().__init__()
        raise NotImplementedError("TransformerBlock: 请实现 / write me")

    def forward(self, x, mask=None):
        """Return the layer's output, (B, T, D)."""
        raise NotImplementedError("TransformerBlock.forward: 请实现 / write me")
