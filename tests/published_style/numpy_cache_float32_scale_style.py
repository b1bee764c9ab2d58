"""In the style of AkiRusProd/numpy-transformer (https://github.com/AkiRusProd/numpy-transformer,
transformer/layers/combined/self_attention.py), written for these tests; not copied.

The published layer computes its scale as `np.sqrt(self.d_k).astype(self.data_type)` and the repository's
Transformer passes data_type=np.float32: the divisor sqrt(d_k) is then a float32 constant inside an
otherwise float64 computation. This module is numpy_cache_backward_style.py with exactly that one change.
sqrt(dh) is exact in float32 when dh is a power of 4 (dh = 4: the divisor is 2); for dh = 2, 6, 8 it is
off by 1.7e-8, 3.6e-8, 1.7e-8 relative.

Expected: a precision slip (forward and backward), nothing else.
"""

import numpy as np

import numpy_cache_backward_style as base


class Float32ScaleAttention(base.MultiHeadAttention):
    def __init__(self, params, heads_num):
        super().__init__(params, heads_num)
        self.scale = np.sqrt(self.d_k).astype(np.float32)  # the repository's data_type=np.float32


def mha_forward(q, k, v, params, num_heads, mask=None):
    return base.forward_with(Float32ScaleAttention, q, k, v, params, num_heads, mask)


def mha_backward(d_out, q, k, v, params, num_heads, mask=None):
    return base.backward_with(Float32ScaleAttention, d_out, q, k, v, params, num_heads, mask)
