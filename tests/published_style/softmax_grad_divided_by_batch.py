"""In the style of AkiRusProd/numpy-transformer (https://github.com/AkiRusProd/numpy-transformer,
transformer/activations.py: Softmax.backward), written for these tests; not copied. BUG reproduced from the
published layer: the softmax backward ends with `/ batch_size` (batch_size = x.shape[0]), as if the loss were
a batch mean. Everything upstream of the scores, dQ, dK and so the q, k, W_q, W_k, b_q (b_k) gradients, is
1/B of the truth; dV, W_v, b_v, W_o, b_o are right. This is numpy_cache_backward_style.py with that one change.

Not `backward_scale_twice`: that mutant scales the same gradients by 1/sqrt(dh), which coincides with 1/B
when dh = B**2 (B = 2, dh = 4: the cross-attention, self-attention and causal cases of commit df9698c).

Expected: forward correct; backward wrong answer, named "softmax_grad_over_batch", at every seed.
"""

import numpy_cache_backward_style as base


class BatchMeanSoftmax(base.Softmax):
    def backward(self, grad):
        batch_size = self.s.shape[0]
        return self.jacobian_product(grad) / batch_size


class Layer(base.MultiHeadAttention):
    def __init__(self, params, heads_num):
        super().__init__(params, heads_num)
        self.activation = BatchMeanSoftmax()


def mha_forward(q, k, v, params, num_heads, mask=None):
    return base.forward_with(Layer, q, k, v, params, num_heads, mask)


def mha_backward(d_out, q, k, v, params, num_heads, mask=None):
    return base.backward_with(Layer, d_out, q, k, v, params, num_heads, mask)
