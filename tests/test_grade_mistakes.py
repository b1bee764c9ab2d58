"""Buggy submissions one edit away from the reference, graded for real (sandbox and all): each fails with
its exact verdict and its mistake named; a float32 slip fails at every seed as a precision finding and is
never given a mistake's name."""

import numpy as np
import pytest

from mhaquiz.grader.grade import grade_file
from mhaquiz.grader.verdict import Verdict
from tests.helpers import MHA_SOURCE_BUGS, grade_source, reference_source, with_edits, write

SEEDS = (0, 1, 2, 5, 8)

FORWARD_BUGS = MHA_SOURCE_BUGS
# A mask with no head axis cannot broadcast where B != H (a runtime error, explained) and is silently wrong
# where B == H (the general-mask case): the first verdict is the runtime error, the mistake is still named.
FORWARD_RUNTIME_BUGS = {
    "mask_without_head_axis": [("return np.expand_dims(mask, -3)", "return mask")],
}

BACKWARD_BUGS = {
    "softmax_jacobian_diagonal": [("    dP -= row_dot\n    dP *= P\n    return dP", "    return P * (1 - P) * dP")],
    "backward_scale_missing": [("scale = 1.0 / np.sqrt(D // num_heads)", "scale = 1.0")],
    "backward_scale_twice": [("scale = 1.0 / np.sqrt(D // num_heads)", "scale = 1.0 / (D // num_heads)")],
    "softmax_grad_over_batch": [("    dP -= row_dot\n    dP *= P\n    return dP",
                                 "    dP -= row_dot\n    dP *= P\n    return dP / P.shape[0]")],
    "weight_grad_transposed": [("return x.reshape(-1, x.shape[-1]).T @ dy.reshape(-1, dy.shape[-1])",
                                "return dy.reshape(-1, dy.shape[-1]).T @ x.reshape(-1, x.shape[-1])")],
    "bias_grad_batch_only": [("return dy.sum(axis=(0, 1))", "return dy.sum(axis=0)")],
    "bias_grad_mean": [("return dy.sum(axis=(0, 1))", "return dy.mean(axis=(0, 1))")],
    "dq_dk_swapped": [("    return grads\n", "    for a, b in (('q', 'k'), ('W_q', 'W_k'), ('b_q', 'b_k')):\n"
                                        "        grads[a], grads[b] = grads[b], grads[a]\n    return grads\n")],
    "no_scale": [("(Q / np.sqrt(dh))", "Q")],
}

FLOAT32_SCALE = {  # the correct code whose only flaw is a float32 constant (as torch.FloatTensor([dh]) gives)
    "mha_forward": [("scores = (Q / np.sqrt(dh))", "scores = (Q / np.float32(np.sqrt(dh)))")],
    "mha_backward": [("scores = (Q / np.sqrt(dh))", "scores = (Q / np.float32(np.sqrt(dh)))"),
                     ("scale = 1.0 / np.sqrt(D // num_heads)", "scale = 1.0 / np.float32(np.sqrt(D // num_heads))")],
}


def buggy(tmp_path, exercise, edits, seed=0, name=None):
    source = with_edits(reference_source(exercise), *edits)
    return grade_source(tmp_path, exercise, source, name=name or f"{exercise}.py", seed=seed)


@pytest.mark.parametrize("exercise", ["mha_forward", "mha_backward"])
def test_reference_passes_every_case(tmp_path, exercise):
    report = grade_file(write(tmp_path, "ref.py", reference_source(exercise)))
    assert report.verdict == Verdict.PASSED, report.detail
    assert [e.id for e in report.exercises] == [exercise]
    assert all(case.passed for case in report.exercises[0].cases)


# What each edit does, in words its title must use (in English and in Chinese): a title swapped with
# another's, or one that drifted from its mutant, tells the learner the wrong story.
TITLE_WORDS = {
    "no_scale": ("not scaled", "没有乘以"), "scale_by_d_model": ("1/sqrt(d_model)", "sqrt(d_model)"),
    "scale_by_d_head": ("divided by d_head", "除以了 d_head"), "softmax_over_queries": ("query axis", "query 维"),
    "no_max_subtraction": ("row max", "最大值"), "mask_inverted": ("inverted", "取反"),
    "mask_ignored": ("mask ignored", "没有使用 mask"), "mask_causal_hardwired": ("np.tril", "np.tril"),
    "mask_after_softmax": ("after softmax", "softmax 之后"), "split_without_transpose": ("split", "拆头"),
    "merge_without_transpose": ("merged", "合并头"), "heads_interleaved": ("h::H", "h::H"),
    "biases_ignored": ("biases ignored", "偏置"), "weights_transposed": ("x @ W.T", "x @ W.T"),
    "no_output_projection": ("W_o", "W_o"),
}


