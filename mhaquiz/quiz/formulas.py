"""Registry of the formulas behind numeric questions.

A numeric question in ``questions/*.yaml`` never types its answer: it names a formula here
(``answer.formula``) and gives its parameters (``answer.params``). Every function is pure,
takes the question's params as keyword arguments and returns a number; its one-line docstring
states the formula and the source it comes from. Import-light on purpose (stdlib ``math`` only).

Counting conventions used throughout:
- FLOPs: one multiply-add counts as 2 FLOPs, so a (m, k) @ (k, n) matmul costs 2*m*k*n.
  Softmax, scaling and bias additions are lower-order terms and are left out.
- Bytes: KiB/MiB/GiB are powers of 1024.
"""

from __future__ import annotations

import math
from typing import Callable

GIB = 1024**3
MIB = 1024**2


# --- shapes -------------------------------------------------------------------------------


def d_head(d, heads):
    """d_head = d_model / heads (Vaswani et al. 2017, §3.2.2: d_k = d_v = d_model/h = 64)."""
    if d % heads:
        raise ValueError(f"d_model={d} is not divisible by heads={heads}")
    return d // heads


def score_entries(batch, heads, seq_q, seq_k):
    """Entries of the score tensor S = QK^T per layer: B*H*Tq*Tk (shape (B, H, Tq, Tk))."""
    return batch * heads * seq_q * seq_k


def score_entries_self(batch, heads, seq_len):
    """Entries of the self-attention score tensor per layer: B*H*T^2 (Vaswani Table 1, O(n^2 d))."""
    return batch * heads * seq_len * seq_len


def score_matrix_mib(batch, heads, seq_len, bytes_per_value):
    """Memory of one materialised score/probability tensor: B*H*T^2*bytes / 2^20 MiB (FlashAttention §1/§2.2)."""
    return batch * heads * seq_len * seq_len * bytes_per_value / MIB


def causal_allowed_entries(seq_len):
    """True entries of a T x T causal mask (lower triangle incl. diagonal): T(T+1)/2 (Vaswani §3.2.3)."""
    return seq_len * (seq_len + 1) // 2


# --- parameters ---------------------------------------------------------------------------


def mha_param_count(d):
    """MHA parameters with biases: 4*d^2 + 4*d (Q, K, V, O projections, each d x d plus d bias; PyTorch nn.MultiheadAttention)."""
    return 4 * d * d + 4 * d


def mha_param_count_no_bias(d, heads=None):
    """MHA parameters without biases: 4*d^2, independent of heads (W^Q, W^K, W^V over h heads plus W^O; Vaswani §3.2.2)."""
    if heads is not None:
        d_head(d, heads)  # only checks that heads divides d: the count does not depend on it
    return 4 * d * d


def gqa_param_count_no_bias(d, heads, kv_heads):
    """GQA projection parameters without biases: 2*d^2 + 2*d*kv_heads*(d/heads) (Q and O full, K and V per KV head; Ainslie et al. 2023 §2.2)."""
    if heads % kv_heads:
        raise ValueError(f"heads={heads} is not divisible by kv_heads={kv_heads}")
    return 2 * d * d + 2 * d * kv_heads * d_head(d, heads)


def ffn_param_count(d, d_ff):
    """Position-wise FFN parameters with biases: 2*d*d_ff + d_ff + d (Vaswani §3.3, Eq. 2)."""
    return 2 * d * d_ff + d_ff + d


# --- FLOPs (multiply-add = 2 FLOPs) ----------------------------------------------------------


def mha_projection_flops(n, d):
    """Forward FLOPs of the Q, K, V and output projections for n tokens: 8*n*d^2 (Hoffmann et al. 2022, App. F: 2*3*n*d^2 + 2*n*d^2)."""
    return 8 * n * d * d


def attention_core_flops(n, d):
    """Forward FLOPs of QK^T plus P@V over all heads for n tokens: 4*n^2*d (Hoffmann et al. 2022, App. F: 2*n^2*d + 2*n^2*d)."""
    return 4 * n * n * d


def mha_forward_flops(n, d):
    """Forward FLOPs of one MHA layer, softmax ignored: 8*n*d^2 + 4*n^2*d (Hoffmann et al. 2022, App. F)."""
    return mha_projection_flops(n, d) + attention_core_flops(n, d)


def attention_flops_crossover_n(d):
    """Sequence length where 4*n^2*d equals 8*n*d^2, i.e. n = 2*d (from Hoffmann et al. 2022, App. F terms)."""
    return 2 * d


# --- KV cache, MQA / GQA -----------------------------------------------------------------


