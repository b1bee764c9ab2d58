"""In the style of Dive into Deep Learning (https://github.com/d2l-ai/d2l-en, d2l/torch.py), written for these
tests; not copied.

What is distinctive: masking by *valid lengths* rather than a boolean mask (keys j >= valid_len are replaced
by -1e6 before the softmax); heads folded into the batch axis by transpose_qkv, (B, T, D) -> (B*H, T, dh),
with the valid lengths repeated per head (repeat_interleave) and unfolded again by transpose_output; batched
matrix products with torch.bmm.

The adapter turns prefix masks (causal, padding) into valid lengths; a general boolean mask, which the
contract allows, has no valid-length form, and it raises.

Expected: failing (a runtime error on a general, non-prefix mask), at every seed. It is exact on every
prefix mask, so it passes a grader whose masks are all prefixes (commit df9698c's cases).
"""

import math

import numpy as np
import torch
from torch import nn


def masked_softmax(X, valid_lens):
    """Softmax over the last axis, keys at positions >= valid_len excluded (X: (n, Tq, Tk))."""
    if valid_lens is None:
        return nn.functional.softmax(X, dim=-1)
    shape = X.shape
    if valid_lens.dim() == 1:
        valid_lens = torch.repeat_interleave(valid_lens, shape[1])
    else:
        valid_lens = valid_lens.reshape(-1)
    flat = X.reshape(-1, shape[-1])
    keep = torch.arange(shape[-1], dtype=torch.float64)[None, :] < valid_lens[:, None]
    flat = flat.masked_fill(~keep, -1e6)
    return nn.functional.softmax(flat.reshape(shape), dim=-1)


class DotProductAttention(nn.Module):
    def forward(self, queries, keys, values, valid_lens=None):
        d = queries.shape[-1]
        scores = torch.bmm(queries, keys.transpose(1, 2)) / math.sqrt(d)
        return torch.bmm(masked_softmax(scores, valid_lens), values)


class MultiHeadAttention(nn.Module):
    def __init__(self, num_hiddens, num_heads):
        super().__init__()
        self.num_heads = num_heads
        self.attention = DotProductAttention()
        self.W_q = nn.Linear(num_hiddens, num_hiddens)
        self.W_k = nn.Linear(num_hiddens, num_hiddens)
        self.W_v = nn.Linear(num_hiddens, num_hiddens)
        self.W_o = nn.Linear(num_hiddens, num_hiddens)

    def transpose_qkv(self, X):
        X = X.reshape(X.shape[0], X.shape[1], self.num_heads, -1).permute(0, 2, 1, 3)
        return X.reshape(-1, X.shape[2], X.shape[3])

    def transpose_output(self, X):
        X = X.reshape(-1, self.num_heads, X.shape[1], X.shape[2]).permute(0, 2, 1, 3)
        return X.reshape(X.shape[0], X.shape[1], -1)

    def forward(self, queries, keys, values, valid_lens):
        queries = self.transpose_qkv(self.W_q(queries))
        keys = self.transpose_qkv(self.W_k(keys))
        values = self.transpose_qkv(self.W_v(values))
        if valid_lens is not None:
            valid_lens = torch.repeat_interleave(valid_lens, repeats=self.num_heads, dim=0)
        output = self.attention(queries, keys, values, valid_lens)
        return self.W_o(self.transpose_output(output))


# --- adapter to the mhaquiz contract ------------------------------------------------------------------

def _valid_lens(mask, B, Tq, Tk):
    if mask is None:
        return None
    full = np.broadcast_to(mask, (B, Tq, Tk))
    lens = full.sum(axis=-1)  # (B, Tq)
    if not (full == (np.arange(Tk) < lens[..., None])).all():
        raise ValueError("valid-length masking only expresses prefix masks")
    return torch.from_numpy(lens.astype(np.float64))


def mha_forward(q, k, v, params, num_heads, mask=None):
    B, Tq, D = q.shape
    module = MultiHeadAttention(D, num_heads).double()
    with torch.no_grad():
        for lin, name in ((module.W_q, "q"), (module.W_k, "k"), (module.W_v, "v"), (module.W_o, "o")):
            lin.weight.copy_(torch.from_numpy(params["W_" + name].T.copy()))
            lin.bias.copy_(torch.from_numpy(params["b_" + name].copy()))
        out = module(torch.tensor(q), torch.tensor(k), torch.tensor(v), _valid_lens(mask, B, Tq, k.shape[1]))
    return out.numpy()
