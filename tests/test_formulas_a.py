"""Formulas of the MoE, decoding, memory-arithmetic and quantization topics, checked against their sources.

Where the source prints a figure, the test quotes it; where it only prints the formula, the expected value
is worked out by hand from that formula in the comment (never copied from running the code).
"""

import math

import pytest

from mhaquiz.quiz import formulas as F
from mhaquiz.quiz.formulas import FORMULAS

MIXTRAL = dict(layers=32, d=4096, d_ff=14336, heads=32, kv_heads=8, vocab=32000, experts=8)  # mistralai/Mixtral-8x7B-v0.1 config.json


def test_every_formula_of_this_section_is_registered():
    names = {"switch_expert_capacity", "moe_dropped_tokens", "switch_balance_loss_concentrated", "moe_routing_combinations",
             "moe_param_count", "temperature_top_prob_two", "top_p_nucleus_size_geometric", "repetition_penalized_logit",
             "weights_gb", "mixed_precision_adam_gb", "zero_model_state_gb", "activation_memory_gb", "absmax_int8",
             "smoothquant_scale", "quantized_weights_gb"}
    assert names <= set(FORMULAS)


# --- MoE ---------------------------------------------------------------------------------------

# Switch Transformers §2.2, Eq. 3: expert capacity = (tokens per batch / number of experts) × capacity factor.
# By hand: 4096 / 8 × 1.25 = 640; 4096 / 64 × 1.0 = 64; 1024 / 16 × 2.0 = 128.
def test_switch_expert_capacity_eq_3():
    assert F.switch_expert_capacity(tokens=4096, experts=8, capacity_factor=1.25) == 640
    assert F.switch_expert_capacity(tokens=4096, experts=64, capacity_factor=1.0) == 64
    assert F.switch_expert_capacity(tokens=1024, experts=16, capacity_factor=2.0) == 128


def test_switch_expert_capacity_refuses_a_fractional_capacity():
    with pytest.raises(ValueError):
        F.switch_expert_capacity(tokens=100, experts=8, capacity_factor=1.0)


# §2.2: tokens beyond an expert's capacity overflow (are dropped). By hand: capacity 4096/8 × 1.0 = 512;
# 800 routed -> 288 dropped; 500 routed -> none.
def test_moe_dropped_tokens_beyond_capacity():
    assert F.moe_dropped_tokens(tokens=4096, experts=8, capacity_factor=1.0, routed=800) == 288
    assert F.moe_dropped_tokens(tokens=4096, experts=8, capacity_factor=1.0, routed=500) == 0
    assert F.moe_dropped_tokens(tokens=4096, experts=8, capacity_factor=1.25, routed=640) == 0


# §2.2, Eq. 4: loss = α·N·Σ f_i·P_i; "minimized under a uniform distribution" and multiplied by N "to keep the
# loss constant as the number of experts varies": uniform routing gives α for every N. All tokens on one
# expert (f = P = one-hot) gives α·N by hand.
@pytest.mark.parametrize("experts", [8, 64, 128])
def test_switch_balance_loss_is_alpha_when_uniform_and_alpha_n_when_collapsed(experts):
    assert F.switch_balance_loss_concentrated(alpha=0.01, experts=experts, used=experts) == pytest.approx(0.01)
    assert F.switch_balance_loss_concentrated(alpha=0.01, experts=experts, used=1) == pytest.approx(0.01 * experts)
    assert F.switch_balance_loss_concentrated(alpha=0.01, experts=64, used=16) == pytest.approx(0.04)  # 0.01·64/16


# DeepSeekMoE §3.1: "a typical top-2 routing strategy can yield C(16, 2) = 120 possible combinations ... split
# into 4 smaller experts ... C(64, 8) = 4,426,165,368 potential combinations".
def test_moe_routing_combinations_deepseekmoe_3_1():
    assert F.moe_routing_combinations(experts=16, top_k=2) == 120
    assert F.moe_routing_combinations(experts=64, top_k=8) == 4_426_165_368


# Mixtral of Experts (arXiv 2401.04088), abstract: "each token has access to 47B parameters, but only uses 13B
# active parameters"; Mistral AI's announcement: "46.7B total parameters but only uses 12.9B parameters per token".
def test_moe_params_mixtral_total_and_active():
    assert round(F.moe_param_count(**MIXTRAL, experts_used=8) / 1e9, 1) == 46.7
    assert round(F.moe_param_count(**MIXTRAL, experts_used=2) / 1e9, 1) == 12.9


# The same count term by term from the config, by hand: attention 2·4096² + 2·4096·(8·128) = 41,943,040; router
# 4096·8 = 32,768 (it scores all 8 experts, however many are used); one SwiGLU expert 3·4096·14336 = 176,160,768;
# two RMSNorms 8,192; per layer with 2 experts 394,305,536, times 32 = 12,617,777,152; plus embedding and output
# 2·32000·4096 = 262,144,000 and the final norm 4,096: 12,879,925,248.
def test_moe_param_count_term_by_term():
    assert F.moe_param_count(**MIXTRAL, experts_used=2) == 12_879_925_248
    assert F.moe_param_count(**MIXTRAL, experts_used=1) == 12_879_925_248 - 32 * 176_160_768


# --- decoding ----------------------------------------------------------------------------------

