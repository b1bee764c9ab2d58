"""Honest mistakes never pass, and are named as they are (issue 14, part 4).

- Every exercise that masks grades a fixed case whose masked keys outscore the allowed ones by millions: a
  -1e4 mask fill (replacing the score or added to it) and FlashAttention's masking after exp fail on it at
  every seed and are named; a -1e9, -inf or finfo.min fill passes at every seed.
- The naming rule at its boundaries: a mutant matching a tenth, half and all of what it changes; MATCH_RTOL
  just inside and just outside; a float32-sized slip never named.
- Ties: mistakes that reproduce exactly the same failing outputs are not named, unless another output tells
  them apart.
- Pairs: two mistakes at once (The Annotated Transformer's LayerNorm) are named as the pair, a single mistake
  never is, and a pair contradicted by a passing output is not named.

Submissions are graded through the core API: the exercise's cases, compare_output and diagnose, as the grader
builds its evidence (the sandbox is not what these tests are about).
"""

import types
from pathlib import Path

import numpy as np
import pytest

from mhaquiz.grader import diagnose as diagnosis_module
from mhaquiz.grader.compare import MISMATCH_PROBLEMS, compare_output
from mhaquiz.grader.diagnose import Evidence, call, diagnose, mutated_reference
from mhaquiz.grader.exercises import get_exercise
from mhaquiz.grader.spec import MATCH_RTOL, Tolerance
from tests.helpers import reference_source, with_edits

SEEDS = range(10)
OUTSCORED = "masked keys outscore"
STYLE_DIR = Path(__file__).parent / "published_style"


# --- grading through the core API ---------------------------------------------------------------------------

def module_from(source: str, name: str = "submission"):
    module = types.ModuleType(name)
    exec(compile(source, f"{name}.py", "exec"), module.__dict__)
    return module


def float32_errors(exercise, case, expected):
    """How far the reference lands when run in float32 (the size of a float32 slip on this case)."""
    try:
        outputs = call(exercise.reference(), case, dtype=np.float32)
    except Exception:  # noqa: BLE001
        return {}
    found = {}
    for name, value in expected.items():
        other = outputs.get(name)
        if other is not None and other.shape == value.shape:
            with np.errstate(all="ignore"):
                diff = np.abs(other - value)
            diff = diff[np.isfinite(diff)]
            found[name] = float(diff.max()) if diff.size else 0.0
    return found


def judge(exercise_id, submitted_by_case, seed=0):
    """(per case: {output: problem or None}, the diagnoses) for a submission's outputs given per case name."""
    exercise = get_exercise(exercise_id)
    checks = exercise.checks()
    problems, evidence = {}, []
    for case in checks.make_cases(seed):
        expected = call(exercise.reference(), case)
        submitted = submitted_by_case(case)
        if submitted is None:
            problems[case.name] = "raised"
            continue
        scale = Tolerance.scale(expected.values())
        float32 = float32_errors(exercise, case, expected)
        results = [compare_output(name, submitted.get(name), value, checks.TOLERANCE, scale, float32.get(name))
                   for name, value in expected.items()]
        problems[case.name] = {result.name: result.problem for result in results}
        failing = {result.name for result in results if not result.passed and result.problem in MISMATCH_PROBLEMS}
        passing = {result.name for result in results if result.passed}
        evidence.append(Evidence(case, expected, submitted, failing, scale, float32 if failing else {}, passing))
    found = diagnose(exercise, evidence) if any(item.failing for item in evidence) else []
    return problems, found


def judge_module(exercise_id, module, seed=0):
    def run(case):
        try:
            return call(module, case)
        except Exception:  # noqa: BLE001
            return None

    return judge(exercise_id, run, seed)


def judge_source(exercise_id, edits, seed=0):
    return judge_module(exercise_id, module_from(with_edits(reference_source(exercise_id), *edits)), seed)


def failed(problems):
    return {case for case, outputs in problems.items() if outputs == "raised" or any(outputs.values())}


# --- 1. masking: the fixed case no small fill survives ------------------------------------------------------

