"""Verdict logic, without running anything: facts measured by the sandbox (here made up) in, verdicts out.

The run's facts are built from real channel frames carrying the reference's own outputs, so everything but
the fact under test would pass.
"""

import json
import signal

import pytest

from mhaquiz.grader import channel, grade
from mhaquiz.grader.channel import Decoder
from mhaquiz.grader.diagnose import call
from mhaquiz.grader.engine import Exit
from mhaquiz.grader.exercises import get_exercise
from mhaquiz.grader.report import GradeReport
from mhaquiz.grader.sandbox import RunFacts
from mhaquiz.grader.verdict import PRECEDENCE, Verdict, main

SOURCE = "import numpy as np\ndef softmax(x, axis=-1):\n    return x\n"


def test_precedence_lists_every_verdict_once():
    assert sorted(PRECEDENCE) == sorted(Verdict) and len(set(PRECEDENCE)) == len(PRECEDENCE)


@pytest.mark.parametrize("index", range(len(PRECEDENCE) - 1))
def test_each_verdict_outranks_the_next(index):
    higher, lower = PRECEDENCE[index], PRECEDENCE[index + 1]
    assert main({lower, higher}) == higher and main([higher, lower]) == higher


def test_the_expected_ranking_of_the_usual_verdicts():
    assert main({Verdict.WRONG_ANSWER, Verdict.RUNTIME_ERROR}) == Verdict.RUNTIME_ERROR
    assert main({Verdict.WRONG_ANSWER, Verdict.TIME_LIMIT, Verdict.FORBIDDEN_OPERATION}) == Verdict.FORBIDDEN_OPERATION
    assert main({Verdict.PASSED, Verdict.LEFT_PROCESSES}) == Verdict.LEFT_PROCESSES
    assert main({Verdict.CHANNEL_CORRUPTED, Verdict.TIME_LIMIT}) == Verdict.CHANNEL_CORRUPTED
    assert main(set()) == Verdict.PASSED


# --- judging made-up facts -------------------------------------------------------------------------------


def plans(*exercise_ids):
    return [grade._plan(get_exercise(exercise_id), 0) for exercise_id in exercise_ids]


def frames(plan, stop_at=None, error_at=None, error_type="ValueError", finish=True):
    """The channel bytes of a worker returning the reference's outputs, stopping (started, not finished)
    at case `stop_at` or raising at `error_at`."""
    stream = b""
    reference = plan.exercise.reference()
    for index, case in enumerate(plan.cases):
        stream += channel.json_frame(b"S", {"exercise": plan.exercise.id, "case": case.name})
        if index == stop_at:
            return stream
        meta = {"exercise": plan.exercise.id, "case": case.name, "elapsed": 0.001, "bad_outputs": {}, "returned": None,
                "error": None}
        if index == error_at or error_at == "all":
            meta["error"] = {"type": error_type, "message": "boom", "traceback": ""}
            stream += channel.result_frame(meta, [])
        else:
            outputs = call(reference, case)
            stream += channel.result_frame(meta, sorted(outputs.items()))
    return stream + (channel.json_frame(b"D", {}) if finish else b"")


def judge(plan_list, stream, **facts):
    decoder = Decoder()
    decoder.feed(stream)
    run = RunFacts(messages=decoder.finish(), sandbox={"engine": "process"}, **facts)
    report = GradeReport(file="softmax.py", verdict=Verdict.PASSED, timeout=5.0, memory_mb=2048)
    import ast

    return grade.judge(report, plan_list, run, ast.parse(SOURCE), SOURCE)


def test_the_references_own_outputs_pass():
    [plan] = plans("softmax")
    report = judge([plan], frames(plan), exit=Exit(code=0))
    assert report.verdict == Verdict.PASSED and report.flags == [Verdict.PASSED]
    assert report.exercises[0].cases_passed == len(plan.cases)


def test_a_timeout_names_the_case_that_was_running_and_the_rest_did_not_run():
    [plan] = plans("softmax")
    report = judge([plan], frames(plan, stop_at=3), timed_out=True, killed_by_grader=True, exit=Exit(signal=9))
    assert report.verdict == Verdict.TIME_LIMIT
    assert report.where == ("softmax", plan.cases[3].name)
    verdicts = [case.verdict for case in report.exercises[0].cases]
    assert verdicts[:3] == [Verdict.PASSED] * 3 and verdicts[3] == Verdict.TIME_LIMIT
    assert set(verdicts[4:]) == {Verdict.NOT_RUN}
    assert report.detail.key == "detail.time_limit_exceeded"


def test_the_cpu_limit_signal_is_a_time_limit_not_a_crash():
    [plan] = plans("softmax")
    report = judge([plan], frames(plan, stop_at=2), exit=Exit(signal=signal.SIGXCPU))
    assert report.verdict == Verdict.TIME_LIMIT and report.detail.key == "detail.time_limit_cpu"


