"""In the style of karpathy/minGPT (https://github.com/karpathy/minGPT, mingpt/model.py:
CausalSelfAttention), written for these tests; not copied. BUG (for this contract): causal SELF-attention
hard-wired: one input x feeds the fused c_attn projection, a lower-triangular mask registered as a buffer is
always applied, and the mask argument (and k, v) are ignored. It is right only on the causal self-attention
case.

Expected: wrong answer at every seed.
"""

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


class CausalSelfAttention(nn.Module):
    def __init__(self, n_embd, n_head, block_size):
        super().__init__()
        self.c_attn = nn.Linear(n_embd, 3 * n_embd)
        self.c_proj = nn.Linear(n_embd, n_embd)
        self.register_buffer("bias", torch.tril(torch.ones(block_size, block_size)).view(1, 1, block_size, block_size))
        self.n_head, self.n_embd = n_head, n_embd

    def forward(self, x):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        att = att.masked_fill(self.bias[:, :, :T, :T] == 0, float("-inf"))
        y = F.softmax(att, dim=-1) @ v
        return self.c_proj(y.transpose(1, 2).contiguous().view(B, T, C))


# --- adapter to the mhaquiz contract ------------------------------------------------------------------

def mha_forward(q, k, v, params, num_heads, mask=None):
    B, T, D = q.shape
    module = CausalSelfAttention(D, num_heads, block_size=T).double()
    with torch.no_grad():
        w = np.concatenate([params["W_q"], params["W_k"], params["W_v"]], axis=1)
        module.c_attn.weight.copy_(torch.from_numpy(w.T.copy()))
        module.c_attn.bias.copy_(torch.from_numpy(np.concatenate([params["b_q"], params["b_k"], params["b_v"]])))
        module.c_proj.weight.copy_(torch.from_numpy(params["W_o"].T.copy()))
        module.c_proj.bias.copy_(torch.from_numpy(params["b_o"].copy()))
        return module(torch.tensor(q)).numpy()  # x = q; k, v and mask cannot be passed in
