"""Transformer 解码层（Pre-LN，GPT-2 的 block），用 NumPy 实现（float64）/ A pre-LN Transformer decoder layer (GPT-2's block), in NumPy (float64).

【中文】约定：
- x：(B, T, D)。返回 y，形状 (B, T, D)：
      h = x + MHA(LN1(x), mask)
      y = h + FFN(LN2(h))
  这是 Pre-LN（GPT-2、nanoGPT 的顺序）：LN 在子层的输入上，残差加的是原始的 x（和 h），加完以后不再做 LN。
- LayerNorm 沿最后一维（特征维）：(z - mean) / sqrt(var + eps) * gamma + beta，方差是有偏的（除以 D），
  eps 在根号里面。LN1 用 params["ln1_gamma"]、params["ln1_beta"]，LN2 用 params["ln2_gamma"]、params["ln2_beta"]，
  两者都用 params["eps"]（每个用例可能不同，不要写死）。
- MHA 与 mha_forward 完全相同（自注意力，q = k = v = LN1(x)）：params 里 "W_q"、"W_k"、"W_v"、"W_o" 为 (D, D)，
  "b_q"、"b_k"、"b_v"、"b_o" 为 (D,)；投影是 z @ W + b（不是 PyTorch 的 z @ W.T）；dh = D // num_heads，
  第 h 个头用第 h*dh:(h+1)*dh 列；分数乘以 1/sqrt(dh)；softmax 沿 key 维；各头按顺序拼接再 @ W_o + b_o。
- mask：可广播到 (B, T, T) 的布尔数组（评测用 (T, T) 或 (B, T, T)），True 表示“这个 query 可以看这个 key”。
  本层不自己加因果 mask：调用者传进来的 mask（因果，或因果加 padding）原样使用。mask=None 表示不遮挡（不评测）。
- FFN(z) = gelu(z @ W_1 + b_1) @ W_2 + b_2，W_1：(D, F)，b_1：(F,)，W_2：(F, D)，b_2：(D,)。
  gelu 用 GPT-2 的 tanh 近似：gelu(u) = 0.5·u·(1 + tanh(sqrt(2/π)·(u + 0.044715·u³)))，
  不是精确的 erf 形式 u·Φ(u)（nn.GELU() 的默认），也不是 ReLU。
- 全程 float64。不要修改输入。不需要在 batch、头或位置上写 Python 循环。

[English] Conventions:
- x: (B, T, D). Return y, shape (B, T, D):
      h = x + MHA(LN1(x), mask)
      y = h + FFN(LN2(h))
  This is pre-LN (GPT-2's and nanoGPT's order): the norm on each sub-layer's INPUT, the residual adding the
  raw x (and h), and no norm after the add.
- LayerNorm over the last axis (the features): (z - mean) / sqrt(var + eps) * gamma + beta, with the biased
  variance (divided by D) and eps INSIDE the square root. LN1 uses params["ln1_gamma"], params["ln1_beta"],
  LN2 params["ln2_gamma"], params["ln2_beta"]; both use params["eps"] (it varies between cases: never hard-wire it).
- MHA exactly as mha_forward (self-attention, q = k = v = LN1(x)): params "W_q", "W_k", "W_v", "W_o" of
  shape (D, D) and "b_q", "b_k", "b_v", "b_o" of shape (D,); projections are z @ W + b (NOT PyTorch's
  z @ W.T); dh = D // num_heads, head h owns columns h*dh:(h+1)*dh; scores scaled by 1/sqrt(dh); softmax over
  the keys; heads concatenated in order, then @ W_o + b_o.
- mask: a boolean array broadcastable to (B, T, T) ((T, T) or (B, T, T) in the graded cases); True means "this
  query MAY attend to this key". The layer adds NO causal mask of its own: the caller's mask (causal, or causal
  and padding) is used as given. mask=None means no masking (not graded).
- FFN(z) = gelu(z @ W_1 + b_1) @ W_2 + b_2 with W_1 (D, F), b_1 (F,), W_2 (F, D), b_2 (D,).
  gelu is GPT-2's TANH APPROXIMATION: gelu(u) = 0.5·u·(1 + tanh(sqrt(2/pi)·(u + 0.044715·u^3))),
  NOT the exact erf form u·Phi(u) (nn.GELU()'s default), and not ReLU.
- float64 throughout. Do not modify the inputs. No Python loops over batch, heads or positions needed.
"""

import numpy as np


def transformer_block(x, params, num_heads, mask=None):
    """Return the layer's output, shape (B, T, D)."""
    raise NotImplementedError("transformer_block: 请实现 / write me")
