"""In the style of a CS231n assignment 3 MultiHeadAttention solution
(https://github.com/Tomer0013/cs231n-spring21-solutions, assignment3/cs231n/transformer_layers.py), written
for these tests; not copied.

What is distinctive: k / q / v split with .reshape(N, T, H, d_h).transpose(1, 2); an nn.Softmax(dim=-1)
module; torch.div by the denominator; masked_fill(attn_mask == 0, -inf); and the precision slip:
denom = torch.sqrt(torch.tensor(d_h)). torch.tensor of a Python int is int64, torch.sqrt of it is float32,
so a float64 computation is divided by a float32 0-d tensor (which type promotion keeps at float64, with the
float32 value). Exact for d_h = 4, off by 1.7e-8 to 3.6e-8 relative for d_h = 2, 6, 8.
The backward is PyTorch autograd.

Expected: a precision slip (forward and backward), nothing else.
"""

import numpy as np
import torch
from torch import nn


class MultiHeadAttention(nn.Module):
    def __init__(self, embed_dim, num_heads):
        super().__init__()
        self.key = nn.Linear(embed_dim, embed_dim)
        self.query = nn.Linear(embed_dim, embed_dim)
        self.value = nn.Linear(embed_dim, embed_dim)
        self.proj = nn.Linear(embed_dim, embed_dim)
        self.softmax = nn.Softmax(dim=-1)
        self.num_heads = num_heads

    def forward(self, query, key, value, attn_mask=None):
        N, S, D = query.shape
        N, T, D = value.shape
        H = self.num_heads
        d_h = int(D / H)
        k = self.key(key).reshape(N, T, H, d_h).transpose(1, 2)
        v = self.value(value).reshape(N, T, H, d_h).transpose(1, 2)
        q = self.query(query).reshape(N, S, H, d_h).transpose(1, 2)
        alignment = torch.matmul(q, torch.transpose(k, 2, 3))
        denom = torch.sqrt(torch.tensor(d_h))  # float32
        alignment = torch.div(alignment, denom)
        if attn_mask is not None:
            alignment = alignment.masked_fill(attn_mask == 0, -float("inf"))
        output = torch.matmul(self.softmax(alignment), v)
        return self.proj(torch.transpose(output, 1, 2).reshape(N, -1, D))


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
    return torch.from_numpy(np.broadcast_to(mask, (q.shape[0], q.shape[1], k.shape[1])).copy()).unsqueeze(1)


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
