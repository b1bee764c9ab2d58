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


# --- normalization and LLM architecture ----------------------------------------------------


def layernorm_param_count(d):
    """LayerNorm parameters over d features with affine weight and bias: 2*d (PyTorch nn.LayerNorm: gamma and beta of normalized_shape)."""
    return 2 * d


def rmsnorm_prenorm_param_count(layers, d):
    """RMSNorm gains of a Llama-style pre-norm decoder: (2*layers + 1)*d (attention_norm and ffn_norm per block plus the final norm; meta-llama/llama model.py)."""
    return (2 * layers + 1) * d


def layernorm_unbiased_shrink_factor(d):
    """How many times smaller the outputs are when normalising by the unbiased std instead of the biased one (eps ignored): sqrt(d/(d-1)) (PyTorch LayerNorm uses the biased estimator)."""
    if d < 2:
        raise ValueError("layernorm_unbiased_shrink_factor needs d >= 2")
    return math.sqrt(d / (d - 1))


def deepnorm_alpha_decoder_only(layers):
    """DeepNorm residual scale for an N-layer decoder-only model: alpha = (2N)^(1/4) (Wang et al. 2022, DeepNet, arXiv 2203.00555, Figure 2)."""
    return (2.0 * layers) ** 0.25


def glu_matched_hidden(d_ff):
    """Hidden size of a three-matrix GLU-variant FFN matched to a two-matrix FFN: 2*d_ff/3 (Shazeer 2020, arXiv 2002.05202, §2 and §3.1: 3072 -> 2048)."""
    if (2 * d_ff) % 3:
        raise ValueError(f"2*d_ff/3 is not an integer for d_ff={d_ff}")
    return 2 * d_ff // 3


def swiglu_ffn_param_count(d, d_ff):
    """SwiGLU FFN parameters without biases: 3*d*d_ff (W, V of d x d_ff and W2 of d_ff x d; Shazeer 2020, arXiv 2002.05202, Eq. 6)."""
    return 3 * d * d_ff