# Holtzman et al. §3.3, Eq. 3: p = exp(u/t) / Σ exp(u'/t). By hand for two logits a gap Δ apart: σ(Δ/t);
# Δ = ln 3, t = 1 -> 3/4; the same odds with Δ = 2 ln 3 at t = 2; Δ = 0 -> 1/2.
def test_temperature_two_logits():
    assert F.temperature_top_prob_two(gap=math.log(3), temperature=1) == pytest.approx(0.75)
    assert F.temperature_top_prob_two(gap=2 * math.log(3), temperature=2) == pytest.approx(0.75)
    assert F.temperature_top_prob_two(gap=0, temperature=0.5) == pytest.approx(0.5)
    assert F.temperature_top_prob_two(gap=math.log(3), temperature=0.5) == pytest.approx(0.9)  # σ(2 ln 3) = 9/10


# Holtzman et al. §3.1, Eq. 2: the nucleus is the smallest prefix with Σ P >= p. By hand with P_i = (1-r) r^(i-1),
# r = 1/2: the mass of the top k is 1 - 2^-k: 0.5, 0.75, 0.875, 0.9375, 0.96875.
def test_top_p_nucleus_geometric():
    assert F.top_p_nucleus_size_geometric(ratio=0.5, top_p=0.9) == 4
    assert F.top_p_nucleus_size_geometric(ratio=0.5, top_p=0.95) == 5
    assert F.top_p_nucleus_size_geometric(ratio=0.5, top_p=0.75) == 2  # reaching p exactly is enough
    assert F.top_p_nucleus_size_geometric(ratio=0.5, top_p=0.3) == 1


# CTRL §4.1 (θ = 1.2) as transformers' RepetitionPenaltyLogitsProcessor applies it:
# score = torch.where(score < 0, score * penalty, score / penalty). By hand: 2.4 / 1.2 = 2; -2.4 × 1.2 = -2.88.
def test_repetition_penalty_lowers_both_signs():
    assert F.repetition_penalized_logit(logit=2.4, penalty=1.2) == pytest.approx(2.0)
    assert F.repetition_penalized_logit(logit=-2.4, penalty=1.2) == pytest.approx(-2.88)
    assert F.repetition_penalized_logit(logit=3.0, penalty=1.0) == 3.0


# --- memory arithmetic -------------------------------------------------------------------------

# ZeRO §3.1: "a model such as GPT-2 with 1.5 Billion parameters ... at least 24 GB, which is significantly higher
# than the meager 3 GB of memory required to hold the fp16 parameters alone".
def test_zero_3_1_gpt2_weights_and_model_states():
    assert F.weights_gb(params_billion=1.5, bytes_per_param=2) == pytest.approx(3)
    assert F.mixed_precision_adam_gb(params_billion=1.5) == pytest.approx(24)


# ZeRO Figure 1 (Ψ = 7.5B, N_d = 64, K = 12): baseline 120GB, P_os 31.4GB, P_os+g 16.6GB, P_os+g+p 1.9GB.
@pytest.mark.parametrize("stage, printed", [(0, 120), (1, 31.4), (2, 16.6), (3, 1.9)])
def test_zero_figure_1(stage, printed):
    assert round(F.zero_model_state_gb(params_billion=7.5, gpus=64, stage=stage), 1) == printed
    if stage == 0:
        assert F.mixed_precision_adam_gb(params_billion=7.5) == pytest.approx(printed)


# Korthikanti et al. 2022, Eq. 1: activations per layer = s·b·h·(34 + 5·a·s/h) bytes. By hand for a GPT-3 layer
# (s = 2048, h = 12288, a = 96, b = 1): 5·96·2048/12288 = 80, so 2048·12288·114 = 2,868,903,936 bytes.
def test_activation_memory_eq_1():
    assert F.activation_memory_gb(seq_len=2048, batch=1, hidden=12288, heads=96, layers=1) == pytest.approx(2.868903936)
    assert F.activation_memory_gb(seq_len=2048, batch=4, hidden=12288, heads=96, layers=10) == pytest.approx(40 * 2.868903936)


# --- quantization ------------------------------------------------------------------------------

# LLM.int8() §2.1: X_i8 = round(127 · X_f16 / max|X_f16|). By hand: 127·1.0/4.0 = 31.75 -> 32; the absmax itself -> 127.
def test_absmax_int8():
    assert F.absmax_int8(value=1.0, absmax=4.0) == 32
    assert F.absmax_int8(value=-4.0, absmax=4.0) == -127
    assert F.absmax_int8(value=0.3, absmax=6.0) == 6  # 6.35


# SmoothQuant Eq. 4: s_j = max|X_j|^α / max|W_j|^(1-α). By hand: 16^0.5 / 1^0.5 = 4; α = 1 moves it all: s = 16;
# α = 0: s = 1 / max|W_j| = 1/2.
def test_smoothquant_scale():
    assert F.smoothquant_scale(act_max=16, weight_max=1, alpha=0.5) == pytest.approx(4)
    assert F.smoothquant_scale(act_max=16, weight_max=2, alpha=1) == pytest.approx(16)
    assert F.smoothquant_scale(act_max=16, weight_max=2, alpha=0) == pytest.approx(0.5)


# AWQ's setting, INT4 with group size 128 and one FP16 scale per group: 4 + 16/128 = 4.125 bits per weight;
# by hand 7B × 4.125 / 8 = 3.609375 GB; 4 bits without scales: 3.5 GB.
def test_quantized_weights_with_group_scales():
    assert F.quantized_weights_gb(params_billion=7, bits=4, group_size=128) == pytest.approx(3.609375)
    assert F.quantized_weights_gb(params_billion=7, bits=8, group_size=1e12) == pytest.approx(7, rel=1e-9)
