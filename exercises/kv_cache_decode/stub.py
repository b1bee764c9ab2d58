"""带 K/V 缓存的因果自注意力，解码一步，用 NumPy 实现（float64）/ One decoding step of causal self-attention
with a K/V cache, in NumPy (float64).

【中文】约定（与 mha_forward 相同）：
- x_t：(B, 1, D)，batch 中每个序列最新的那个 token。
- params："W_q"、"W_k"、"W_v"、"W_o" 形状为 (D, D)，"b_q"、"b_k"、"b_v"、"b_o" 形状为 (D,)。
  投影是 x @ W + b（不是 PyTorch 的 x @ W.T）。
- dh = D // num_heads；第 h 个头使用投影后 q、k、v 的第 h*dh:(h+1)*dh 列。
- 分数乘以 1/sqrt(dh)；softmax 沿 key 的维度做；各头按顺序拼接，再 @ W_o + b_o。
- cache：第一个 token 之前为 None，否则是 dict {"k": K, "v": V}，K、V 形状为 (B, H, t, dh)：之前 t 个
  token 投影后（含偏置）并拆好头的 key 和 value，按时间从旧到新排列。
  缓存可能是预填充的（已经处理过一段 prompt）：第一次调用时就可能 t > 0。
- 返回 (y_t, cache)：y_t 形状 (B, 1, D)；cache 为追加了当前 token 的 key 和 value 之后的缓存，
  形状 (B, H, t+1, dh)。可以更新传进来的 dict，也可以返回新的 dict；但不要写入传进来的数组，
  也不要修改 x_t 和 params。

时间上的循环由调用方负责；一步之内在 batch 和头上向量化。从空缓存开始把 x 的 token 逐个喂进去，
叠起来的 y_t 必须等于 mha_forward(x, x, x, params, num_heads, causal_mask)。全程 float64。

[English] Conventions (the same as mha_forward):
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
an empty cache, the stacked y_t must equal mha_forward(x, x, x, params, num_heads, causal_mask). float64
throughout.
"""

import numpy as np


def decode_step(x_t, cache, params, num_heads):
    """Return (y_t, cache): y_t (B, 1, D); cache {"k", "v"} of shape (B, H, t+1, dh)."""
    raise NotImplementedError("decode_step: 请实现 / write me")
