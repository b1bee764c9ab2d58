"""In the style of sooftware/attentions (https://github.com/sooftware/attentions, attentions.py), written for
these tests; not copied. BUG reproduced from the published module: the scores are folded HEAD-major,
permute(2, 0, 1, 3).view(H * B, ...) (index h * B + b), but the mask is folded BATCH-major,
mask.unsqueeze(1).repeat(1, H, 1, 1) (index b * H + h), and the two are matched with
mask.view(score.size()). A mask that is the same for every batch element (causal) hides it; a per-batch
padding mask is applied to the wrong batch element.

Expected: wrong answer (the padding-mask case), at every seed.
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
            score.masked_fill_(mask.view(score.size()), -float("inf"))
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

    def forward(self, query, key, value, mask=None):
        batch_size = value.size(0)
        query = self.query_proj(query).view(batch_size, -1, self.num_heads, self.d_head)
        key = self.key_proj(key).view(batch_size, -1, self.num_heads, self.d_head)
        value = self.value_proj(value).view(batch_size, -1, self.num_heads, self.d_head)
        query = query.permute(2, 0, 1, 3).contiguous().view(batch_size * self.num_heads, -1, self.d_head)
        key = key.permute(2, 0, 1, 3).contiguous().view(batch_size * self.num_heads, -1, self.d_head)
        value = value.permute(2, 0, 1, 3).contiguous().view(batch_size * self.num_heads, -1, self.d_head)
        if mask is not None:
            mask = mask.unsqueeze(1).repeat(1, self.num_heads, 1, 1)  # (B, H, Tq, Tk): batch-major
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