MASKING = ("attention", "mha_forward", "gqa_forward", "mha_rope_forward", "transformer_block", "mla_forward",
           "chunked_prefill", "flash_attention_forward")

_WHERE = {  # the reference's masking statement, and how a fill F is written instead (replacing, adding)
    "attention": ("scores = np.where(mask, scores, -np.inf)",
                  "scores = np.where(mask, scores, {F})", "scores = scores + np.where(mask, 0.0, {F})"),
    "mla_forward": ("np.where(mask, scores, -np.inf)", "np.where(mask, scores, {F})",
                    "scores + np.where(mask, 0.0, {F})"),
    "chunked_prefill": ("np.where(mask, scores, -np.inf)", "np.where(mask, scores, {F})",
                        "scores + np.where(mask, 0.0, {F})"),
    "gqa_forward": ("np.copyto(scores, -np.inf, where=~mask)", "np.copyto(scores, {F}, where=~mask)",
                    "scores += np.where(mask, 0.0, {F})"),
    "flash_attention_forward": ("s = np.where(mask_block, s, -np.inf)", "s = np.where(mask_block, s, {F})",
                                "s = s + np.where(mask_block, 0.0, {F})"),
}
_SOFTMAX_WHERE = ("allowed = True if mask is None else mask\n    return softmax(scores, axis=-1, out=scores, where=allowed)",
                  "return softmax(scores if mask is None else np.where(mask, scores, {F}), axis=-1)",
                  "return softmax(scores if mask is None else scores + np.where(mask, 0.0, {F}), axis=-1)")
for _exercise in ("mha_forward", "mha_rope_forward", "transformer_block"):
    _WHERE[_exercise] = _SOFTMAX_WHERE


def fill_edits(exercise_id, fill, style):
    old, replacing, adding = _WHERE[exercise_id]
    return [(old, (replacing if style == "replace" else adding).format(F=fill))]


MASK_AFTER_EXP = [  # FlashAttention with the mask applied to exp(s - m): the running max taken over masked scores too
    ("def update(m, l, acc, s, v_block):", "def update(m, l, acc, s, v_block, keep=None):"),
    ("    p = np.exp(s - safe_max(m_new)[..., None])", "    p = np.exp(s - safe_max(m_new)[..., None]) * (1.0 if keep is None else keep)"),
    ("s = score_block(q, k[..., start:stop, :], None if mask is None else mask[..., start:stop])",
     "s = score_block(q, k[..., start:stop, :], None)"),
    ("m, l, acc = update(m, l, acc, s, v[..., start:stop, :])",
     "m, l, acc = update(m, l, acc, s, v[..., start:stop, :], None if mask is None else mask[..., start:stop])"),
]


def scores_and_masks(exercise_id, case):
    """The scaled scores and the mask the reference uses on `case`, seen by a spy on its attention helper."""
    module, seen = get_exercise(exercise_id).reference(), []
    if exercise_id == "flash_attention_forward":
        q, k, mask = case.args["q"], case.args["k"], case.args["mask"]
        return [(q @ k.swapaxes(-1, -2) / np.sqrt(q.shape[-1]), mask)]
    name = "attention" if exercise_id == "chunked_prefill" else "attention_weights"
    original = getattr(module, name)

    def spy(Q, K, *rest):
        mask = rest[-1] if rest else None
        seen.append((Q @ K.swapaxes(-1, -2) / np.sqrt(Q.shape[-1]), mask))
        return original(Q, K, *rest)

    setattr(module, name, spy)
    call(module, case)
    return seen


@pytest.mark.parametrize("exercise_id", MASKING)
def test_the_fixed_case_has_masked_keys_outscoring_the_allowed_ones_by_far_more_than_1e4_and_exp_can_hold(exercise_id):
    for seed in SEEDS:
        case = next(case for case in get_exercise(exercise_id).checks().make_cases(seed) if case.name == OUTSCORED)
        seen = scores_and_masks(exercise_id, case)
        assert seen, "the reference never computed scores"
        for scores, mask in seen:
            mask = np.broadcast_to(mask, scores.shape)
            allowed = np.where(mask, scores, -np.inf).max(axis=-1)  # (..., Tq)
            masked = np.where(mask, -np.inf, scores).max(axis=-1)
            rows = ~mask.all(axis=-1)  # the rows that mask a key
            assert rows.any()
            assert (allowed[rows] < -1e5).all()  # a fill of -1e4 is far above every allowed score ...
            assert (masked[rows] - allowed[rows] > 1e5).all()  # ... and so is a masked score minus 1e4; > 710: exp
            assert (masked[rows] - allowed[rows] > 710).all()


