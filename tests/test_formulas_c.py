"""Formulas of the mixed-precision, model-size, KV-reuse, decode-kernel, alternatives and LoRA topics.

Every expected value is a figure its source prints (quoted in the comment), or an independent
computation of the same quantity (a softmax summed by hand, a float format read back by PyTorch).
"""

import math

import pytest

from mhaquiz.quiz import formulas as F
from mhaquiz.quiz.formulas import FORMULAS

MINE = ["float_max_finite", "float_min_subnormal", "float_epsilon", "score_overflow_entry", "grad_scaler_scale",
        "kaplan_non_embedding_params", "llama_param_count", "training_flops", "forward_flops_per_token",
        "chinchilla_tokens", "training_days", "prefix_cache_reused_tokens", "prefix_cache_prefill_tokens",
        "split_kv_merge_weight", "flash_decoding_min_splits", "exp_to_matmul_time_ratio", "mamba_state_elements",
        "kv_cache_to_mamba_state_ratio", "lora_param_count", "lora_scaling", "quant_constant_bits"]


def test_registered():
    assert all(FORMULAS[name] is getattr(F, name) for name in MINE)


# --- mixed precision ----------------------------------------------------------------------

# NVIDIA Mixed Precision Training guide: half precision has "1 sign bit, 5 bits of exponent, and 10
# fractional bits ... non-zero value magnitudes in the [2^-24, 65,504] range", single precision
# "[2^-149, ~3.4x10^38]".
def test_fp16_range_as_nvidia_states_it():
    assert F.float_max_finite(exponent_bits=5, mantissa_bits=10) == 65504
    assert F.float_min_subnormal(exponent_bits=5, mantissa_bits=10) == 2.0**-24


def test_fp32_range_as_nvidia_states_it():
    assert F.float_max_finite(exponent_bits=8, mantissa_bits=23) == pytest.approx(3.4e38, rel=0.01)
    assert F.float_min_subnormal(exponent_bits=8, mantissa_bits=23) == 2.0**-149


# bfloat16: 1 sign, 8 exponent, 7 mantissa bits, "same range as f32 (±3.4×10³⁸)" (Kalamkar et al. 2019;
# TensorFlow bfloat16.h: the upper 16 bits of a float32). FP32 max and BF16 max differ only in the mantissa.
def test_bf16_has_fp32_range():
    assert F.float_max_finite(exponent_bits=8, mantissa_bits=7) == pytest.approx(3.4e38, rel=0.01)
    assert F.float_max_finite(exponent_bits=8, mantissa_bits=7) < F.float_max_finite(exponent_bits=8, mantissa_bits=23)


def test_float_formats_against_torch_finfo():
    torch = pytest.importorskip("torch")
    for dtype, e, m in ((torch.float16, 5, 10), (torch.bfloat16, 8, 7), (torch.float32, 8, 23)):
        info = torch.finfo(dtype)
        assert F.float_max_finite(exponent_bits=e, mantissa_bits=m) == pytest.approx(info.max, rel=1e-7)
        assert F.float_epsilon(mantissa_bits=m) == pytest.approx(info.eps, rel=1e-7)
        smallest = torch.nextafter(torch.zeros(1, dtype=dtype), torch.ones(1, dtype=dtype)).item()
        assert F.float_min_subnormal(exponent_bits=e, mantissa_bits=m) == pytest.approx(smallest, rel=1e-7)


def test_score_overflow_entry_reaches_fp16_max():
    # the score of two d-vectors with every entry a is d * a^2; at the returned a it is FP16's 65,504
    for d in (64, 128):
        a = F.score_overflow_entry(d_head=d)
        assert d * a * a == pytest.approx(65504)
    assert F.score_overflow_entry(d_head=128) < 23 < F.score_overflow_entry(d_head=64)


