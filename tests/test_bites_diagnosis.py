"""The comparison and naming thresholds at the values README.md documents (not the constants' own values, so a
changed constant is caught): the grading tolerance 1e-10 of the case scale, the match tolerance 1e-6, NaN and
inf, the float32 precision band, and more than one mistake named when each explains its own outputs."""

import numpy as np
import pytest

from helpers import grade_source, reference_source
from mhaquiz.grader.compare import compare_output, differs, matches
from mhaquiz.grader.diagnose import Evidence, call, diagnose, mutated_reference
from mhaquiz.grader.exercises import get_exercise
from mhaquiz.grader.spec import Tolerance
from mhaquiz.grader.verdict import Verdict

DOCUMENTED_TOLERANCE = 1e-10  # README: |got - expected| <= 1e-10 * scale + 1e-10 * |expected|
DOCUMENTED_MATCH = 1e-6  # README: a mutant reproduces your outputs within 1e-6 of the case scale
TOL = Tolerance()


# --- the grading tolerance ---------------------------------------------------------------------------------------------

def test_the_absolute_floor_follows_the_case_scale():
    expected = np.array([0.0, 100.0])  # scale 100: a truly zero element may be 1e-8 off
    scale = Tolerance.scale([expected])
    assert scale == 100.0
    inside = expected + np.array([0.9 * DOCUMENTED_TOLERANCE * scale, 0.0])
    outside = expected + np.array([1.1 * DOCUMENTED_TOLERANCE * scale, 0.0])
    assert compare_output("out", inside, expected, TOL, scale).passed
    assert not compare_output("out", outside, expected, TOL, scale).passed


def test_the_relative_part_follows_each_element():
    expected = np.array([1.0, 5e4])
    scale = Tolerance.scale([expected])
    allowed = DOCUMENTED_TOLERANCE * scale + DOCUMENTED_TOLERANCE * 5e4
    assert compare_output("out", expected + np.array([0.0, 0.9 * allowed]), expected, TOL, scale).passed
    assert not compare_output("out", expected + np.array([0.0, 1.1 * allowed]), expected, TOL, scale).passed


def test_nan_where_nan_is_expected_passes_and_inf_where_a_number_is_expected_is_not_finite():
    expected = np.array([np.nan, 1.0, np.inf])
    assert compare_output("out", expected.copy(), expected, TOL, 1.0).passed
    check = compare_output("out", np.array([np.nan, np.inf, np.inf]), expected, TOL, 1.0)
    assert not check.passed and check.problem == "not_finite"


def test_a_float32_array_is_a_wrong_dtype_even_with_right_values():
    expected = np.array([0.5, 0.25])
    check = compare_output("out", expected.astype(np.float32), expected, TOL, 1.0)
    assert not check.passed and check.problem == "dtype"


def test_a_precision_finding_needs_every_error_within_the_float32_band():
    expected = np.linspace(-1.0, 1.0, 8)
    small = expected + 1e-8
    assert compare_output("out", small, expected, TOL, 1.0).problem == "precision"
    mixed = small.copy()
    mixed[3] += 1e-2
    assert compare_output("out", mixed, expected, TOL, 1.0).problem == "values"


# --- matching a mutant, and differing from the reference ---------------------------------------------------------------

def test_matching_a_mutant_needs_every_element_within_the_match_tolerance():
    mutant = np.array([1.0, 2.0, 3.0])
    assert matches(mutant + 0.9 * DOCUMENTED_MATCH, mutant, 1.0)
    one_off = mutant.copy()
    one_off[1] += 1e-3
    assert not matches(one_off, mutant, 1.0)


def test_a_mutant_differs_only_beyond_a_float32_slip():
    expected = np.array([0.1, 0.2, 0.3])
    assert not differs(expected + 1e-9, expected, 1.0, None)
    assert differs(expected + np.array([0.0, 1e-3, 0.0]), expected, 1.0, None)


def _gamma_ignored_evidence(relative):
    """layer_norm at ten seeds, the submission being gamma_ignored off by `relative` of (scale + |value|)."""
    exercise = get_exercise("layer_norm")
    mutant = next(m for m in exercise.checks().MUTANTS if m.id == "gamma_ignored")
    module, evidence = mutated_reference(exercise, mutant), []
    for seed in range(10):
        case = exercise.checks().make_cases(seed)[0]
        expected = call(exercise.reference(), case)
        scale = Tolerance.scale(expected.values())
        got = call(module, case, mutant)["out"]
        got = got + relative * (scale + np.abs(got))
        evidence.append(Evidence(case, expected, {"out": got}, {"out"}, scale, {}))
    return exercise, evidence


@pytest.mark.parametrize("factor, named", [(0.9, True), (1.1, False)])
def test_the_match_tolerance_is_the_documented_1e_6(factor, named):
    exercise, evidence = _gamma_ignored_evidence(factor * DOCUMENTED_MATCH)
    assert ([d.mistake for d in diagnose(exercise, evidence)] == ["gamma_ignored"]) == named


