"""参考实现：DeepSeek-V2 的多头潜在注意力 MLA（PyTorch nn.Module，按 Hugging Face DeepseekV2Attention 的命名）/
Reference: DeepSeek-V2's multi-head latent attention (a PyTorch nn.Module, named as Hugging Face's
DeepseekV2Attention).

    c_q = q_a_proj(h)（没有 query 压缩时没有这一层 / absent without query compression）
    [q_C,i ; q_R,i] = q_b_proj(c_q)（或 q_proj(h)）按头切开 / split per head      (12-14)
    [c_kv ; k_R] = kv_a_proj_with_mqa(h)                                          (9, 16)
    [k_C,i ; v_i] = kv_b_proj(c_kv) 按头切开 / split per head                      (10, 11)
    q_i = [q_C,i ; RoPE(q_R,i)]，k_i = [k_C,i ; RoPE(k_R)]：k_R 所有头共享 / one k_R for every head (17, 18)
    u = o_proj([o_1 ; ... ; o_H])，分数除以 sqrt(d_h + d_R) / scores over sqrt(d_h + d_R)   (19)
每个 token 缓存 c_kv (d_c) 和旋转后的 k_R (d_R)。按论文的公式，不做 q_a_layernorm / kv_a_layernorm。
What is cached per token: c_kv (d_c) and the rotated k_R (d_R). As the paper's equations: no RMSNorm on c_q, c_kv.
"""

import math

import torch
from torch import nn


def rope(x, positions, base):
    """前后两半配对的 RoPE（rotate_half）/ half-split RoPE: x (..., T, d), positions (T,)."""
    d = x.shape[-1]
    inv_freq = base ** (-torch.arange(0, d, 2, dtype=x.dtype) / d)  # (d/2,): base^(-2j/d)
    angles = positions[:, None].to(x.dtype) * inv_freq  # (T, d/2)
    cos, sin = torch.cat([angles.cos()] * 2, dim=-1), torch.cat([angles.sin()] * 2, dim=-1)  # (T, d)
    x1, x2 = x.chunk(2, dim=-1)
    return x * cos + torch.cat([-x2, x1], dim=-1) * sin  # 第 j 维与第 j + d/2 维一对 / j pairs with j + d/2


class MLA(nn.Module):
    """多头潜在注意力（DeepSeek-V2），层的命名同 Hugging Face 的实现。

    Multi-head latent attention (DeepSeek-V2), its layers named as in Hugging Face's implementation."""

    def __init__(self, d_model, num_heads, d_head, d_rope, d_c, d_cq=None, rope_base=10000.0):
        super().__init__()
        self.num_heads, self.d_head, self.d_rope, self.d_c, self.rope_base = num_heads, d_head, d_rope, d_c, rope_base
        qk_dim = d_head + d_rope  # 每个头 [内容; RoPE] / per head [content ; rope]
        if d_cq is None:
            self.q_proj = nn.Linear(d_model, num_heads * qk_dim, bias=False)
        else:
            self.q_a_proj = nn.Linear(d_model, d_cq, bias=False)  # W_DQ
            self.q_b_proj = nn.Linear(d_cq, num_heads * qk_dim, bias=False)  # 每个头一份 [W_UQ ; W_QR]
        self.kv_a_proj_with_mqa = nn.Linear(d_model, d_c + d_rope, bias=False)  # [W_DKV, W_KR]
        self.kv_b_proj = nn.Linear(d_c, num_heads * 2 * d_head, bias=False)  # 每个头一份 [W_UK ; W_UV]
        self.o_proj = nn.Linear(num_heads * d_head, d_model, bias=False)  # W_O

    def forward(self, h, positions):
        """返回输出和要缓存的量：h (B, T, D)，positions (T,) ->
        (u (B, T, D), {"c_kv": (B, T, d_c), "k_rope": (B, T, d_R)})。

        The output and what is cached: h (B, T, D), positions (T,) -> (u (B, T, D), {"c_kv", "k_rope"})."""
        B, T, _ = h.shape
        H, d_h, d_R = self.num_heads, self.d_head, self.d_rope
        q = self.q_proj(h) if hasattr(self, "q_proj") else self.q_b_proj(self.q_a_proj(h))  # (B, T, H*(d_h+d_R))
        q_c, q_r = q.view(B, T, H, d_h + d_R).transpose(1, 2).split([d_h, d_R], dim=-1)  # (B, H, T, d_h|d_R)
        c_kv, k_r = self.kv_a_proj_with_mqa(h).split([self.d_c, d_R], dim=-1)  # (B, T, d_c), (B, T, d_R)
        k_rope = rope(k_r, positions, self.rope_base)  # (B, T, d_R): 从 h 算，不是从 c_kv / from h, not c_kv
        k_c, v = self.kv_b_proj(c_kv).view(B, T, H, 2 * d_h).transpose(1, 2).split([d_h, d_h], dim=-1)
        q = torch.cat([q_c, rope(q_r, positions, self.rope_base)], dim=-1)  # (B, H, T, d_h + d_R)
        k = torch.cat([k_c, k_rope[:, None].expand(B, H, T, d_R)], dim=-1)  # 共享的 k_R 加上头的维度 / head axis
        scores = q @ k.transpose(-1, -2) / math.sqrt(d_h + d_R)  # (B, H, T, T): 整个点积的宽度 / its whole width
        causal = torch.ones(T, T, dtype=torch.bool).tril()  # True = 可以看 / may attend
        weights = torch.softmax(scores.masked_fill(~causal, float("-inf")), dim=-1)
        out = (weights @ v).transpose(1, 2).reshape(B, T, H * d_h)  # (B, T, H*d_h): 各头拼接 / heads in order
        return self.o_proj(out), {"c_kv": c_kv, "k_rope": k_rope}