def llama_ffn_hidden_dim(dim, multiple_of=256):
    """Llama SwiGLU hidden size: int(2*(4*dim)/3) rounded up to a multiple of multiple_of (meta-llama/llama model.py FeedForward; 4096 -> 11008)."""
    hidden = int(2 * (4 * dim) / 3)
    return multiple_of * ((hidden + multiple_of - 1) // multiple_of)


def prefix_lm_allowed_entries(seq_len, prefix_len):
    """True entries of a prefix-LM mask (fully visible over the prefix, causal after it): T(T+1)/2 + P(P-1)/2 (Raffel et al. 2020, T5, §3.2.1, Figure 3)."""
    if not 0 <= prefix_len <= seq_len:
        raise ValueError("prefix_lm_allowed_entries needs 0 <= prefix_len <= seq_len")
    return seq_len * (seq_len + 1) // 2 + prefix_len * (prefix_len - 1) // 2


FORMULAS.update(
    {
        f.__name__: f
        for f in (
            layernorm_param_count,
            rmsnorm_prenorm_param_count,
            layernorm_unbiased_shrink_factor,
            deepnorm_alpha_decoder_only,
            glu_matched_hidden,
            swiglu_ffn_param_count,
            llama_ffn_hidden_dim,
            prefix_lm_allowed_entries,
        )
    }
)


# --- inference ----------------------------------------------------------------------------
# Serving (prefill/decode, PagedAttention, chunked prefill, MLA) and RoPE context extension.


def linear_arithmetic_intensity(tokens, d_in, d_out, bytes_per_value):
    """FLOPs per byte of a linear layer on T tokens: 2*T*d_in*d_out / (bytes*(T*d_in + d_in*d_out + T*d_out)) (NVIDIA GPU Performance Background guide: 1024 -> 4096 layer in FP16, batch 512 -> 315, batch 1 -> 1)."""
    if min(tokens, d_in, d_out, bytes_per_value) <= 0:
        raise ValueError("linear_arithmetic_intensity needs positive sizes")
    flops = 2 * tokens * d_in * d_out
    moved = bytes_per_value * (tokens * d_in + d_in * d_out + tokens * d_out)
    return flops / moved


def paged_kv_blocks(seq_len, block_size):
    """KV-cache blocks a sequence occupies under PagedAttention: ceil(seq_len / block_size) (vLLM blog 'Inside vLLM', 2025: 17 new tokens, 16 per block -> 2 blocks)."""
    if seq_len < 0 or block_size <= 0:
        raise ValueError("paged_kv_blocks needs seq_len >= 0 and block_size > 0")
    return -(-seq_len // block_size)


def chunked_prefill_allowed_entries(past_len, chunk_len):
    """Allowed entries of the (chunk, past + chunk) causal mask where row i sees keys j <= past + i: chunk*past + chunk*(chunk+1)/2 (meta-llama/llama3 model.py, Transformer.forward)."""
    if past_len < 0 or chunk_len < 0:
        raise ValueError("chunked_prefill_allowed_entries needs non-negative lengths")
    return chunk_len * past_len + chunk_len * (chunk_len + 1) // 2


def mla_kv_cache_elements_per_token(d_c, d_rope, layers):
    """MLA KV-cache elements per token over all layers: (d_c + d_h^R) * layers (DeepSeek-V2, arXiv 2405.04434, §2.1.3 and Table 1)."""
    return (d_c + d_rope) * layers


def mla_equivalent_gqa_groups(d_c, d_rope, d_head):
    """GQA group count with the same KV cache as MLA: (d_c + d_h^R) / (2*d_h) (DeepSeek-V2, arXiv 2405.04434, Table 1: d_c = 4 d_h, d_h^R = d_h/2 -> 2.25 groups)."""
    return (d_c + d_rope) / (2 * d_head)


def kv_heads_to_mla_cache_ratio(kv_heads, d_head, d_c, d_rope):
    """KV cache of an attention with n KV heads relative to MLA, per token and layer: 2*n*d_h / (d_c + d_h^R) (DeepSeek-V2, arXiv 2405.04434, Table 1)."""
    return 2 * kv_heads * d_head / (d_c + d_rope)


def pi_scaled_position(pos, train_len, target_len):
    """Position Interpolation: position m is fed to RoPE as m * L / L' (Chen et al. 2023, arXiv 2306.15595, Figure 1: [0, 4096] squeezed into [0, 2048] for a 2048-token model)."""
    if not (0 < train_len <= target_len and 0 <= pos <= target_len):
        raise ValueError("pi_scaled_position needs 0 < train_len <= target_len and 0 <= pos <= target_len")
    return pos * train_len / target_len


def ntk_aware_base(base, scale, d):
    """NTK-aware RoPE base for scale s and head dimension |D|: b' = b * s^(|D|/(|D|-2)) (Peng et al. 2023, YaRN, arXiv 2309.00071, §3.1 Definition 1 and Appendix A.1)."""
    if d <= 2 or scale < 1:
        raise ValueError("ntk_aware_base needs d > 2 and scale >= 1")
    return base * scale ** (d / (d - 2))


def yarn_attention_scale(scale):
    """YaRN attention factor sqrt(1/t) = 0.1*ln(s) + 1 recommended for LLaMA / Llama 2 (Peng et al. 2023, YaRN, arXiv 2309.00071, §3.4; Appendix A.2: s = 8 -> about 1.208)."""
    if scale < 1:
        raise ValueError("yarn_attention_scale needs scale >= 1")
    return 0.1 * math.log(scale) + 1


def rope_wavelength(i, d, base=10000):
    """Tokens for one full turn of RoPE pair i (1-based): 2*pi / theta_i = 2*pi * base^(2(i-1)/d) (YaRN, arXiv 2309.00071, §2.3; RoFormer §3.2.2)."""
    return 2 * math.pi / rope_theta(i, d, base)


FORMULAS.update(
    {
        f.__name__: f
        for f in (
            linear_arithmetic_intensity,
            paged_kv_blocks,
            chunked_prefill_allowed_entries,
            mla_kv_cache_elements_per_token,
            mla_equivalent_gqa_groups,
            kv_heads_to_mla_cache_ratio,
            pi_scaled_position,
            ntk_aware_base,
            yarn_attention_scale,
            rope_wavelength,
        )
    }
)


# --- MoE, decoding, memory arithmetic, quantization ---------------------------------------
# (anchor A: formulas for these topics go above this line)


# --- parallelism, sliding window, tokenization, speculative decoding, MTP ----------------
# (anchor B: formulas for these topics go above this line)


# --- mixed precision, model size and FLOPs, KV reuse, decode kernels, alternatives, LoRA ---
# (anchor C: formulas for these topics go above this line)
