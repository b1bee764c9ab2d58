"""Formulas of the parallel-attention, sliding-window, tokenization, speculative-decoding and MTP topics.

Each expected value is a figure its source prints (quoted in the comment above the test), or the literal
arithmetic of a formula the source prints with the source's own numbers, never a value copied from running
the code under test.
"""

import itertools

import pytest

from mhaquiz.quiz import formulas as F
from mhaquiz.quiz.formulas import FORMULAS

MINE = [
    "tp_heads_per_rank", "tp_kv_heads_per_rank", "megatron_padded_vocab", "tp_sp_activation_ratio",
    "ring_attention_min_block", "swa_receptive_field", "rolling_buffer_slot", "swa_kv_cache_reduction",
    "sliding_window_allowed_entries", "bpe_vocab_size", "wordpiece_pair_score", "embedding_param_count",
    "compression_cost_ratio", "spec_accept_prob", "spec_residual_prob", "spec_expected_tokens",
    "spec_walltime_speedup", "mtp_training_loss", "mtp_projection_params",
]


def test_every_formula_of_this_section_is_registered():
    for name in MINE:
        assert FORMULAS[name] is getattr(F, name)


# --- parallel attention -------------------------------------------------------------------

# Megatron-LM (arXiv 1909.08053) Table 1: the 2.5B configuration has 20 attention heads on 2 model-parallel
# GPUs, the 8.3B one 32 heads on 8; §3: "the matrix multiply corresponding to each attention head is done
# locally on one GPU".
def test_tp_heads_per_rank_megatron_table1():
    assert F.tp_heads_per_rank(heads=20, tp=2) == 10
    assert F.tp_heads_per_rank(heads=32, tp=8) == 4


def test_tp_heads_per_rank_rejects_a_head_split_across_ranks():
    with pytest.raises(ValueError):
        F.tp_heads_per_rank(heads=20, tp=8)


# vLLM QKVParallelLinear: "if tp_size >= self.total_num_kv_heads: self.num_kv_heads = 1" (replicated), else
# "divide(self.total_num_kv_heads, tp_size)"; Megatron-Core TransformerConfig: "num_query_groups must be a
# multiple or divisor of tensor_model_parallel_size".
def test_tp_kv_heads_per_rank_splits_or_replicates():
    assert F.tp_kv_heads_per_rank(kv_heads=8, tp=4) == 2
    assert F.tp_kv_heads_per_rank(kv_heads=8, tp=8) == 1
    assert F.tp_kv_heads_per_rank(kv_heads=8, tp=16) == 1
    assert F.tp_kv_heads_per_rank(kv_heads=1, tp=8) == 1


def test_tp_kv_heads_per_rank_rejects_neither_multiple_nor_divisor():
    with pytest.raises(ValueError):
        F.tp_kv_heads_per_rank(kv_heads=6, tp=4)


# Megatron-LM §5.1: "we pad the vocabulary such that it is divisible by 128 x 8 = 1024, resulting in a padded
# vocabulary size of 51,200" (GPT-2's 50,257, 8-way model parallelism).
def test_megatron_padded_vocab_gpt2():
    assert F.megatron_padded_vocab(vocab=50257, tp=8) == 51200


def test_megatron_padded_vocab_keeps_an_exact_multiple():
    assert F.megatron_padded_vocab(vocab=51200, tp=8) == 51200


# Korthikanti et al. 2022 (arXiv 2205.05198) Table 2: tensor parallel sbh(10 + 24/t + 5as/(ht)), tensor +
# sequence parallel sbh/t (34 + 5as/h); §5: GPT-3 (a = 96, s = 2048, h = 12288) has 5as/h = 80.
def test_tp_sp_activation_ratio_gpt3_t8():
    ratio = F.tp_sp_activation_ratio(seq_len=2048, hidden=12288, heads=96, tp=8)
    assert ratio == pytest.approx((10 + 24 / 8 + 80 / 8) / ((34 + 80) / 8))


def test_tp_sp_activation_ratio_is_one_without_tensor_parallelism():
    # With t = 1 both rows of Table 2 are the unparallelised sbh(34 + 5as/h).
    assert F.tp_sp_activation_ratio(seq_len=2048, hidden=12288, heads=96, tp=1) == pytest.approx(1.0)


# Liu et al. 2023, Ring Attention (arXiv 2310.01889) Table 2 ("minimal block size c = FLOPS/Bandwidth, minimal
# sequence length s = 6c"): A100 NVLink 312 TF / 300 GB/s -> 1.0 and 6.2 (x1e3); TPU v3 123 / 112 -> 1.1 and
# 6.6; TPU v4 275 / 268 -> 1.0 and 6.2; TPU v5e 196 / 186 -> 1.1 and 6.3.
@pytest.mark.parametrize(
    "tflops, bandwidth, block_k, seq_k",
    [(312, 300, 1.0, 6.2), (123, 112, 1.1, 6.6), (275, 268, 1.0, 6.2), (196, 186, 1.1, 6.3)],
)
def test_ring_attention_min_block_table2(tflops, bandwidth, block_k, seq_k):
    block = F.ring_attention_min_block(tflops=tflops, bandwidth_gbs=bandwidth)
    assert round(block / 1000, 1) == block_k
    assert round(6 * block / 1000, 1) == seq_k


