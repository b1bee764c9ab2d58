"""Formulas behind numeric questions, checked against figures their sources state.

Each expected value below is quoted from (or is the literal arithmetic printed in) the source named
in its comment, never copied from running the code.
"""

import inspect
import math

import pytest

from mhaquiz.quiz import formulas as F
from mhaquiz.quiz.formulas import FORMULAS


def test_registry_names_match_functions_and_have_docstrings():
    assert len(FORMULAS) >= 10
    for name, fn in FORMULAS.items():
        assert fn.__name__ == name
        doc = inspect.getdoc(fn)
        assert doc and "\n" not in doc.strip(), f"{name}: needs a one-line docstring"


def test_module_is_import_light():
    src = inspect.getsource(F)
    assert "numpy" not in src.split('"""', 2)[2]  # no numpy import after the module docstring


# Vaswani et al. 2017 §3.2.2: "d_k = d_v = d_model/h = 64" with h = 8, d_model = 512.
def test_d_head_base_model():
    assert F.d_head(d=512, heads=8) == 64


# Vaswani et al. 2017, Table 3 "big": d_model = 1024, h = 16 (so d_k = 64).
def test_d_head_big_model():
    assert F.d_head(d=1024, heads=16) == 64


def test_d_head_rejects_indivisible():
    with pytest.raises(ValueError):
        F.d_head(d=512, heads=3)


# mhaquiz notes (attention.md): "4 d^2 + 4 d (d = 512: 1,050,624)".
def test_mha_param_count_d512():
    assert F.mha_param_count(d=512) == 1_050_624


def test_mha_param_count_no_bias_is_four_square_matrices():
    # Vaswani §3.2.2: h heads of W^Q, W^K (d_model x d_k), W^V (d_model x d_v), W^O (h d_v x d_model).
    d, h = 512, 8
    dk = d // h
    assert F.mha_param_count_no_bias(d=d) == h * (2 * d * dk + d * dk) + h * dk * d


# GQA paper §2.2: G = H is multi-head attention, G = 1 is multi-query attention.
def test_gqa_endpoints():
    assert F.gqa_kv_cache_reduction(heads=8, kv_heads=8) == 1
    assert F.gqa_kv_cache_reduction(heads=8, kv_heads=1) == 8
    assert F.gqa_param_count_no_bias(d=512, heads=8, kv_heads=8) == F.mha_param_count_no_bias(d=512)


# Vaswani §3.3: d_model = 512, d_ff = 2048; W1 (512x2048) + b1 (2048) + W2 (2048x512) + b2 (512).
def test_ffn_param_count_base():
    assert F.ffn_param_count(d=512, d_ff=2048) == 512 * 2048 + 2048 + 2048 * 512 + 512


# Hoffmann et al. 2022 (Chinchilla), Appendix F, per layer with key_size*num_heads = d_model:
# QKV "2 x 3 x seq_len x d_model x (key_size x num_heads)", final linear "2 x seq_len x (...) x d_model",
# logits and "softmax @ query reductions" each "2 x seq_len x seq_len x (key_size x num_heads)".
@pytest.mark.parametrize("n,d", [(1024, 512), (4096, 4096), (7, 3)])
def test_flops_match_chinchilla_appendix_f(n, d):
    assert F.mha_projection_flops(n=n, d=d) == 2 * 3 * n * d * d + 2 * n * d * d
    assert F.attention_core_flops(n=n, d=d) == 2 * n * n * d + 2 * n * n * d
    assert F.mha_forward_flops(n=n, d=d) == 8 * n * d * d + 4 * n * n * d


def test_crossover_is_where_the_two_terms_meet():
    d = 768
    n = F.attention_flops_crossover_n(d=d)
    assert F.attention_core_flops(n=n, d=d) == F.mha_projection_flops(n=n, d=d)


# Kwon et al. 2023 (vLLM) §3: OPT-13B "the KV cache of a single token demands 800 KB of space,
# calculated as 2 (key and value vectors) x 5120 (hidden state size) x 40 (number of layers) x 2 (bytes per FP16)".
# OPT-13B has 40 heads of size 128 (40 * 128 = 5120).
def test_kv_cache_per_token_opt13b_is_800_kb():
    b = F.kv_cache_bytes_per_token(layers=40, kv_heads=40, d_head=128, bytes_per_value=2)
    assert b == 800 * 1024


