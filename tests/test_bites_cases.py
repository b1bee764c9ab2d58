"""Each graded case is there for a reason: it still has its property, and the mistake it exists for fails on it.

A case whose inputs drift (an eps no longer large, positions that start at 0 again, a window wider than the
keys) leaves its mistake to the other cases, or to none: these tests say which case stands for what.
"""

import numpy as np
import pytest

from mhaquiz.grader.compare import compare_output
from mhaquiz.grader.diagnose import call, mutated_reference
from mhaquiz.grader.exercises import get_exercise
from mhaquiz.grader.spec import Tolerance

SEEDS = (0, 1, 2, 3)


def case_named(exercise_id: str, name: str, seed: int):
    cases = {case.name: case for case in get_exercise(exercise_id).checks().make_cases(seed)}
    assert name in cases, sorted(cases)
    return cases[name]


def fails_on(exercise_id: str, mutant_id: str, case) -> bool:
    """Whether the reference with `mutant_id` planted gets some output of `case` wrong."""
    exercise = get_exercise(exercise_id)
    checks = exercise.checks()
    mutant = next(m for m in checks.MUTANTS if m.id == mutant_id)
    expected = call(exercise.reference(), case)
    got = call(mutated_reference(exercise, mutant), case, mutant)
    scale = Tolerance.scale(expected.values())
    return any(not compare_output(name, got.get(name), value, checks.TOLERANCE, scale).passed
               for name, value in expected.items())


def others_fail(exercise_id: str, mutant_id: str, seed: int, but: str) -> bool:
    return any(fails_on(exercise_id, mutant_id, case) for case in get_exercise(exercise_id).checks().make_cases(seed)
               if case.name != but)


# --- LayerNorm and RMSNorm: the eps cases ----------------------------------------------------------------------

@pytest.mark.parametrize("seed", SEEDS)
def test_layer_norm_large_eps_case_has_eps_as_large_as_the_variances_and_catches_eps_outside_the_sqrt(seed):
    case = case_named("layer_norm", "large eps", seed)
    x, eps = case.args["x"], case.args["eps"]
    variance = x.var(axis=-1)
    assert eps >= 0.05 and 0.2 * eps < np.median(variance) < 5 * eps
    assert fails_on("layer_norm", "eps_outside_sqrt", case)


@pytest.mark.parametrize("seed", SEEDS)
def test_layer_norm_tiny_variance_case_has_every_variance_below_eps_and_catches_a_missing_eps(seed):
    case = case_named("layer_norm", "tiny variance", seed)
    assert (case.args["x"].var(axis=-1) < case.args["eps"]).all()
    assert fails_on("layer_norm", "eps_missing", case)
    assert fails_on("layer_norm", "eps_outside_sqrt", case)


@pytest.mark.parametrize("seed", SEEDS)
def test_rms_norm_tiny_inputs_case_has_mean_squares_near_eps_and_catches_eps_outside_the_sqrt(seed):
    case = case_named("rms_norm", "tiny inputs", seed)
    mean_square = (case.args["x"] ** 2).mean(axis=-1)
    assert (mean_square < 30 * case.args["eps"]).all()  # about 1e-5 against eps = 1e-6: eps shows
    assert fails_on("rms_norm", "eps_outside_sqrt", case)
    assert fails_on("rms_norm", "eps_missing", case)


@pytest.mark.parametrize("exercise_id, default", [("layer_norm", 1e-5), ("rms_norm", 1e-6)])
def test_an_eps_other_than_the_libraries_default_is_graded_so_a_hard_wired_eps_fails(exercise_id, default):
    cases = get_exercise(exercise_id).checks().make_cases(0)
    other = [case for case in cases if case.args["eps"] != default]
    assert other
    assert any(fails_on(exercise_id, "eps_hardwired", case) for case in other)


@pytest.mark.parametrize("exercise_id", ["layer_norm", "rms_norm"])
def test_the_large_eps_case_alone_tells_eps_outside_the_sqrt_apart_at_every_seed(exercise_id):
    """The other cases' eps is small beside their variances: on them the mistake hides within 1e-3."""
    for seed in SEEDS:
        assert fails_on(exercise_id, "eps_outside_sqrt", case_named(exercise_id, "large eps", seed))