def test_a_signal_the_grader_did_not_send_is_a_crash():
    [plan] = plans("softmax")
    report = judge([plan], frames(plan, stop_at=2), exit=Exit(signal=signal.SIGSEGV))
    assert report.verdict == Verdict.CRASHED and report.detail.params["signal"] == "SIGSEGV"
    assert report.where == ("softmax", plan.cases[2].name)


def test_a_quiet_exit_before_the_end_is_exited_early():
    [plan] = plans("softmax")
    report = judge([plan], frames(plan, stop_at=1), exit=Exit(code=0))
    assert report.verdict == Verdict.EXITED_EARLY and report.detail.params["code"] == 0


def test_processes_left_behind_fail_a_submission_whose_values_are_right():
    [plan] = plans("softmax")
    report = judge([plan], frames(plan), exit=Exit(code=0), left_processes=2)
    assert report.verdict == Verdict.LEFT_PROCESSES and report.exercises[0].passed
    assert report.detail.params["count"] == 2


def test_a_corrupted_channel_outranks_everything_the_submission_returned():
    [plan] = plans("softmax")
    report = judge([plan], frames(plan), exit=Exit(code=0), corrupt="bad frame")
    assert report.verdict == Verdict.CHANNEL_CORRUPTED and report.detail.params["reason"] == "bad frame"


def test_results_for_a_case_that_does_not_exist_are_a_corrupted_channel():
    [plan] = plans("softmax")
    forged = channel.json_frame(b"S", {"exercise": "softmax", "case": "invented"}) + channel.result_frame(
        {"exercise": "softmax", "case": "invented", "elapsed": 0.0, "error": None, "bad_outputs": {}, "returned": None}, [])
    report = judge([plan], frames(plan, finish=False) + forged + channel.json_frame(b"D", {}), exit=Exit(code=0))
    assert report.verdict == Verdict.CHANNEL_CORRUPTED


def test_a_blocked_operation_is_forbidden_even_when_every_value_is_right():
    [plan] = plans("softmax")
    blocked = channel.json_frame(b"X", {"event": "subprocess.Popen", "where": "line 3"})
    report = judge([plan], blocked + frames(plan), exit=Exit(code=0))
    assert report.verdict == Verdict.FORBIDDEN_OPERATION and report.detail.params["event"] == "subprocess.Popen"
    assert report.blocked == [{"event": "subprocess.Popen", "where": "line 3"}]


def control(**lines):
    """The warden's control pipe: the cases runner finished cleanly, then the given measurements."""
    decoder = channel.ControlDecoder()
    decoder.feed(b'{"kind": "cases", "code": 0, "cpu": 0.05, "maxrss": 30000000}\n')
    for kind, entries in lines.items():
        for exercise, entry in entries.items():
            decoder.feed(json.dumps({"kind": kind, "exercise": exercise, **entry}).encode() + b"\n")
    return decoder


def test_a_timeout_while_timing_a_correct_submission_is_not_a_failure():
    [plan] = plans("softmax")
    report = judge([plan], frames(plan), control=control(), timed_out=True, killed_by_grader=True,
                   exit=Exit(signal=9))
    assert report.verdict == Verdict.PASSED
    assert report.exercises[0].efficiency.not_measured.key == "efficiency.out_of_time"


def test_a_timeout_before_the_cases_runner_finished_is_the_time_limit():
    [plan] = plans("softmax")
    report = judge([plan], frames(plan), timed_out=True, killed_by_grader=True, exit=Exit(signal=9))
    assert report.verdict == Verdict.TIME_LIMIT


def measured(plan, case, outputs):
    """The channel frames of a measuring runner that returned `outputs` on `case` (after the cases' D)."""
    meta = {"exercise": plan.exercise.id, "case": case.name, "bad_outputs": {}, "returned": None, "error": None}
    return (channel.json_frame(b"S", {"exercise": plan.exercise.id, "case": case.name})
            + channel.result_frame(meta, sorted(outputs.items())))


@pytest.mark.parametrize("peak_mib, verdict", [(2.0, Verdict.PASSED), (7.9, Verdict.PASSED),
                                               (8.1, Verdict.MEMORY_LIMIT), (40.0, Verdict.MEMORY_LIMIT)])
def test_the_memory_bound_is_the_peak_the_kernel_counted_for_the_call(peak_mib, verdict):
    [plan] = plans("flash_attention_forward")
    checks = plan.exercise.checks()
    case = checks.memory_case(0)
    assert checks.memory_limit(case) == 8 * 2**20
    stream = frames(plan) + measured(plan, case, call(plan.exercise.reference(), case))
    report = judge([plan], stream, exit=Exit(code=0),
                   control=control(memory={plan.exercise.id: {"code": 0, "peak_bytes": peak_mib * 2**20}}))
    assert report.verdict == verdict
    assert report.exercises[0].memory["peak"] == peak_mib * 2**20