# mha_forward's very negative scores tell the additive -1e4 from the replacing one (the masked keys keep their
# own scores there): it is a mutant of its own
_FILL_NAME = {("mha_forward", "add"): "mask_added_1e4"}


@pytest.mark.parametrize("style", ["replace", "add"])
@pytest.mark.parametrize("exercise_id", MASKING)
def test_a_minus_1e4_fill_fails_the_fixed_case_at_every_seed_and_is_named(exercise_id, style):
    for seed in SEEDS:
        problems, found = judge_source(exercise_id, fill_edits(exercise_id, "-1e4", style), seed)
        assert OUTSCORED in failed(problems), (seed, problems)
        assert [d.mistake for d in found][:1] == [_FILL_NAME.get((exercise_id, style), "mask_fill_too_small")], \
            (seed, [d.mistake for d in found])
        assert OUTSCORED in found[0].cases


def test_masking_after_exp_fails_flash_attention_at_every_seed_and_is_named():
    for seed in SEEDS:
        problems, found = judge_source("flash_attention_forward", MASK_AFTER_EXP, seed)
        assert problems[OUTSCORED] == {"out": "not_finite", "lse": "not_finite"}, (seed, problems)
        assert [d.mistake for d in found] == ["mask_after_exp"], (seed, [d.mistake for d in found])


@pytest.mark.parametrize("fill, style", [("-1e9", "replace"), ("-1e9", "add"), ("np.finfo(np.float64).min", "replace"),
                                         ("np.finfo(np.float64).min", "add"), ("-np.inf", "replace")])
@pytest.mark.parametrize("exercise_id", MASKING)
def test_a_large_enough_fill_passes_at_every_seed(exercise_id, fill, style):
    for seed in SEEDS:
        problems, found = judge_source(exercise_id, fill_edits(exercise_id, fill, style), seed)
        assert not failed(problems), (seed, {case: p for case, p in problems.items() if case in failed(problems)})


def test_kv_cache_decode_masks_nothing_so_no_fill_can_matter():
    """Every cached key is in the past: a decoding step has no masked key, hence no fixed mask case."""
    for case in get_exercise("kv_cache_decode").checks().make_cases(0):
        seen = scores_and_masks("kv_cache_decode", case)
        assert seen and all(mask is None for _, mask in seen)


# --- 2. the naming thresholds --------------------------------------------------------------------------------

def _layer_norm_evidence(matching, seeds=range(10), perturb=None):
    """Ten layer_norm evidence items (the 'tokens (B, T, D)' case at ten seeds), all failing: the first
    `matching` reproduce gamma_ignored exactly (or up to `perturb`), the others are off some other way."""
    exercise = get_exercise("layer_norm")
    mutant = next(m for m in exercise.checks().MUTANTS if m.id == "gamma_ignored")
    module, evidence = mutated_reference(exercise, mutant), []
    for number, seed in enumerate(seeds):
        case = exercise.checks().make_cases(seed)[0]
        expected = call(exercise.reference(), case)
        scale = Tolerance.scale(expected.values())
        if number < matching:
            got = call(module, case, mutant)["out"]
            if perturb is not None:
                got = got + perturb * (MATCH_RTOL * scale + MATCH_RTOL * np.abs(got))
        else:
            got = expected["out"] + 0.3 * scale * np.cos(np.arange(expected["out"].size)).reshape(expected["out"].shape)
        evidence.append(Evidence(case, expected, {"out": got}, {"out"}, scale,
                                 float32_errors(exercise, case, expected)))
    return exercise, evidence


