"""What the report shows: the speed line (or why not), Python loops, every case that raised, the heat map of
the worst batch and head (NaN and huge values included), explanations; never a crash or a RuntimeWarning of
the grader's own arithmetic, in either language."""

import ast
import io
import warnings

import numpy as np
import pytest
from rich.console import Console

from mhaquiz.grader import inputs
from mhaquiz.grader.efficiency import python_loops
from mhaquiz.grader.grade import grade_file
from mhaquiz.grader.render import render
from mhaquiz.grader.verdict import Verdict
from tests.helpers import grade_source, reference_source, with_edits, write

RETURN = '    return heads @ params["W_o"] + params["b_o"]  # (B, Tq, D)'

LOOPY = '''import numpy as np

def mha_forward(q, k, v, params, num_heads, mask=None):
    B, Tq, D = q.shape
    dh = D // num_heads
    Q, K, V = [x @ W + b for x, W, b in zip((q, k, v), (params["W_q"], params["W_k"], params["W_v"]),
                                              (params["b_q"], params["b_k"], params["b_v"]))]
    for name in ("W_q", "W_k"):
        assert params[name].shape == (D, D)
    full_mask = None if mask is None else np.broadcast_to(mask, (B, Tq, K.shape[1]))
    out = np.zeros_like(Q)
    for b in range(B):
        heads = [slice(h * dh, (h + 1) * dh) for h in range(num_heads)]
        for cols in heads:
            s = Q[b, :, cols] @ K[b, :, cols].T / np.sqrt(dh)
            if full_mask is not None:
                s = np.where(full_mask[b], s, -np.inf)
            s = np.exp(s - s.max(-1, keepdims=True))
            out[b, :, cols] = (s / s.sum(-1, keepdims=True)) @ V[b, :, cols]
    return out @ params["W_o"] + params["b_o"]
'''


