"""In the style of sooftware/attentions (https://github.com/sooftware/attentions, attentions.py), written for
these tests; not copied.

What is distinctive: torch.bmm on 3-D tensors with the heads folded HEAD-MAJOR,
permute(2, 0, 1, 3).contiguous().view(num_heads * batch, T, d_head); a ScaledDotProductAttention module
dividing by np.sqrt(dim) and filling with masked_fill_(mask, -inf) where True means MASKED; the attention
module returns the concatenated heads (no output projection), unfolded with
view(num_heads, batch, T, d_head).permute(1, 2, 0, 3). Unlike the published module (see
mask_batch_head_order.py), the mask here is folded head-major too, so it lines up with the scores.

Expected: correct (forward).
"""

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


class ScaledDotProductAttention(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.sqrt_dim = np.sqrt(dim)

    def forward(self, query, key, value, mask=None):
        score = torch.bmm(query, key.transpose(1, 2)) / self.sqrt_dim
        if mask is not None:
            score.masked_fill_(mask, -float("inf"))
        attn = F.softmax(score, -1)
        return torch.bmm(attn, value), attn


class MultiHeadAttention(nn.Module):
    def __init__(self, d_model, num_heads):
        super().__init__()
        self.d_head = d_model // num_heads
        self.num_heads = num_heads
        self.scaled_dot_attn = ScaledDotProductAttention(self.d_head)
        self.query_proj = nn.Linear(d_model, d_model)
        self.key_proj = nn.Linear(d_model, d_model)
        self.value_proj = nn.Linear(d_model, d_model)

    def fold(self, x, batch_size):  # (B, T, D) -> (H*B, T, dh), head-major
        x = x.view(batch_size, -1, self.num_heads, self.d_head)
        return x.permute(2, 0, 1, 3).contiguous().view(batch_size * self.num_heads, -1, self.d_head)

    def forward(self, query, key, value, mask=None):
        batch_size = value.size(0)
        query = self.fold(self.query_proj(query), batch_size)
        key = self.fold(self.key_proj(key), batch_size)
        value = self.fold(self.value_proj(value), batch_size)
        if mask is not None:  # (B, Tq, Tk) -> (H, B, Tq, Tk) -> (H*B, Tq, Tk): the scores' order
            mask = mask.unsqueeze(0).repeat(self.num_heads, 1, 1, 1).view(-1, *mask.shape[1:])
        context, attn = self.scaled_dot_attn(query, key, value, mask)
        context = context.view(self.num_heads, batch_size, -1, self.d_head)
        context = context.permute(1, 2, 0, 3).contiguous().view(batch_size, -1, self.num_heads * self.d_head)
        return context, attn


# --- adapter to the mhaquiz contract ------------------------------------------------------------------

def mha_forward(q, k, v, params, num_heads, mask=None):
    B, Tq, D = q.shape
    module = MultiHeadAttention(D, num_heads).double()
    with torch.no_grad():
        for lin, name in ((module.query_proj, "q"), (module.key_proj, "k"), (module.value_proj, "v")):
            lin.weight.copy_(torch.from_numpy(params["W_" + name].T.copy()))
            lin.bias.copy_(torch.from_numpy(params["b_" + name].copy()))
        masked = None
        if mask is not None:
            masked = torch.from_numpy(~np.broadcast_to(mask, (B, Tq, k.shape[1])))  # True = masked
        context, _ = module(torch.tensor(q), torch.tensor(k), torch.tensor(v), masked)
    return context.numpy() @ params["W_o"] + params["b_o"]  # the module has no output projection