# Same source: "Since OPT can generate sequences up to 2048 tokens, ... as much as 1.6 GB".
def test_kv_cache_one_opt13b_request_is_about_1_6_gb():
    b = F.kv_cache_bytes(layers=40, kv_heads=40, d_head=128, seq_len=2048, batch=1, bytes_per_value=2)
    assert b == 800 * 1024 * 2048
    assert F.kv_cache_gib(layers=40, kv_heads=40, d_head=128, seq_len=2048, batch=1, bytes_per_value=2) == pytest.approx(1.5625)
    assert b / 1e9 == pytest.approx(1.6, rel=0.05)


def test_kv_cache_is_linear_in_every_factor():
    base = dict(layers=2, kv_heads=3, d_head=5, seq_len=7, batch=11, bytes_per_value=2)
    b0 = F.kv_cache_bytes(**base)
    for key in base:
        doubled = dict(base, **{key: base[key] * 2})
        assert F.kv_cache_bytes(**doubled) == 2 * b0


# Vaswani footnote 4: q.k "has mean 0 and variance d_k".
def test_dot_product_std_footnote_4():
    assert F.dot_product_std(d_k=64) == 8.0
    assert F.dot_product_std(d_k=512) == pytest.approx(math.sqrt(512))


# Press et al. 2022 (ALiBi) §3: for 8 heads the slopes are 1/2^1, 1/2^2, ..., 1/2^8;
# for 16 heads they interpolate: 1/2^0.5, 1/2^1, ..., 1/2^8.
def test_alibi_slopes_8_and_16_heads():
    assert [F.alibi_slope(heads=8, head_index=i) for i in range(1, 9)] == [2.0**-k for k in range(1, 9)]
    assert F.alibi_slope(heads=16, head_index=1) == pytest.approx(2**-0.5)
    assert F.alibi_slope(heads=16, head_index=16) == pytest.approx(2**-8)


# RoFormer §3.2.2: Theta = {theta_i = 10000^(-2(i-1)/d), i in [1, 2, ..., d/2]}.
def test_rope_theta_endpoints():
    assert F.rope_theta(i=1, d=128) == 1.0
    assert F.rope_theta(i=64, d=128) == pytest.approx(10000 ** (-126 / 128))
    assert F.rope_rotation_angle(pos=3, i=1, d=128) == 3.0
    with pytest.raises(ValueError):
        F.rope_theta(i=65, d=128)


# Vaswani §3.5: "The wavelengths form a geometric progression from 2 pi to 10000 * 2 pi."
def test_sinusoid_wavelengths_span_2pi_to_10000_2pi():
    assert F.sinusoid_wavelength(i=0, d_model=512) == pytest.approx(2 * math.pi)
    assert F.sinusoid_wavelength(i=256, d_model=512) == pytest.approx(10000 * 2 * math.pi)


# Vaswani §5.3 Eq. 3: linear increase for the first warmup_steps, then proportional to step^-0.5.
def test_transformer_lr_schedule_shape():
    d, w = 512, 4000
    assert F.transformer_lr(step=2000, d_model=d, warmup=w) == pytest.approx(F.transformer_lr(step=4000, d_model=d, warmup=w) / 2)
    assert F.transformer_lr(step=16000, d_model=d, warmup=w) == pytest.approx(F.transformer_lr(step=4000, d_model=d, warmup=w) / 2)
    assert F.transformer_lr(step=w, d_model=d, warmup=w) == pytest.approx(d**-0.5 * w**-0.5)


# Szegedy et al. 2016 §7: q'(k) = (1 - eps) delta_{k,y} + eps / K.
def test_label_smoothing_target():
    assert F.label_smoothed_target(eps=0.1, vocab=10) == pytest.approx(0.91)
    assert F.label_smoothed_target(eps=0.0, vocab=37000) == 1.0


def test_causal_mask_counts_lower_triangle():
    assert F.causal_allowed_entries(seq_len=1) == 1
    assert F.causal_allowed_entries(seq_len=4) == 4 + 3 + 2 + 1


def test_score_entries():
    assert F.score_entries(batch=2, heads=8, seq_q=5, seq_k=7) == 2 * 8 * 5 * 7
    assert F.score_entries_self(batch=1, heads=1, seq_len=1024) == 1024 * 1024
    assert F.score_matrix_mib(batch=1, heads=1, seq_len=1024, bytes_per_value=4) == 4.0


# CS231n gradient-check notes: centered difference (f(x+h) - f(x-h)) / 2h, two evaluations per parameter.
def test_central_difference_forwards():
    assert F.central_difference_forwards(d=512) == 2 * 1_050_624


# --- normalization and LLM architecture ----------------------------------------------------


# PyTorch nn.LayerNorm docs: gamma and beta are "learnable affine transform parameters of normalized_shape";
# openai/gpt-2 src/model.py norm(): one 'g' and one 'b' of size n_state (768 for the small model).
def test_layernorm_param_count():
    assert F.layernorm_param_count(d=768) == 768 + 768


