"""In the style of JackHanke/nets (https://github.com/JackHanke/nets, models/attention/attention.py), written
for these tests; not copied. BUG reproduced from the published backward: the parameter gradients are
computed per example, shape (B, ...), and then averaged over the batch (np.mean(..., axis=0), "mean grads
over batch"), so every W_* and b_* gradient is 1/B of the gradient of sum(out * d_out); the input gradients
q, k, v are right.

What is distinctive: NumPy, per-head weight lists (one (d_model, d_k) slice per head) and a Python loop over
the heads in both passes; intermediate lists (q_bar, k_bar, v_bar, s) kept for the backward;
np.concatenate of the heads before the output weights. (The published backward also uses the softmax
Jacobian's diagonal and has no biases or mask; this one has the full Jacobian, biases and a mask, so that
the batch mean is the only bug.)

Expected: forward correct; backward wrong answer at every seed.
"""

import numpy as np


def softmax(x):
    e = np.exp(x - np.max(x, axis=-1, keepdims=True))
    return e / np.sum(e, axis=-1, keepdims=True)


class MultiHeadAttention:
    def __init__(self, params, h):
        D = params["W_q"].shape[0]
        self.h, self.d_k = h, D // h
        cols = [slice(i * self.d_k, (i + 1) * self.d_k) for i in range(h)]
        self.w = {n: [params["W_" + n][:, c] for c in cols] for n in "qkv"}
        self.b = {n: [params["b_" + n][c] for c in cols] for n in "qkv"}
        self.w_o, self.b_o = params["W_o"], params["b_o"]

    def forward(self, x_q, x_k, x_v, additive_mask):
        self.x = {"q": x_q, "k": x_k, "v": x_v}
        self.bars, self.s_list, heads = [], [], []
        for i in range(self.h):  # not vectorised over heads
            bar = {n: self.x[n] @ self.w[n][i] + self.b[n][i] for n in "qkv"}
            s = softmax(bar["q"] @ bar["k"].transpose(0, 2, 1) / np.sqrt(self.d_k) + additive_mask)
            self.bars.append(bar)
            self.s_list.append(s)
            heads.append(s @ bar["v"])
        self.C = np.concatenate(heads, axis=2)
        return self.C @ self.w_o + self.b_o

    def backward(self, d_out):
        grads = {"W_o": np.mean(self.C.transpose(0, 2, 1) @ d_out, axis=0),  # mean grads over batch
                 "b_o": np.mean(d_out.sum(axis=1), axis=0)}
        A = d_out @ self.w_o.T
        d_x = {n: np.zeros_like(self.x[n]) for n in "qkv"}
        per_head = {n: [] for n in ("W_q", "W_k", "W_v", "b_q", "b_k", "b_v")}
        for i in range(self.h):
            bar, s = self.bars[i], self.s_list[i]
            dhead = A[:, :, i * self.d_k:(i + 1) * self.d_k]
            d_bar = {"v": s.transpose(0, 2, 1) @ dhead}
            ds = dhead @ bar["v"].transpose(0, 2, 1)
            dt = s * (ds - np.sum(ds * s, axis=-1, keepdims=True)) / np.sqrt(self.d_k)
            d_bar["q"] = dt @ bar["k"]
            d_bar["k"] = dt.transpose(0, 2, 1) @ bar["q"]
            for n in "qkv":
                d_x[n] += d_bar[n] @ self.w[n][i].T
                per_head["W_" + n].append(np.mean(self.x[n].transpose(0, 2, 1) @ d_bar[n], axis=0))
                per_head["b_" + n].append(np.mean(d_bar[n].sum(axis=1), axis=0))
        grads.update({name: np.concatenate(parts, axis=-1) for name, parts in per_head.items()})
        grads.update(d_x)
        return grads


def _additive(mask, q, k):
    if mask is None:
        return 0.0
    return np.where(np.broadcast_to(mask, (q.shape[0], q.shape[1], k.shape[1])), 0.0, -np.inf)


def mha_forward(q, k, v, params, num_heads, mask=None):
    return MultiHeadAttention(params, num_heads).forward(q, k, v, _additive(mask, q, k))


def mha_backward(d_out, q, k, v, params, num_heads, mask=None):
    layer = MultiHeadAttention(params, num_heads)
    layer.forward(q, k, v, _additive(mask, q, k))
    return layer.backward(d_out)
