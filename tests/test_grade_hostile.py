"""Hostile submissions: each gets a failing verdict quickly, and leaves no process behind."""

import time
from pathlib import Path

import pytest

from mhaquiz.grader import grade as verdicts
from mhaquiz.grader.grade import grade_file
from tests.helpers import reference_source, write

TIMEOUT = 1.5

CORRECT = reference_source("mha_forward")

HOSTILE = {
    "infinite_loop": ("def mha_forward(q, k, v, params, num_heads, mask=None):\n    while True:\n        pass\n",
                      verdicts.TIME_LIMIT),
    "sleep": ("import time\ndef mha_forward(q, k, v, params, num_heads, mask=None):\n    time.sleep(60)\n",
              verdicts.TIME_LIMIT),
    "memory_hog": ("def mha_forward(q, k, v, params, num_heads, mask=None):\n    hog = []\n"
                   "    while True:\n        hog.append(bytearray(50 * 1024 * 1024))\n", verdicts.MEMORY_LIMIT),
    "sys_exit_at_import": ("import sys\nsys.exit(0)\ndef mha_forward(q, k, v, params, num_heads, mask=None):\n    pass\n",
                           verdicts.IMPORT_ERROR),
    "os_exit_in_call": ("import os\ndef mha_forward(q, k, v, params, num_heads, mask=None):\n    os._exit(0)\n",
                        verdicts.EXITED_EARLY),
    "patches_numpy_comparisons": (
        "import numpy as np\nnp.allclose = lambda *a, **k: True\nnp.isclose = lambda a, b, **k: np.ones(np.shape(a), bool)\n"
        "np.array_equal = lambda *a, **k: True\nnp.testing.assert_allclose = lambda *a, **k: None\n"
        "def mha_forward(q, k, v, params, num_heads, mask=None):\n    return np.zeros_like(q)\n", verdicts.WRONG_ANSWER),
    "floods_stdout": ("def mha_forward(q, k, v, params, num_heads, mask=None):\n    while True:\n        print('x' * 1000)\n",
                      verdicts.OUTPUT_LIMIT),
    "forks_a_child": ("import os, time\nif os.fork() == 0:\n    time.sleep(60)\n" + CORRECT, verdicts.FORKED),
    "forks_a_child_that_escapes_the_group": ("import os, time\nif os.fork() == 0:\n    os.setsid()\n    time.sleep(60)\n"
                                             + CORRECT, verdicts.FORKED),
    "reads_stdin": ("def mha_forward(q, k, v, params, num_heads, mask=None):\n    return input()\n", verdicts.RUNTIME_ERROR),
    "syntax_error": ("def mha_forward(q, k, v, params, num_heads, mask=None):\n    return q +\n", verdicts.SYNTAX_ERROR),
    "ignores_sigterm": ("import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
                        "def mha_forward(q, k, v, params, num_heads, mask=None):\n    while True:\n        pass\n",
                        verdicts.TIME_LIMIT),
    "raises": ("def mha_forward(q, k, v, params, num_heads, mask=None):\n    return helper(q)\n\n"
               "def helper(x):\n    raise ValueError('shapes do not align')\n", verdicts.RUNTIME_ERROR),
    "kills_itself": ("import os, signal\ndef mha_forward(q, k, v, params, num_heads, mask=None):\n"
                     "    os.kill(os.getpid(), signal.SIGSEGV)\n", verdicts.CRASHED),
    "writes_to_result_channel": ("import os\nfor fd in range(3, 1024):\n    try:\n        os.write(fd, b'garbage' * 10)\n"
                                 "    except OSError:\n        pass\n" + CORRECT, verdicts.CORRUPT),
}


def processes_mentioning(marker: str):
    """PIDs whose command line contains `marker` (the worker's argv holds the submission's path)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
                status = (entry / "status").read_text()
            except OSError:
                continue
            if marker.encode() in cmdline and "State:\tZ" not in status:
                found.append(int(entry.name))
    return found


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_submission_fails_fast_and_cleanly(tmp_path, name):
    source, expected = HOSTILE[name]
    path = write(tmp_path, f"hostile_{name}.py", source)
    started = time.monotonic()
    report = grade_file(path, exercise_ids=["mha_forward"], timeout=TIMEOUT, memory_mb=640)
    elapsed = time.monotonic() - started
    assert report.verdict == expected, report.detail
    assert not report.passed
    assert elapsed < TIMEOUT + 2
    time.sleep(0.1)
    assert processes_mentioning(str(path)) == []


def test_runtime_error_shows_only_the_submissions_frames(tmp_path):
    path = write(tmp_path, "raises.py", HOSTILE["raises"][0])
    report = grade_file(path, timeout=TIMEOUT)
    error = report.exercises[0].cases[0].error
    assert error["type"] == "ValueError" and error["message"] == "shapes do not align"
    assert "raises.py" in error["traceback"] and "in helper" in error["traceback"]
    assert "mhaquiz" not in error["traceback"]


def test_syntax_error_names_the_line(tmp_path):
    report = grade_file(write(tmp_path, "broken.py", HOSTILE["syntax_error"][0]))
    assert report.error["line"] == 2
    assert "broken.py, line 2" in report.detail


def test_output_is_captured_and_bounded_never_on_our_stdout(tmp_path, capfd):
    source = CORRECT.replace('    D = q.shape[-1]\n', '    print("debugging", q.shape)\n    D = q.shape[-1]\n', 1)
    report = grade_file(write(tmp_path, "chatty.py", source))
    assert report.passed
    assert "debugging (2, 5, 12)" in report.output
    assert "debugging" not in capfd.readouterr().out


def test_a_forged_fork_report_cannot_make_the_grader_kill_another_process(tmp_path, monkeypatch):
    import subprocess
    import sys

    victim = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        monkeypatch.setenv("VICTIM_PID", str(victim.pid))
        forger = ("import json, os, struct\n"
                  "payload = json.dumps({'pid': int(os.environ['VICTIM_PID'])}).encode()\n"
                  "for fd in range(3, 1024):\n"
                  "    try:\n        os.write(fd, struct.pack('>cI', b'F', len(payload)) + payload)\n"
                  "    except OSError:\n        pass\n" + CORRECT)
        report = grade_file(write(tmp_path, "forger.py", forger), timeout=TIMEOUT)
        assert report.verdict == verdicts.FORKED  # the forged report still fails the submission...
        assert victim.poll() is None  # ...but kills nothing outside the sandbox
    finally:
        victim.kill()
        victim.wait()


def test_a_nul_byte_is_a_syntax_error_not_a_crash(tmp_path):
    report = grade_file(write(tmp_path, "nul.py", "def mha_forward(q):\n    return q\x00\n"))
    assert report.verdict == verdicts.SYNTAX_ERROR and "nul.py" in report.detail
