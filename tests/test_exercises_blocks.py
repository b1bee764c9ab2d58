"""The building-block exercises: softmax, softmax_backward, attention, heads, attention_dropout.

For each: the reference passes, every declared mutant is a one-edit buggy submission that fails with its
mistake named (tests/test_catalogue.py shows the cases tell every pair of mutants apart), the untouched
stub is reported as not implemented, detection picks the right exercise, and (where torch is installed)
the reference agrees with PyTorch.
"""

import ast

import numpy as np
import pytest

from mhaquiz.grader import exercises as registry
from mhaquiz.grader.grade import grade_file
from mhaquiz.grader.verdict import Verdict
from tests.helpers import reference_source, with_edits, write

BLOCKS = ("softmax", "softmax_backward", "attention", "heads", "attention_dropout")
ORDERS = {"softmax": 10, "softmax_backward": 20, "attention": 30, "heads": 40, "attention_dropout": 60}

# Every mutant an exercise declares, as a buggy submission one edit away from its reference.
BUGS = {
    "softmax": {
        "no_max_subtraction": [("shifted = x - x.max(axis=axis, keepdims=True)", "shifted = x")],
        "softmax_last_axis": [("axis=axis", "axis=-1")],
        "softmax_axis_0": [("axis=axis", "axis=0")],
        "global_max_subtraction": [("x.max(axis=axis, keepdims=True)", "x.max()")],
        "global_sum": [("e.sum(axis=axis, keepdims=True)", "e.sum()")],
        "no_keepdims": [(", keepdims=True", "")],
    },
    "softmax_backward": {
        "softmax_jacobian_diagonal": [("return p * (d_p - row_dot)", "return p * (1 - p) * d_p")],
        "row_dot_last_axis": [("(p * d_p).sum(axis=axis,", "(p * d_p).sum(axis=-1,")],
        "row_dot_whole_array": [("(p * d_p).sum(axis=axis, keepdims=True)", "(p * d_p).sum()")],
        "row_dot_without_p": [("(p * d_p).sum(", "d_p.sum(")],
        "missing_p_factor": [("return p * (d_p - row_dot)", "return d_p - row_dot")],
        "sign_error": [("return p * (d_p - row_dot)", "return p * (row_dot - d_p)")],
    },
    "attention": {
        "no_scale": [(" / np.sqrt(d)", "")],
        "scale_by_d_head": [("/ np.sqrt(d)", "/ d")],
        "softmax_over_queries": [("return softmax(scores, axis=-1)", "return softmax(scores, axis=-2)")],
        "no_max_subtraction": [("shifted = x - x.max(axis=axis, keepdims=True)", "shifted = x")],
        "mask_inverted": [("np.where(mask, scores, -np.inf)", "np.where(mask, -np.inf, scores)")],
        "mask_ignored": [("scores = np.where(mask, scores, -np.inf)", "pass")],
        "mask_fill_too_small": [("scores = np.where(mask, scores, -np.inf)", "scores = np.where(mask, scores, -1e4)")],
        "mask_after_softmax": [("scores = np.where(mask, scores, -np.inf)", "pass"),
                               ("return softmax(scores, axis=-1)",
                                "return softmax(scores, axis=-1) * (1 if mask is None else mask)")],
        "mask_zeroes_scores": [("np.where(mask, scores, -np.inf)", "scores * mask")],
    },
    "heads": {
        "split_without_transpose": [("x.reshape(B, T, num_heads, dh).transpose(0, 2, 1, 3)",
                                     "x.reshape(B, num_heads, T, dh)")],
        "merge_without_transpose": [("x.transpose(0, 2, 1, 3).reshape(B, T, H * dh)", "x.reshape(B, T, H * dh)")],
        "heads_interleaved": [("x.reshape(B, T, num_heads, dh).transpose(0, 2, 1, 3)",
                               "x.reshape(B, T, dh, num_heads).transpose(0, 3, 1, 2)"),
                              ("x.transpose(0, 2, 1, 3).reshape(B, T, H * dh)",
                               "x.transpose(0, 2, 3, 1).reshape(B, T, H * dh)")],
        "heads_averaged": [("x.transpose(0, 2, 1, 3).reshape(B, T, H * dh)", "x.mean(axis=1)")],
    },
    "attention_dropout": {
        "backward_not_masked": [("return d_out * keep_mask / (1.0 - rate)", "return d_out / (1.0 - rate)")],
        "backward_not_rescaled": [("return d_out * keep_mask / (1.0 - rate)", "return d_out * keep_mask")],
        "dropout_no_rescale": [(" / (1.0 - rate)", "")],
        "dropout_scaled_by_keep_prob": [("/ (1.0 - rate)", "* (1.0 - rate)")],
        "dropout_scaled_by_rate": [("/ (1.0 - rate)", "/ rate")],
        "keep_mask_inverted": [("* keep_mask", "* ~keep_mask")],
        "dropout_at_eval": [("    if not training:\n        return p", "    pass")],
    },
}

