"""In the style of karpathy/nanoGPT (https://github.com/karpathy/nanoGPT, model.py), written for these tests;
not copied.

What is distinctive: one fused projection c_attn = nn.Linear(C, 3C) whose output is cut with
.split(n_embd, dim=2) into q, k, v; heads by .view(B, T, nh, hs).transpose(1, 2); the attention itself by
F.scaled_dot_product_attention; re-assembly by .transpose(1, 2).contiguous().view(B, T, C); c_proj.
nanoGPT hard-wires is_causal=True for self-attention; this version keeps the fused layer but passes our
mask as attn_mask and applies the fused layer to q, k and v separately, taking each one's third, so that
cross-attention works.

Expected: correct (forward).
"""

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


class FusedQKVAttention(nn.Module):
    def __init__(self, n_embd, n_head):
        super().__init__()
        assert n_embd % n_head == 0
        self.c_attn = nn.Linear(n_embd, 3 * n_embd)
        self.c_proj = nn.Linear(n_embd, n_embd)
        self.n_head, self.n_embd = n_head, n_embd

    def forward(self, xq, xk, xv, attn_mask=None):
        B, Tq, C = xq.size()
        q, _, _ = self.c_attn(xq).split(self.n_embd, dim=2)
        _, k, _ = self.c_attn(xk).split(self.n_embd, dim=2)
        _, _, v = self.c_attn(xv).split(self.n_embd, dim=2)
        q = q.view(B, Tq, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        k = k.view(B, -1, self.n_head, C // self.n_head).transpose(1, 2)
        v = v.view(B, -1, self.n_head, C // self.n_head).transpose(1, 2)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)  # True = may attend
        y = y.transpose(1, 2).contiguous().view(B, Tq, C)
        return self.c_proj(y)


# --- adapter to the mhaquiz contract ------------------------------------------------------------------

def mha_forward(q, k, v, params, num_heads, mask=None):
    B, Tq, D = q.shape
    module = FusedQKVAttention(D, num_heads).double()
    with torch.no_grad():
        fused_w = np.concatenate([params["W_q"], params["W_k"], params["W_v"]], axis=1)  # (D, 3D), x @ W
        fused_b = np.concatenate([params["b_q"], params["b_k"], params["b_v"]])
        module.c_attn.weight.copy_(torch.from_numpy(fused_w.T.copy()))
        module.c_attn.bias.copy_(torch.from_numpy(fused_b))
        module.c_proj.weight.copy_(torch.from_numpy(params["W_o"].T.copy()))
        module.c_proj.bias.copy_(torch.from_numpy(params["b_o"].copy()))
        attn_mask = None
        if mask is not None:
            attn_mask = torch.from_numpy(np.broadcast_to(mask, (B, Tq, k.shape[1])).copy()).unsqueeze(1)
        out = module(torch.tensor(q), torch.tensor(k), torch.tensor(v), attn_mask)
    return out.numpy()