# meta-llama/llama model.py: every TransformerBlock has attention_norm and ffn_norm, the Transformer one final
# norm, and RMSNorm holds only `weight = nn.Parameter(torch.ones(dim))`.
def test_rmsnorm_prenorm_param_count():
    assert F.rmsnorm_prenorm_param_count(layers=1, d=8) == 3 * 8
    assert F.rmsnorm_prenorm_param_count(layers=32, d=4096) == (32 + 32 + 1) * 4096


# codertimo/BERT-pytorch issue #30: for x = [1, 0, 0, 0] the unbiased-std LayerNorm (Annotated Transformer)
# gives 1.5000 where torch.nn.LayerNorm gives 1.7320.
def test_layernorm_unbiased_shrink_factor_issue_example():
    assert F.layernorm_unbiased_shrink_factor(d=4) == pytest.approx(1.7320 / 1.5, rel=1e-4)
    assert F.layernorm_unbiased_shrink_factor(d=2) == pytest.approx(math.sqrt(2))
    with pytest.raises(ValueError):
        F.layernorm_unbiased_shrink_factor(d=1)


# DeepNet (arXiv 2203.00555) Figure 2 table, decoder-only: alpha = (2N)^(1/4); the official torchscale
# decoder.py writes math.pow(2.0 * args.decoder_layers, 0.25).
def test_deepnorm_alpha_decoder_only():
    assert F.deepnorm_alpha_decoder_only(layers=8) == pytest.approx(2.0)
    assert F.deepnorm_alpha_decoder_only(layers=128) == pytest.approx(4.0)


# Shazeer 2020 §3.1: "The FFN layers have hidden size d_ff = 3072 ... we reduce the hidden layer to d_ff = 2048".
def test_glu_matched_hidden_shazeer_3_1():
    assert F.glu_matched_hidden(d_ff=3072) == 2048
    with pytest.raises(ValueError):
        F.glu_matched_hidden(d_ff=4096)


# Shazeer 2020 §2/§3.1: the GLU variants with d_ff = 2048 "maintain the same parameter and operation counts"
# as the two-matrix FFN with d_model = 768 and d_ff = 3072.
def test_swiglu_param_count_matches_shazeer_baseline():
    assert F.swiglu_ffn_param_count(d=768, d_ff=2048) == 2 * 768 * 3072


# transformers LlamaConfig (a llama-7b style configuration): hidden_size 4096, intermediate_size 11008;
# Llama-13B configurations: hidden_size 5120, intermediate_size 13824.
def test_llama_ffn_hidden_dim_7b_13b():
    assert F.llama_ffn_hidden_dim(dim=4096, multiple_of=256) == 11008
    assert F.llama_ffn_hidden_dim(dim=5120, multiple_of=256) == 13824


# T5 §3.2.1, Figure 3: with no prefix the mask is causal (lower triangle), with the whole sequence as prefix it is
# fully visible.
def test_prefix_lm_allowed_entries_endpoints():
    assert F.prefix_lm_allowed_entries(seq_len=6, prefix_len=0) == F.causal_allowed_entries(seq_len=6)
    assert F.prefix_lm_allowed_entries(seq_len=6, prefix_len=6) == 36
    assert F.prefix_lm_allowed_entries(seq_len=4, prefix_len=2) == 4 + 3 + 2 + 1 + 1
    with pytest.raises(ValueError):
        F.prefix_lm_allowed_entries(seq_len=4, prefix_len=5)


# --- inference ----------------------------------------------------------------------------


# NVIDIA, GPU Performance Background User's Guide, table of example operations (FP16, V100):
# "Linear layer (4096 outputs, 1024 inputs, batch size 512): 315 FLOPS/B"; "... batch size 1: 1 FLOPS/B".
def test_linear_arithmetic_intensity_nvidia_examples():
    assert F.linear_arithmetic_intensity(tokens=512, d_in=1024, d_out=4096, bytes_per_value=2) == pytest.approx(315, rel=0.005)
    assert F.linear_arithmetic_intensity(tokens=1, d_in=1024, d_out=4096, bytes_per_value=2) == pytest.approx(1, rel=0.01)


# vLLM blog "Inside vLLM" (2025), Scheduler: "Each block stores 16 tokens by default. For example, if a
# prefill request has 17 new tokens, we need ceil(17/16) = 2 blocks". vLLM blog (2023): "memory waste
# only happens in the last block of a sequence".
def test_paged_kv_blocks():
    assert F.paged_kv_blocks(seq_len=17, block_size=16) == 2
    assert F.paged_kv_blocks(seq_len=16, block_size=16) == 1
    for n in (1, 15, 17, 100, 2049):
        assert 0 <= F.paged_kv_blocks(seq_len=n, block_size=16) * 16 - n < 16