@pytest.mark.parametrize("matching, named", [(1, False), (4, False), (5, True), (10, True)])
def test_a_mutant_is_named_only_when_it_matches_at_least_half_of_what_it_changes(matching, named):
    exercise, evidence = _layer_norm_evidence(matching)
    found = diagnose(exercise, evidence)
    assert ("gamma_ignored" in [d.mistake for d in found]) == named, [d.mistake for d in found]
    if named:
        assert found[0].mistake == "gamma_ignored" and found[0].matched == matching and found[0].failing == 10


@pytest.mark.parametrize("factor, named", [(0.9, True), (1.1, False)])
def test_the_match_tolerance_at_its_edge(factor, named):
    exercise, evidence = _layer_norm_evidence(10, perturb=factor)
    assert ([d.mistake for d in diagnose(exercise, evidence)] == ["gamma_ignored"]) == named


def test_a_mutant_contradicted_by_a_passing_output_is_not_named():
    """gamma_ignored matched on nine items, but the tenth output is right where gamma_ignored would be wrong."""
    exercise, evidence = _layer_norm_evidence(10)
    last = evidence[-1]
    evidence[-1] = Evidence(last.case, last.expected, {"out": last.expected["out"]}, set(), last.scale, {}, {"out"})
    assert diagnose(exercise, evidence) == []


@pytest.mark.parametrize("exercise_id", ["attention", "layer_norm", "transformer_block", "flash_attention_forward",
                                         "cross_entropy", "mha_forward"])
def test_a_float32_sized_slip_is_never_named_as_a_mistake(exercise_id):
    """The reference run in float32: every output off by a float32 slip only, even if diagnosed as failing."""
    exercise = get_exercise(exercise_id)
    slipped = 0
    for seed in (0, 1):
        evidence = []
        for case in exercise.checks().make_cases(seed):
            expected = call(exercise.reference(), case)
            got = call(exercise.reference(), case, dtype=np.float32)
            scale = Tolerance.scale(expected.values())
            float32 = float32_errors(exercise, case, expected)
            precision = {name for name, value in expected.items()
                         if compare_output(name, got[name], value, exercise.checks().TOLERANCE, scale,
                                           float32.get(name)).problem == "precision"}
            slipped += len(precision)
            evidence.append(Evidence(case, expected, got, precision, scale, float32))
        assert diagnose(exercise, evidence) == []
    assert slipped > 0


# --- 3. ties -------------------------------------------------------------------------------------------------

CS231N = (STYLE_DIR / "cs231n_temporal_softmax_style.py").read_text(encoding="utf-8")


def test_cs231n_temporal_softmax_loss_is_named_log_of_a_stable_softmax_never_log_sum_exp_without_the_max():
    """Its loss is inf on the large-logits case as two mistakes' are; its right gradient tells them apart."""
    module = module_from(CS231N, "cs231n")
    for seed in SEEDS:
        problems, found = judge_module("cross_entropy", module, seed)
        assert failed(problems) == {"large logits"}
        assert problems["large logits"] == {"loss": "not_finite", "perplexity": "not_finite", "d_logits": None}
        assert [(d.mistake, d.matched, d.failing, d.pair) for d in found] == [("log_of_stable_softmax", 2, 2, ())]


def test_mistakes_that_reproduce_the_same_failing_outputs_are_not_named():
    """With its gradient broken as well (not divided by N), nothing tells log-of-softmax from log-sum-exp
    without the max on the large-logits case (both give an inf loss): only the gradient's mistake is named."""
    source = with_edits(CS231N, ("    dx_flat /= N\n", ""), ("[dx * per_target, ", "[dx, "))
    module = module_from(source, "cs231n_not_averaged")
    for seed in (0, 3):
        problems, found = judge_module("cross_entropy", module, seed)
        assert problems["large logits"]["loss"] == "not_finite" and problems["plain"]["d_logits"] == "values"
        assert [d.mistake for d in found] == ["gradient_not_averaged"]
        assert "loss" not in found[0].outputs


