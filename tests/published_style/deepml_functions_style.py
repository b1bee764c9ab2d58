"""In the style of the Deep-ML "Implement Multi-Head Attention" / "Masked Self-Attention" solutions
(https://github.com/Open-Deep-ML/DML-OpenProblem, questions/94_implement-multi-head-attention and
questions/107_implement-masked-self-attention), written for these tests; not copied.

What is distinctive: three small unbatched functions: compute_qkv(X, W_q, W_k, W_v) with np.dot; a
single-head attention with its softmax written inline (row max subtracted, axis=1, keepdims=True) and the
mask ADDED to the scores; multi_head_attention that reshapes (T, D) -> (T, H, dk), transposes to
(H, T, dk), loops over the heads and concatenates along the last axis. Deep-ML's versions have no biases,
no output projection and (for multi-head) no mask; here the biases, W_o and an additive mask are included,
and the adapter loops over the batch.

Expected: correct (forward).
"""

import numpy as np


def compute_qkv(X, W_q, W_k, W_v):
    return np.dot(X, W_q), np.dot(X, W_k), np.dot(X, W_v)


def masked_attention(Q, K, V, mask):
    d_k = Q.shape[1]
    scores = np.matmul(Q, K.T) / np.sqrt(d_k) + mask
    weights = np.exp(scores - np.max(scores, axis=1, keepdims=True))
    weights = weights / np.sum(weights, axis=1, keepdims=True)
    return np.matmul(weights, V)


def multi_head_attention(Q, K, V, n_heads, mask):
    d_model = Q.shape[1]
    assert d_model % n_heads == 0
    d_k = d_model // n_heads
    Q_heads = Q.reshape(Q.shape[0], n_heads, d_k).transpose(1, 0, 2)
    K_heads = K.reshape(K.shape[0], n_heads, d_k).transpose(1, 0, 2)
    V_heads = V.reshape(V.shape[0], n_heads, d_k).transpose(1, 0, 2)
    outputs = [masked_attention(Q_heads[i], K_heads[i], V_heads[i], mask) for i in range(n_heads)]
    return np.concatenate(outputs, axis=-1)


# --- adapter to the mhaquiz contract ------------------------------------------------------------------

def mha_forward(q, k, v, params, num_heads, mask=None):
    B, Tq, _ = q.shape
    Tk = k.shape[1]
    allowed = np.ones((B, Tq, Tk), dtype=bool) if mask is None else np.broadcast_to(mask, (B, Tq, Tk))
    W = (params["W_q"], params["W_k"], params["W_v"])
    outs = []
    for b in range(B):
        Q = compute_qkv(q[b], *W)[0] + params["b_q"]
        K = compute_qkv(k[b], *W)[1] + params["b_k"]
        V = compute_qkv(v[b], *W)[2] + params["b_v"]
        additive = np.where(allowed[b], 0.0, -np.inf)
        outs.append(multi_head_attention(Q, K, V, num_heads, additive) @ params["W_o"] + params["b_o"])
    return np.stack(outs)
