"""In the style of the CS231n assignment 3 MultiHeadAttention solutions (e.g.
https://github.com/AnirudhM1/CS231n-2022-Solutions, assignment3/cs231n/transformer_layers.py), written for
these tests; not copied. BUG: the assignment's mask is (S, T) and is broadcast straight against the
(N, H, S, T) scores; handing it our per-batch mask unchanged, (B, 1, Tk), aligns its batch axis with the
HEAD axis: (B, 1, Tk) -> (1, B, 1, Tk). With B == H (the padding-mask case: B = 2, H = 2) nothing fails
loudly, and head h gets batch element h's padding. A causal (Tq, Tk) mask is unaffected.

Expected: wrong answer (the padding-mask case), at every seed.
"""

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


class MultiHeadAttention(nn.Module):
    def __init__(self, embed_dim, num_heads):
        super().__init__()
        self.key = nn.Linear(embed_dim, embed_dim)
        self.query = nn.Linear(embed_dim, embed_dim)
        self.value = nn.Linear(embed_dim, embed_dim)
        self.proj = nn.Linear(embed_dim, embed_dim)
        self.n_head = num_heads

    def forward(self, query, key, value, attn_mask=None):
        N, S, E = query.shape
        _, T, _ = value.shape
        H = self.n_head
        q = self.query(query).view(N, S, H, E // H).transpose(1, 2)
        k = self.key(key).view(N, T, H, E // H).transpose(1, 2)
        v = self.value(value).view(N, T, H, E // H).transpose(1, 2)
        scores = q @ k.transpose(2, 3) / math.sqrt(E // H)
        if attn_mask is not None:
            scores = scores.masked_fill(attn_mask == 0, float("-inf"))  # attn_mask as given
        y = F.softmax(scores, dim=-1) @ v
        return self.proj(y.transpose(1, 2).contiguous().view(N, S, E))


# --- adapter to the mhaquiz contract ------------------------------------------------------------------

def mha_forward(q, k, v, params, num_heads, mask=None):
    module = MultiHeadAttention(q.shape[-1], num_heads).double()
    with torch.no_grad():
        for lin, name in ((module.query, "q"), (module.key, "k"), (module.value, "v"), (module.proj, "o")):
            lin.weight.copy_(torch.from_numpy(params["W_" + name].T.copy()))
            lin.bias.copy_(torch.from_numpy(params["b_" + name].copy()))
        attn_mask = None if mask is None else torch.from_numpy(np.asarray(mask))  # no head axis added
        return module(torch.tensor(q), torch.tensor(k), torch.tensor(v), attn_mask).numpy()