# --- sliding window -----------------------------------------------------------------------

# Mistral 7B (arXiv 2310.06825) §2: "At the last layer, using a window size of W = 4096, we have a theoretical
# attention span of approximately 131K tokens" (Table 1: n_layers 32).
def test_swa_receptive_field_mistral():
    assert round(F.swa_receptive_field(window=4096, layers=32) / 1000) == 131


# Mistral 7B §2: "the keys and values for the timestep i are stored in position i mod W of the cache. As a
# result, when the position i is larger than W, past values in the cache are overwritten" (Figure 2: W = 4).
def test_rolling_buffer_slot_wraps_and_overwrites():
    assert [F.rolling_buffer_slot(pos=i, window=4) for i in range(10)] == [0, 1, 2, 3, 0, 1, 2, 3, 0, 1]


# Mistral 7B §2: "On a sequence length of 32k tokens, this reduces the cache memory usage by 8x" (W = 4096,
# every layer uses the sliding window).
def test_swa_kv_cache_reduction_mistral_32k():
    assert F.swa_kv_cache_reduction(seq_len=32768, window=4096, local_layers=32, global_layers=0) == 8


@pytest.mark.parametrize("seq_len", [2048, 4096])
def test_swa_kv_cache_reduction_no_saving_when_the_window_covers_everything(seq_len):
    # Gemma 2 (arXiv 2408.00118) §2.1: window 4096 against a global span of 8192; up to 4096 tokens nothing is saved.
    assert F.swa_kv_cache_reduction(seq_len=seq_len, window=4096, local_layers=13, global_layers=13) == 1


def _count_window_mask(seq_len, window):
    """Brute force: query i may see key j when i - window < j <= i (itself and the window - 1 keys before)."""
    return sum(1 for i, j in itertools.product(range(seq_len), repeat=2) if i - window < j <= i)


@pytest.mark.parametrize("seq_len, window", [(5, 3), (16, 4), (7, 1), (6, 10), (0, 3)])
def test_sliding_window_allowed_entries_matches_the_mask(seq_len, window):
    assert F.sliding_window_allowed_entries(seq_len=seq_len, window=window) == _count_window_mask(seq_len, window)


# --- tokenization -------------------------------------------------------------------------

# Sennrich et al. 2016 (arXiv 1508.07909) §3.2: "The final symbol vocabulary size is equal to the size of the
# initial vocabulary, plus the number of merge operations". GPT-2 (Radford et al. 2019) §2.2: "a byte-level
# version of BPE only requires a base vocabulary of size 256"; §2.3: "The vocabulary is expanded to 50,257";
# tiktoken's gpt2 encoding puts <|endoftext|> at id 50256, after the 256 + 50,000 merged tokens.
def test_bpe_vocab_size_gpt2():
    assert F.bpe_vocab_size(base_symbols=256, merges=50000, special_tokens=1) == 50257


# Hugging Face LLM Course, chapter 6.6 (corpus hug 10, pug 5, pun 12, bun 4, hugs 5): "The most frequent pair is
# ("##u", "##g") (present 20 times) ... its score is ... 1 / 36"; "the best score goes to the pair ("##g",
# "##s") ... at 1 / 20".
def test_wordpiece_pair_score_course_example():
    assert F.wordpiece_pair_score(pair_freq=20, first_freq=36, second_freq=20) == pytest.approx(1 / 36)
    assert F.wordpiece_pair_score(pair_freq=5, first_freq=20, second_freq=5) == pytest.approx(1 / 20)


# Gemma 2 (arXiv 2408.00118) Table 1: vocab 256128, d_model 2304 / 3584 / 4608, tied embedding; Table 2 embedding
# parameters 590,118,912 / 917,962,752 / 1,180,237,824.
@pytest.mark.parametrize("d, printed", [(2304, 590_118_912), (3584, 917_962_752), (4608, 1_180_237_824)])
def test_embedding_param_count_gemma2(d, printed):
    assert F.embedding_param_count(vocab=256128, d=d, tied=True) == printed


def test_embedding_param_count_untied_counts_the_output_layer_too():
    assert F.embedding_param_count(vocab=256128, d=2304, tied=False) == 2 * 590_118_912


