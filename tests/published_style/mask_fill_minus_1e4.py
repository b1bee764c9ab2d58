"""In the style of hyunwoongko/transformer (https://github.com/hyunwoongko/transformer,
models/layers/scale_dot_product_attention.py and multi_head_attention.py), written for these tests; not
copied. BUG reproduced from the published layer: masked scores are SET to a finite -10000
(masked_fill(mask == 0, -10000)). That is only "minus infinity" while the allowed scores stay well above
-10000; with large logits a row whose allowed scores are all below about -10000 puts its weight on the
masked keys instead.

Expected: wrong answer at every seed. The standard cases expose it only when a row of the x100 "large
logits" case happens to have all its allowed scores below about -10000: with the cases of commit df9698c
only at seed 0 of 0, 1, 2, 5, 8 (best allowed score of the worst row: -21422; -558, -2431, -521, -5489 at
the others); with those of 7d2b9b8 at none (-1958, -6616, -6787, -2979, +882). A case that puts a row's
allowed logits far below -1e4 would expose it deterministically.
"""

import math

import numpy as np
import torch
from torch import nn


class ScaleDotProductAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.softmax = nn.Softmax(dim=-1)

    def forward(self, q, k, v, mask=None):
        d_tensor = k.size(-1)
        score = (q @ k.transpose(2, 3)) / math.sqrt(d_tensor)
        if mask is not None:
            score = score.masked_fill(mask == 0, -10000)
        score = self.softmax(score)
        return score @ v, score


class MultiHeadAttention(nn.Module):
    def __init__(self, d_model, n_head):
        super().__init__()
        self.n_head = n_head
        self.attention = ScaleDotProductAttention()
        self.w_q = nn.Linear(d_model, d_model)
        self.w_k = nn.Linear(d_model, d_model)
        self.w_v = nn.Linear(d_model, d_model)
        self.w_concat = nn.Linear(d_model, d_model)

    def split(self, tensor):
        batch_size, length, d_model = tensor.size()
        return tensor.view(batch_size, length, self.n_head, d_model // self.n_head).transpose(1, 2)

    def concat(self, tensor):
        batch_size, head, length, d_tensor = tensor.size()
        return tensor.transpose(1, 2).contiguous().view(batch_size, length, head * d_tensor)

    def forward(self, q, k, v, mask=None):
        q, k, v = self.split(self.w_q(q)), self.split(self.w_k(k)), self.split(self.w_v(v))
        out, _ = self.attention(q, k, v, mask=mask)
        return self.w_concat(self.concat(out))


# --- adapter to the mhaquiz contract ------------------------------------------------------------------

def mha_forward(q, k, v, params, num_heads, mask=None):
    B, Tq, D = q.shape
    module = MultiHeadAttention(D, num_heads).double()
    with torch.no_grad():
        for lin, name in ((module.w_q, "q"), (module.w_k, "k"), (module.w_v, "v"), (module.w_concat, "o")):
            lin.weight.copy_(torch.from_numpy(params["W_" + name].T.copy()))
            lin.bias.copy_(torch.from_numpy(params["b_" + name].copy()))
        mask_t = None
        if mask is not None:
            mask_t = torch.from_numpy(np.broadcast_to(mask, (B, Tq, k.shape[1])).copy()).unsqueeze(1)
        return module(torch.tensor(q), torch.tensor(k), torch.tensor(v), mask=mask_t).numpy()