# PyTorch GradScaler docs: the scale "is multiplied by backoff_factor" when inf/NaN gradients are found
# and "by growth_factor if no inf/NaNs occur for growth_interval consecutive iterations";
# defaults init_scale=2.**16, growth_factor=2.0, backoff_factor=0.5, growth_interval=2000.
def test_grad_scaler_defaults():
    assert F.grad_scaler_scale(init_scale=65536, overflow_steps=3, clean_steps=0) == 8192
    assert F.grad_scaler_scale(init_scale=65536, overflow_steps=3, clean_steps=1999) == 8192
    assert F.grad_scaler_scale(init_scale=65536, overflow_steps=3, clean_steps=4000) == 32768


def test_grad_scaler_against_torch():
    torch = pytest.importorskip("torch")
    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0, growth_interval=3)
    weight = torch.nn.Parameter(torch.ones(2))
    optimizer = torch.optim.SGD([weight], lr=0.0)
    for bad in [True, True, False, False, False, False]:
        optimizer.zero_grad()
        loss = (weight * (float("inf") if bad else 1.0)).sum()
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    assert scaler.get_scale() == F.grad_scaler_scale(init_scale=1024, overflow_steps=2, clean_steps=4, growth_interval=3)


# --- model size and FLOPs ----------------------------------------------------------------

# Hugging Face PEFT's print_trainable_parameters() on Llama 7B (32 layers, d 4096, vocabulary 32000, FFN 11008)
# with LoraConfig(r=8, target_modules=["q_proj", "v_proj"]), as printed in PEFT tutorials:
# "trainable params: 4,194,304 || all params: 6,742,609,920 || trainable%: 0.0622"; Keras Hub's llama_7b_en
# preset metadata: "params": 6738415616.
def test_llama_7b_exact_count_and_its_peft_lora():
    base = F.llama_param_count(layers=32, d_model=4096, ffn_hidden=11008, vocab=32000)
    lora = F.lora_param_count(d_in=4096, d_out=4096, rank=8, matrices=2, layers=32)
    assert base == 6_738_415_616
    assert lora == 4_194_304
    assert base + lora == 6_742_609_920


# Brown et al. 2020 (GPT-3), Table 2.1: GPT-3 175B has n_layers = 96, d_model = 12288, "175.0B" parameters;
# Kaplan et al.'s 12 * n_layer * d_model^2 leaves out only the embeddings (50257 x 12288 = 0.6B).
def test_kaplan_count_matches_gpt3():
    assert F.kaplan_non_embedding_params(layers=96, d_model=12288) == pytest.approx(175.0e9, rel=0.01)
    # Kaplan Table 1: 2 * d_model * n_layer * (2 * d_attn + d_ff) with d_attn = d_model, d_ff = 4 d_model
    d, n = 768, 12
    assert F.kaplan_non_embedding_params(layers=n, d_model=d) == 2 * d * n * (2 * d + 4 * d)


# Touvron et al. 2023 (LLaMA), Table 2: 6.7B (dim 4096, 32 layers), 13.0B (5120, 40), 32.5B (6656, 60),
# 65.2B (8192, 80); vocabulary 32000 (§2.1); hidden sizes 11008, 13824, 17920, 22016 (meta-llama params).
@pytest.mark.parametrize("dim,layers,hidden,billions", [(4096, 32, 11008, 6.7), (5120, 40, 13824, 13.0),
                                                         (6656, 60, 17920, 32.5), (8192, 80, 22016, 65.2)])
def test_llama_param_count_table_2(dim, layers, hidden, billions):
    count = F.llama_param_count(layers=layers, d_model=dim, ffn_hidden=hidden, vocab=32000)
    assert math.floor(count / 1e8) / 10 == billions  # the table truncates to 0.1B (65.29B is printed 65.2B)


# GPT-3 paper, Table D.1: GPT-3 175B, 300B training tokens, total train compute 3.14E+23 FLOPs.
def test_training_flops_gpt3():
    assert F.training_flops(params_billion=175, tokens_billion=300) == pytest.approx(3.14e23, rel=0.01)


