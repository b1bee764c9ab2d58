"""In the style of the CS231n assignment 3 MultiHeadAttention solutions (e.g.
https://github.com/AnirudhM1/CS231n-2022-Solutions, assignment3/cs231n/transformer_layers.py), written for
these tests; not copied.

What is distinctive: nn.Linear layers named key / query / value / proj; (N, S, E) inputs split with
.view(N, S, H, E // H).transpose(1, 2); math.sqrt(E // H) as the divisor; the assignment's (S, T) mask where
0 means "do not attend", applied with masked_fill(attn_mask == 0, -inf); dropout after the softmax (off
here). The assignment's mask has no batch axis, so the adapter adds the head axis our per-batch masks need:
(B, 1, Tq, Tk). The backward is PyTorch autograd.

Expected: correct (forward and backward).
"""

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


class MultiHeadAttention(nn.Module):
    def __init__(self, embed_dim, num_heads):
        super().__init__()
        assert embed_dim % num_heads == 0
        self.key = nn.Linear(embed_dim, embed_dim)
        self.query = nn.Linear(embed_dim, embed_dim)
        self.value = nn.Linear(embed_dim, embed_dim)
        self.proj = nn.Linear(embed_dim, embed_dim)
        self.n_head = num_heads

    def forward(self, query, key, value, attn_mask=None):
        N, S, E = query.shape
        _, T, _ = value.shape
        H = self.n_head
        q = self.query(query).view(N, S, H, E // H).transpose(1, 2)  # (N, H, S, E/H)
        k = self.key(key).view(N, T, H, E // H).transpose(1, 2)  # (N, H, T, E/H)
        v = self.value(value).view(N, T, H, E // H).transpose(1, 2)
        scores = q @ k.transpose(2, 3) / math.sqrt(E // H)  # (N, H, S, T)
        if attn_mask is not None:
            scores = scores.masked_fill(attn_mask == 0, float("-inf"))
        y = F.softmax(scores, dim=-1) @ v
        return self.proj(y.transpose(1, 2).contiguous().view(N, S, E))


# --- adapter to the mhaquiz contract ------------------------------------------------------------------

def _module(params, num_heads, embed_dim):
    module = MultiHeadAttention(embed_dim, num_heads).double()
    with torch.no_grad():
        for lin, name in ((module.query, "q"), (module.key, "k"), (module.value, "v"), (module.proj, "o")):
            lin.weight.copy_(torch.from_numpy(params["W_" + name].T.copy()))
            lin.bias.copy_(torch.from_numpy(params["b_" + name].copy()))
    return module


def _mask(mask, q, k):
    if mask is None:
        return None
    full = np.broadcast_to(mask, (q.shape[0], q.shape[1], k.shape[1]))
    return torch.from_numpy(full.copy()).unsqueeze(1)  # (B, 1, Tq, Tk): one mask for every head


def mha_forward(q, k, v, params, num_heads, mask=None):
    module = _module(params, num_heads, q.shape[-1])
    with torch.no_grad():
        return module(torch.tensor(q), torch.tensor(k), torch.tensor(v), _mask(mask, q, k)).numpy()


def mha_backward(d_out, q, k, v, params, num_heads, mask=None):
    module = _module(params, num_heads, q.shape[-1])
    inputs = [torch.tensor(x, requires_grad=True) for x in (q, k, v)]
    (module(*inputs, _mask(mask, q, k)) * torch.tensor(d_out)).sum().backward()
    grads = {name: x.grad.numpy() for name, x in zip("qkv", inputs)}
    for lin, name in ((module.query, "q"), (module.key, "k"), (module.value, "v"), (module.proj, "o")):
        grads["W_" + name] = lin.weight.grad.numpy().T.copy()
        grads["b_" + name] = lin.bias.grad.numpy().copy()
    return grads