def test_a_memory_call_that_returns_wrong_values_is_not_measured_but_failed():
    [plan] = plans("flash_attention_forward")
    case = plan.exercise.checks().memory_case(0)
    outputs = call(plan.exercise.reference(), case)
    outputs["out"] = outputs["out"] * 0  # what a submission skipping the work when measured would return
    stream = frames(plan) + measured(plan, case, outputs)
    report = judge([plan], stream, exit=Exit(code=0),
                   control=control(memory={plan.exercise.id: {"code": 0, "peak_bytes": 1.0}}))
    assert report.verdict == Verdict.MEMORY_LIMIT and report.exercises[0].memory["wrong"]
    assert report.detail.key == "detail.memory_wrong"


def test_a_memory_runner_that_crashed_leaves_the_memory_unmeasured_and_failed():
    [plan] = plans("flash_attention_forward")
    report = judge([plan], frames(plan), exit=Exit(code=0),
                   control=control(memory={plan.exercise.id: {"signal": 9, "peak_bytes": 1.0}}))
    assert report.verdict == Verdict.MEMORY_LIMIT and report.detail.key == "detail.memory_unmeasured"


def test_the_speed_is_the_wardens_figure_and_kept_only_when_the_timed_calls_were_right():
    [plan] = plans("softmax")
    plan.timed = True
    grade._time_references([plan])  # as the grader does while the warden times the submission
    case = plan.exercise.checks().perf_case(0)
    right = call(plan.exercise.reference(), case)
    report = judge([plan], frames(plan) + measured(plan, case, right), exit=Exit(code=0),
                   control=control(perf={"softmax": {"seconds": 0.25, "rounds": 3}}))
    efficiency = report.exercises[0].efficiency
    assert efficiency.submission_seconds == 0.25 and efficiency.rounds == 3 and efficiency.reference_seconds > 0
    wrong = {name: value + 1 for name, value in right.items()}
    report = judge([plan], frames(plan) + measured(plan, case, wrong), exit=Exit(code=0),
                   control=control(perf={"softmax": {"seconds": 0.25, "rounds": 3}}))
    assert report.verdict == Verdict.PASSED  # no verdict depends on the speed
    assert report.exercises[0].efficiency.submission_seconds is None
    assert report.exercises[0].efficiency.not_measured.key == "efficiency.wrong_when_timed"


def test_every_case_raising_not_implemented_is_the_untouched_stub():
    [plan] = plans("softmax")
    report = judge([plan], frames(plan, error_at="all", error_type="NotImplementedError"), exit=Exit(code=0))
    assert report.verdict == Verdict.NOT_IMPLEMENTED
    assert report.detail.key == "detail.not_implemented"


def test_one_raising_case_is_a_runtime_error_naming_that_case():
    [plan] = plans("softmax")
    report = judge([plan], frames(plan, error_at=4), exit=Exit(code=0))
    assert report.verdict == Verdict.RUNTIME_ERROR and report.where == ("softmax", plan.cases[4].name)
    assert report.detail.params["type"] == "ValueError"


def test_a_memory_error_is_the_exception_it_is_never_a_limit_the_grader_did_not_see():
    """A MemoryError (or a class the submission names so) is a runtime error shown as raised; only the measured
    bound is memory_limit_exceeded."""
    [plan] = plans("softmax")
    report = judge([plan], frames(plan, error_at=0, error_type="MemoryError"), exit=Exit(code=0))
    assert report.verdict == Verdict.RUNTIME_ERROR and report.where == ("softmax", plan.cases[0].name)
    assert report.exercises[0].cases[0].error["type"] == "MemoryError"


def test_the_overall_verdict_covers_every_exercise_of_the_file():
    """A wrong first exercise beside a right second one fails, and naming the first; the other way round too."""
    first, second = plans("softmax", "softmax_backward")
    stream = frames(first, error_at=2, finish=False) + frames(second)
    report = judge([first, second], stream, exit=Exit(code=0))
    assert report.verdict == Verdict.RUNTIME_ERROR and report.where[0] == "softmax"
    stream = frames(first, finish=False) + frames(second, error_at=1)
    report = judge([first, second], stream, exit=Exit(code=0))
    assert report.verdict == Verdict.RUNTIME_ERROR and report.where[0] == "softmax_backward"


def test_the_store_records_a_run_level_failure_against_each_exercise_but_not_another_exercises_failure():
    first, second = plans("softmax", "softmax_backward")
    report = judge([first, second], frames(first, error_at=2, finish=False) + frames(second), exit=Exit(code=0))
    recorded = {exercise_id: (passed, summary["verdict"]) for exercise_id, passed, summary in report.summaries()}
    assert recorded == {"softmax": (False, "runtime_error"), "softmax_backward": (True, "passed")}
    report = judge([first, second], frames(first, finish=False) + frames(second), exit=Exit(code=0), left_processes=1)
    recorded = {exercise_id: (passed, summary["verdict"]) for exercise_id, passed, summary in report.summaries()}
    assert recorded == {"softmax": (False, "left_processes"), "softmax_backward": (False, "left_processes")}
