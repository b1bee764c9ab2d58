"""In the style of AkiRusProd/numpy-transformer (https://github.com/AkiRusProd/numpy-transformer,
transformer/layers/combined/self_attention.py), written for these tests; not copied.

What is distinctive: a hand-written NumPy layer library where every layer caches what its backward needs
(Dense keeps its input, Softmax keeps its output); Dense computes x @ w + b and its backward returns
error @ w.T while storing grad_w = sum_b x_b^T error_b and grad_b = error summed over batch and time; the
softmax backward multiplies by the explicit Jacobian diag(s) - s s^T; heads split with
reshape(B, -1, H, dk).transpose(0, 2, 1, 3) and "group_heads" / "split_heads_backward" helpers that undo
each other; the mask gets its head axis with mask[:, np.newaxis, ...] and is applied with
np.where(mask == 0, -inf, energy); the backward divides the score gradient by the scale.

The published layer divides the softmax gradient by the batch size (see
softmax_grad_divided_by_batch.py); this one does not.

Expected: correct (forward and backward).
"""

import numpy as np


class Dense:
    def __init__(self, w, b):
        self.w, self.b = w, b

    def forward(self, x):
        self.input_data = x
        return x @ self.w + self.b

    def backward(self, error):
        self.grad_w = np.sum(np.matmul(self.input_data.transpose(0, 2, 1), error), axis=0)
        self.grad_b = np.sum(error, axis=(0, 1))
        return error @ self.w.T


class Softmax:
    def forward(self, x):
        e_x = np.exp(x - np.max(x, axis=-1, keepdims=True))
        self.s = e_x / np.sum(e_x, axis=-1, keepdims=True)
        return self.s

    def jacobian_product(self, grad):
        s = self.s
        eye = np.eye(s.shape[-1])
        J = s[..., :, None] * eye - s[..., :, None] * s[..., None, :]  # (..., n, n), symmetric
        return (grad[..., None, :] @ J)[..., 0, :]

    def backward(self, grad):
        return self.jacobian_product(grad)


class MultiHeadAttention:
    def __init__(self, params, heads_num):
        self.heads_num = heads_num
        self.d_k = params["W_q"].shape[0] // heads_num
        self.scale = np.sqrt(self.d_k)
        self.Q_linear = Dense(params["W_q"], params["b_q"])
        self.K_linear = Dense(params["W_k"], params["b_k"])
        self.V_linear = Dense(params["W_v"], params["b_v"])
        self.O_linear = Dense(params["W_o"], params["b_o"])
        self.activation = Softmax()

    def split_heads_forward(self, x):
        return x.reshape(x.shape[0], -1, self.heads_num, self.d_k).transpose(0, 2, 1, 3)

    def split_heads_backward(self, x):
        return x.transpose(0, 2, 1, 3).reshape(x.shape[0], -1, self.heads_num * self.d_k)

    group_heads_forward = split_heads_backward
    group_heads_backward = split_heads_forward

    def forward(self, query, key, value, mask):
        self.K = self.split_heads_forward(self.K_linear.forward(key))
        self.Q = self.split_heads_forward(self.Q_linear.forward(query))
        self.V = self.split_heads_forward(self.V_linear.forward(value))
        energy = np.matmul(self.Q, self.K.transpose(0, 1, 3, 2)) / self.scale
        self.mask = None if mask is None else mask[:, np.newaxis, ...]
        if self.mask is not None:
            energy = np.where(self.mask == 0, float("-inf"), energy)
        self.attention = self.activation.forward(energy)
        output = np.matmul(self.attention, self.V)
        return self.O_linear.forward(self.group_heads_forward(output))

    def backward(self, error):
        error = self.group_heads_backward(self.O_linear.backward(error))
        V_error = np.matmul(self.attention.transpose(0, 1, 3, 2), error)
        error = np.matmul(error, self.V.transpose(0, 1, 3, 2))
        error = self.activation.backward(error)
        if self.mask is not None:
            error = np.where(self.mask == 0, 0, error)
        error = error / self.scale
        Q_error = np.matmul(error, self.K)
        K_error = np.matmul(error.transpose(0, 1, 3, 2), self.Q)
        Q_error = self.Q_linear.backward(self.split_heads_backward(Q_error))
        K_error = self.K_linear.backward(self.split_heads_backward(K_error))
        V_error = self.V_linear.backward(self.split_heads_backward(V_error))
        return Q_error, K_error, V_error


# --- adapter to the mhaquiz contract ------------------------------------------------------------------

def _full_mask(mask, q, k):
    return None if mask is None else np.broadcast_to(mask, (q.shape[0], q.shape[1], k.shape[1]))


def forward_with(layer_class, q, k, v, params, num_heads, mask=None):
    return layer_class(params, num_heads).forward(q, k, v, _full_mask(mask, q, k))


def backward_with(layer_class, d_out, q, k, v, params, num_heads, mask=None):
    layer = layer_class(params, num_heads)
    layer.forward(q, k, v, _full_mask(mask, q, k))
    dq, dk, dv = layer.backward(d_out)
    grads = {"q": dq, "k": dk, "v": dv}
    for dense, name in ((layer.Q_linear, "q"), (layer.K_linear, "k"), (layer.V_linear, "v"), (layer.O_linear, "o")):
        grads["W_" + name], grads["b_" + name] = dense.grad_w, dense.grad_b
    return grads


def mha_forward(q, k, v, params, num_heads, mask=None):
    return forward_with(MultiHeadAttention, q, k, v, params, num_heads, mask)


def mha_backward(d_out, q, k, v, params, num_heads, mask=None):
    return backward_with(MultiHeadAttention, d_out, q, k, v, params, num_heads, mask)