# Kaplan Table 1: C_forward = 2N + 2 n_layer n_ctx d_attn; §2.1: the context term is small
# "for d_model > n_ctx/12": at d_model = n_ctx/12 (and N = 12 n_layer d_model^2) both terms are equal.
def test_forward_flops_context_term_equals_2n_at_the_threshold():
    layers, n_ctx = 24, 12 * 1024
    d = n_ctx // 12
    n = F.kaplan_non_embedding_params(layers=layers, d_model=d)
    assert F.forward_flops_per_token(params_billion=n / 1e9, layers=layers, n_ctx=n_ctx, d_attn=d) == pytest.approx(4 * n)
    assert F.forward_flops_per_token(params_billion=n / 1e9, layers=layers, n_ctx=0, d_attn=d) == pytest.approx(2 * n)


# Hoffmann et al. 2022: Chinchilla, 70B parameters, trained on 1.4 trillion tokens (§4.1).
def test_chinchilla_tokens():
    assert F.chinchilla_tokens(params_billion=70) == pytest.approx(1.4e12)


# LLaMA §2.4: "our code processes around 380 tokens/sec/GPU on 2048 A100 GPU with 80GB of RAM. This means
# that training over our dataset containing 1.4T tokens takes approximately 21 days."
def test_training_days_llama_65b():
    assert round(F.training_days(tokens_billion=1400, tokens_per_sec_per_gpu=380, gpus=2048)) == 21


# --- KV-cache reuse ----------------------------------------------------------------------

# vLLM design doc 'Automatic Prefix Caching': "We only cache full blocks"; with 4-token blocks, a request whose
# first 10 tokens match a cached one gets "only the first 2 blocks (8 tokens)" from the cache.
def test_prefix_cache_vllm_example():
    assert F.prefix_cache_reused_tokens(shared_prefix=10, block_size=4) == 8


# RBLN vLLM docs (prefix caching): "Upstream vLLM matches cached prefixes at full KV cache block boundaries";
# a cached 3,000-token prefix with 4,096-token blocks reuses 0 tokens, with 128-token units 23 x 128 = 2,944.
def test_prefix_cache_reuses_full_blocks_only():
    assert F.prefix_cache_reused_tokens(shared_prefix=3000, block_size=4096) == 0
    assert F.prefix_cache_reused_tokens(shared_prefix=3000, block_size=128) == 2944
    assert F.prefix_cache_reused_tokens(shared_prefix=32, block_size=16) == 32


def test_prefix_cache_prefill_tokens():
    # 4 requests, a 100-token system prompt, 20 own tokens each, 16-token blocks: 96 prompt tokens reused
    # by each of the 3 requests after the first
    assert F.prefix_cache_prefill_tokens(requests=4, shared_prefix=100, unique_tokens=20, block_size=16) == 4 * 120 - 3 * 96
    assert F.prefix_cache_prefill_tokens(requests=1, shared_prefix=100, unique_tokens=20, block_size=16) == 120


# --- decode kernels ------------------------------------------------------------------------

def test_split_kv_merge_weight_is_the_splits_share_of_the_softmax():
    # Flash-Decoding step 3 scales each split by its log-sum-exp; the result must be the share of the
    # full softmax's mass that falls on that split, computed here directly
    scores_a, scores_b = [1.0, 3.5, -2.0], [0.5, 4.0]
    total = sum(math.exp(s) for s in scores_a + scores_b)
    lse_a = math.log(sum(math.exp(s) for s in scores_a))
    lse_b = math.log(sum(math.exp(s) for s in scores_b))
    assert F.split_kv_merge_weight(lse_this=lse_a, lse_other=lse_b) == pytest.approx(sum(math.exp(s) for s in scores_a) / total)
    assert F.split_kv_merge_weight(lse_this=2.0, lse_other=2.0) == 0.5


# Flash-Decoding blog: "if the batch size is smaller than the number of streaming multiprocessors (SMs)
# on the GPU (108 for an A100), the operation will only use a small part of the GPU".
def test_flash_decoding_min_splits():
    assert F.flash_decoding_min_splits(batch=108, heads=1, sms=108) == 1
    assert F.flash_decoding_min_splits(batch=1, heads=1, sms=108) == 108
    assert F.flash_decoding_min_splits(batch=2, heads=16, sms=108) == 4  # 32 * 3 = 96 < 108 <= 128