@pytest.mark.parametrize("mistake", sorted(FORWARD_BUGS))
def test_forward_bug_is_named(tmp_path, mistake):
    report = buggy(tmp_path, "mha_forward", FORWARD_BUGS[mistake])
    assert report.verdict == Verdict.WRONG_ANSWER, report.detail
    named = report.exercises[0].diagnosis[0]
    assert named.mistake == mistake
    english, chinese = TITLE_WORDS[mistake]
    assert english in named.title.en and chinese in named.title.zh, named.title


def test_a_mask_without_head_axis_raises_where_shapes_differ_and_is_named_where_they_agree(tmp_path):
    report = buggy(tmp_path, "mha_forward", FORWARD_RUNTIME_BUGS["mask_without_head_axis"])
    assert report.verdict == Verdict.RUNTIME_ERROR
    assert report.where == ("mha_forward", "padding mask")
    padding = next(case for case in report.exercises[0].cases if case.name == "padding mask")
    assert padding.error["explanation"].key == "explain.mask_head_axis"
    general = next(case for case in report.exercises[0].cases if case.name == "general mask")
    assert general.verdict == Verdict.WRONG_ANSWER
    assert [d.mistake for d in report.exercises[0].diagnosis] == ["mask_without_head_axis"]


@pytest.mark.parametrize("mistake", sorted(BACKWARD_BUGS))
def test_backward_bug_is_named(tmp_path, mistake):
    report = buggy(tmp_path, "mha_backward", BACKWARD_BUGS[mistake])
    assert report.verdict == Verdict.WRONG_ANSWER, report.detail
    assert report.exercises[0].diagnosis[0].mistake == mistake


def test_backward_bug_also_fails_finite_differences(tmp_path):
    report = buggy(tmp_path, "mha_backward", BACKWARD_BUGS["softmax_jacobian_diagonal"])
    failed = {check.name for case in report.exercises[0].cases for check in case.outputs if not check.passed}
    assert {"fd:q", "fd:k", "fd:W_q"} <= failed
    assert "fd:W_o" not in failed and "fd:v" not in failed  # the softmax is not on their path


def test_two_bugs_at_once_are_both_named(tmp_path):
    edits = BACKWARD_BUGS["weight_grad_transposed"] + BACKWARD_BUGS["bias_grad_mean"]
    report = buggy(tmp_path, "mha_backward", edits)
    assert {d.mistake for d in report.exercises[0].diagnosis} == {"weight_grad_transposed", "bias_grad_mean"}


@pytest.mark.parametrize("exercise", sorted(FLOAT32_SCALE))
@pytest.mark.parametrize("seed", SEEDS)
def test_a_float32_constant_fails_at_every_seed_as_precision_never_as_a_mistake(tmp_path, exercise, seed):
    report = buggy(tmp_path, exercise, FLOAT32_SCALE[exercise], seed=seed)
    assert report.verdict == Verdict.WRONG_ANSWER
    assert [d.mistake for d in report.exercises[0].diagnosis] == ["precision"]
    problems = {check.problem for case in report.exercises[0].cases for check in case.outputs if not check.passed}
    assert problems == {"precision"}


def test_a_near_miss_on_a_case_where_a_mistake_changes_nothing_is_never_named_after_it(tmp_path):
    """no_max_subtraction equals the reference wherever nothing overflows: an output off by 1e-7 there (and
    right elsewhere) is a precision finding, not 'softmax without max-subtraction'."""
    edits = [('    return heads @ params["W_o"] + params["b_o"]  # (B, Tq, D)',
              '    out = heads @ params["W_o"] + params["b_o"]\n'
              '    return out * (1 + 1e-7) if q.shape[0] == 3 and q.shape[1] == 1 else out')]
    report = buggy(tmp_path, "mha_forward", edits)
    assert report.verdict == Verdict.WRONG_ANSWER and report.where == ("mha_forward", "one query")
    assert [d.mistake for d in report.exercises[0].diagnosis] == ["precision"]


def test_a_mutant_that_equals_the_reference_on_a_case_explains_nothing_there():
    """Even an output that matches such a mutant (it matches the reference too, up to a near miss) is not
    explained by it: the rule the diagnosis applies before any matching."""
    from mhaquiz.grader import grade as grading
    from mhaquiz.grader.diagnose import Evidence, explained_pairs
    from mhaquiz.grader.exercises import get_exercise
    from mhaquiz.grader.spec import Tolerance

    plan = grading._plan(get_exercise("mha_forward"), 0)
    index = next(i for i, case in enumerate(plan.cases) if case.name == "one query")
    case, expected = plan.cases[index], plan.expected[index]
    near = {"out": expected["out"] * (1 + 2e-7)}  # within MATCH_RTOL of anything equal to the reference
    evidence = [Evidence(case, expected, near, {"out"}, Tolerance.scale(expected.values()), {})]
    mutant = next(m for m in plan.exercise.checks().MUTANTS if m.id == "no_max_subtraction")
    assert explained_pairs(plan.exercise, mutant, evidence) == set()


