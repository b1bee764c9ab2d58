"""In the style of The Annotated Transformer (https://github.com/harvardnlp/annotated-transformer), written for
these tests; not copied.

What is distinctive: four identical nn.Linear layers cloned into a ModuleList (weights stored (out, in), so
the layer computes x @ W.T + b), one `attention()` function shared by every head,
masked_fill(mask == 0, -1e9), a head axis added to the mask inside the module (mask.unsqueeze(1)), and the
(B, T, H, dh) layout built with .view(...).transpose(1, 2) and undone with .transpose(1, 2).contiguous().view().
The backward is PyTorch autograd through that module.

Expected: correct (forward and backward).
"""

import copy
import math

import numpy as np
import torch
from torch import nn


def clone_layers(layer, n):
    return nn.ModuleList([copy.deepcopy(layer) for _ in range(n)])


def scaled_attention(query, key, value, mask=None):
    d_k = query.size(-1)
    scores = query @ key.transpose(-2, -1) / math.sqrt(d_k)
    if mask is not None:
        scores = scores.masked_fill(mask == 0, -1e9)
    weights = scores.softmax(dim=-1)
    return weights @ value, weights


class MultiHeadedAttention(nn.Module):
    def __init__(self, h, d_model):
        super().__init__()
        assert d_model % h == 0
        self.d_k = d_model // h
        self.h = h
        self.linears = clone_layers(nn.Linear(d_model, d_model), 4)

    def forward(self, query, key, value, mask=None):
        if mask is not None:
            mask = mask.unsqueeze(1)  # the same mask for every head
        nbatches = query.size(0)
        query, key, value = [
            lin(x).view(nbatches, -1, self.h, self.d_k).transpose(1, 2)
            for lin, x in zip(self.linears, (query, key, value))
        ]
        x, _ = scaled_attention(query, key, value, mask=mask)
        x = x.transpose(1, 2).contiguous().view(nbatches, -1, self.h * self.d_k)
        return self.linears[-1](x)


# --- adapter to the mhaquiz contract ------------------------------------------------------------------

def _module(params, num_heads, d_model):
    module = MultiHeadedAttention(num_heads, d_model).double()
    with torch.no_grad():
        for lin, name in zip(module.linears, "qkvo"):
            lin.weight.copy_(torch.from_numpy(params["W_" + name].T.copy()))  # nn.Linear keeps (out, in)
            lin.bias.copy_(torch.from_numpy(params["b_" + name].copy()))
    return module


def _mask(mask, q, k):
    if mask is None:
        return None
    shape = (q.shape[0], q.shape[1], k.shape[1])  # (B, Tq, Tk): the module adds the head axis
    return torch.from_numpy(np.broadcast_to(mask, shape).copy())


def mha_forward(q, k, v, params, num_heads, mask=None):
    module = _module(params, num_heads, q.shape[-1])
    with torch.no_grad():
        out = module(torch.tensor(q), torch.tensor(k), torch.tensor(v), _mask(mask, q, k))
    return out.numpy()


def mha_backward(d_out, q, k, v, params, num_heads, mask=None):
    module = _module(params, num_heads, q.shape[-1])
    inputs = [torch.tensor(x, requires_grad=True) for x in (q, k, v)]
    out = module(*inputs, _mask(mask, q, k))
    (out * torch.tensor(d_out)).sum().backward()
    grads = {name: x.grad.numpy() for name, x in zip("qkv", inputs)}
    for lin, name in zip(module.linears, "qkvo"):
        grads["W_" + name] = lin.weight.grad.numpy().T.copy()
        grads["b_" + name] = lin.bias.grad.numpy().copy()
    return grads
