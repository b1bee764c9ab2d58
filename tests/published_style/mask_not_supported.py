"""In the style of the Deep-ML "Implement Multi-Head Attention" solution
(https://github.com/Open-Deep-ML/DML-OpenProblem, questions/94_implement-multi-head-attention/solution.py),
written for these tests; not copied. BUG (for this contract): that API has no mask at all, so an
implementation built on it computes unmasked attention whatever the mask says (the same holds for
JackHanke/nets' attention module). Biases and W_o are included here, so that the mask is the only gap.

Expected: wrong answer, named "mask_ignored", at every seed.
"""

import numpy as np


def compute_qkv(X, W_q, W_k, W_v):
    return np.dot(X, W_q), np.dot(X, W_k), np.dot(X, W_v)


def self_attention(Q, K, V):
    d_k = Q.shape[1]
    scores = np.matmul(Q, K.T) / np.sqrt(d_k)
    weights = np.exp(scores - np.max(scores, axis=1, keepdims=True))
    return np.matmul(weights / np.sum(weights, axis=1, keepdims=True), V)


def multi_head_attention(Q, K, V, n_heads):
    d_k = Q.shape[1] // n_heads
    heads = [x.reshape(x.shape[0], n_heads, d_k).transpose(1, 0, 2) for x in (Q, K, V)]
    return np.concatenate([self_attention(*(h[i] for h in heads)) for i in range(n_heads)], axis=-1)


def mha_forward(q, k, v, params, num_heads, mask=None):
    W = (params["W_q"], params["W_k"], params["W_v"])
    outs = []
    for b in range(q.shape[0]):
        Q = compute_qkv(q[b], *W)[0] + params["b_q"]
        K = compute_qkv(k[b], *W)[1] + params["b_k"]
        V = compute_qkv(v[b], *W)[2] + params["b_v"]
        outs.append(multi_head_attention(Q, K, V, num_heads) @ params["W_o"] + params["b_o"])
    return np.stack(outs)  # `mask` has nowhere to go
