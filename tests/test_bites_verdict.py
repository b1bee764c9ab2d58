"""Verdicts where two facts meet: an input replaced and wrong values, NotImplementedError among real errors or
beside a passing case, a worker the grader killed for lingering against one that crashed, one process left.

Facts are made up (the channel frames a worker would send, the exit the sandbox would decode) and judged by
grade.judge, except where the real grader is the point (a submission replacing an input).
"""

import ast
import signal

import pytest

from helpers import grade_source, reference_source, with_edits
from mhaquiz.grader import channel, grade
from mhaquiz.grader.channel import Decoder
from mhaquiz.grader.diagnose import call
from mhaquiz.grader.engine import Exit
from mhaquiz.grader.exercises import get_exercise
from mhaquiz.grader.report import GradeReport
from mhaquiz.grader.sandbox import RunFacts
from mhaquiz.grader.verdict import Verdict

SOURCE = "def softmax(x, axis=-1):\n    return x\n"


def softmax_plan():
    return grade._plan(get_exercise("softmax"), 0)


def frames(plan, errors=None, stop_at=None, input_modified=()):
    """A worker returning the reference's outputs, except: case index -> exception type in `errors`
    (`input_modified`: the indexes whose exception is a write into a read-only input)."""
    errors, stream = errors or {}, b""
    for index, case in enumerate(plan.cases):
        stream += channel.json_frame(b"S", {"exercise": plan.exercise.id, "case": case.name})
        if index == stop_at:
            return stream
        meta = {"exercise": plan.exercise.id, "case": case.name, "elapsed": 0.001, "bad_outputs": {},
                "returned": None, "error": None}
        if index in errors:
            meta["error"] = {"type": errors[index], "message": "boom", "traceback": "",
                             "input_modified": index in input_modified}
            stream += channel.result_frame(meta, [])
        else:
            stream += channel.result_frame(meta, sorted(call(plan.exercise.reference(), case).items()))
    return stream + channel.json_frame(b"D", {})


def judge(plan, stream, **facts):
    decoder = Decoder()
    decoder.feed(stream)
    run = RunFacts(messages=decoder.finish(), sandbox={"engine": "process"}, **facts)
    report = GradeReport(file="softmax.py", verdict=Verdict.PASSED, timeout=5.0, memory_mb=2048)
    return grade.judge(report, [plan], run, ast.parse(SOURCE), SOURCE)


# --- NotImplementedError ----------------------------------------------------------------------------------------------

def test_not_implemented_among_real_errors_is_a_runtime_error_not_the_untouched_stub():
    plan = softmax_plan()
    errors = {index: "NotImplementedError" for index in range(len(plan.cases))}
    errors[2] = "ValueError"
    report = judge(plan, frames(plan, errors), exit=Exit(code=0))
    assert report.verdict == Verdict.RUNTIME_ERROR


def test_not_implemented_beside_a_passing_case_is_a_runtime_error_not_the_untouched_stub():
    """A half-written file (one case handled, the others still raising) is not the stub as given."""
    plan = softmax_plan()
    errors = {index: "NotImplementedError" for index in range(1, len(plan.cases))}
    report = judge(plan, frames(plan, errors), exit=Exit(code=0))
    assert report.exercises[0].cases[0].verdict == Verdict.PASSED
    assert report.verdict == Verdict.RUNTIME_ERROR


def test_a_write_into_an_input_is_input_modified_where_another_error_is_a_runtime_error():
    plan = softmax_plan()
    report = judge(plan, frames(plan, {1: "ValueError", 3: "ValueError"}, input_modified=(1,)), exit=Exit(code=0))
    verdicts = [case.verdict for case in report.exercises[0].cases]
    assert verdicts[1] == Verdict.INPUT_MODIFIED and verdicts[3] == Verdict.RUNTIME_ERROR
    assert report.verdict == Verdict.INPUT_MODIFIED


# --- killed for lingering, or crashed --------------------------------------------------------------------------------

def test_a_worker_the_grader_killed_after_every_result_is_not_a_crash():
    """Every result in, the worker lingered and the grader killed it (SIGKILL is its signal): passed."""
    plan = softmax_plan()
    report = judge(plan, frames(plan), exit=Exit(signal=signal.SIGKILL), killed_by_grader=True)
    assert report.verdict == Verdict.PASSED


def test_the_same_signal_not_sent_by_the_grader_is_a_crash():
    plan = softmax_plan()
    report = judge(plan, frames(plan), exit=Exit(signal=signal.SIGKILL), killed_by_grader=False)
    assert report.verdict == Verdict.CRASHED and report.detail.params["signal"] == "SIGKILL"


def test_a_worker_the_grader_killed_mid_run_did_not_exit_early_of_its_own_accord():
    plan = softmax_plan()
    killed = judge(plan, frames(plan, stop_at=2), exit=Exit(signal=signal.SIGKILL), killed_by_grader=True)
    assert Verdict.EXITED_EARLY not in killed.flags and Verdict.CRASHED not in killed.flags
    alone = judge(plan, frames(plan, stop_at=2), exit=Exit(code=0), killed_by_grader=False)
    assert alone.verdict == Verdict.EXITED_EARLY


