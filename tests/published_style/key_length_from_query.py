"""In the style of a TensorTonic multi-head attention solution
(https://github.com/PTSown0222/TensorTonic-Solutions,
transformers-multi-head-attention/transformers-multi-head-attention.py), written for these tests; not
copied. BUG reproduced from the published solution: `batch_size, seq_len, d_model = Q.shape` and the SAME
seq_len is used to reshape K and V, so any cross-attention with Tk != Tq cannot be reshaped (a
ValueError), and only Tq == Tk runs. (The published function also has no biases and no mask; this module
has both, so that the key length is the only bug.)

Expected: failing (a runtime error on every Tq != Tk case), at every seed.
"""

import numpy as np


def softmax(x, axis=-1):
    e_x = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e_x / np.sum(e_x, axis=axis, keepdims=True)


def multi_head_attention(Q, K, V, params, num_heads, mask):
    batch_size, seq_len, d_model = Q.shape
    d_k = d_model // num_heads
    Q_proj = Q @ params["W_q"] + params["b_q"]
    K_proj = K @ params["W_k"] + params["b_k"]
    V_proj = V @ params["W_v"] + params["b_v"]
    Q_split = Q_proj.reshape(batch_size, seq_len, num_heads, d_k).transpose(0, 2, 1, 3)
    K_split = K_proj.reshape(batch_size, seq_len, num_heads, d_k).transpose(0, 2, 1, 3)
    V_split = V_proj.reshape(batch_size, seq_len, num_heads, d_k).transpose(0, 2, 1, 3)
    attn_score = (Q_split @ K_split.transpose(0, 1, 3, 2)) / np.sqrt(d_k)
    if mask is not None:
        attn_score = np.where(np.expand_dims(mask, -3), attn_score, -np.inf)
    context = softmax(attn_score) @ V_split
    context_concat = context.transpose(0, 2, 1, 3).reshape(batch_size, seq_len, d_model)
    return context_concat @ params["W_o"] + params["b_o"]


def mha_forward(q, k, v, params, num_heads, mask=None):
    return multi_head_attention(q, k, v, params, num_heads, mask)