def test_a_tie_names_neither_even_alone():
    exercise = get_exercise("cross_entropy")
    case = next(case for case in exercise.checks().make_cases(0) if case.name == "large logits")
    expected = call(exercise.reference(), case)
    got = call(module_from(CS231N, "cs231n"), case)
    scale = Tolerance.scale(expected.values())
    evidence = [Evidence(case, expected, got, {"loss", "perplexity"}, scale, float32_errors(exercise, case, expected))]
    mutants = {m.id: m for m in exercise.checks().MUTANTS}
    both = [diagnosis_module.explained_pairs(exercise, mutants[name], evidence)
            for name in ("log_of_stable_softmax", "logsumexp_without_max")]
    assert both[0] == both[1] == {(0, "loss"), (0, "perplexity")}  # the two explain exactly the same
    assert diagnose(exercise, evidence) == []


# --- 4. pairs ------------------------------------------------------------------------------------------------

ANNOTATED = module_from((STYLE_DIR / "annotated_transformer_layernorm_style.py").read_text(encoding="utf-8"),
                        "annotated_layernorm")


def test_the_annotated_transformer_layernorm_is_named_as_the_pair_it_is():
    for seed in SEEDS:
        problems, found = judge_module("layer_norm", ANNOTATED, seed)
        assert len(failed(problems)) == 7
        assert [(d.mistake, [mistake for mistake, _ in d.pair], d.matched, d.failing) for d in found] == \
            [("unbiased_variance", ["unbiased_variance", "eps_outside_sqrt"], 7, 7)]
        assert set(found[0].related) >= {"norm-annotated-layernorm-diff", "norm-unbiased-shrink-factor"}


def test_a_norm_with_no_weight_and_a_hard_wired_eps_is_named_as_that_pair():
    module = module_from((STYLE_DIR / "rmsnorm_no_weight_style.py").read_text(encoding="utf-8"), "rmsnorm_no_weight")
    for seed in SEEDS:
        problems, found = judge_module("rms_norm", module, seed)
        assert [(d.mistake, [mistake for mistake, _ in d.pair], d.matched, d.failing) for d in found] == \
            [("eps_hardwired", ["eps_hardwired", "gamma_ignored"], 6, 6)]


def test_the_pair_reads_as_two_mistakes_in_json_and_on_screen():
    from rich.console import Console

    from mhaquiz.grader import render
    from mhaquiz.grader.report import ExerciseResult, GradeReport
    from mhaquiz.grader.verdict import Verdict

    _, found = judge_module("layer_norm", ANNOTATED, 0)
    data = found[0].to_dict()
    assert [item["mistake"] for item in data["pair"]] == ["unbiased_variance", "eps_outside_sqrt"]
    assert data["pair"][1]["title"]["en"].startswith("eps added to the standard deviation")
    exercise = get_exercise("layer_norm")
    result = ExerciseResult(exercise.id, exercise.title, Verdict.WRONG_ANSWER, diagnosis=found)
    report = GradeReport(file="ln.py", verdict=Verdict.WRONG_ANSWER, timeout=5.0, memory_mb=2048, exercises=[result])
    for lang, first, second in (("en", "unbiased variance", "eps added to the standard deviation"),
                                ("zh", "方差用了无偏估计", "eps 加在了标准差上")):
        console = Console(width=400, record=True, color_system=None)
        render.render(report, console, lang)
        text = console.export_text()
        line = next(line for line in text.splitlines() if first in line)
        assert second in line  # both names on the one line that names the mistake
        assert ("two mistakes at once" in line) if lang == "en" else ("同时犯了两个错误" in line)


@pytest.mark.parametrize("exercise_id", ["layer_norm", "rms_norm", "cross_entropy", "transformer_block"])
def test_a_single_mistake_is_never_reported_as_a_pair(exercise_id):
    exercise = get_exercise(exercise_id)
    for mutant in exercise.checks().MUTANTS:
        problems, found = judge(exercise_id, lambda case: _planted(exercise, mutant, case))
        assert [d.mistake for d in found][:1] == [mutant.id]
        assert not any(d.pair for d in found), (mutant.id, [d.pair for d in found])


