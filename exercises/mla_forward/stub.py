"""DeepSeek-V2 的多头潜在注意力（MLA），前向传播，用 NumPy 实现（float64）/ DeepSeek-V2's multi-head latent
attention (MLA), forward pass, in NumPy (float64).

【中文】约定（DeepSeek-V2 论文 arXiv 2405.04434 §2.1 式 9-19，改写成 x @ W，W 的形状为 (输入, 输出)）：
- h：(B, T, D)，T 个 token 的注意力输入。num_heads = H。
- positions：整数数组 (T,)，每个 token 的绝对位置（不一定从 0 开始），batch 内共用。rope_base：RoPE 的 base。
- params（全部没有偏置）：
    "W_DQ"  (D, d_cq) 或 None    c_q = h @ W_DQ；为 None 时不压缩 query，c_q = h（d_cq = D）
    "W_UQ"  (d_cq, H*d_h)        q_C = c_q @ W_UQ
    "W_QR"  (d_cq, H*d_R)        q_R = RoPE(c_q @ W_QR)，每个头 d_R 维
    "W_DKV" (D, d_c)             c_kv = h @ W_DKV（KV 的联合压缩潜向量）
    "W_UK"  (d_c, H*d_h)         k_C = c_kv @ W_UK
    "W_UV"  (d_c, H*d_h)         v   = c_kv @ W_UV
    "W_KR"  (D, d_R)             k_R = RoPE(h @ W_KR)：只有一个，所有头共享（从 h 算，不是从 c_kv）
    "W_O"   (H*d_h, D)           u = [o_1; ...; o_H] @ W_O
  d_h = W_UK 的列数 // H，d_R = W_KR 的列数（偶数）。第 i 个头使用 q_C、k_C、v 的第 i*d_h:(i+1)*d_h 列，
  以及 q_R 的第 i*d_R:(i+1)*d_R 列。
- 拼接：q_i = [q_C,i ; q_R,i]，k_i = [k_C,i ; k_R]（内容部分在前，q 和 k 顺序一致）。
- 分数 = q_i · k_j / sqrt(d_h + d_R)；因果 mask：第 t 个 token 只看 j <= t（按 h 中的下标）；softmax 沿 key。
- RoPE：“前后两半”配对（rotate_half，与 rope 练习相同）：第 j 维与第 j + d/2 维一对，在位置 m 旋转
  m · base^(-2j/d)。只旋转 q_R 和 k_R。
- 返回 (u, cache)：u 形状 (B, T, D)；cache = {"c_kv": (B, T, d_c), "k_rope": (B, T, d_R)}，
  即 MLA 每个 token 要缓存的东西（k_rope 是旋转之后的 k_R）。
- 全程 float64。不要修改输入。不需要在 batch、头或位置上写 Python 循环。

[English] Conventions (DeepSeek-V2, arXiv 2405.04434, section 2.1, equations 9-19, written x @ W with W of
shape (in, out)):
- h: (B, T, D), the attention input of T tokens. num_heads = H.
- positions: integer array (T,), each token's absolute position (it need not start at 0), shared by the
  batch. rope_base: RoPE's base.
- params (no biases anywhere):
    "W_DQ"  (D, d_cq) or None    c_q = h @ W_DQ; None means no query compression: c_q = h (d_cq = D)
    "W_UQ"  (d_cq, H*d_h)        q_C = c_q @ W_UQ
    "W_QR"  (d_cq, H*d_R)        q_R = RoPE(c_q @ W_QR), d_R per head
    "W_DKV" (D, d_c)             c_kv = h @ W_DKV (the joint key-value latent)
    "W_UK"  (d_c, H*d_h)         k_C = c_kv @ W_UK
    "W_UV"  (d_c, H*d_h)         v   = c_kv @ W_UV
    "W_KR"  (D, d_R)             k_R = RoPE(h @ W_KR): ONE key, shared by every head (from h, not from c_kv)
    "W_O"   (H*d_h, D)           u = [o_1; ...; o_H] @ W_O
  d_h = W_UK's columns // H, d_R = W_KR's columns (even). Head i owns columns i*d_h:(i+1)*d_h of q_C, k_C
  and v, and columns i*d_R:(i+1)*d_R of q_R.
- Concatenation: q_i = [q_C,i ; q_R,i], k_i = [k_C,i ; k_R] (content first, the same order for q and k).
- scores = q_i . k_j / sqrt(d_h + d_R); causal: token t sees tokens j <= t (indices within h); softmax
  over the keys.
- RoPE: the half-split pairing (rotate_half, as in the rope exercise): dimension j pairs with j + d/2 and
  turns by m * base^(-2j/d) at position m. Only q_R and k_R are rotated.
- Return (u, cache): u of shape (B, T, D); cache = {"c_kv": (B, T, d_c), "k_rope": (B, T, d_R)}, what
  MLA caches per token (k_rope is k_R after RoPE).
- float64 throughout. Do not modify the inputs. No Python loops over batch, heads or positions needed.
"""

import numpy as np


def mla_forward(h, params, num_heads, positions, rope_base=10000.0):
    """Return (u (B, T, D), {"c_kv": (B, T, d_c), "k_rope": (B, T, d_R)})."""
    raise NotImplementedError("mla_forward: 请实现 / write me")
