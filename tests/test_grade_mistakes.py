"""A catalogue of buggy submissions, each one edit away from the reference: each fails, with its mistake named."""

import pytest

from mhaquiz.grader.grade import INPUT_MODIFIED, PASSED, WRONG_ANSWER, grade_file
from tests.helpers import reference_source, with_edits, write

FORWARD_BUGS = {
    "no_scale": [("(Q / np.sqrt(dh))", "Q")],
    "scale_by_d_model": [("(Q / np.sqrt(dh))", "(Q / np.sqrt(dh * Q.shape[1]))")],
    "scale_by_d_head": [("(Q / np.sqrt(dh))", "(Q / dh)")],
    "softmax_over_queries": [("softmax(scores, axis=-1, out=scores, where=allowed)",
                              "softmax(scores, axis=-2, out=scores, where=allowed)")],
    "no_max_subtraction": [("np.max(x, axis=axis, keepdims=True, where=where, initial=-np.inf)", "0.0")],
    "mask_inverted": [("allowed = True if mask is None else mask", "allowed = True if mask is None else ~mask")],
    "mask_ignored": [("allowed = True if mask is None else mask", "allowed = True")],
    "mask_after_softmax": [("return softmax(scores, axis=-1, out=scores, where=allowed)",
                            "return softmax(scores, axis=-1, out=scores) * allowed")],
    "split_without_transpose": [("x.reshape(B, T, num_heads, D // num_heads).transpose(0, 2, 1, 3)",
                                 "x.reshape(B, num_heads, T, D // num_heads)")],
    "merge_without_transpose": [("x.transpose(0, 2, 1, 3).reshape(B, T, H * dh)", "x.reshape(B, T, H * dh)")],
    "heads_interleaved": [("x.reshape(B, T, num_heads, D // num_heads).transpose(0, 2, 1, 3)",
                           "x.reshape(B, T, D // num_heads, num_heads).transpose(0, 3, 1, 2)"),
                          ("x.transpose(0, 2, 1, 3).reshape(B, T, H * dh)", "x.transpose(0, 2, 3, 1).reshape(B, T, H * dh)")],
    "no_output_projection": [('return heads @ params["W_o"] + params["b_o"]', "return heads")],
    "biases_ignored": [(f' + params["b_{n}"]', "") for n in "qkvo"],
    "weights_transposed": [(f'params["W_{n}"]', f'params["W_{n}"].T') for n in "qkvo"],
}

BACKWARD_BUGS = {
    "softmax_jacobian_diagonal": [("    dP -= row_dot\n    dP *= P\n    return dP", "    return P * (1 - P) * dP")],
    "backward_scale_missing": [("scale = 1.0 / np.sqrt(D // num_heads)", "scale = 1.0")],
    "weight_grad_transposed": [("return x.reshape(-1, x.shape[-1]).T @ dy.reshape(-1, dy.shape[-1])",
                                "return dy.reshape(-1, dy.shape[-1]).T @ x.reshape(-1, x.shape[-1])")],
    "bias_grad_batch_only": [("return dy.sum(axis=(0, 1))", "return dy.sum(axis=0)")],
    "bias_grad_mean": [("return dy.sum(axis=(0, 1))", "return dy.mean(axis=(0, 1))")],
    "dq_dk_swapped": [("    return grads\n", "    for a, b in (('q', 'k'), ('W_q', 'W_k'), ('b_q', 'b_k')):\n"
                                        "        grads[a], grads[b] = grads[b], grads[a]\n    return grads\n")],
    "no_scale": [("(Q / np.sqrt(dh))", "Q")],
}


def grade_buggy(tmp_path, exercise, edits):
    path = write(tmp_path, f"{exercise}.py", with_edits(reference_source(exercise), *edits))
    return grade_file(path)