BUG_CASES = [(exercise, mistake) for exercise in BLOCKS for mistake in BUGS[exercise]]


def grade_source(tmp_path, exercise, source, name=None):
    return grade_file(write(tmp_path, name or f"{exercise}.py", source), exercise_ids=[exercise])


# --- the exercise folders --------------------------------------------------------------------------------

@pytest.mark.parametrize("exercise", BLOCKS)
def test_exercise_folder_is_complete(exercise):
    ex = registry.get_exercise(exercise)
    meta = ex.meta
    assert meta["order"] == ORDERS[exercise]
    assert meta["building_block"] is True
    assert meta["title"]["zh"] and meta["title"]["en"]
    assert 3 <= len(meta["hints"]) <= 5
    assert all(hint["zh"].strip() and hint["en"].strip() for hint in meta["hints"])
    for lang in ("zh", "en"):
        assert ex.prompt(lang).startswith("# ")
    assert ex.solution_path.is_file()
    reference = ex.reference()
    assert all(callable(getattr(reference, name)) for name in ex.functions)


@pytest.mark.parametrize("exercise", BLOCKS)
def test_reference_passes_every_case(tmp_path, exercise):
    report = grade_source(tmp_path, exercise, reference_source(exercise), "ref.py")
    assert report.verdict == Verdict.PASSED, report.detail
    assert [e.id for e in report.exercises] == [exercise]
    assert all(case.passed for case in report.exercises[0].cases)


@pytest.mark.parametrize("exercise", BLOCKS)
def test_untouched_stub_fails_cleanly(exercise):
    stub = registry.get_exercise(exercise).stub_path
    report = grade_file(stub, exercise_ids=[exercise])
    assert report.verdict == Verdict.NOT_IMPLEMENTED, report.detail
    result = report.exercises[0]
    assert result.cases and all(case.error["type"] == "NotImplementedError" for case in result.cases)
    assert result.diagnosis == []  # nothing was returned, so there is no mistake to name


# --- buggy submissions -------------------------------------------------------------------------------------

@pytest.mark.parametrize("exercise", BLOCKS)
def test_every_declared_mutant_has_a_buggy_submission(exercise):
    declared = {mutant.id for mutant in registry.get_exercise(exercise).checks().MUTANTS}
    assert declared == set(BUGS[exercise])


@pytest.mark.parametrize("exercise, mistake", BUG_CASES)
def test_bug_is_named(tmp_path, exercise, mistake):
    report = grade_source(tmp_path, exercise, with_edits(reference_source(exercise), *BUGS[exercise][mistake]))
    assert report.verdict == (Verdict.RUNTIME_ERROR if mistake == "no_keepdims" else Verdict.WRONG_ANSWER), report.detail
    assert report.exercises[0].diagnosis[0].mistake == mistake


def test_softmax_in_place_fails_as_input_modified(tmp_path):
    source = with_edits(reference_source("softmax"), ("shifted = x - x.max(axis=axis, keepdims=True)",
                                                      "x -= x.max(axis=axis, keepdims=True)\n    shifted = x"))
    report = grade_source(tmp_path, "softmax", source)
    assert report.verdict == Verdict.INPUT_MODIFIED
    cases = report.exercises[0].cases
    assert all(case.verdict == Verdict.INPUT_MODIFIED and "x -= x.max" in case.error["traceback"] for case in cases)


