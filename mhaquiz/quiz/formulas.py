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
# MoE: routing, capacity, load balancing, parameter counts


def switch_expert_capacity(tokens, experts, capacity_factor):
    """Tokens one expert can take: (tokens per batch / experts) * capacity factor (Fedus et al. 2021, Switch Transformers, arXiv 2101.03961, §2.2, Eq. 3)."""
    capacity = tokens / experts * capacity_factor
    if tokens <= 0 or experts <= 0 or capacity_factor <= 0 or not float(capacity).is_integer():
        raise ValueError("switch_expert_capacity needs positive sizes giving a whole number of tokens")
    return int(capacity)


def moe_dropped_tokens(tokens, experts, capacity_factor, routed):
    """Tokens an expert drops when `routed` tokens choose it: max(0, routed - capacity) (Switch Transformers, arXiv 2101.03961, §2.2: overflow tokens skip the expert through the residual)."""
    if not 0 <= routed <= tokens:
        raise ValueError("moe_dropped_tokens needs 0 <= routed <= tokens")
    return max(0, routed - switch_expert_capacity(tokens, experts, capacity_factor))


def switch_balance_loss_concentrated(alpha, experts, used):
    """Switch load-balancing loss alpha*N*sum f_i*P_i when `used` of the N experts each get 1/used of the tokens and of the router probability: alpha*N/used (arXiv 2101.03961, §2.2, Eq. 4-6)."""
    if not 1 <= used <= experts:
        raise ValueError("switch_balance_loss_concentrated needs 1 <= used <= experts")
    return alpha * experts / used  # N * used * (1/used) * (1/used)


def moe_routing_combinations(experts, top_k):
    """Expert sets a token can be routed to: C(N, k) (Dai et al. 2024, DeepSeekMoE, arXiv 2401.06066, §3.1: C(16, 2) = 120, C(64, 8) = 4,426,165,368)."""
    if not 1 <= top_k <= experts:
        raise ValueError("moe_routing_combinations needs 1 <= top_k <= experts")
    return math.comb(experts, top_k)


def moe_param_count(layers, d, d_ff, heads, kv_heads, vocab, experts, experts_used):
    """Parameters of a Mixtral-style MoE counting `experts_used` SwiGLU experts per layer: L*(attention + d*experts + 3*d*d_ff*experts_used + 2d) + 2*vocab*d + d (Jiang et al. 2024, Mixtral, arXiv 2401.04088: 47B total, 13B active)."""
    if d % heads or heads % kv_heads or not 1 <= experts_used <= experts:
        raise ValueError("moe_param_count needs heads | d, kv_heads | heads and 1 <= experts_used <= experts")
    d_head = d // heads
    attention = 2 * d * d + 2 * d * kv_heads * d_head  # W_q and W_o full, W_k and W_v per KV head
    router = d * experts  # the gate scores every expert
    per_layer = attention + router + 3 * d * d_ff * experts_used + 2 * d  # two RMSNorm weights
    return layers * per_layer + 2 * vocab * d + d  # untied embedding and output, final norm


# decoding


def temperature_top_prob_two(gap, temperature):
    """Probability of the larger of two logits a gap apart after temperature T: 1/(1 + exp(-gap/T)) (Holtzman et al. 2019, arXiv 1904.09751, §3.3, Eq. 3)."""
    if temperature <= 0:
        raise ValueError("temperature_top_prob_two needs temperature > 0")
    return 1 / (1 + math.exp(-gap / temperature))


def top_p_nucleus_size_geometric(ratio, top_p):
    """Size of the top-p nucleus when the sorted probabilities are (1-r)*r^(i-1): the smallest k with 1 - r^k >= p (Holtzman et al. 2019, arXiv 1904.09751, §3.1, Eq. 2)."""
    if not (0 < ratio < 1 and 0 < top_p < 1):
        raise ValueError("top_p_nucleus_size_geometric needs 0 < ratio < 1 and 0 < top_p < 1")
    k, mass = 1, 1 - ratio
    while mass < top_p - 1e-12:
        k += 1
        mass += (1 - ratio) * ratio ** (k - 1)
    return k


