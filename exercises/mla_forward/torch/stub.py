"""DeepSeek-V2 的多头潜在注意力（MLA），前向传播，用 PyTorch 写成 nn.Module / DeepSeek-V2's multi-head latent
attention (MLA), forward pass, as a PyTorch nn.Module.

【中文】约定（与 NumPy 版相同，层的命名按 Hugging Face 的 DeepseekV2Attention）：
- MLA(d_model, num_heads, d_head, d_rope, d_c, d_cq=None, rope_base=10000.0)；
  forward(h, positions)：h (B, T, D)，positions (T,) 整数张量（每个 token 的绝对位置，不一定从 0 开始）；
  返回 (u, cache)：u (B, T, D)，cache = {"c_kv": (B, T, d_c), "k_rope": 旋转后的 k_R，(B, T, d_R)}。
- 层（全部 nn.Linear(..., bias=False)，评测按名字装载权重）：
    q_a_proj：D -> d_cq，q_b_proj：d_cq -> H*(d_head + d_rope)；d_cq 为 None 时换成一个 q_proj：D -> H*(d_head + d_rope)
    kv_a_proj_with_mqa：D -> d_c + d_rope，输出为 [c_kv ; k_R]
    kv_b_proj：d_c -> H*(2*d_head)，每个头为 [k_C,i ; v_i]
    o_proj：H*d_head -> D
  q 按头切开后每个头是 [q_C,i ; q_R,i]（内容在前）。也认 DeepSeek-V3 推理代码的 wq_a/wq_b/wq/wkv_a/wkv_b/wo，
  以及论文里分开的 W_DQ/W_UQ/W_QR/W_DKV/W_KR/W_UK/W_UV/W_O（nn.Linear，或按 x @ W 使用的参数）。
  按论文的公式：没有 q_a_layernorm、kv_a_layernorm（kv_norm）。
- q_i = [q_C,i ; RoPE(q_R,i)]，k_i = [k_C,i ; RoPE(k_R)]：k_R 只有一个，所有头共享（加头的维度）。
  分数除以 sqrt(d_head + d_rope)；因果 mask：第 t 个 token 只看 j <= t。
- RoPE 用前后两半配对（rotate_half）：第 j 维与第 j + d/2 维一对，在位置 m 旋转 m * base^(-2j/d)。
- 不许用 F.scaled_dot_product_attention、nn.MultiheadAttention。

[English] Conventions (the NumPy track's; the layers named as Hugging Face's DeepseekV2Attention):
- MLA(d_model, num_heads, d_head, d_rope, d_c, d_cq=None, rope_base=10000.0);
  forward(h, positions): h (B, T, D), positions (T,) an int tensor (each token's absolute position, not
  necessarily from 0); returns (u, cache): u (B, T, D), cache = {"c_kv": (B, T, d_c), "k_rope": k_R after RoPE,
  (B, T, d_R)}.
- Layers (all nn.Linear(..., bias=False), loaded by name):
    q_a_proj: D -> d_cq, q_b_proj: d_cq -> H*(d_head + d_rope); with d_cq None one q_proj: D -> H*(d_head + d_rope)
    kv_a_proj_with_mqa: D -> d_c + d_rope, its output [c_kv ; k_R]
    kv_b_proj: d_c -> H*(2*d_head), per head [k_C,i ; v_i]
    o_proj: H*d_head -> D
  Split per head, q is [q_C,i ; q_R,i] (content first). DeepSeek-V3's inference names wq_a/wq_b/wq/wkv_a/
  wkv_b/wo and the paper's separate W_DQ/W_UQ/W_QR/W_DKV/W_KR/W_UK/W_UV/W_O (nn.Linear, or parameters used as
  x @ W) are recognised too. As the paper's equations: no q_a_layernorm, no kv_a_layernorm (kv_norm).
- q_i = [q_C,i ; RoPE(q_R,i)], k_i = [k_C,i ; RoPE(k_R)]: ONE k_R shared by every head (add the head axis).
  Scores over sqrt(d_head + d_rope); causal: token t sees j <= t.
- RoPE pairs the two halves (rotate_half): dimension j with j + d/2, turned by m * base^(-2j/d) at position m.
- F.scaled_dot_product_attention and nn.MultiheadAttention are not allowed.
"""

import math

import torch
from torch import nn


class MLA(nn.Module):
    def __init__(self, d_model: int, num_heads: int, d_head: int, d_rope: int, d_c: int, d_cq=None,
                 rope_base: float = 10000.0):
        super().__init__()
        raise NotImplementedError("MLA: 请实现 / write me")

    def forward(self, h, positions):
        """Return (u (B, T, D), {"c_kv": (B, T, d_c), "k_rope": (B, T, d_R)})."""
        raise NotImplementedError("MLA.forward: 请实现 / write me")