# --- RoPE: positions that do not start at 0 ------------------------------------------------------------------

@pytest.mark.parametrize("seed", SEEDS)
def test_rope_per_sequence_positions_start_at_different_offsets_not_all_zero_and_catch_ignored_positions(seed):
    case = case_named("rope", "per-sequence positions", seed)
    positions = np.asarray(case.args["positions"])
    starts = positions.reshape(positions.shape[0], -1)[:, 0]
    assert positions.ndim == 3 and len(set(starts.tolist())) == positions.shape[0] and starts.max() > 0
    assert fails_on("rope", "positions_ignored", case)


@pytest.mark.parametrize("seed", SEEDS)
def test_rope_kv_cache_offset_case_starts_past_zero_and_catches_ignored_positions(seed):
    case = case_named("rope", "KV-cache offset", seed)
    positions = np.asarray(case.args["positions"])
    assert positions.min() > 0 and (np.diff(positions) == 1).all()
    assert fails_on("rope", "positions_ignored", case)


# --- online softmax: the max in a later block ------------------------------------------------------------------

@pytest.mark.parametrize("seed", SEEDS)
def test_online_softmax_later_block_case_has_every_row_max_past_the_first_block_and_catches_an_unrescaled_sum(seed):
    case = case_named("online_softmax", "max in a later block", seed)
    x, block = case.args["x"], case.args["block_size"]
    assert block < x.shape[-1]
    assert (x.argmax(axis=-1) >= block).all()
    first_block_max = x[..., :block].max(axis=-1)
    assert (x.max(axis=-1) - first_block_max > 1.0).all()  # exp(m_old - m_new) far from 1
    assert fails_on("online_softmax", "sum_not_rescaled", case)


# --- cross-entropy: large logits ---------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", SEEDS)
def test_cross_entropy_large_logits_overflow_exp_and_underflow_one_target_and_catch_the_unstable_forms(seed):
    case = case_named("cross_entropy", "large logits", seed)
    logits, tokens = case.args["logits"], case.args["tokens"]
    assert logits.max() > np.log(np.finfo(np.float64).max)  # exp overflows to inf
    targets = np.take_along_axis(logits[:, :-1], tokens[:, 1:, None], axis=-1)[..., 0]  # (B, T-1)
    gap = logits[:, :-1].max(axis=-1) - targets
    assert gap.max() > -np.log(np.finfo(np.float64).tiny) + 40  # exp(target - max) is exactly 0
    assert fails_on("cross_entropy", "log_of_softmax", case)
    assert fails_on("cross_entropy", "logsumexp_without_max", case)
    assert fails_on("cross_entropy", "log_of_stable_softmax", case)


# --- chunked prefill: windows that cut keys ------------------------------------------------------------------------

WINDOWED = ["window smaller than cache", "window inside chunk", "window 2 prefill", "decode step with window"]


def visible_keys(case):
    """Per new token, how many keys the offset causal mask alone lets it see (P + i + 1)."""
    P, T = case.args["k_cache"].shape[-2], case.args["q"].shape[-2]
    return P + np.arange(T) + 1


@pytest.mark.parametrize("name", WINDOWED)
def test_chunked_prefill_each_windowed_case_has_a_query_the_window_cuts_and_catches_an_ignored_window(name):
    for seed in SEEDS:
        case = case_named("chunked_prefill", name, seed)
        assert (visible_keys(case) > case.args["window"]).any()
        assert fails_on("chunked_prefill", "window_ignored", case)
        assert fails_on("chunked_prefill", "window_one_too_many", case)


def test_chunked_prefill_the_window_larger_than_everything_really_is_larger():
    case = case_named("chunked_prefill", "window larger than everything", 0)
    assert case.args["window"] > visible_keys(case).max()
    assert not fails_on("chunked_prefill", "window_ignored", case)


# --- FlashAttention: large logits ------------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", SEEDS)
def test_flash_large_logits_case_has_scores_beyond_exp_and_catches_lse_without_the_max(seed):
    case = case_named("flash_attention_forward", "large logits", seed)
    q, k = case.args["q"], case.args["k"]
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    assert np.abs(scores).max() > np.log(np.finfo(np.float64).max)
    assert fails_on("flash_attention_forward", "lse_without_max", case)