def shown(report, lang="en"):
    console = Console(file=io.StringIO(), force_terminal=False, width=300, color_system=None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning from the report's own arithmetic
        render(report, console, lang)
    return console.file.getvalue()


def test_a_correct_submission_gets_its_speed_against_the_reference(tmp_path):
    report = grade_file(write(tmp_path, "mha.py", reference_source("mha_forward")))
    efficiency = report.exercises[0].efficiency
    assert report.passed
    assert efficiency.submission_seconds > 0 and efficiency.reference_seconds > 0 and efficiency.rounds >= 1
    assert efficiency.shapes == inputs.mha_shapes(inputs.mha_perf_args(0))  # timed on the larger case
    assert efficiency.loops == [] and efficiency.not_measured is None
    assert "Speed: " in shown(report) and "速度：" in shown(report, "zh")


def test_a_slow_correct_submission_is_told_why_its_speed_was_not_measured(tmp_path):
    source = with_edits(reference_source("mha_forward"),
                        ('    D = q.shape[-1]\n', '    D = q.shape[-1]\n    if q.shape[1] == 16:\n        import time; time.sleep(2.5)\n'))
    report = grade_source(tmp_path, "mha_forward", source, timeout=10)
    assert report.verdict == Verdict.PASSED
    assert report.exercises[0].efficiency.not_measured.key == "efficiency.skipped_slow"
    assert "Speed not measured: one call at the larger size took " in shown(report)


def test_loops_over_batch_and_heads_are_pointed_out_but_not_the_projections(tmp_path):
    report = grade_file(write(tmp_path, "loopy.py", LOOPY))
    assert report.verdict == Verdict.PASSED, report.detail
    loops = [(loop["line"], loop["code"]) for loop in report.exercises[0].efficiency.loops]
    assert loops == [(12, "for b in range(B):"), (13, "heads = [slice(h * dh, (h + 1) * dh) for h in range(num_heads)]"),
                     (14, "for cols in heads:")]
    text = shown(report)
    assert "line 12: for b in range(B):" in text and "Speed: " in text


def test_python_loops_skips_fixed_collections_and_top_level_code():
    source = (
        "for i in range(3):\n    pass\n"
        "def f(x, n, params):\n"
        "    for name in ('q', 'k', 'v'):\n        pass\n"
        "    while n:\n        n -= 1\n"
        "    for row in x:\n        pass\n"
        "    total = sum(v for v in x)\n"
        "    grads = {k: 0 for k, _ in params.items()}\n"
        "    pairs = [a for a in zip((1, 2), (3, 4))]\n"
    )
    assert [loop["line"] for loop in python_loops(ast.parse(source), source)] == [6, 8, 10]


def test_every_case_that_raised_is_shown_with_its_own_frames(tmp_path):
    source = with_edits(reference_source("mha_forward"), ('    D = q.shape[-1]\n', '    D = q.shape[-1]\n'
                        '    if q.shape[1] == 1:\n        raise KeyError("Wq")\n'
                        '    if mask is not None and mask.ndim == 3 and mask.shape[1] > 1:\n        raise IndexError("boom")\n'))
    report = grade_source(tmp_path, "mha_forward", source)
    assert report.verdict == Verdict.RUNTIME_ERROR and report.where == ("mha_forward", "general mask")
    text = shown(report)
    assert "Case(s) 'general mask', 'masked keys outscore' raised:" in text and "IndexError: boom" in text
    assert "Case(s) 'one query' raised:" in text and "KeyError: 'Wq'" in text
    assert "→ params has no key 'Wq': its keys are W_q" in text
    assert text.count('raise IndexError("boom")') == 1 and "submission.py" in text


def test_one_error_in_every_case_is_shown_once_with_the_list_of_cases(tmp_path):
    report = grade_file(get_stub("mha_forward"), exercise_ids=["mha_forward"])
    text = shown(report)
    assert report.verdict == Verdict.NOT_IMPLEMENTED
    assert text.count("NotImplementedError: ") == 1  # the exception itself, printed once
    assert "'cross-attention', 'self-attention', 'causal mask'" in text
    assert "the stub as it was given: replace the raise with your implementation" in text
    assert "FAILED: not implemented yet - mha_forward is not implemented yet" in text


def get_stub(exercise_id):
    from mhaquiz.grader.exercises import get_exercise

    return get_exercise(exercise_id).stub_path


def test_the_heat_map_shows_the_batch_where_the_error_is_largest(tmp_path):
    source = with_edits(reference_source("mha_forward"), (RETURN, '    out = heads @ params["W_o"] + params["b_o"]\n'
                                                                  '    out[-1, 0, :] += 1.0  # the last batch only\n    return out'))
    report = grade_source(tmp_path, "mha_forward", source)
    heatmap = report.exercises[0].heatmap
    case = report.exercises[0].cases[0]
    assert heatmap.case == case.name == "cross-attention"
    assert heatmap.where == [("axis.batch", 1)] and (heatmap.rows, heatmap.cols) == ("axis.query", "axis.head")
    assert len(heatmap.values) == 5 and len(heatmap.values[0]) == 4  # (Tq, H) of batch 1
    assert min(heatmap.values[0]) > 1e-3 and max(max(row) for row in heatmap.values[1:]) < 1e-9
    assert "batch 1; rows: query position, columns: head" in shown(report)
    assert "batch 1；行：query 位置，列：头" in shown(report, "zh")


def test_nan_and_inf_are_drawn_at_full_strength_and_named(tmp_path):
    source = with_edits(reference_source("mha_forward"), ("np.max(x, axis=axis, keepdims=True, where=where, initial=-np.inf)", "0.0"))
    report = grade_source(tmp_path, "mha_forward", source)
    heatmap = report.exercises[0].heatmap
    assert heatmap.case == "large logits" and heatmap.nonfinite > 0
    assert all(value == float("inf") for row in heatmap.values for value in row if value)
    text = shown(report)
    assert "NaN or inf in" in text and "max NaN/inf" in text and "|@@" in text


def test_huge_values_do_not_crash_the_report_and_are_named(tmp_path):
    source = with_edits(reference_source("mha_forward"), (RETURN, '    out = heads @ params["W_o"] + params["b_o"]\n'
                                                                  '    out[..., 0] = 1e300\n    return out'))
    report = grade_source(tmp_path, "mha_forward", source)
    assert report.verdict == Verdict.WRONG_ANSWER
    assert report.exercises[0].heatmap.largest_got == 1e300
    text = shown(report)
    assert "values as large as 1.00e+300" in text
    assert "最大到" not in shown(report, "zh") and "出现了大到 1.00e+300 的值" in shown(report, "zh")


def test_a_worst_element_inside_its_tolerance_is_never_the_one_shown(tmp_path):
    source = with_edits(reference_source("mha_forward"), (RETURN, '    out = heads @ params["W_o"] + params["b_o"]\n'
                        '    big = np.unravel_index(np.argmax(np.abs(out)), out.shape)\n'
                        '    out[big] *= 1 + 5e-11\n'
                        '    out[0, 0, 0] += 1e-6\n    return out'))
    report = grade_source(tmp_path, "mha_forward", source)
    check = report.exercises[0].cases[0].outputs[0]
    assert check.worst["index"] == [0, 0, 0] and check.params["bad"] == 1


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_verdict_renders_in_both_languages(tmp_path, lang):
    from mhaquiz.grader.report import GradeReport, Message

    for verdict in Verdict:
        report = GradeReport(file="x.py", verdict=verdict, detail=Message("detail.nowhere"))
        text = shown(report, lang)
        assert text.strip()


def test_a_two_dimensional_output_has_no_slice_to_name_and_nan_is_the_largest_error(tmp_path):
    source = "import numpy as np\n\ndef softmax(x, axis=-1):\n    e = np.exp(x)\n    return e / e.sum(axis=axis, keepdims=True)\n"
    report = grade_source(tmp_path, "softmax", source)
    heatmap = report.exercises[0].heatmap
    assert heatmap.where == [] and heatmap.nonfinite > 0
    text = shown(report)
    assert "output 'out'; rows: axis 0, columns: axis 1; darker = larger error, max NaN/inf" in text
    assert "; -;" not in text and "；-；" not in shown(report, "zh")


def test_the_worst_element_is_the_one_furthest_outside_its_tolerance_not_the_largest_error():
    """Tolerance 1e-10 * scale + 1e-10 * |expected| with scale 1000: 2e-7 is allowed at 1000, 1e-7 at 0. An
    error of 1.5e-7 at 1000 passes; 1.2e-7 at 0 fails: that one is shown, though its error is smaller."""
    from mhaquiz.grader.compare import compare_output
    from mhaquiz.grader.spec import Tolerance

    expected = np.array([[1000.0, 0.0, 3.0]])
    got = expected + np.array([[1.5e-7, 1.2e-7, 0.0]])
    check = compare_output("out", got, expected, Tolerance(), Tolerance.scale([expected]))
    assert not check.passed and check.max_abs_err == pytest.approx(1.5e-7)
    assert check.worst["index"] == [0, 1] and check.worst["expected"] == 0.0
    assert check.worst["got"] == pytest.approx(1.2e-7) and check.worst["allowed"] == pytest.approx(1e-7)


# --- what the report says, and only when it matters (issue 16) --------------------------------------------

SCALE_BUG = ("(Q / np.sqrt(dh))", "Q")  # scores not scaled: a miss of order 1, far outside any tolerance
TWO_D_MASK_BUG = ("return np.expand_dims(mask, -3)", "return mask[:, None]")  # a 2-D mask expanded between Tq and Tk


def test_the_tolerance_is_stated_only_when_an_output_misses_by_a_small_amount(tmp_path):
    passed = grade_file(write(tmp_path, "ok.py", reference_source("mha_forward")))
    far = grade_source(tmp_path, "mha_forward", with_edits(reference_source("mha_forward"), SCALE_BUG), name="far.py")
    near = grade_source(tmp_path, "mha_forward", with_edits(reference_source("mha_forward"), (
        RETURN, '    out = heads @ params["W_o"] + params["b_o"]\n    out[0, 0, 0] += 1e-7\n    return out')), name="near.py")
    assert passed.passed and far.verdict == near.verdict == Verdict.WRONG_ANSWER
    assert "Tolerance:" not in shown(passed) and "Tolerance:" not in shown(far)
    assert "Tolerance: |got - expected| <= 1e-10 * scale" in shown(near)
    assert "容差：" in shown(near, "zh") and "容差：" not in shown(far, "zh")


def test_all_cases_right_above_a_failed_memory_bound_does_not_read_as_success(tmp_path):
    from tests.test_ex_flash import NAIVE

    report = grade_source(tmp_path, "flash_attention_forward", NAIVE)
    assert report.verdict == Verdict.MEMORY_LIMIT and all(case.passed for case in report.exercises[0].cases)
    total = len(report.exercises[0].cases)
    assert f"all {total}/{total} cases right, but not passed yet (see below)" in shown(report)
    assert f"{total}/{total} cases passed" not in shown(report)
    zh = shown(report, "zh")
    assert f"{total}/{total} 个用例的结果都对，但还没有通过" in zh and f"通过 {total}/{total} 个用例" not in zh
    passed = grade_file(write(tmp_path, "fa.py", reference_source("flash_attention_forward")))
    assert f"通过 {total}/{total} 个用例" in shown(passed, "zh")


def test_the_same_traceback_from_several_cases_is_shown_once_with_each_message_and_one_explanation(tmp_path):
    report = grade_source(tmp_path, "mha_forward", with_edits(reference_source("mha_forward"), TWO_D_MASK_BUG))
    raised = [case for case in report.exercises[0].cases if case.error]
    messages = {case.error["message"] for case in raised}
    assert report.verdict == Verdict.RUNTIME_ERROR and len(raised) >= 2 and len(messages) >= 2  # shapes differ
    text = shown(report)
    assert text.count(", in softmax") == 1 and text.count(", in mha_forward") == 1  # the frames, once
    assert text.count("→ a mask of shape") == 1  # the explanation, once
    assert all(message.strip() in text for message in messages)  # every distinct message, each with its case
    assert sum(f"  case '{case.label('en')}': ValueError" in text for case in raised) == len(messages) - 1
    zh = shown(report, "zh")
    names = "、".join(f"“{case.label('zh')}”" for case in raised)
    assert f"用例{names}抛出了异常：" in zh and "”, “" not in zh


def test_the_heat_map_draws_the_batch_of_the_worst_element_the_report_names(tmp_path):
    report = grade_source(tmp_path, "mha_forward", with_edits(reference_source("mha_forward"), SCALE_BUG))
    result = report.exercises[0]
    first = next(check for case in result.cases for check in case.outputs if not check.passed)
    assert result.heatmap.where[0] == ("axis.batch", first.worst["index"][0])
    assert result.heatmap.case == result.cases[0].name
    assert f"batch {first.worst['index'][0]};" in shown(report)


def test_chinese_report_lines_have_no_ascii_separators(tmp_path):
    report = grade_source(tmp_path, "mha_forward", with_edits(reference_source("mha_forward"), SCALE_BUG))
    zh = shown(report, "zh")
    assert "未通过：答案错误。" in zh and "答案错误 -" not in zh
    report = grade_source(tmp_path, "mha_forward", with_edits(reference_source("mha_forward"), TWO_D_MASK_BUG), name="m.py")
    assert "”抛出了 ValueError：" in shown(report, "zh")  # no space between the closing quote and Chinese
