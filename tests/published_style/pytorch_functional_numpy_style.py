"""In the style of PyTorch's F.multi_head_attention_forward (https://github.com/pytorch/pytorch,
torch/nn/functional.py, the need_weights=True path), written for these tests in NumPy; not copied.

What is distinctive: sequence-first (L, N, E) tensors; one packed in-projection in nn.Linear's (out, in)
layout, in_proj_weight = [W_q^T; W_k^T; W_v^T] of shape (3E, E), applied as x @ w.T + b per chunk; heads
folded into the batch with q.reshape(L, N * H, dh).transpose(0, 1) (batch-major N*H); the scale folded into
q before the product (q_scaled = q * sqrt(1 / dh)); a float additive mask (0 / -inf) combined the way
baddbmm(mask, q_scaled, k^T) does; the output unfolded with transpose(0, 1).reshape(L * N, E) before
out_proj.

Expected: correct (forward).
"""

import math

import numpy as np


def in_projection_packed(q, k, v, w, b):
    E = q.shape[-1]
    w_q, w_k, w_v = w[:E], w[E:2 * E], w[2 * E:]
    b_q, b_k, b_v = b[:E], b[E:2 * E], b[2 * E:]
    return q @ w_q.T + b_q, k @ w_k.T + b_k, v @ w_v.T + b_v


def softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def multi_head_attention_forward(query, key, value, num_heads, in_proj_weight, in_proj_bias,
                                 out_proj_weight, out_proj_bias, attn_mask=None):
    tgt_len, bsz, embed_dim = query.shape
    src_len = key.shape[0]
    head_dim = embed_dim // num_heads
    q, k, v = in_projection_packed(query, key, value, in_proj_weight, in_proj_bias)
    q = q.reshape(tgt_len, bsz * num_heads, head_dim).transpose(1, 0, 2)
    k = k.reshape(src_len, bsz * num_heads, head_dim).transpose(1, 0, 2)
    v = v.reshape(src_len, bsz * num_heads, head_dim).transpose(1, 0, 2)
    q_scaled = q * math.sqrt(1.0 / float(head_dim))
    scores = q_scaled @ k.transpose(0, 2, 1)
    if attn_mask is not None:
        scores = attn_mask + scores  # baddbmm(attn_mask, q_scaled, k^T)
    attn_output = softmax(scores) @ v  # (N*H, L, dh)
    attn_output = attn_output.transpose(1, 0, 2).reshape(tgt_len * bsz, embed_dim)
    attn_output = attn_output @ out_proj_weight.T + out_proj_bias
    return attn_output.reshape(tgt_len, bsz, embed_dim)


# --- adapter to the mhaquiz contract ------------------------------------------------------------------

def mha_forward(q, k, v, params, num_heads, mask=None):
    B, Tq, _ = q.shape
    float_mask = None
    if mask is not None:
        allowed = np.repeat(np.broadcast_to(mask, (B, Tq, k.shape[1])), num_heads, axis=0)  # (B*H, Tq, Tk)
        float_mask = np.where(allowed, 0.0, -np.inf)
    w = np.concatenate([params["W_" + n].T for n in "qkv"])  # (3D, D), nn.Linear layout
    b = np.concatenate([params["b_" + n] for n in "qkv"])
    seq_first = lambda x: x.transpose(1, 0, 2)
    out = multi_head_attention_forward(seq_first(q), seq_first(k), seq_first(v), num_heads, w, b,
                                       params["W_o"].T, params["b_o"], float_mask)
    return seq_first(out)