def repetition_penalized_logit(logit, penalty):
    """A seen token's logit under the CTRL repetition penalty as transformers applies it: logit/penalty if logit > 0, else logit*penalty (Keskar et al. 2019, CTRL, arXiv 1909.05858, §4.1; transformers RepetitionPenaltyLogitsProcessor)."""
    if penalty <= 0:
        raise ValueError("repetition_penalized_logit needs penalty > 0")
    return logit * penalty if logit < 0 else logit / penalty


# memory arithmetic (GB = 10^9 bytes, as the ZeRO paper counts)


def weights_gb(params_billion, bytes_per_param):
    """Memory of the weights alone: params * bytes per param, in GB of 10^9 bytes (Rajbhandari et al. 2020, ZeRO, arXiv 1910.02054, §3.1: 1.5B params in fp16 = 3 GB)."""
    return params_billion * bytes_per_param


def mixed_precision_adam_gb(params_billion):
    """Model states of mixed-precision Adam training: (2 + 2 + 12) bytes per parameter = 16*Psi, in GB (ZeRO, arXiv 1910.02054, §3.1: 1.5B params -> 24 GB)."""
    return 16 * params_billion


def zero_model_state_gb(params_billion, gpus, stage, k=12):
    """Per-GPU model states under ZeRO-DP stage 0-3: (2+2+K)Psi, 4Psi + K*Psi/N, 2Psi + (2+K)Psi/N, (4+K)Psi/N, in GB (ZeRO, arXiv 1910.02054, Figure 1: 7.5B, N = 64 -> 120, 31.4, 16.6, 1.9 GB)."""
    psi, n = params_billion, gpus
    per_stage = {0: (4 + k) * psi, 1: 4 * psi + k * psi / n, 2: 2 * psi + (2 + k) * psi / n, 3: (4 + k) * psi / n}
    if stage not in per_stage or gpus < 1:
        raise ValueError("zero_model_state_gb needs stage 0, 1, 2 or 3 and gpus >= 1")
    return per_stage[stage]


def activation_memory_gb(seq_len, batch, hidden, heads, layers):
    """Activations stored for the backward of a GPT layer stack, 16-bit, no parallelism or recomputation: L*s*b*h*(34 + 5*a*s/h) bytes, in GB (Korthikanti et al. 2022, arXiv 2205.05198, §4.1, Eq. 1)."""
    per_layer = seq_len * batch * hidden * (34 + 5 * heads * seq_len / hidden)
    return layers * per_layer / 1e9


# quantization


def absmax_int8(value, absmax):
    """Absmax INT8 code of a value: round(127 * x / max|X|) (Dettmers et al. 2022, LLM.int8(), arXiv 2208.07339, §2.1)."""
    if absmax <= 0 or abs(value) > absmax:
        raise ValueError("absmax_int8 needs 0 < absmax and |value| <= absmax")
    return round(127 * value / absmax)


def smoothquant_scale(act_max, weight_max, alpha):
    """SmoothQuant per-channel smoothing factor s_j = max|X_j|^alpha / max|W_j|^(1 - alpha) (Xiao et al. 2023, arXiv 2211.10438, §4, Eq. 4)."""
    if act_max <= 0 or weight_max <= 0 or not 0 <= alpha <= 1:
        raise ValueError("smoothquant_scale needs positive maxima and 0 <= alpha <= 1")
    return act_max**alpha / weight_max ** (1 - alpha)


def quantized_weights_gb(params_billion, bits, group_size):
    """Weight memory with b-bit group-wise quantization and one FP16 scale per group: params * (b + 16/g) / 8 bytes, in GB (Lin et al. 2024, AWQ, arXiv 2306.00978, §3 and §5: INT4, group size 128)."""
    if bits <= 0 or group_size <= 0:
        raise ValueError("quantized_weights_gb needs positive bits and group size")
    return params_billion * (bits + 16 / group_size) / 8


FORMULAS.update(
    {
        f.__name__: f
        for f in (
            switch_expert_capacity,
            moe_dropped_tokens,
            switch_balance_loss_concentrated,
            moe_routing_combinations,
            moe_param_count,
            temperature_top_prob_two,
            top_p_nucleus_size_geometric,
            repetition_penalized_logit,
            weights_gb,
            mixed_precision_adam_gb,
            zero_model_state_gb,
            activation_memory_gb,
            absmax_int8,
            smoothquant_scale,
            quantized_weights_gb,
        )
    }
)


