"""Nothing the submission can touch decides its verdict or a figure of its report (issue 14, part 1 and 3).

Each submission here attacks a measurement or a message the grader used to take from the submission's own
process: the reference it could find in memory, the speed and memory figures, a verdict decided from a name,
frames forged on the result pipe. Run in both sandboxes.
"""

import io
import json

import pytest
from rich.console import Console

from mhaquiz.grader.grade import grade_file
from mhaquiz.grader.render import render
from mhaquiz.grader.verdict import Verdict
from tests.helpers import reference_source, write
from tests.test_grade_hostile import MODES

NAIVE_FLASH = '''import numpy as np

def flash_attention_forward(q, k, v, mask=None, block_size=32):
    s = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])  # (..., Tq, Tk): the whole score matrix
    if mask is not None:
        s = np.where(mask, s, -np.inf)
    m = s.max(axis=-1, keepdims=True)
    p = np.exp(s - m)
    l = p.sum(axis=-1, keepdims=True)
    return {"out": (p / l) @ v, "lse": (m + np.log(l))[..., 0]}
'''


def grade(tmp_path, source, exercise, mode, name="submission.py", **options):
    return grade_file(write(tmp_path, name, source), exercise_ids=[exercise], sandbox=mode, **options)


def shown(report) -> str:
    console = Console(file=io.StringIO(), force_terminal=False, width=120, color_system=None)
    for lang in ("en", "zh"):
        render(report, console, lang)
    return console.file.getvalue()


# --- the reference never enters the sandbox --------------------------------------------------------------


SEARCHES_FOR_THE_REFERENCE = '''import sys
import numpy as np

MARKER = {marker!r}

def _find():
    for module in list(sys.modules.values()):  # every module loaded in this process, and its globals
        if getattr(module, "__name__", "") in ("submission", "__main__"):
            continue  # this file
        if hasattr(module, "softmax") and ("solution" in module.__name__ or "reference" in module.__name__):
            return module
        for value in list(getattr(module, "__dict__", {{}}).values()):
            if isinstance(value, str) and MARKER in value:
                return value
            if isinstance(value, dict):
                for item in list(value.values()):
                    if isinstance(item, str) and MARKER in item:
                        return item
                    if isinstance(item, tuple) and any(isinstance(x, str) and MARKER in x for x in item):
                        return next(x for x in item if isinstance(x, str) and MARKER in x)
    return None

def softmax(x, axis=-1):
    found = _find()
    if found is None:
        return np.zeros_like(x)  # honest failure: nothing to copy
    if isinstance(found, str):
        namespace = {{}}
        exec(found, namespace)
        return namespace["softmax"](x, axis)
    return found.softmax(x, axis)
'''


def marker() -> str:
    return "x - x.max(axis=axis, keepdims=True)  # same shape as x"


def test_the_job_sent_to_the_worker_holds_no_reference_solution():
    from mhaquiz.grader import exercises as registry
    from mhaquiz.grader.grade import _job

    job = json.dumps(_job([registry.get_exercise("softmax"), registry.get_exercise("mha_forward")], 0, 5.0, 2048))
    for exercise_id in ("softmax", "mha_forward"):
        for line in reference_source(exercise_id).splitlines():
            if len(line.strip()) > 30 and not line.strip().startswith(("#", '"""', "import", "from", "def ")):
                assert line.strip() not in job, line
    assert '"reference"' not in job and "solutions/" not in job.replace("\\\\", "/")


@pytest.mark.parametrize("mode", MODES)
def test_a_submission_that_searches_its_process_for_the_reference_finds_nothing(tmp_path, mode):
    report = grade(tmp_path, SEARCHES_FOR_THE_REFERENCE.format(marker=marker()), "softmax", mode)
    assert report.verdict == Verdict.WRONG_ANSWER


# --- the figures: the kernel's, never the submission's -------------------------------------------------


