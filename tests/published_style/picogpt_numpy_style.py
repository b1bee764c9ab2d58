"""In the style of jaymody/picoGPT (https://github.com/jaymody/picoGPT, gpt2.py), written for these tests;
not copied.

What is distinctive: plain NumPy on one unbatched sequence [n_seq, n_embd]; `linear(x, w, b) = x @ w + b`
(the same layout as ours); heads cut with np.split(x, n_head, axis=-1) and glued back with np.hstack; a
Python loop over the heads; an ADDITIVE mask, (1 - allowed) * -1e10, added to the scores before a
max-subtracted softmax. picoGPT builds a causal mask itself; this version builds the additive mask from the
mask argument and loops over the batch.

Expected: correct (forward). (It loops over batch and heads, which the prompt discourages; that affects
the efficiency report, not the verdict.)
"""

import numpy as np


def softmax(x):
    exp_x = np.exp(x - np.max(x, axis=-1, keepdims=True))
    return exp_x / np.sum(exp_x, axis=-1, keepdims=True)


def linear(x, w, b):  # [m, in], [in, out], [out] -> [m, out]
    return x @ w + b


def attention(q, k, v, mask):  # [n_q, d_k], [n_k, d_k], [n_k, d_v], [n_q, n_k] -> [n_q, d_v]
    return softmax(q @ k.T / np.sqrt(q.shape[-1]) + mask) @ v


def mha(xq, xk, xv, attn_q, attn_k, attn_v, proj, n_head, allowed):
    q, k, v = linear(xq, **attn_q), linear(xk, **attn_k), linear(xv, **attn_v)
    heads = [np.split(x, n_head, axis=-1) for x in (q, k, v)]  # 3 lists of n_head [n, d/n_head]
    additive = (1 - allowed.astype(np.float64)) * -1e10  # [n_q, n_k]
    out_heads = [attention(qh, kh, vh, additive) for qh, kh, vh in zip(*heads)]
    return linear(np.hstack(out_heads), **proj)


# --- adapter to the mhaquiz contract ------------------------------------------------------------------

def mha_forward(q, k, v, params, num_heads, mask=None):
    B, Tq, _ = q.shape
    Tk = k.shape[1]
    allowed = np.ones((B, Tq, Tk), dtype=bool) if mask is None else np.broadcast_to(mask, (B, Tq, Tk))
    layer = {n: {"w": params["W_" + n], "b": params["b_" + n]} for n in "qkvo"}
    return np.stack([mha(q[b], k[b], v[b], layer["q"], layer["k"], layer["v"], layer["o"], num_heads, allowed[b])
                     for b in range(B)])