def test_two_mistakes_each_explaining_its_own_cases_are_both_named():
    exercise = get_exercise("layer_norm")
    checks = exercise.checks()
    by_id = {m.id: m for m in checks.MUTANTS}
    evidence = []
    for seed, mistake in [(0, "gamma_ignored"), (1, "gamma_ignored"), (2, "beta_ignored"), (3, "beta_ignored")]:
        case = checks.make_cases(seed)[0]
        expected = call(exercise.reference(), case)
        got = call(mutated_reference(exercise, by_id[mistake]), case, by_id[mistake])
        evidence.append(Evidence(case, expected, got, {"out"}, Tolerance.scale(expected.values()), {}))
    assert sorted(d.mistake for d in diagnose(exercise, evidence)) == ["beta_ignored", "gamma_ignored"]


# --- a float32 slip through the whole grader ---------------------------------------------------------------------------

def test_a_float32_layer_norm_is_a_precision_finding_on_every_case_it_misses_never_a_mistake(tmp_path):
    """The reference run on float32 copies: every case it misses is a precision finding, named as such."""
    source = reference_source("layer_norm").replace(
        "def layer_norm(x, gamma, beta, eps):",
        "def layer_norm(x, gamma, beta, eps):\n    return _layer_norm32(x, gamma, beta, eps)\n\n\n"
        "def _layer_norm32(x, gamma, beta, eps):\n"
        "    out = _layer_norm64(x.astype(np.float32), gamma.astype(np.float32), beta.astype(np.float32), np.float32(eps))\n"
        "    return np.asarray(out, dtype=np.float64)\n\n\n"
        "def _layer_norm64(x, gamma, beta, eps):", 1)
    assert "_layer_norm64" in source
    report = grade_source(tmp_path, "layer_norm", source, sandbox="process")
    result = report.exercises[0]
    problems = {check.problem for case in result.cases for check in case.outputs if not check.passed}
    assert report.verdict == Verdict.WRONG_ANSWER and problems == {"precision"}
    assert sum(not case.passed for case in result.cases) >= 3
    assert [d.mistake for d in result.diagnosis] == ["precision"]



FLOAT32_WRAPPER = """

def _cast(value, dtype):
    if isinstance(value, np.ndarray) and value.dtype.kind == "f":
        return value.astype(dtype)
    if isinstance(value, dict):
        return {key: _cast(item, dtype) for key, item in value.items()}
    if isinstance(value, tuple):
        return tuple(_cast(item, dtype) for item in value)
    return value


def mha_backward(d_out, q, k, v, params, num_heads, mask=None):
    args = _cast((d_out, q, k, v, params), np.float32)
    return _cast(_mha_backward64(*args, num_heads, mask), np.float64)
"""


def test_a_float32_backward_on_large_logits_is_a_precision_finding_only_by_the_references_own_float32_error(tmp_path):
    """On large logits float32 loses more than 1e-5 of the scale in dW_q: only the grader's measure of how far
    the reference itself lands in float32 says this is a slip, not a bug."""
    source = reference_source("mha_backward").replace("def mha_backward(", "def _mha_backward64(", 1) + FLOAT32_WRAPPER
    report = grade_source(tmp_path, "mha_backward", source, sandbox="process", timeout=20)
    large = next(case for case in report.exercises[0].cases if case.name == "large logits")
    failing = [check for check in large.outputs if not check.passed]
    assert failing and {check.problem for check in failing} == {"precision"}
    assert max(check.rel_err for check in failing) > 1e-5
    assert [d.mistake for d in report.exercises[0].diagnosis] == ["precision"]


def test_float32_sized_errors_are_precision_and_a_real_bugs_error_is_not():
    """README: a float32 constant leaves about 1e-8, float32 arithmetic a few 1e-7 to 1e-6 of the scale; real
    bugs 1e-3 or more."""
    expected = np.linspace(-2.0, 2.0, 16)
    scale = Tolerance.scale([expected])
    for relative in (1e-8, 3e-7, 2e-6):
        assert compare_output("out", expected + relative * scale, expected, TOL, scale).problem == "precision"
    assert compare_output("out", expected + 1e-3 * scale, expected, TOL, scale).problem == "values"


def test_a_slip_a_few_times_the_references_own_float32_error_is_still_precision():
    """A float32 submission written another way rounds differently from the reference run in float32."""
    expected = np.linspace(-2.0, 2.0, 16)
    scale = Tolerance.scale([expected])
    float32_error = 1e-3 * scale  # a case where float32 loses a lot (large logits through a backward pass)
    assert compare_output("out", expected + 3 * float32_error, expected, TOL, scale, float32_error).problem == "precision"
    assert compare_output("out", expected + 100 * float32_error, expected, TOL, scale, float32_error).problem == "values"