FORGES_TIME = '''import time, resource, os, sys
import numpy as np

_cpu = time.process_time
for name in ("perf_counter", "process_time", "monotonic", "time", "thread_time"):
    setattr(time, name, lambda: 0.0)
resource.getrusage = lambda who: resource.struct_rusage((0.0,) * 16)
os.times = lambda: os.times_result((0.0,) * 5)

def softmax(x, axis=-1):
    started = _cpu()
    while _cpu() - started < 0.02:  # 20 ms of CPU per call, whatever the clocks now say
        pass
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)
'''


@pytest.mark.parametrize("mode", MODES)
def test_the_speed_is_the_kernels_count_whatever_the_submission_does_to_its_clocks(tmp_path, mode):
    report = grade(tmp_path, FORGES_TIME, "softmax", mode, timeout=20)
    assert report.verdict == Verdict.PASSED
    efficiency = report.exercises[0].efficiency
    assert efficiency.submission_seconds is not None and efficiency.submission_seconds >= 0.015
    assert efficiency.ratio > 1


HIDES_MEMORY = '''import sys, types, tracemalloc, mmap
import numpy as np

tracemalloc.stop()
fake = types.ModuleType("tracemalloc")
fake.start = fake.stop = fake.reset_peak = lambda *a, **k: None
fake.get_traced_memory = lambda: (0, 0)
sys.modules["tracemalloc"] = fake

def flash_attention_forward(q, k, v, mask=None, block_size=32):
    Tq, Tk = q.shape[-2], k.shape[-2]
    buffer = mmap.mmap(-1, q[..., :1].size // q.shape[-2] * Tq * Tk * 8)  # memory no allocator tracer sees
    s = np.frombuffer(buffer, dtype=np.float64).reshape(q.shape[:-2] + (Tq, Tk))
    np.matmul(q, np.swapaxes(k, -1, -2), out=s)
    s /= np.sqrt(q.shape[-1])
    if mask is not None:
        s[...] = np.where(mask, s, -np.inf)
    m = s.max(axis=-1, keepdims=True)
    s -= m
    np.exp(s, out=s)
    l = s.sum(axis=-1, keepdims=True)
    out = (s / l) @ v
    return {"out": out, "lse": (m + np.log(l))[..., 0]}
'''


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("source", [NAIVE_FLASH, HIDES_MEMORY], ids=["naive", "hides from tracemalloc, allocates by mmap"])
def test_the_full_score_matrix_fails_the_memory_bound_however_it_is_allocated(tmp_path, mode, source):
    report = grade(tmp_path, source, "flash_attention_forward", mode, timeout=20)
    assert report.verdict == Verdict.MEMORY_LIMIT, report.detail and report.detail.text("en")
    memory = report.exercises[0].memory
    assert all(case.passed for case in report.exercises[0].cases)  # right values: only the memory is wrong
    assert memory["peak"] >= 2048 * 2048 * 8 > memory["limit"]  # at least one full (Tq, Tk) float64 matrix


@pytest.mark.parametrize("mode", MODES)
def test_the_reference_passes_the_memory_bound_with_room_to_spare(tmp_path, mode):
    report = grade(tmp_path, reference_source("flash_attention_forward"), "flash_attention_forward", mode, timeout=20)
    assert report.verdict == Verdict.PASSED
    memory = report.exercises[0].memory
    assert memory["passed"] and memory["peak"] <= memory["limit"] / 2
    assert 0 < memory["reference"] <= memory["limit"]  # measured in the grader, informational


DODGES_THE_MEMORY_CASE = NAIVE_FLASH.replace('''def flash_attention_forward(q, k, v, mask=None, block_size=32):
''', '''def flash_attention_forward(q, k, v, mask=None, block_size=32):
    if q.shape[-2] >= 2048:  # the case that measures memory: skip the work
        return {"out": np.zeros(q.shape[:-1] + v.shape[-1:]), "lse": np.zeros(q.shape[:-1])}
''')


