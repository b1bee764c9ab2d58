"""In the style of bentrevett/pytorch-seq2seq (https://github.com/bentrevett/pytorch-seq2seq,
"6 - Attention is All You Need.ipynb": MultiHeadAttentionLayer), written for these tests; not copied.

What is distinctive: fc_q / fc_k / fc_v / fc_o nn.Linear layers; .view(batch, -1, n_heads, head_dim)
.permute(0, 2, 1, 3); energy = Q @ K.permute(0, 1, 3, 2) / self.scale; masked_fill(mask == 0, -1e10) with a
(B, 1, 1 or Tq, Tk) mask; and the precision slip: self.scale = torch.sqrt(torch.FloatTensor([head_dim])),
a plain tensor attribute that module.double() does NOT convert. The float64 energy is divided by a float32
sqrt(head_dim): exact for head_dim = 4 (the divisor is 2), off by 1.7e-8 (dh = 2, 8) or 3.6e-8 (dh = 6)
relative otherwise. The backward is PyTorch autograd, which carries the same constant.

Expected: a precision slip (forward and backward), nothing else.
"""

import numpy as np
import torch
from torch import nn


class MultiHeadAttentionLayer(nn.Module):
    def __init__(self, hid_dim, n_heads):
        super().__init__()
        assert hid_dim % n_heads == 0
        self.hid_dim, self.n_heads, self.head_dim = hid_dim, n_heads, hid_dim // n_heads
        self.fc_q = nn.Linear(hid_dim, hid_dim)
        self.fc_k = nn.Linear(hid_dim, hid_dim)
        self.fc_v = nn.Linear(hid_dim, hid_dim)
        self.fc_o = nn.Linear(hid_dim, hid_dim)
        self.scale = torch.sqrt(torch.FloatTensor([self.head_dim]))  # float32, and not a buffer

    def forward(self, query, key, value, mask=None):
        batch_size = query.shape[0]
        Q = self.fc_q(query).view(batch_size, -1, self.n_heads, self.head_dim).permute(0, 2, 1, 3)
        K = self.fc_k(key).view(batch_size, -1, self.n_heads, self.head_dim).permute(0, 2, 1, 3)
        V = self.fc_v(value).view(batch_size, -1, self.n_heads, self.head_dim).permute(0, 2, 1, 3)
        energy = torch.matmul(Q, K.permute(0, 1, 3, 2)) / self.scale
        if mask is not None:
            energy = energy.masked_fill(mask == 0, -1e10)
        attention = torch.softmax(energy, dim=-1)
        x = torch.matmul(attention, V).permute(0, 2, 1, 3).contiguous()
        return self.fc_o(x.view(batch_size, -1, self.hid_dim)), attention


# --- adapter to the mhaquiz contract ------------------------------------------------------------------

def _layer(params, num_heads, hid_dim):
    layer = MultiHeadAttentionLayer(hid_dim, num_heads).double()
    with torch.no_grad():
        for lin, name in ((layer.fc_q, "q"), (layer.fc_k, "k"), (layer.fc_v, "v"), (layer.fc_o, "o")):
            lin.weight.copy_(torch.from_numpy(params["W_" + name].T.copy()))
            lin.bias.copy_(torch.from_numpy(params["b_" + name].copy()))
    return layer


def _mask(mask, q, k):
    if mask is None:
        return None
    return torch.from_numpy(np.broadcast_to(mask, (q.shape[0], q.shape[1], k.shape[1])).copy()).unsqueeze(1)


def mha_forward(q, k, v, params, num_heads, mask=None):
    layer = _layer(params, num_heads, q.shape[-1])
    with torch.no_grad():
        return layer(torch.tensor(q), torch.tensor(k), torch.tensor(v), _mask(mask, q, k))[0].numpy()


def mha_backward(d_out, q, k, v, params, num_heads, mask=None):
    layer = _layer(params, num_heads, q.shape[-1])
    inputs = [torch.tensor(x, requires_grad=True) for x in (q, k, v)]
    out, _ = layer(*inputs, _mask(mask, q, k))
    (out * torch.tensor(d_out)).sum().backward()
    grads = {name: x.grad.numpy() for name, x in zip("qkv", inputs)}
    for lin, name in ((layer.fc_q, "q"), (layer.fc_k, "k"), (layer.fc_v, "v"), (layer.fc_o, "o")):
        grads["W_" + name] = lin.weight.grad.numpy().T.copy()
        grads["b_" + name] = lin.bias.grad.numpy().copy()
    return grads