def test_attention_returning_only_the_output_is_reported_missing(tmp_path):
    source = with_edits(reference_source("attention"), ("return weights @ v, weights", "return weights @ v"))
    report = grade_source(tmp_path, "attention", source)
    assert report.verdict == Verdict.WRONG_ANSWER
    problems = {check.name: check.problem for check in report.exercises[0].cases[0].outputs}
    assert problems == {"out": None, "weights": "missing"}


def test_softmax_backward_diagonal_also_fails_finite_differences(tmp_path):
    source = with_edits(reference_source("softmax_backward"), *BUGS["softmax_backward"]["softmax_jacobian_diagonal"])
    report = grade_source(tmp_path, "softmax_backward", source)
    failed = {case.name for case in report.exercises[0].cases
              for check in case.outputs if check.name == "fd:x" and not check.passed}
    assert "matrix rows" in failed and "1-element axis" not in failed  # p = 1: the diagonal is exact there


def test_dropout_backward_is_checked_against_finite_differences(tmp_path):
    source = with_edits(reference_source("attention_dropout"), *BUGS["attention_dropout"]["backward_not_masked"])
    report = grade_source(tmp_path, "attention_dropout", source)
    fd = [check for case in report.exercises[0].cases for check in case.outputs if check.name == "fd:p"]
    assert len(fd) == 2 and not any(check.passed for check in fd)


# --- detection ----------------------------------------------------------------------------------------------

def detected(source):
    return [exercise.id for exercise in registry.detect(registry.defined_names(ast.parse(source)))]


def test_a_file_defining_softmax_alone_is_graded_as_softmax(tmp_path):
    report = grade_file(write(tmp_path, "mine.py", reference_source("softmax")))
    assert [e.id for e in report.exercises] == ["softmax"]
    assert report.verdict == Verdict.PASSED


@pytest.mark.parametrize("exercise", ["softmax_backward", "heads", "attention_dropout"])
def test_building_block_references_are_detected_as_themselves(exercise):
    assert detected(reference_source(exercise)) == [exercise]


def test_the_attention_reference_is_detected_as_attention(tmp_path):
    # It defines softmax too, a building block as well: today both are graded; both must pass.
    assert "attention" in detected(reference_source("attention"))
    report = grade_file(write(tmp_path, "mine.py", reference_source("attention")))
    assert report.verdict == Verdict.PASSED, report.detail


def test_mha_forward_with_its_helpers_is_detected_as_mha_forward_only():
    assert detected(reference_source("mha_forward")) == ["mha_forward"]
    helpers = reference_source("mha_forward") + "\n\ndef attention(q, k, v, mask=None):\n    pass\n"
    assert detected(helpers) == ["mha_forward"]


# --- properties of the references ------------------------------------------------------------------------

def test_softmax_reference_properties():
    softmax = registry.get_exercise("softmax").reference().softmax
    for case in registry.get_exercise("softmax").checks().make_cases(0):
        x, axis = case.args["x"], case.args["axis"]
        before = x.copy()
        p = softmax(x, axis)
        np.testing.assert_array_equal(x, before)
        assert p.shape == x.shape and np.isfinite(p).all() and (p >= 0).all()
        np.testing.assert_allclose(p.sum(axis=axis), 1.0, rtol=0, atol=1e-12)
        assert (p[np.isneginf(x)] == 0).all()


def test_softmax_backward_slices_sum_to_zero_and_masked_entries_get_nothing():
    backward = registry.get_exercise("softmax_backward").reference().softmax_backward
    for case in registry.get_exercise("softmax_backward").checks().make_cases(0):
        p, d_p, axis = case.args.values()
        d_x = backward(p, d_p, axis)
        np.testing.assert_allclose(d_x.sum(axis=axis), 0.0, atol=1e-12)
        assert (d_x[p == 0] == 0).all()


def test_heads_round_trip_and_layout():
    ref = registry.get_exercise("heads").reference()
    x = np.random.default_rng(0).standard_normal((2, 5, 12))
    heads = ref.split_heads(x, 3)
    assert heads.shape == (2, 3, 5, 4)
    np.testing.assert_array_equal(heads[1, 2, 4], x[1, 4, 8:12])  # head h owns columns h*dh:(h+1)*dh
    np.testing.assert_array_equal(ref.merge_heads(heads), x)


