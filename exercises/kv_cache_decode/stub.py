"""One decoding step of causal self-attention with a K/V cache, in NumPy (float64).

Conventions (the same as mha_forward):
- x_t: (B, 1, D), the newest token of every sequence in the batch.
- params: "W_q", "W_k", "W_v", "W_o" of shape (D, D) and "b_q", "b_k", "b_v", "b_o" of shape (D,).
  Projections are x @ W + b (NOT PyTorch's x @ W.T).
- dh = D // num_heads; head h owns columns h*dh:(h+1)*dh of the projected q, k and v.
- scores are scaled by 1/sqrt(dh); softmax over the keys; heads concatenated in order, then @ W_o + b_o.
- cache: None before the first token, else a dict {"k": K, "v": V} with K and V of shape (B, H, t, dh): the
  projected keys and values (biases included) of the t earlier tokens, split into heads, oldest first.
  A prefilled cache (a prompt already processed) is allowed: the first call may see t > 0.
- Return (y_t, cache): y_t of shape (B, 1, D), and the cache with this token's key and value appended,
  shape (B, H, t+1, dh). You may update the dict you were given or return a new one, but do not write into
  the arrays you were given, nor into x_t or params.

The caller loops over time; one step is vectorised over batch and heads. Fed the tokens of x one by one from
an empty cache, the stacked y_t must equal mha_forward(x, x, x, params, num_heads, causal_mask).
"""

import numpy as np


def decode_step(x_t, cache, params, num_heads):
    """Return (y_t, cache): y_t (B, 1, D); cache {"k", "v"} of shape (B, H, t+1, dh)."""
    raise NotImplementedError("decode_step: write me")