# (anchor A: formulas for these topics go above this line)


# --- parallelism, sliding window, tokenization, speculative decoding, MTP ----------------
def tp_heads_per_rank(heads, tp):
    """Attention heads each tensor-parallel rank computes: heads / tp (Shoeybi et al. 2019, Megatron-LM, arXiv 1909.08053, §3: QKV split column-wise by head)."""
    if tp <= 0 or heads % tp:
        raise ValueError(f"heads={heads} is not divisible by tp={tp}")
    return heads // tp


def tp_kv_heads_per_rank(kv_heads, tp):
    """KV heads held per tensor-parallel rank: kv_heads / tp, or 1 (replicated) when kv_heads <= tp (vLLM QKVParallelLinear; Megatron-Core: kv heads a multiple or divisor of tp)."""
    if tp <= 0 or (kv_heads % tp and tp % kv_heads):
        raise ValueError(f"kv_heads={kv_heads} must be a multiple or a divisor of tp={tp}")
    return max(1, kv_heads // tp)


def megatron_padded_vocab(vocab, tp, multiple=128):
    """Vocabulary padded so each tensor-parallel shard is a multiple of 128: ceil(V / (128*tp)) * 128*tp (Megatron-LM, arXiv 1909.08053, §5.1: 50,257 -> 51,200 for tp = 8)."""
    if vocab <= 0 or tp <= 0 or multiple <= 0:
        raise ValueError("megatron_padded_vocab needs positive sizes")
    step = multiple * tp
    return -(-vocab // step) * step


def tp_sp_activation_ratio(seq_len, hidden, heads, tp):
    """Activation memory per layer with tensor parallelism only over tensor + sequence parallelism: (10 + 24/t + 5as/(ht)) / ((34 + 5as/h)/t) (Korthikanti et al. 2022, arXiv 2205.05198, Table 2)."""
    if min(seq_len, hidden, heads, tp) <= 0:
        raise ValueError("tp_sp_activation_ratio needs positive sizes")
    scores = 5 * heads * seq_len / hidden
    return (10 + 24 / tp + scores / tp) / ((34 + scores) / tp)


def ring_attention_min_block(tflops, bandwidth_gbs):
    """Smallest block size (tokens) for which Ring Attention hides the KV transfer behind compute: c >= F/B (Liu et al. 2023, arXiv 2310.01889, §3 and Table 2: A100 NVLink 312 TF, 300 GB/s -> about 1.0e3)."""
    if tflops <= 0 or bandwidth_gbs <= 0:
        raise ValueError("ring_attention_min_block needs positive FLOPS and bandwidth")
    return tflops * 1e12 / (bandwidth_gbs * 1e9)


def swa_receptive_field(window, layers):
    """Tokens a sliding-window model can reach after L layers: W * L (Jiang et al. 2023, Mistral 7B, arXiv 2310.06825, §2: W = 4096, 32 layers -> about 131K)."""
    if window <= 0 or layers <= 0:
        raise ValueError("swa_receptive_field needs a positive window and layer count")
    return window * layers


def rolling_buffer_slot(pos, window):
    """Slot of position i in a rolling-buffer KV cache of size W: i mod W (Mistral 7B, arXiv 2310.06825, §2 'Rolling Buffer Cache')."""
    if pos < 0 or window <= 0:
        raise ValueError("rolling_buffer_slot needs pos >= 0 and window > 0")
    return pos % window


def swa_kv_cache_reduction(seq_len, window, local_layers, global_layers):
    """KV cache of an all-global model over one with local (window W) and global layers: (n_l + n_g)*T / (n_l*min(T, W) + n_g*T) (Mistral 7B, arXiv 2310.06825, §2: 32K tokens, W = 4096 -> 8x)."""
    if seq_len <= 0 or window <= 0 or local_layers < 0 or global_layers < 0 or local_layers + global_layers == 0:
        raise ValueError("swa_kv_cache_reduction needs positive lengths and at least one layer")
    full = (local_layers + global_layers) * seq_len
    return full / (local_layers * min(seq_len, window) + global_layers * seq_len)


def sliding_window_allowed_entries(seq_len, window):
    """True entries of a causal sliding-window mask where query i sees keys i-W+1..i: sum over i of min(i+1, W) (Mistral 7B, arXiv 2310.06825, §2; W >= T gives T(T+1)/2)."""
    if seq_len < 0 or window <= 0:
        raise ValueError("sliding_window_allowed_entries needs seq_len >= 0 and window > 0")
    w = min(window, seq_len)
    return w * (w + 1) // 2 + (seq_len - w) * window


def bpe_vocab_size(base_symbols, merges, special_tokens=0):
    """BPE vocabulary = initial symbols + merge operations (+ special tokens) (Sennrich et al. 2016, arXiv 1508.07909, §3.2; GPT-2: 256 bytes + 50,000 merges + 1 = 50,257)."""
    if min(base_symbols, merges, special_tokens) < 0:
        raise ValueError("bpe_vocab_size needs non-negative counts")
    return base_symbols + merges + special_tokens


def wordpiece_pair_score(pair_freq, first_freq, second_freq):
    """WordPiece merge score: freq(pair) / (freq(first) * freq(second)) (Hugging Face LLM Course, chapter 6.6 'WordPiece tokenization': ('##g', '##s') scores 1/20)."""
    if pair_freq < 0 or first_freq <= 0 or second_freq <= 0 or pair_freq > min(first_freq, second_freq):
        raise ValueError("wordpiece_pair_score needs 0 <= pair_freq <= both element frequencies")
    return pair_freq / (first_freq * second_freq)


def embedding_param_count(vocab, d, tied=True):
    """Token-embedding parameters: V*d when the output layer shares the input embedding, 2*V*d when not (Gemma 2, arXiv 2408.00118, Tables 1-2: 256,128 x 2304 = 590,118,912, tied)."""
    if vocab <= 0 or d <= 0:
        raise ValueError("embedding_param_count needs positive sizes")
    return vocab * d * (1 if tied else 2)


def compression_cost_ratio(chars_per_token_old, chars_per_token_new, power=1):
    """Cost for the same text with the old tokenizer over the new one when cost grows as tokens^p: (c_new / c_old)^p (Llama 3, arXiv 2407.21783, §3.2: 3.17 -> 3.94 characters per token)."""
    if chars_per_token_old <= 0 or chars_per_token_new <= 0:
        raise ValueError("compression_cost_ratio needs positive compression rates")
    return (chars_per_token_new / chars_per_token_old) ** power


def spec_accept_prob(p, q):
    """Probability that speculative sampling keeps a draft token x: min(1, p(x)/q(x)) (Leviathan et al. 2023, arXiv 2211.17192, §2.3 and Algorithm 1)."""
    if not (0 <= p <= 1 and 0 < q <= 1):
        raise ValueError("spec_accept_prob needs 0 <= p <= 1 and 0 < q <= 1")
    return min(1.0, p / q)


def spec_residual_prob(p_a, p_b, q_a, q_b):
    """Probability of token a under the resampling distribution norm(max(0, p - q)) over a three-token vocabulary {a, b, c} (Leviathan et al. 2023, arXiv 2211.17192, §2.3)."""
    p_c, q_c = 1 - p_a - p_b, 1 - q_a - q_b
    if min(p_a, p_b, q_a, q_b) < 0 or p_c < -1e-12 or q_c < -1e-12:
        raise ValueError("spec_residual_prob needs two probability distributions")
    residual = [max(0.0, p - q) for p, q in ((p_a, q_a), (p_b, q_b), (p_c, q_c))]
    if sum(residual) <= 1e-12:
        raise ValueError("spec_residual_prob needs p != q (otherwise nothing is ever rejected)")
    return residual[0] / sum(residual)


def spec_expected_tokens(alpha, gamma):
    """Expected tokens per run of the target model with gamma draft tokens: (1 - alpha^(gamma+1)) / (1 - alpha) (Leviathan et al. 2023, arXiv 2211.17192, §3.1, Eq. 1)."""
    if not 0 <= alpha < 1 or gamma < 0:
        raise ValueError("spec_expected_tokens needs 0 <= alpha < 1 and gamma >= 0")
    return (1 - alpha ** (gamma + 1)) / (1 - alpha)


def spec_walltime_speedup(alpha, gamma, c):
    """Expected walltime improvement: (1 - alpha^(gamma+1)) / ((1 - alpha)(gamma*c + 1)) (Leviathan et al. 2023, arXiv 2211.17192, Theorem 3.8: alpha = 0.2, c = 0, gamma = 3 -> 1.25x)."""
    if c < 0:
        raise ValueError("spec_walltime_speedup needs c >= 0")
    return spec_expected_tokens(alpha, gamma) / (gamma * c + 1)


def mtp_training_loss(main_loss, mtp_loss_sum, depth, lam):
    """DeepSeek-V3 training objective: L_main + (lambda / D) * sum_k L_MTP^k (DeepSeek-V3, arXiv 2412.19437, §2.2, Eq. 25)."""
    if depth < 1 or lam < 0:
        raise ValueError("mtp_training_loss needs depth >= 1 and lambda >= 0")
    return main_loss + lam / depth * mtp_loss_sum


def mtp_projection_params(d):
    """Parameters of one MTP module's projection M_k in R^(d x 2d): 2*d^2 (DeepSeek-V3, arXiv 2412.19437, §2.2, Eq. 21)."""
    if d <= 0:
        raise ValueError("mtp_projection_params needs d > 0")
    return 2 * d * d


FORMULAS.update(
    {
        f.__name__: f
        for f in (
            tp_heads_per_rank,
            tp_kv_heads_per_rank,
            megatron_padded_vocab,
            tp_sp_activation_ratio,
            ring_attention_min_block,
            swa_receptive_field,
            rolling_buffer_slot,
            swa_kv_cache_reduction,
            sliding_window_allowed_entries,
            bpe_vocab_size,
            wordpiece_pair_score,
            embedding_param_count,
            compression_cost_ratio,
            spec_accept_prob,
            spec_residual_prob,
            spec_expected_tokens,
            spec_walltime_speedup,
            mtp_training_loss,
            mtp_projection_params,
        )
    }
)


# (anchor B: formulas for these topics go above this line)


# --- mixed precision, model size and FLOPs, KV reuse, decode kernels, alternatives, LoRA ---
def float_max_finite(exponent_bits, mantissa_bits):
    """Largest finite value of a binary float with e exponent and m mantissa bits: (2 - 2^-m) * 2^(2^(e-1) - 1) (IEEE 754 layout; NVIDIA Mixed Precision Training guide: FP16 max 65,504)."""
    if exponent_bits < 2 or mantissa_bits < 1:
        raise ValueError("float_max_finite needs exponent_bits >= 2 and mantissa_bits >= 1")
    bias = 2 ** (exponent_bits - 1) - 1
    return (2 - 2.0**-mantissa_bits) * 2.0**bias


def float_min_subnormal(exponent_bits, mantissa_bits):
    """Smallest positive (subnormal) value of a binary float: 2^(1 - bias - m), bias = 2^(e-1) - 1 (NVIDIA Mixed Precision Training guide: FP16 2^-24, FP32 2^-149)."""
    if exponent_bits < 2 or mantissa_bits < 1:
        raise ValueError("float_min_subnormal needs exponent_bits >= 2 and mantissa_bits >= 1")
    bias = 2 ** (exponent_bits - 1) - 1
    return 2.0 ** (1 - bias - mantissa_bits)


def float_epsilon(mantissa_bits):
    """Gap between 1 and the next representable float with m stored mantissa bits: 2^-m (FP16 m = 10, BF16 m = 7; Kalamkar et al. 2019, arXiv 1905.12322, §2)."""
    if mantissa_bits < 1:
        raise ValueError("float_epsilon needs mantissa_bits >= 1")
    return 2.0**-mantissa_bits


def score_overflow_entry(d_head, max_value=65504):
    """Entry size a at which an unscaled score q.k of two d_head-vectors with all entries a reaches max_value: sqrt(max_value / d_head) (FP16 max 65,504; NVIDIA Mixed Precision Training guide)."""
    if d_head < 1 or max_value <= 0:
        raise ValueError("score_overflow_entry needs d_head >= 1 and max_value > 0")
    return math.sqrt(max_value / d_head)


def grad_scaler_scale(init_scale, overflow_steps, clean_steps, growth_factor=2.0, backoff_factor=0.5, growth_interval=2000):
    """Dynamic loss scale after k overflowing steps then n clean ones: init * backoff^k * growth^(n // interval) (PyTorch torch.amp.GradScaler; defaults 2^16, 2.0, 0.5, 2000)."""
    if init_scale <= 0 or overflow_steps < 0 or clean_steps < 0 or growth_interval < 1:
        raise ValueError("grad_scaler_scale needs init_scale > 0, non-negative step counts and growth_interval >= 1")
    return init_scale * backoff_factor**overflow_steps * growth_factor ** (clean_steps // growth_interval)


def kaplan_non_embedding_params(layers, d_model):
    """Non-embedding parameters of a standard Transformer: 12 * n_layer * d_model^2 (Kaplan et al. 2020, arXiv 2001.08361, Table 1 with d_attn = d_ff/4 = d_model)."""
    return 12 * layers * d_model * d_model


def llama_param_count(layers, d_model, ffn_hidden, vocab):
    """Parameters of a Llama-style model (MHA, SwiGLU, RMSNorm, untied embeddings, no biases): 2*V*d + L*(4d^2 + 3*d*h + 2d) + d (LLaMA, arXiv 2302.13971, Table 2: 6.7B for d = 4096, L = 32)."""
    per_layer = 4 * d_model * d_model + 3 * d_model * ffn_hidden + 2 * d_model
    return 2 * vocab * d_model + layers * per_layer + d_model


def training_flops(params_billion, tokens_billion):
    """Training compute C = 6 * N * D FLOPs, N and D given in billions (Kaplan et al. 2020, arXiv 2001.08361, §2.1; GPT-3 175B on 300B tokens: 3.14e23, Brown et al. 2020, Table D.1)."""
    return 6 * params_billion * 1e9 * tokens_billion * 1e9


def forward_flops_per_token(params_billion, layers, n_ctx, d_attn):
    """Forward FLOPs per token: 2N + 2 * n_layer * n_ctx * d_attn, N given in billions (Kaplan et al. 2020, arXiv 2001.08361, Table 1)."""
    return 2 * params_billion * 1e9 + 2 * layers * n_ctx * d_attn


def chinchilla_tokens(params_billion):
    """Compute-optimal training tokens, about 20 per parameter, N given in billions (Hoffmann et al. 2022, arXiv 2203.15556, Table 3; Chinchilla: 70B parameters on 1.4T tokens)."""
    return 20 * params_billion * 1e9


def training_days(tokens_billion, tokens_per_sec_per_gpu, gpus):
    """Wall-clock days to train on D tokens (in billions): D / (throughput per GPU * GPUs) / 86400 (LLaMA, arXiv 2302.13971, §2.4: 380 tokens/s/GPU on 2048 GPUs, 1.4T tokens in about 21 days)."""
    if tokens_per_sec_per_gpu <= 0 or gpus < 1:
        raise ValueError("training_days needs a positive throughput and at least one GPU")
    return tokens_billion * 1e9 / (tokens_per_sec_per_gpu * gpus) / 86400


def prefix_cache_reused_tokens(shared_prefix, block_size):
    """Prompt tokens whose KV blocks a shared prefix lets a request reuse when only full blocks are cached: floor(P / block_size) * block_size (vLLM docs, design 'Automatic Prefix Caching')."""
    if shared_prefix < 0 or block_size <= 0:
        raise ValueError("prefix_cache_reused_tokens needs shared_prefix >= 0 and block_size > 0")
    return shared_prefix // block_size * block_size


def prefix_cache_prefill_tokens(requests, shared_prefix, unique_tokens, block_size):
    """Tokens prefilled for R requests sharing a P-token prefix, each with U own tokens, full blocks cached: R*(P + U) - (R - 1) * floor(P/b)*b (vLLM docs, 'Automatic Prefix Caching')."""
    if requests < 1 or unique_tokens < 0:
        raise ValueError("prefix_cache_prefill_tokens needs requests >= 1 and unique_tokens >= 0")
    reused = prefix_cache_reused_tokens(shared_prefix, block_size)
    return requests * (shared_prefix + unique_tokens) - (requests - 1) * reused


def split_kv_merge_weight(lse_this, lse_other):
    """Weight of one KV split in the merged output of two splits: exp(lse_this) / (exp(lse_this) + exp(lse_other)) (Flash-Decoding, PyTorch blog 2023, step 3)."""
    return 1.0 / (1.0 + math.exp(lse_other - lse_this))


def flash_decoding_min_splits(batch, heads, sms):
    """Fewest KV splits so that batch * heads * splits work items cover every SM: ceil(sms / (batch * heads)) (Flash-Decoding, PyTorch blog 2023: A100 has 108 SMs)."""
    if min(batch, heads, sms) < 1:
        raise ValueError("flash_decoding_min_splits needs positive batch, heads and sms")
    return -(-sms // (batch * heads))


def exp_to_matmul_time_ratio(head_dim, matmul_tflops, exp_tflops):
    """Time of the softmax exponentials relative to the two matmuls of attention: matmul_tflops / (4 * head_dim * exp_tflops) (FlashAttention-3, arXiv 2407.08608, §3.2: H100 989 vs 3.9 TFLOPS, d = 128 -> about 50%)."""
    if min(head_dim, matmul_tflops, exp_tflops) <= 0:
        raise ValueError("exp_to_matmul_time_ratio needs positive sizes")
    return matmul_tflops / (4 * head_dim * exp_tflops)


def mamba_state_elements(d_model, expand=2, d_state=16):
    """SSM state of one Mamba layer per sequence: expand * d_model * d_state elements (state-spaces/mamba, mamba_simple.py, ssm_state of shape (batch, d_model*expand, d_state))."""
    return expand * d_model * d_state


def kv_cache_to_mamba_state_ratio(seq_len, expand=2, d_state=16):
    """How many times larger an MHA layer's KV cache (2 * T * d_model) is than a Mamba layer's SSM state (expand * d_model * d_state): 2T / (expand * d_state) (Gu and Dao 2023, arXiv 2312.00752, §3.4)."""
    if seq_len < 1:
        raise ValueError("kv_cache_to_mamba_state_ratio needs seq_len >= 1")
    return 2 * seq_len / (expand * d_state)


def lora_param_count(d_in, d_out, rank, matrices=1, layers=1):
    """Trainable LoRA parameters: layers * matrices * r * (d_in + d_out) (Hu et al. 2021, arXiv 2106.09685, §4.1 and §7.1: GPT-3 175B, W_q and W_v, r = 4 -> 18M)."""
    if rank < 1:
        raise ValueError("lora_param_count needs rank >= 1")
    return layers * matrices * rank * (d_in + d_out)


def lora_scaling(alpha, rank):
    """Scale applied to the LoRA update BA: alpha / r (Hu et al. 2021, arXiv 2106.09685, §4.1; Hugging Face PEFT LoraConfig lora_alpha)."""
    if rank < 1:
        raise ValueError("lora_scaling needs rank >= 1")
    return alpha / rank


def quant_constant_bits(block_size, const_bits=32, dq_block_size=None, dq_const_bits=8):
    """Bits per parameter spent on quantization constants: c/b; with double quantization c8/b + c/(b*b2) (QLoRA, arXiv 2305.14314, §3: 32/64 = 0.5 -> 8/64 + 32/(64*256) = 0.127)."""
    if block_size < 1 or (dq_block_size is not None and dq_block_size < 1):
        raise ValueError("quant_constant_bits needs positive block sizes")
    if dq_block_size is None:
        return const_bits / block_size
    return dq_const_bits / block_size + const_bits / (block_size * dq_block_size)


FORMULAS.update(
    {
        f.__name__: f
        for f in (
            float_max_finite,
            float_min_subnormal,
            float_epsilon,
            score_overflow_entry,
            grad_scaler_scale,
            kaplan_non_embedding_params,
            llama_param_count,
            training_flops,
            forward_flops_per_token,
            chinchilla_tokens,
            training_days,
            prefix_cache_reused_tokens,
            prefix_cache_prefill_tokens,
            split_kv_merge_weight,
            flash_decoding_min_splits,
            exp_to_matmul_time_ratio,
            mamba_state_elements,
            kv_cache_to_mamba_state_ratio,
            lora_param_count,
            lora_scaling,
            quant_constant_bits,
        )
    }
)


# (anchor C: formulas for these topics go above this line)