# FlashAttention-3 §3.2: "the H100 SXM5 GPU has 989 TFLOPS of FP16 matmul but only 3.9 TFLOPS of special
# functions ... with head dimension 128, there are 512x more matmul FLOPS compared to exponential operations
# ... so exponential can take 50% of the cycle compared to matmul. The situation is even worse with FP8".
def test_exp_share_fa3():
    assert F.exp_to_matmul_time_ratio(head_dim=128, matmul_tflops=989, exp_tflops=3.9) == pytest.approx(0.5, abs=0.01)
    assert F.exp_to_matmul_time_ratio(head_dim=128, matmul_tflops=2 * 989, exp_tflops=3.9) == pytest.approx(1.0, abs=0.02)


# --- alternatives ----------------------------------------------------------------------------

# state-spaces/mamba, mamba_simple.py: defaults d_state=16, expand=2; allocate_inference_cache builds
# ssm_state = zeros(batch, d_model * expand, d_state).
def test_mamba_state():
    assert F.mamba_state_elements(d_model=768) == 768 * 2 * 16
    # an MHA layer caches K and V, 2 * d_model values per token
    t, d = 4096, 768
    assert F.kv_cache_to_mamba_state_ratio(seq_len=t) == pytest.approx(2 * t * d / F.mamba_state_elements(d_model=d))
    assert F.kv_cache_to_mamba_state_ratio(seq_len=16) == 1


# --- LoRA ------------------------------------------------------------------------------------

# Hu et al. 2021, §7.1: "a parameter budget of 18M (roughly 35MB if stored in FP16) on GPT-3 175B, which
# corresponds to r = 8 if we adapt one type of attention weights or r = 4 if we adapt two types, for all 96
# layers"; GPT-3's d_model is 12288.
def test_lora_budget_gpt3():
    two = F.lora_param_count(d_in=12288, d_out=12288, rank=4, matrices=2, layers=96)
    one = F.lora_param_count(d_in=12288, d_out=12288, rank=8, matrices=1, layers=96)
    assert two == one
    assert two == pytest.approx(18e6, rel=0.05)
    assert two * 2 / 2**20 == pytest.approx(35, rel=0.05)  # FP16 bytes, in MiB


def test_lora_param_count_is_b_plus_a():
    # B is d_out x r and A is r x d_in
    assert F.lora_param_count(d_in=4096, d_out=1024, rank=8) == 1024 * 8 + 8 * 4096


# PEFT LoraConfig: "lora_alpha (int) — The alpha parameter for Lora scaling"; the layer sets
# scaling = lora_alpha / r. LoRA §4.1: "We then scale ΔWx by α/r".
def test_lora_scaling():
    assert F.lora_scaling(alpha=16, rank=8) == 2
    assert F.lora_scaling(alpha=8, rank=8) == 1


# QLoRA §3 (Double Quantization): "reduces the memory footprint per parameter from 32/64 = 0.5 bits, to
# 8/64 + 32/(64 · 256) = 0.127 bits, a reduction of 0.373 bits per parameter".
def test_qlora_double_quantization():
    assert F.quant_constant_bits(block_size=64) == 0.5
    assert F.quant_constant_bits(block_size=64, dq_block_size=256) == pytest.approx(0.127, abs=0.0005)
    assert F.quant_constant_bits(block_size=64) - F.quant_constant_bits(block_size=64, dq_block_size=256) == pytest.approx(0.373, abs=0.0005)


@pytest.mark.parametrize("name,kwargs", [
    ("float_max_finite", dict(exponent_bits=1, mantissa_bits=3)),
    ("score_overflow_entry", dict(d_head=0)),
    ("training_days", dict(tokens_billion=1, tokens_per_sec_per_gpu=0, gpus=8)),
    ("prefix_cache_reused_tokens", dict(shared_prefix=10, block_size=0)),
    ("flash_decoding_min_splits", dict(batch=0, heads=8, sms=108)),
    ("lora_param_count", dict(d_in=8, d_out=8, rank=0)),
    ("quant_constant_bits", dict(block_size=0)),
])
def test_bad_parameters_raise(name, kwargs):
    with pytest.raises(ValueError):
        FORMULAS[name](**kwargs)