# meta-llama/llama3 model.py: scores are (seqlen, cache_len + seqlen) and "the only masked entries are
# (i, j) for j > cache_len + i", so row i allows cache_len + i + 1 keys.
def test_chunked_prefill_allowed_entries():
    for past, chunk in ((0, 5), (3, 4), (100, 1), (7, 0)):
        assert F.chunked_prefill_allowed_entries(past_len=past, chunk_len=chunk) == sum(past + i + 1 for i in range(chunk))
    assert F.chunked_prefill_allowed_entries(past_len=0, chunk_len=6) == F.causal_allowed_entries(seq_len=6)
    assert F.chunked_prefill_allowed_entries(past_len=100, chunk_len=1) == 101


# DeepSeek-V2 (arXiv 2405.04434): §2.1.3 "DeepSeek-V2 requires a total KV cache containing (d_c + d_h^R) l
# elements"; §3.1.2: 60 layers, n_h = 128, d_h = 128, d_c = 512, d_h^R = 64; Table 1: MHA 2 n_h d_h l,
# GQA 2 n_g d_h l, MQA 2 d_h l, MLA about 9/2 d_h l, "d_c is set to 4 d_h and d_h^R is set to d_h/2.
# So, its KV cache is equal to GQA with only 2.25 groups".
def test_mla_cache_deepseek_v2():
    assert F.mla_kv_cache_elements_per_token(d_c=512, d_rope=64, layers=60) == (512 + 64) * 60
    assert F.mla_kv_cache_elements_per_token(d_c=4 * 128, d_rope=128 // 2, layers=1) == 4.5 * 128
    assert F.mla_equivalent_gqa_groups(d_c=4 * 128, d_rope=128 // 2, d_head=128) == 2.25
    assert F.kv_heads_to_mla_cache_ratio(kv_heads=128, d_head=128, d_c=512, d_rope=64) == pytest.approx(128 / 2.25)
    assert F.kv_heads_to_mla_cache_ratio(kv_heads=1, d_head=128, d_c=512, d_rope=64) == pytest.approx(2 / 4.5)


# Chen et al. 2023 (Position Interpolation), Figure 1: a Llama model pre-trained with a 2048 context
# window has its position indices downscaled "from [0, 4096] to [0, 2048]".
def test_pi_scaled_position_figure_1():
    assert F.pi_scaled_position(pos=4096, train_len=2048, target_len=4096) == 2048
    assert F.pi_scaled_position(pos=0, train_len=2048, target_len=4096) == 0
    with pytest.raises(ValueError):
        F.pi_scaled_position(pos=10, train_len=4096, target_len=2048)


# YaRN (arXiv 2309.00071), Appendix A.1, Eq. 23: the new base satisfies b'^((|D|-2)/|D|) = s * b^((|D|-2)/|D|)
# (the lowest frequency is scaled like linear interpolation), and the highest frequency stays constant.
def test_ntk_aware_base_appendix_a1():
    for d, s in ((128, 4), (64, 8), (128, 2)):
        b2 = F.ntk_aware_base(base=10000, scale=s, d=d)
        assert b2 ** ((d - 2) / d) == pytest.approx(s * 10000 ** ((d - 2) / d))
        assert F.rope_theta(i=1, d=d, base=b2) == 1.0
    assert F.ntk_aware_base(base=10000, scale=1, d=128) == 10000


# YaRN Appendix A.2, Eq. 25: "our recommended factor in this case (s = 8) is ... 0.1 ln(s) + 1 ≈ 1.208".
def test_yarn_attention_scale_appendix_a2():
    assert F.yarn_attention_scale(scale=8) == pytest.approx(1.208, abs=5e-4)
    assert F.yarn_attention_scale(scale=1) == 1.0


# YaRN §2.3, Eq. 13: lambda_d = 2 pi / theta_d = 2 pi b^(2d/|D|); the fastest pair turns once every 2 pi tokens
# (Vaswani §3.5: wavelengths from 2 pi up to 10000 * 2 pi).
def test_rope_wavelength():
    assert F.rope_wavelength(i=1, d=128) == pytest.approx(2 * math.pi)
    assert F.rope_wavelength(i=64, d=128) == pytest.approx(2 * math.pi * 10000 ** (126 / 128))
    assert F.rope_wavelength(i=64, d=128, base=500000) > F.rope_wavelength(i=64, d=128)