@pytest.mark.parametrize("exercise", ["mha_forward", "mha_backward"])
def test_reference_passes_every_case(tmp_path, exercise):
    report = grade_file(write(tmp_path, "ref.py", reference_source(exercise)))
    assert report.verdict == PASSED, report.detail
    assert [e.id for e in report.exercises] == [exercise]
    assert all(case.passed for case in report.exercises[0].cases)


@pytest.mark.parametrize("mistake", sorted(FORWARD_BUGS))
def test_forward_bug_is_named(tmp_path, mistake):
    report = grade_buggy(tmp_path, "mha_forward", FORWARD_BUGS[mistake])
    assert report.verdict == WRONG_ANSWER
    assert report.exercises[0].diagnosis[0].mistake == mistake


@pytest.mark.parametrize("mistake", sorted(BACKWARD_BUGS))
def test_backward_bug_is_named(tmp_path, mistake):
    report = grade_buggy(tmp_path, "mha_backward", BACKWARD_BUGS[mistake])
    assert report.verdict == WRONG_ANSWER
    assert report.exercises[0].diagnosis[0].mistake == mistake


def test_backward_bug_also_fails_finite_differences(tmp_path):
    report = grade_buggy(tmp_path, "mha_backward", BACKWARD_BUGS["softmax_jacobian_diagonal"])
    failed = {check.name for case in report.exercises[0].cases for check in case.outputs if not check.passed}
    assert {"fd:q", "fd:k", "fd:W_q"} <= failed
    assert "fd:W_o" not in failed and "fd:v" not in failed  # the softmax is not on their path


def test_two_bugs_at_once_are_both_named(tmp_path):
    edits = BACKWARD_BUGS["weight_grad_transposed"] + BACKWARD_BUGS["bias_grad_mean"]
    report = grade_buggy(tmp_path, "mha_backward", edits)
    assert {d.mistake for d in report.exercises[0].diagnosis} == {"weight_grad_transposed", "bias_grad_mean"}


def test_missing_gradient_key_is_reported(tmp_path):
    report = grade_buggy(tmp_path, "mha_backward", [("    return grads\n", "    del grads['b_k']\n    return grads\n")])
    assert report.verdict == WRONG_ANSWER
    checks = [check for check in report.exercises[0].cases[0].outputs if check.name == "b_k"]
    assert checks[0].problem == "missing"
    diagnosis = report.exercises[0].diagnosis[0]
    assert diagnosis.mistake == "missing_outputs" and diagnosis.outputs == ["b_k"]
    assert diagnosis.matched == len(report.exercises[0].cases)


def test_input_modified_in_place_fails_with_that_reason(tmp_path):
    edits = [('    return heads @ params["W_o"] + params["b_o"]',
              '    out = heads @ params["W_o"] + params["b_o"]\n    q *= 2.0\n    return out')]
    report = grade_buggy(tmp_path, "mha_forward", edits)
    assert report.verdict == INPUT_MODIFIED
    modified = {case.name: case.modified_inputs for case in report.exercises[0].cases}
    assert modified["cross-attention"] == ["q"]
    assert modified["self-attention"] == ["q", "k", "v"]  # one array fed all three, as the caller passed it


def test_float32_output_fails_on_dtype(tmp_path):
    report = grade_buggy(tmp_path, "mha_forward",
                         [('return heads @ params["W_o"] + params["b_o"]', 'return (heads @ params["W_o"] + params["b_o"]).astype(np.float32)')])
    assert report.verdict == WRONG_ANSWER
    assert report.exercises[0].cases[0].outputs[0].problem == "dtype"


def test_failure_reports_worst_element(tmp_path):
    report = grade_buggy(tmp_path, "mha_forward", FORWARD_BUGS["mask_ignored"])
    case = next(case for case in report.exercises[0].cases if not case.passed)
    check = case.outputs[0]
    assert case.name == "causal mask"
    assert check.worst_index is not None and len(check.worst_index) == 3
    assert abs(check.got_value - check.expected_value) == pytest.approx(check.max_abs_err)
