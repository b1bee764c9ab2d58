"""In the style of ddbourgin/numpy-ml (https://github.com/ddbourgin/numpy-ml,
numpy_ml/neural_nets/layers/layers.py: DotProductAttention and Softmax), written for these tests; not copied.

What is distinctive: layer objects with a `forward` that appends its inputs to `self.X` (retain_derived)
and a `backward` that walks the stored inputs; the actual math in `_fwd` / `_bwd`; the softmax backward
built row by row from the Jacobian np.diagflat(y) - y @ y.T; attention on 3-D (n_ex, T, d) arrays, so the
heads are folded into the example axis, (B, T, D) -> (B*H, T, dh). numpy-ml's attention layer has no mask;
here `forward` takes an optional additive mask (0 / -inf) that is added to the scores. The projections
and their backward are written out around the layer (numpy-ml's own multi-head module only handles one
position per example).

Expected: correct (forward and backward).
"""

import numpy as np


class Softmax:
    def __init__(self):
        self.X = []

    def forward(self, X):
        self.X.append(X)
        return self._fwd(X)

    def _fwd(self, X):
        e_X = np.exp(X - np.max(X, axis=-1, keepdims=True))
        return e_X / e_X.sum(axis=-1, keepdims=True)

    def backward(self, dLdy):
        return self._bwd(dLdy, self.X[-1])

    def _bwd(self, dLdy, X):
        dX = np.empty_like(X)
        for idx in np.ndindex(X.shape[:-1]):  # one row (one query) at a time
            y = self._fwd(X[idx]).reshape(-1, 1)
            jacobian = np.diagflat(y) - y @ y.T
            dX[idx] = dLdy[idx] @ jacobian
        return dX


class DotProductAttention:
    def __init__(self):
        self.softmax = Softmax()
        self.X, self.weights = [], []

    def forward(self, Q, K, V, additive_mask=None):
        Y, weights = self._fwd(Q, K, V, additive_mask)
        self.X.append((Q, K, V))
        self.weights.append(weights)
        return Y

    def _fwd(self, Q, K, V, additive_mask):
        scale = 1 / np.sqrt(Q.shape[-1])
        scores = Q @ K.swapaxes(-2, -1) * scale
        if additive_mask is not None:
            scores = scores + additive_mask
        weights = self.softmax.forward(scores)
        return weights @ V, weights

    def backward(self, dLdy):
        (q, k, v), w = self.X[-1], self.weights[-1]
        return self._bwd(dLdy, q, k, v, w)

    def _bwd(self, dy, q, k, v, weights):
        scale = 1 / np.sqrt(k.shape[-1])
        dV = weights.swapaxes(-2, -1) @ dy
        dWeights = dy @ v.swapaxes(-2, -1)
        dScores = self.softmax.backward(dWeights)
        dQ = dScores @ k * scale
        dK = dScores.swapaxes(-2, -1) @ q * scale
        return dQ, dK, dV


# --- adapter to the mhaquiz contract ------------------------------------------------------------------

def _fold(x, H):  # (B, T, D) -> (B*H, T, dh), batch-major
    B, T, D = x.shape
    return x.reshape(B, T, H, D // H).transpose(0, 2, 1, 3).reshape(B * H, T, D // H)


def _unfold(x, B, H):  # (B*H, T, dh) -> (B, T, D)
    _, T, dh = x.shape
    return x.reshape(B, H, T, dh).transpose(0, 2, 1, 3).reshape(B, T, H * dh)


def _run(q, k, v, params, H, mask):
    B, Tq, _ = q.shape
    additive = None
    if mask is not None:
        allowed = np.repeat(np.broadcast_to(mask, (B, Tq, k.shape[1])), H, axis=0)
        additive = np.where(allowed, 0.0, -np.inf)
    layer = DotProductAttention()
    proj = {n: x @ params["W_" + n] + params["b_" + n] for n, x in (("q", q), ("k", k), ("v", v))}
    heads = _unfold(layer.forward(_fold(proj["q"], H), _fold(proj["k"], H), _fold(proj["v"], H), additive), B, H)
    return heads @ params["W_o"] + params["b_o"], layer, heads


def mha_forward(q, k, v, params, num_heads, mask=None):
    return _run(q, k, v, params, num_heads, mask)[0]


def mha_backward(d_out, q, k, v, params, num_heads, mask=None):
    B, H = q.shape[0], num_heads
    _, layer, heads = _run(q, k, v, params, H, mask)
    rows = lambda x: x.reshape(-1, x.shape[-1])
    grads = {"W_o": rows(heads).T @ rows(d_out), "b_o": d_out.sum(axis=(0, 1))}
    dQ, dK, dV = layer.backward(_fold(d_out @ params["W_o"].T, H))
    for name, x, d_heads in (("q", q, dQ), ("k", k, dK), ("v", v, dV)):
        d_proj = _unfold(d_heads, B, H)
        grads[name] = d_proj @ params["W_" + name].T
        grads["W_" + name] = rows(x).T @ rows(d_proj)
        grads["b_" + name] = d_proj.sum(axis=(0, 1))
    return grads