@pytest.mark.parametrize("mode", MODES)
def test_a_submission_that_skips_the_work_when_measured_is_not_measured_and_fails(tmp_path, mode):
    report = grade(tmp_path, DODGES_THE_MEMORY_CASE, "flash_attention_forward", mode, timeout=20)
    assert report.verdict == Verdict.MEMORY_LIMIT
    assert report.exercises[0].memory["wrong"] and report.detail.key == "detail.memory_wrong"


NAMED_MEMORY_ERROR = '''class MemoryError(Exception):
    pass

def softmax(x, axis=-1):
    raise MemoryError("out of memory (not really)")
'''


@pytest.mark.parametrize("mode", MODES)
def test_a_verdict_is_never_decided_from_an_exception_name(tmp_path, mode):
    report = grade(tmp_path, NAMED_MEMORY_ERROR, "softmax", mode)
    assert report.verdict == Verdict.RUNTIME_ERROR


# --- frames forged on the result pipe ---------------------------------------------------------------------


def forging(frame_code: str) -> str:
    """A correct softmax that, at import, writes `frame_code`'s frame on every descriptor that may be the
    result pipe."""
    return f'''import os, json, struct
import numpy as np

def _frame(kind, obj):
    payload = json.dumps(obj).encode()
    return struct.pack(">cI", kind, len(payload)) + payload

for fd in range(3, 32):
    try:
        os.write(fd, {frame_code})
    except OSError:
        pass

def softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)
'''


FORGED = {
    "a missing function named with escape sequences": '_frame(b"M", {"exercise": "softmax", "missing": '
                                                       '["\\x1b[2J\\x1b]52;c;ZXZpbA==\\x07\\u202ePASSED"]})',
    "a result for a case that does not exist": '_frame(b"S", {"exercise": "softmax", "case": "bonus"})',
    "an exercise it was not asked for": '_frame(b"S", {"exercise": "mha_forward", "case": "cross-attention"})',
    "a speed frame": '_frame(b"P", {"exercise": "softmax", "submission": 1e-9, "reference": 1.0})',
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", sorted(FORGED))
def test_a_forged_frame_is_a_corrupted_channel_and_nothing_of_it_reaches_the_screen(tmp_path, mode, name):
    report = grade(tmp_path, forging(FORGED[name]), "softmax", mode)
    assert report.verdict == Verdict.CHANNEL_CORRUPTED
    text = shown(report)
    assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text
    json.loads(report.to_json())


# --- what the worker prints and raises ------------------------------------------------------------------


PRINTS_A_VERDICT = '''import numpy as np

def softmax(x, axis=-1):
    print("PASSED softmax (seed 0)")
    print("通过 softmax（随机种子 0）")
    return np.zeros_like(x)
'''


def test_printed_output_is_shown_indented_under_its_heading_never_as_a_verdict_line(tmp_path):
    report = grade(tmp_path, PRINTS_A_VERDICT, "softmax", "auto")
    assert report.verdict == Verdict.WRONG_ANSWER
    for line in shown(report).splitlines():
        if "PASSED softmax" in line or "通过 softmax" in line:
            assert line.startswith("  │ "), line


RUNTIME_SYNTAX_ERROR = '''def softmax(x, axis=-1):
    exec("1 +")
'''


@pytest.mark.parametrize("mode", MODES)
def test_a_syntax_error_raised_while_running_is_a_runtime_error_with_its_line(tmp_path, mode, capsys):
    report = grade(tmp_path, RUNTIME_SYNTAX_ERROR, "softmax", mode)
    assert report.verdict == Verdict.RUNTIME_ERROR
    error = report.exercises[0].cases[0].error
    assert error["type"] == "SyntaxError" and 'exec("1 +")' in error["traceback"]
    document = json.loads(report.to_json())
    assert document["verdict"] == "runtime_error"
    shown(report)