def kv_cache_bytes(layers, kv_heads, d_head, seq_len, batch, bytes_per_value):
    """KV cache bytes = 2 (K and V) * layers * kv_heads * d_head * seq_len * batch * bytes_per_value (Kwon et al. 2023, vLLM §3)."""
    return 2 * layers * kv_heads * d_head * seq_len * batch * bytes_per_value


def kv_cache_gib(layers, kv_heads, d_head, seq_len, batch, bytes_per_value):
    """KV cache in GiB = 2*layers*kv_heads*d_head*seq_len*batch*bytes_per_value / 2^30 (Kwon et al. 2023, vLLM §3)."""
    return kv_cache_bytes(layers, kv_heads, d_head, seq_len, batch, bytes_per_value) / GIB


def kv_cache_bytes_per_token(layers, kv_heads, d_head, bytes_per_value):
    """KV cache bytes per token = 2*layers*kv_heads*d_head*bytes_per_value (vLLM §3: OPT-13B 2*5120*40*2 = 800 KB)."""
    return kv_cache_bytes(layers, kv_heads, d_head, 1, 1, bytes_per_value)


def gqa_kv_cache_reduction(heads, kv_heads):
    """KV-cache shrink factor of GQA vs MHA with the same query heads: heads / kv_heads (G=H is MHA, G=1 is MQA; Ainslie et al. 2023 §2.2)."""
    if heads % kv_heads:
        raise ValueError(f"heads={heads} is not divisible by kv_heads={kv_heads}")
    return heads // kv_heads


# --- scaling, positions ------------------------------------------------------------------


def dot_product_std(d_k):
    """Std of q.k for independent mean-0 variance-1 components: sqrt(d_k) (Vaswani et al. 2017, footnote 4: variance d_k)."""
    return math.sqrt(d_k)


def alibi_slope(heads, head_index):
    """ALiBi slope of head i (1-based) for a power-of-two head count: 2^(-8*i/heads) (Press et al. 2022, §3; 8 heads: 1/2 ... 1/2^8)."""
    if heads & (heads - 1) or not 1 <= head_index <= heads:
        raise ValueError("alibi_slope needs a power-of-two head count and 1 <= head_index <= heads")
    return 2.0 ** (-8.0 * head_index / heads)


def rope_theta(i, d, base=10000):
    """RoPE frequency of pair i (1-based): theta_i = base^(-2(i-1)/d) (Su et al. 2021, RoFormer §3.2.2, Eq. 15)."""
    if not 1 <= i <= d // 2:
        raise ValueError("rope_theta needs 1 <= i <= d/2")
    return base ** (-2.0 * (i - 1) / d)


def rope_rotation_angle(pos, i, d, base=10000):
    """Rotation angle (radians) of pair i at position m: m * theta_i (Su et al. 2021, RoFormer §3.2.2)."""
    return pos * rope_theta(i, d, base)


def sinusoid_wavelength(i, d_model):
    """Wavelength of sinusoidal PE dimension pair i (0-based): 2*pi*10000^(2i/d_model) (Vaswani §3.5, 2*pi to 10000*2*pi)."""
    return 2 * math.pi * 10000 ** (2.0 * i / d_model)


# --- training ----------------------------------------------------------------------------


def transformer_lr(step, d_model, warmup):
    """lrate = d_model^-0.5 * min(step^-0.5, step * warmup^-1.5) (Vaswani et al. 2017, §5.3, Eq. 3)."""
    if step < 1:
        raise ValueError("step must be >= 1")
    return d_model**-0.5 * min(step**-0.5, step * warmup**-1.5)


def label_smoothed_target(eps, vocab):
    """Target probability of the true class under label smoothing: (1 - eps) + eps/K (Szegedy et al. 2016, §7)."""
    return (1 - eps) + eps / vocab


# --- gradient checking -------------------------------------------------------------------


def central_difference_forwards(d):
    """Forward passes for a full central-difference check of one MHA layer with biases: 2*(4d^2 + 4d) (two per parameter; CS231n gradient-check notes)."""
    return 2 * mha_param_count(d)


FORMULAS: dict[str, Callable[..., float]] = {
    f.__name__: f
    for f in (
        d_head,
        score_entries,
        score_entries_self,
        score_matrix_mib,
        causal_allowed_entries,
        mha_param_count,
        mha_param_count_no_bias,
        gqa_param_count_no_bias,
        ffn_param_count,
        mha_projection_flops,
        attention_core_flops,
        mha_forward_flops,
        attention_flops_crossover_n,
        kv_cache_bytes,
        kv_cache_gib,
        kv_cache_bytes_per_token,
        gqa_kv_cache_reduction,
        dot_product_std,
        alibi_slope,
        rope_theta,
        rope_rotation_angle,
        sinusoid_wavelength,
        transformer_lr,
        label_smoothed_target,
        central_difference_forwards,
    )
}