# Llama 3 (arXiv 2407.21783) §3.2: the new tokenizer "improves compression rates on a sample of English data
# from 3.17 to 3.94 characters per token".
def test_compression_cost_ratio_llama3():
    assert F.compression_cost_ratio(chars_per_token_old=3.17, chars_per_token_new=3.94) == pytest.approx(3.94 / 3.17)
    assert F.compression_cost_ratio(chars_per_token_old=3.17, chars_per_token_new=3.94, power=2) == pytest.approx(
        (3.94 / 3.17) ** 2
    )


# --- speculative decoding -----------------------------------------------------------------

# Leviathan et al. 2023 (arXiv 2211.17192) §2.3: "we instead sample x ~ q(x), keeping it if q(x) <= p(x), and in
# case q(x) > p(x) we reject the sample with probability 1 - p(x)/q(x)".
def test_spec_accept_prob_keeps_or_rejects():
    assert F.spec_accept_prob(p=0.3, q=0.2) == 1
    assert F.spec_accept_prob(p=0.2, q=0.5) == pytest.approx(0.4)


# Leviathan et al. Appendix A.1: P(x) = min(q(x), p(x)) + (1 - beta) p'(x) = p(x), beta = sum_x min(p(x), q(x)).
@pytest.mark.parametrize("p_a, p_b, q_a, q_b", [(0.5, 0.3, 0.2, 0.6), (0.6, 0.3, 0.3, 0.5), (0.1, 0.1, 0.7, 0.2)])
def test_spec_residual_prob_restores_the_target_distribution(p_a, p_b, q_a, q_b):
    p = [p_a, p_b, 1 - p_a - p_b]
    q = [q_a, q_b, 1 - q_a - q_b]
    beta = sum(min(x, y) for x, y in zip(p, q))
    output_a = q[0] * min(1, p[0] / q[0]) + (1 - beta) * F.spec_residual_prob(p_a=p_a, p_b=p_b, q_a=q_a, q_b=q_b)
    assert output_a == pytest.approx(p[0])


def test_spec_residual_prob_is_zero_where_the_draft_overshoots():
    assert F.spec_residual_prob(p_a=0.2, p_b=0.3, q_a=0.6, q_b=0.2) == 0


# Leviathan et al. §3.6: "with M_p being T5-XXL 11B and M_q being a trivial bigram model, we get alpha ~ 0.2
# which leads to an inference speed improvement factor of 1.25X with gamma = 3" (c = 0 for an n-gram model).
def test_spec_walltime_speedup_bigram_draft():
    assert round(F.spec_walltime_speedup(alpha=0.2, gamma=3, c=0), 2) == 1.25
    assert round(F.spec_expected_tokens(alpha=0.2, gamma=3), 2) == 1.25


# Leviathan et al. Appendix A.5 (argmax): "we get alpha values of 0.75, 0.75, 0.8, 0.87. Taking for example
# c = 0.015 and gamma = 8 we get speed improvement factors of 3.3X, 3.3X, 3.9X, and 4.9X".
@pytest.mark.parametrize("alpha, printed", [(0.75, 3.3), (0.8, 3.9), (0.87, 4.9)])
def test_spec_walltime_speedup_appendix_a5(alpha, printed):
    assert round(F.spec_walltime_speedup(alpha=alpha, gamma=8, c=0.015), 1) == printed


# Leviathan et al. Corollary 3.9: for gamma = 1 the improvement is (1 + alpha) / (1 + c); Eq. 1 with alpha = 0
# gives one token per run and with gamma = 0 plain decoding.
def test_spec_expected_tokens_edges():
    assert F.spec_walltime_speedup(alpha=0.6, gamma=1, c=0.1) == pytest.approx(1.6 / 1.1)
    assert F.spec_expected_tokens(alpha=0.0, gamma=5) == 1
    assert F.spec_expected_tokens(alpha=0.9, gamma=0) == pytest.approx(1)


# --- multi-token prediction ---------------------------------------------------------------

# DeepSeek-V3 (arXiv 2412.19437) §2.2 Eq. 25: L_MTP = (lambda / D) sum_k L_MTP^k, added to the main loss; §4.2:
# D = 1, lambda = 0.3 for the first 10T tokens.
def test_mtp_training_loss_deepseek_v3():
    assert F.mtp_training_loss(main_loss=2.0, mtp_loss_sum=2.5, depth=1, lam=0.3) == pytest.approx(2.0 + 0.3 * 2.5)
    assert F.mtp_training_loss(main_loss=2.0, mtp_loss_sum=5.0, depth=2, lam=0.1) == pytest.approx(2.0 + 0.1 * 2.5)


# DeepSeek-V3 §2.2: "a projection matrix M_k in R^(d x 2d)"; §4.2: hidden dimension 7168.
def test_mtp_projection_params_is_a_d_by_2d_matrix():
    assert F.mtp_projection_params(d=7168) == 7168 * (2 * 7168)
