"""In the style of labml.ai's annotated paper implementations
(https://github.com/labmlai/annotated_deep_learning_paper_implementations, labml_nn/transformers/mha.py),
written for these tests; not copied.

What is distinctive: sequence-first tensors [seq, batch, d_model]; a small "prepare" module per projection
that applies nn.Linear and splits the last axis into [..., heads, d_k]; scores by
einsum('ibhd,jbhd->ijbh'); the softmax over dim=1 (the key axis j); a mask laid out [seq_q, seq_k, batch]
with a trailing axis added for the heads; the weighted sum by einsum('ijbh,jbhd->ibhd').

Expected: correct (forward).
"""

import math

import numpy as np
import torch
from torch import nn


class HeadSplitter(nn.Module):
    """Linear projection, then [..., d_model] -> [..., heads, d_k]."""

    def __init__(self, d_model, heads, d_k):
        super().__init__()
        self.linear = nn.Linear(d_model, heads * d_k)
        self.heads, self.d_k = heads, d_k

    def forward(self, x):
        lead = x.shape[:-1]
        return self.linear(x).view(*lead, self.heads, self.d_k)


class SeqFirstAttention(nn.Module):
    def __init__(self, heads, d_model):
        super().__init__()
        self.d_k = d_model // heads
        self.heads = heads
        self.query = HeadSplitter(d_model, heads, self.d_k)
        self.key = HeadSplitter(d_model, heads, self.d_k)
        self.value = HeadSplitter(d_model, heads, self.d_k)
        self.softmax = nn.Softmax(dim=1)  # [i, j, b, h]: j (the keys) is axis 1
        self.output = nn.Linear(d_model, d_model)
        self.scale = 1 / math.sqrt(self.d_k)

    def forward(self, *, query, key, value, mask=None):
        seq_len, batch_size, _ = query.shape
        if mask is not None:
            mask = mask.unsqueeze(-1)  # [seq_q, seq_k, batch, 1]: same for every head
        q, k, v = self.query(query), self.key(key), self.value(value)
        scores = torch.einsum("ibhd,jbhd->ijbh", q, k) * self.scale
        if mask is not None:
            scores = scores.masked_fill(mask == 0, float("-inf"))
        attn = self.softmax(scores)
        x = torch.einsum("ijbh,jbhd->ibhd", attn, v)
        return self.output(x.reshape(seq_len, batch_size, -1))


# --- adapter to the mhaquiz contract ------------------------------------------------------------------

def mha_forward(q, k, v, params, num_heads, mask=None):
    B, Tq, D = q.shape
    Tk = k.shape[1]
    module = SeqFirstAttention(num_heads, D).double()
    with torch.no_grad():
        for lin, name in ((module.query.linear, "q"), (module.key.linear, "k"), (module.value.linear, "v"),
                          (module.output, "o")):
            lin.weight.copy_(torch.from_numpy(params["W_" + name].T.copy()))
            lin.bias.copy_(torch.from_numpy(params["b_" + name].copy()))
        seq_first = lambda x: torch.tensor(x).transpose(0, 1)  # [B, T, D] -> [T, B, D]
        mask_t = None
        if mask is not None:
            mask_t = torch.from_numpy(np.broadcast_to(mask, (B, Tq, Tk)).transpose(1, 2, 0).copy())  # [Tq, Tk, B]
        out = module(query=seq_first(q), key=seq_first(k), value=seq_first(v), mask=mask_t)
    return out.transpose(0, 1).numpy()