def test_dropout_keeps_the_expectation():
    forward = registry.get_exercise("attention_dropout").reference().attention_dropout_forward
    rng = np.random.default_rng(0)
    p, rate = np.full((200, 500), 0.3), 0.1
    out = forward(p, rng.random(p.shape) >= rate, rate)
    assert abs(out.mean() - 0.3) < 3e-3  # E[out] = p: 100,000 draws, standard error ~3e-4
    assert forward(p, np.zeros(p.shape, bool), rate, training=False) is p


# --- PyTorch as an independent oracle -------------------------------------------------------------------

def test_softmax_matches_torch():
    torch = pytest.importorskip("torch")
    softmax = registry.get_exercise("softmax").reference().softmax
    for case in registry.get_exercise("softmax").checks().make_cases(0):
        x, axis = case.args["x"], case.args["axis"]
        expected = torch.softmax(torch.from_numpy(x), dim=axis).numpy()
        np.testing.assert_allclose(softmax(x, axis), expected, rtol=1e-12, atol=1e-15, err_msg=case.name)


def test_softmax_backward_matches_torch_autograd():
    torch = pytest.importorskip("torch")
    backward = registry.get_exercise("softmax_backward").reference().softmax_backward
    for case in registry.get_exercise("softmax_backward").checks().make_cases(0):
        p, d_p, axis = case.args.values()
        with np.errstate(divide="ignore"):
            x = torch.tensor(np.log(p), requires_grad=True)  # softmax(log p) = p
        torch.softmax(x, dim=axis).mul(torch.from_numpy(d_p)).sum().backward()
        np.testing.assert_allclose(backward(p, d_p, axis), x.grad.numpy(), rtol=1e-10, atol=1e-14, err_msg=case.name)


def test_attention_matches_torch_sdpa():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    attention = registry.get_exercise("attention").reference().attention
    for case in registry.get_exercise("attention").checks().make_cases(0):
        q, k, v, mask = case.args.values()
        out, weights = attention(q, k, v, mask)
        # SDPA's boolean attn_mask: True = takes part in attention, the same as ours.
        attn_mask = None if mask is None else torch.from_numpy(np.broadcast_to(mask, out.shape[:-1] + (k.shape[-2],)).copy())
        expected = F.scaled_dot_product_attention(torch.from_numpy(q), torch.from_numpy(k), torch.from_numpy(v),
                                                  attn_mask=attn_mask).numpy()
        np.testing.assert_allclose(out, expected, rtol=1e-9, atol=1e-12, err_msg=case.name)
        np.testing.assert_allclose(weights @ v, out, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(weights.sum(axis=-1), 1.0, atol=1e-12)
        if mask is not None:
            assert (weights[~np.broadcast_to(mask, weights.shape)] == 0).all()


def test_dropout_scaling_matches_torch():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    ref = registry.get_exercise("attention_dropout").reference()
    rng = np.random.default_rng(0)
    scores = rng.standard_normal((2, 3, 4, 5))
    p = np.exp(scores) / np.exp(scores).sum(axis=-1, keepdims=True)  # strictly positive: a zero means dropped
    d_out = rng.standard_normal(p.shape)
    for rate in (0.1, 0.3):
        torch.manual_seed(0)
        x = torch.tensor(p, requires_grad=True)
        y = F.dropout(x, rate, training=True)  # documented: survivors scaled by 1/(1-p)
        (y * torch.from_numpy(d_out)).sum().backward()
        keep = (y != 0).numpy()
        assert 0 < keep.mean() < 1
        np.testing.assert_allclose(ref.attention_dropout_forward(p, keep, rate), y.detach().numpy(), rtol=1e-12)
        np.testing.assert_allclose(ref.attention_dropout_backward(d_out, keep, rate), x.grad.numpy(), rtol=1e-12)
    np.testing.assert_array_equal(ref.attention_dropout_forward(p, keep, 0.1, training=False),
                                  F.dropout(torch.from_numpy(p), 0.1, training=False).numpy())