def _planted(exercise, mutant, case):
    try:
        return call(mutated_reference(exercise, mutant), case, mutant)
    except Exception:  # noqa: BLE001
        return None


def test_a_pair_contradicted_by_a_passing_output_is_not_named():
    """The Annotated Transformer's LayerNorm right on one case (there the pair would be wrong): no pair, and
    no single mistake either."""
    reference = get_exercise("layer_norm").reference()

    def submitted(case):
        module = reference if case.name == "1-D vector" else ANNOTATED
        return call(module, case)

    problems, found = judge("layer_norm", submitted)
    assert len(failed(problems)) == 6 and "1-D vector" not in failed(problems)
    assert found == []


def test_pairs_are_tried_only_between_mutants_patching_different_helpers():
    exercise = get_exercise("layer_norm")
    mutants = {m.id: m for m in exercise.checks().MUTANTS}
    assert diagnosis_module.Pair.composable(mutants["unbiased_variance"], mutants["eps_outside_sqrt"])
    assert not diagnosis_module.Pair.composable(mutants["unbiased_variance"], mutants["one_pass_variance"])


def test_each_part_of_a_pair_sees_the_other_bug():
    """Composed on different helpers, the pair is the two edits at once, whichever helper calls which."""
    exercise = get_exercise("layer_norm")
    mutants = {m.id: m for m in exercise.checks().MUTANTS}
    pair = diagnosis_module.Pair(mutants["unbiased_variance"], mutants["gamma_ignored"])
    case = exercise.checks().make_cases(0)[0]
    x, gamma, beta, eps = case.args.values()
    centred = x - x.mean(axis=-1, keepdims=True)
    both = centred / np.sqrt(centred.var(axis=-1, ddof=1, keepdims=True) + eps) + beta
    np.testing.assert_allclose(call(mutated_reference(exercise, pair), case, pair)["out"], both, rtol=1e-12)


def test_a_helper_of_one_part_calls_the_other_parts_helper():
    """FlashAttention's output_not_rescaled (its update calls rescale) planted with no_rescaling (rescale gives
    1): composed, its update must use the planted rescale, which makes it exactly no_rescaling."""
    exercise = get_exercise("flash_attention_forward")
    mutants = {m.id: m for m in exercise.checks().MUTANTS}
    pair = diagnosis_module.Pair(mutants["no_rescaling"], mutants["output_not_rescaled"])
    case = exercise.checks().make_cases(0)[0]
    composed = call(mutated_reference(exercise, pair), case, pair)
    alone = {name: call(mutated_reference(exercise, mutants[name]), case, mutants[name])
             for name in ("no_rescaling", "output_not_rescaled")}
    np.testing.assert_array_equal(composed["out"], alone["no_rescaling"]["out"])
    assert not np.allclose(composed["out"], alone["output_not_rescaled"]["out"])


def test_two_mistakes_in_a_transformer_block_are_named_within_the_bound_on_pairs(monkeypatch):
    """An unbiased LayerNorm variance and the exact-erf GELU at once: no single mutant explains the outputs,
    the pair does; at most MAX_PAIRS pairs are tried among the 24 mutants."""
    exercise = get_exercise("transformer_block")
    mutants = {m.id: m for m in exercise.checks().MUTANTS}
    pair = diagnosis_module.Pair(mutants["ln_unbiased_variance"], mutants["gelu_exact"])
    tried = []
    explained_pairs = diagnosis_module.explained_pairs

    def counting(exercise, mutant, evidence, computed=None):
        if isinstance(mutant, diagnosis_module.Pair):
            tried.append(mutant.id)
        return explained_pairs(exercise, mutant, evidence, computed)

    monkeypatch.setattr(diagnosis_module, "explained_pairs", counting)
    problems, found = judge("transformer_block", lambda case: _planted(exercise, pair, case))
    assert len(failed(problems)) == len(problems)
    assert [[mistake for mistake, _ in d.pair] for d in found] == [["ln_unbiased_variance", "gelu_exact"]]
    assert 0 < len(tried) <= diagnosis_module.MAX_PAIRS < len(mutants) * (len(mutants) - 1) // 2