def test_missing_gradient_key_is_reported(tmp_path):
    report = buggy(tmp_path, "mha_backward", [("    return grads\n", "    del grads['b_k']\n    return grads\n")])
    assert report.verdict == Verdict.WRONG_ANSWER
    checks = [check for check in report.exercises[0].cases[0].outputs if check.name == "b_k"]
    assert checks[0].problem == "missing"
    diagnosis = report.exercises[0].diagnosis[0]
    assert diagnosis.mistake == "missing_outputs" and diagnosis.outputs == ["b_k"]
    assert diagnosis.matched == len(report.exercises[0].cases)


def test_writing_into_an_input_is_caught_at_the_line_that_does_it(tmp_path):
    edits = [('    out = heads @ params["W_o"]', '    q *= 2.0\n    out = heads @ params["W_o"]')]
    source = with_edits(reference_source("mha_forward"),
                        ('    return heads @ params["W_o"] + params["b_o"]  # (B, Tq, D)',
                         '    out = heads @ params["W_o"] + params["b_o"]\n    return out'), *edits)
    report = grade_source(tmp_path, "mha_forward", source)
    assert report.verdict == Verdict.INPUT_MODIFIED
    case = report.exercises[0].cases[0]
    assert case.verdict == Verdict.INPUT_MODIFIED and "q *= 2.0" in case.error["traceback"]
    assert case.error["explanation"].key == "explain.input_modified"


def test_replacing_a_parameter_in_the_dict_given_is_input_modified(tmp_path):
    report = buggy(tmp_path, "mha_forward", [('    D = q.shape[-1]\n', '    D = q.shape[-1]\n    params["W_q"] = params["W_q"] + 0.0\n')])
    assert report.verdict == Verdict.INPUT_MODIFIED
    assert report.exercises[0].cases[0].replaced_inputs == ["params.W_q"]


def test_float32_output_fails_on_dtype(tmp_path):
    report = buggy(tmp_path, "mha_forward",
                   [('return heads @ params["W_o"] + params["b_o"]', 'return (heads @ params["W_o"] + params["b_o"]).astype(np.float32)')])
    assert report.verdict == Verdict.WRONG_ANSWER
    assert report.exercises[0].cases[0].outputs[0].problem == "dtype"


def test_the_worst_element_is_the_one_furthest_outside_its_tolerance(tmp_path):
    """A large value off by a little (inside its tolerance) and a small one off by much less in absolute
    terms but far beyond its own: the report shows the second."""
    edits = [('    return heads @ params["W_o"] + params["b_o"]  # (B, Tq, D)',
              '    out = heads @ params["W_o"] + params["b_o"]\n'
              '    big = np.unravel_index(np.argmax(np.abs(out)), out.shape)\n'
              '    out[big] *= 1 + 5e-11\n'  # inside rtol 1e-10
              '    small = np.unravel_index(np.argmin(np.abs(out)), out.shape)\n'
              '    out[small] += 1e-6\n'
              '    return out')]
    report = buggy(tmp_path, "mha_forward", edits)
    check = report.exercises[0].cases[0].outputs[0]
    assert check.params["bad"] == 1
    worst = check.worst
    assert abs(worst["got"] - worst["expected"]) == pytest.approx(1e-6, rel=1e-3)
    assert worst["allowed"] < 1e-6
    assert check.max_abs_err > abs(worst["got"] - worst["expected"]) or check.max_abs_err == pytest.approx(1e-6, rel=1e-3)


def test_a_nan_is_never_counted_as_zero_error(tmp_path):
    report = buggy(tmp_path, "mha_forward", [('    return heads @ params["W_o"] + params["b_o"]  # (B, Tq, D)',
                                              '    out = heads @ params["W_o"] + params["b_o"]\n'
                                              '    out[0, 0, 0] = np.nan\n    return out')])
    assert report.verdict == Verdict.WRONG_ANSWER
    check = report.exercises[0].cases[0].outputs[0]
    assert check.problem == "not_finite" and check.params == {"bad": 1, "total": check.params["total"]}
    assert np.isnan(check.worst["got"]) and check.worst["index"] == [0, 0, 0]


def test_the_cross_attention_case_is_what_it_says():
    """Tq != Tk != D with three different arrays: a submission that reuses Tq for the keys, or D for a
    length, cannot pass it by accident."""
    from mhaquiz.grader import inputs

    cases = {name: args for name, _label, _about, _shapes, args in inputs.mha_cases(0)}
    q, k, v = cases["cross-attention"]["q"], cases["cross-attention"]["k"], cases["cross-attention"]["v"]
    (_, tq, d), tk = q.shape, k.shape[1]
    assert len({tq, tk, d}) == 3 and q is not k and k is not v and not np.array_equal(k, v)
    assert sum(args["q"].shape[1] != args["k"].shape[1] for args in cases.values()) >= 3