def test_one_process_left_behind_is_enough():
    plan = softmax_plan()
    report = judge(plan, frames(plan), exit=Exit(code=0), left_processes=1)
    assert report.verdict == Verdict.LEFT_PROCESSES and report.detail.params["count"] == 1


# --- an input replaced, with wrong or right values (the real grader) ----------------------------------------------------

REPLACE_WRONG = ('    Q = split_heads(q @ params["W_q"] + params["b_q"], num_heads)',
                 '    params["W_q"] = params["W_q"] * 2.0\n'
                 '    Q = split_heads(q @ params["W_q"] + params["b_q"], num_heads)')
REPLACE_RIGHT = ('    Q = split_heads(q @ params["W_q"] + params["b_q"], num_heads)',
                 '    params["W_q"] = params["W_q"].copy()\n'
                 '    Q = split_heads(q @ params["W_q"] + params["b_q"], num_heads)')


def test_replacing_an_input_and_returning_wrong_values_is_a_wrong_answer_that_names_the_input(tmp_path):
    """Doubling W_q changes the output wherever the scores matter: those cases are wrong answers (the values
    are what is wrong), still naming the replaced input; the run is input_modified, which outranks them."""
    source = with_edits(reference_source("mha_forward"), REPLACE_WRONG)
    report = grade_source(tmp_path, "mha_forward", source, sandbox="process")
    cases = report.exercises[0].cases
    wrong = [case for case in cases if not all(check.passed for check in case.outputs)]
    assert wrong and all(case.verdict == Verdict.WRONG_ANSWER for case in wrong)
    assert all(case.replaced_inputs == ["params.W_q"] for case in cases)
    assert report.verdict == Verdict.INPUT_MODIFIED


def test_replacing_an_input_with_right_values_is_input_modified(tmp_path):
    source = with_edits(reference_source("mha_forward"), REPLACE_RIGHT)
    report = grade_source(tmp_path, "mha_forward", source, sandbox="process")
    assert report.verdict == Verdict.INPUT_MODIFIED
    assert all(any("W_q" in name for name in case.replaced_inputs) for case in report.exercises[0].cases)


# --- the documented precedence ------------------------------------------------------------------------------------------

# The order README.md's "Verdicts" section gives, most severe first (banned_call, decided before anything runs,
# after no_exercise; not_run, a case's own, just above passed).
DOCUMENTED = ["internal_error", "syntax_error", "no_exercise", "banned_call", "channel_corrupted", "forbidden_operation",
              "time_limit_exceeded", "memory_limit_exceeded", "output_limit_exceeded", "crashed", "exited_early",
              "left_processes", "import_error", "missing_function", "not_implemented", "input_modified",
              "runtime_error", "wrong_answer", "not_run", "passed"]


@pytest.mark.parametrize("higher, lower", list(zip(DOCUMENTED, DOCUMENTED[1:])))
def test_each_verdict_outranks_the_next_as_documented(higher, lower):
    from mhaquiz.grader.verdict import main

    assert main({Verdict(lower), Verdict(higher)}) == Verdict(higher)
    assert main([Verdict(higher), Verdict(lower)]) == Verdict(higher)


def test_a_write_into_an_input_is_caught_where_it_happens_through_the_real_grader(tmp_path):
    source = reference_source("softmax").replace('def softmax(x, axis=-1):\n',
                                                 'def softmax(x, axis=-1):\n    x -= 0.0\n', 1)
    assert "x -= 0.0" in source
    report = grade_source(tmp_path, "softmax", source, sandbox="process")
    assert report.verdict == Verdict.INPUT_MODIFIED
    first = report.exercises[0].cases[0]
    assert first.verdict == Verdict.INPUT_MODIFIED and first.error["input_modified"]


# --- a small miss beside a real one --------------------------------------------------------------------------------------

def test_a_float32_sized_miss_beside_a_real_mismatch_is_a_value_error_not_a_precision_finding():
    """cross_entropy's loss off by 1e-8 of the scale while its gradient is 1e-2 off: the small miss is collateral
    of the real bug, so neither output is reported as a float32 slip."""
    plan = grade._plan(get_exercise("cross_entropy"), 0)
    stream = b""
    for case in plan.cases:
        stream += channel.json_frame(b"S", {"exercise": plan.exercise.id, "case": case.name})
        meta = {"exercise": plan.exercise.id, "case": case.name, "elapsed": 0.001, "bad_outputs": {},
                "returned": None, "error": None}
        outputs = call(plan.exercise.reference(), case)
        scale = max(1.0, max(float(abs(value[abs(value) < float("inf")]).max()) for value in outputs.values()))
        outputs["loss"] = outputs["loss"] + 1e-8 * scale
        outputs["d_logits"] = outputs["d_logits"] + 1e-2
        stream += channel.result_frame(meta, sorted(outputs.items()))
    report = judge(plan, stream + channel.json_frame(b"D", {}), exit=Exit(code=0))
    first = report.exercises[0].cases[0]
    problems = {check.name: check.problem for check in first.outputs}
    assert problems["d_logits"] == "values" and problems["loss"] == "values"
    assert "precision" not in [d.mistake for d in report.exercises[0].diagnosis]
