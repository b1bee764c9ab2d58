"""Hostile submissions, in both sandboxes: each gets a verdict (a pass only when its values are right and it
left nothing behind) within timeout + 2 s, with no process left, no grader traceback, no escape sequence
reaching the terminal, and the progress store and the files beside the submission intact.

The strong sandbox (bubblewrap) runs when bwrap is installed and works here; CI installs it and sets
MHAQUIZ_REQUIRE_BWRAP=1, so there a missing bwrap fails instead of skipping.
"""

import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from rich.console import Console

from mhaquiz.grader import confine
from mhaquiz.grader.grade import grade_file
from mhaquiz.grader.render import render
from mhaquiz.grader.verdict import Verdict
from mhaquiz.store import Store
from tests.helpers import reference_source, write

TIMEOUT = 1.5
CORRECT = reference_source("mha_forward")
MARK = "61.7525"  # every process a hostile submission starts carries this, to find leftovers


def bwrap_works() -> bool:
    if not shutil.which("bwrap"):
        return False
    probe = subprocess.run(["bwrap", "--die-with-parent", "--unshare-all", "--ro-bind", "/", "/", "--proc", "/proc",
                            "true"], capture_output=True)
    return probe.returncode == 0


BWRAP = bwrap_works()
LANDLOCK = confine.landlock_abi() is not None  # the fallback's file system is the kernel's to refuse
if os.environ.get("MHAQUIZ_REQUIRE_BWRAP") and not BWRAP:
    raise RuntimeError("MHAQUIZ_REQUIRE_BWRAP is set but bubblewrap does not work on this machine")
MODES = ["process", pytest.param("bwrap", marks=pytest.mark.skipif(not BWRAP, reason="bubblewrap is not usable here"))]

F = "def mha_forward(q, k, v, params, num_heads, mask=None):\n"

# name -> (source, expected verdict under bwrap, under the plain process); {folder} and {store} are filled in.
HOSTILE = {
    "infinite loop": (F + "    while True:\n        pass\n", Verdict.TIME_LIMIT, Verdict.TIME_LIMIT),
    "sleeps": ("import time\n" + F + "    time.sleep(60)\n", Verdict.TIME_LIMIT, Verdict.TIME_LIMIT),
    "sleeps at import": ("import time\ntime.sleep(60)\n" + CORRECT, Verdict.TIME_LIMIT, Verdict.TIME_LIMIT),
    "ignores SIGTERM": ("import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n" + F + "    while True:\n        pass\n",
                        Verdict.TIME_LIMIT, Verdict.TIME_LIMIT),
    # a MemoryError is the exception it is: no limit the grader saw (memory_limit_exceeded is the measured bound)
    "eats memory": ("import numpy as np\n" + F + "    hog = []\n    while True:\n        hog.append(np.empty(50_000_000))\n",
                    Verdict.RUNTIME_ERROR, Verdict.RUNTIME_ERROR),
    "floods stdout": (F + "    while True:\n        print('x' * 1000)\n", Verdict.OUTPUT_LIMIT, Verdict.OUTPUT_LIMIT),
    "exits at import": ("import sys\nsys.exit(0)\n" + CORRECT, Verdict.IMPORT_ERROR, Verdict.IMPORT_ERROR),
    "os._exit in the call": ("import os\n" + F + "    os._exit(0)\n", Verdict.EXITED_EARLY, Verdict.EXITED_EARLY),
    "segfaults": ("import faulthandler\n" + F + "    faulthandler._sigsegv()\n", Verdict.CRASHED, Verdict.CRASHED),
    "raises KeyboardInterrupt": (F + "    raise KeyboardInterrupt\n", Verdict.RUNTIME_ERROR, Verdict.RUNTIME_ERROR),
    "reads stdin": (F + "    return input()\n", Verdict.RUNTIME_ERROR, Verdict.RUNTIME_ERROR),
    "patches numpy comparisons": (
        "import numpy as np\nnp.allclose = lambda *a, **k: True\nnp.isclose = lambda a, b, **k: np.ones(np.shape(a), bool)\n"
        "np.array_equal = lambda *a, **k: True\n" + F + "    return np.zeros_like(q)\n",
        Verdict.WRONG_ANSWER, Verdict.WRONG_ANSWER),
    "forks": (f"import os, time\nif os.fork() == 0:\n    time.sleep({MARK})\n" + CORRECT,
              Verdict.FORBIDDEN_OPERATION, Verdict.FORBIDDEN_OPERATION),
    "forks and escapes the group": (f"import os, time\nif os.fork() == 0:\n    os.setsid()\n    time.sleep({MARK})\n" + CORRECT,
                                    Verdict.FORBIDDEN_OPERATION, Verdict.FORBIDDEN_OPERATION),
    "starts a background process": (f"import subprocess\nsubprocess.Popen(['sleep', '{MARK}'], start_new_session=True)\n"
                                    + CORRECT, Verdict.FORBIDDEN_OPERATION, Verdict.FORBIDDEN_OPERATION),
    "os.system": (f"import os\nos.system('sleep {MARK} &')\n" + CORRECT, Verdict.FORBIDDEN_OPERATION, Verdict.FORBIDDEN_OPERATION),
    "posix_spawn": (f"import os\nos.posix_spawn('/bin/sleep', ['sleep', '{MARK}'], {{}})\n" + CORRECT,
                    Verdict.FORBIDDEN_OPERATION, Verdict.FORBIDDEN_OPERATION),
    "libc fork through ctypes": (f"import ctypes, time\nif ctypes.CDLL(None).fork() == 0:\n    time.sleep({MARK})\n" + CORRECT,
                                 Verdict.FORBIDDEN_OPERATION, Verdict.FORBIDDEN_OPERATION),
    "libc by name through ctypes": ("import ctypes\nctypes.CDLL('libc.so.6').kill(0, 19)\n" + CORRECT,
                                    Verdict.FORBIDDEN_OPERATION, Verdict.FORBIDDEN_OPERATION),
    "stops the grader": ("import os, signal\nos.kill(os.getppid(), signal.SIGSTOP)\n" + CORRECT,
                         Verdict.FORBIDDEN_OPERATION, Verdict.FORBIDDEN_OPERATION),
    "interrupts its process group": ("import os, signal\nos.killpg(0, signal.SIGINT)\n" + CORRECT,
                                     Verdict.FORBIDDEN_OPERATION, Verdict.FORBIDDEN_OPERATION),
    "opens a socket": ("import socket\nsocket.create_connection(('127.0.0.1', 9))\n" + CORRECT,
                       Verdict.FORBIDDEN_OPERATION, Verdict.FORBIDDEN_OPERATION),
    "writes the progress store": ("open({store!r}, 'ab').write(b'garbage')\n" + CORRECT,
                                  Verdict.FORBIDDEN_OPERATION, Verdict.FORBIDDEN_OPERATION),  # the guard names it
    "inserts a passed grade": ("import sqlite3\nsqlite3.connect({store!r}).execute('DELETE FROM grades')\n" + CORRECT,
                               Verdict.FORBIDDEN_OPERATION, Verdict.FORBIDDEN_OPERATION),
    "deletes the file beside it": ("import os\nos.remove({folder!r} + '/precious.txt')\n" + CORRECT,
                                   Verdict.IMPORT_ERROR, Verdict.FORBIDDEN_OPERATION),
    "plants a module beside it": ("open({folder!r} + '/zipfile.py', 'w').write('raise SystemExit')\n" + CORRECT,
                                  Verdict.IMPORT_ERROR, Verdict.FORBIDDEN_OPERATION),
    "appends to a grader module": ("import mhaquiz.grader.render as r\nopen(r.__file__, 'a').write('\\nPASS = 1\\n')\n" + CORRECT,
                                   Verdict.FORBIDDEN_OPERATION, Verdict.FORBIDDEN_OPERATION),
    "reads the reference": ("import mhaquiz.paths as p\nprint(open(str(p.content_dir('solutions')) + '/mha_forward.py').read())\n"
                            + CORRECT, Verdict.FORBIDDEN_OPERATION, Verdict.FORBIDDEN_OPERATION),
    "lists the reference folder": ("import os, mhaquiz.paths as p\nprint(os.listdir(p.content_dir('solutions')))\n" + CORRECT,
                                   Verdict.IMPORT_ERROR, Verdict.IMPORT_ERROR if LANDLOCK else Verdict.PASSED),  # EACCES
    "writes the grader's stdout": ("import os\nopen('/proc/%d/fd/1' % os.getppid(), 'w').write('PASSED')\n" + CORRECT,
                                   Verdict.FORBIDDEN_OPERATION, Verdict.FORBIDDEN_OPERATION),
    "writes its working folder": ("open('notes.txt', 'w').write('fine')\n" + CORRECT, Verdict.PASSED, Verdict.PASSED),
    "writes garbage to every fd": ("import os\nfor fd in range(3, 64):\n    try:\n        os.write(fd, b'garbage' * 10)\n"
                                   "    except OSError:\n        pass\n" + CORRECT,
                                   Verdict.CHANNEL_CORRUPTED, Verdict.CHANNEL_CORRUPTED),
    "floods the channel with tiny frames": (
        "import os, struct, json\np = json.dumps({'event': 'x', 'where': ''}).encode()\n"
        "for fd in range(3, 64):\n    try:\n        os.write(fd, (struct.pack('>cI', b'X', len(p)) + p) * 200000)\n"
        "    except OSError:\n        pass\n" + CORRECT, Verdict.CHANNEL_CORRUPTED, Verdict.CHANNEL_CORRUPTED),
    "returns huge arrays": ("import numpy as np\n" + F + "    return np.zeros((2000, 2000))\n",
                            Verdict.WRONG_ANSWER, Verdict.WRONG_ANSWER),
    "returns an object whose __array__ raises": (
        "class Evil:\n    def __array__(self, *a, **k):\n        raise RuntimeError('no')\n" + F + "    return Evil()\n",
        Verdict.WRONG_ANSWER, Verdict.WRONG_ANSWER),
    "raises an exception whose str raises": (
        "class Nasty(Exception):\n    def __str__(self):\n        raise RuntimeError('gotcha')\n" + F + "    raise Nasty()\n",
        Verdict.RUNTIME_ERROR, Verdict.RUNTIME_ERROR),
    "raises an exception with a huge name": (
        "E = type('E' * 5_000_000, (Exception,), {})\n" + F + "    raise E('x')\n", Verdict.RUNTIME_ERROR, Verdict.RUNTIME_ERROR),
    "prints escape sequences": ("print('\\x1b]0;pwned\\x07\\x1b[2J\\x1b[32mPASSED\\x1b]52;c;aGk=\\x07')\n" + F +
                                "    raise ValueError('\\x1b[31m[bold]PASSED[/bold]\\x1b[0m')\n",
                                Verdict.RUNTIME_ERROR, Verdict.RUNTIME_ERROR),
    "a syntax error whose line is markup": ("x = 1\n[bold green]PASSED[/] = (\n", Verdict.SYNTAX_ERROR, Verdict.SYNTAX_ERROR),
    "too deeply nested to parse": ("x = " + "(" * 5000 + ")" * 5000 + "\n" + CORRECT, Verdict.SYNTAX_ERROR, Verdict.SYNTAX_ERROR),
    "a thread still running": ("import threading, time\nthreading.Thread(target=time.sleep, args=(60,), daemon=False).start()\n"
                               + CORRECT, Verdict.PASSED, Verdict.PASSED),
    "latin-1 source that declares it": ("# -*- coding: latin-1 -*-\n# caf\xe9\n" + CORRECT, Verdict.PASSED, Verdict.PASSED),
}


def leftovers():
    """Live processes that descend from this test process, or that carry the hostile marker (other
    programs on the machine may be grading too: theirs are not ours)."""
    parents, live, marked = {}, set(), set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(entry.name)
        parents[pid] = int(fields[1])
        if fields[0] != "Z":
            live.add(pid)
            if MARK.encode() in cmdline:
                marked.add(pid)
    ours, grown = {os.getpid()}, True
    while grown:
        grown = False
        for pid, parent in parents.items():
            if parent in ours and pid not in ours:
                ours.add(pid)
                grown = True
    return sorted(((ours - {os.getpid()}) & live) | marked)


@pytest.fixture
def learner(tmp_path):
    """A learner's folder with a file beside the submission, and a progress store with one grade in it."""
    folder = tmp_path / "learner"
    folder.mkdir()
    (folder / "precious.txt").write_text("my notes\n")
    with Store.open() as store:
        store.record_grade("softmax", True, {"verdict": "passed"})
    store_path = Path(os.environ["MHAQUIZ_HOME"]) / "progress.sqlite3"
    return folder, store_path


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_submission_gets_its_verdict_and_leaves_everything_as_it_was(learner, mode, name):
    folder, store_path = learner
    source, in_bwrap, in_process = HOSTILE[name]
    expected = in_bwrap if mode == "bwrap" else in_process
    source = source.replace("{store!r}", repr(str(store_path))).replace("{folder!r}", repr(str(folder)))
    path = folder / "submission.py"
    path.write_bytes(source.encode("latin-1", "replace") if "latin-1" in name else source.encode())  # the reference's Chinese: ?
    store_before = store_path.read_bytes()
    started = time.monotonic()
    report = grade_file(path, exercise_ids=["mha_forward"], timeout=TIMEOUT, memory_mb=700, sandbox=mode)
    elapsed = time.monotonic() - started
    assert report.verdict == expected, (report.verdict, report.detail and report.detail.text("en"))
    assert report.sandbox.get("engine") == (None if expected == Verdict.SYNTAX_ERROR else mode)  # parsed, never run
    assert elapsed < TIMEOUT + 2
    time.sleep(0.05)
    assert leftovers() == []
    assert sorted(p.name for p in folder.iterdir()) == ["precious.txt", "submission.py"]
    assert (folder / "precious.txt").read_text() == "my notes\n"
    assert store_path.read_bytes() == store_before
    console = Console(file=io.StringIO(), force_terminal=False, width=200, color_system=None)
    for lang in ("en", "zh"):
        render(report, console, lang)
    shown = console.file.getvalue()
    assert "\x1b" not in shown and "\x07" not in shown  # nothing of the submission's drives the terminal
    json.loads(report.to_json())  # strict JSON whatever it printed or raised
    if expected != Verdict.PASSED:
        assert not shown.rstrip().endswith("PASSED")


def test_escape_sequences_are_shown_visibly_and_markup_stays_text(tmp_path):
    path = write(tmp_path, "esc.py", HOSTILE["prints escape sequences"][0])
    report = grade_file(path, exercise_ids=["mha_forward"], timeout=TIMEOUT)
    console = Console(file=io.StringIO(), force_terminal=False, width=300, color_system=None)
    render(report, console, "en")
    shown = console.file.getvalue()
    assert "\\x1b]0;pwned\\x07" in shown  # the title-setting sequence, visible as text
    assert "[bold]PASSED[/bold]" in shown  # markup printed as typed, not interpreted
    assert report.output.startswith("\\x1b]0;pwned\\x07")  # made safe once, for every reader (--json too)
    assert "\x1b" not in report.output


def test_a_syntax_error_whose_line_is_markup_is_printed_as_text(tmp_path):
    report = grade_file(write(tmp_path, "markup.py", HOSTILE["a syntax error whose line is markup"][0]))
    console = Console(file=io.StringIO(), force_terminal=False, width=300, color_system=None)
    render(report, console, "en")
    assert "[bold green]PASSED[/] = (" in console.file.getvalue()


def test_runtime_error_shows_only_the_submissions_frames_under_its_own_path(tmp_path):
    source = F + "    return helper(q)\n\ndef helper(x):\n    raise ValueError('shapes do not align')\n"
    path = write(tmp_path, "raises.py", source)
    report = grade_file(path, timeout=TIMEOUT)
    error = report.exercises[0].cases[0].error
    assert error["type"] == "ValueError" and error["message"] == "shapes do not align"
    assert f'File "{path.resolve()}", line 5, in helper' in error["traceback"]
    assert "mhaquiz" not in error["traceback"].replace(str(tmp_path), "")


def test_output_is_captured_and_bounded_never_on_our_stdout(tmp_path, capfd):
    source = CORRECT.replace('    D = q.shape[-1]\n', '    print("debugging", q.shape)\n    D = q.shape[-1]\n', 1)
    report = grade_file(write(tmp_path, "chatty.py", source))
    assert report.passed
    assert "debugging (2, 5, 12)" in report.output
    assert "debugging" not in capfd.readouterr().out


def test_a_nul_byte_is_a_syntax_error_not_a_crash(tmp_path):
    report = grade_file(write(tmp_path, "nul.py", "def mha_forward(q):\n    return q\x00\n"))
    assert report.verdict == Verdict.SYNTAX_ERROR and report.detail.params["file"] == "nul.py"


@pytest.mark.parametrize("mode", MODES)
def test_the_graders_own_memory_stays_small_under_the_largest_attack(tmp_path, mode):
    """Three big outputs per case: the grader's peak memory (its own process) stays under 500 MB."""
    source = "import numpy as np\n" + F + "    big = np.ones((1000, 4000))\n    return {'out': big, 'a': big, 'b': big}\n"
    path = write(tmp_path, "big.py", source)
    # VmHWM, not getrusage's maxrss: Linux keeps the larger of the pre-exec copy of pytest and this process there
    probe = ("import sys\nfrom mhaquiz.grader.grade import grade_file\n"
             f"r = grade_file({str(path)!r}, exercise_ids=['mha_forward'], timeout=5, sandbox={mode!r})\n"
             "hwm = [line.split()[1] for line in open('/proc/self/status') if line.startswith('VmHWM:')][0]\n"
             "print(r.verdict.value, hwm)\n")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60,
                            env={**os.environ, "MHAQUIZ_HOME": str(tmp_path / "home")})
    verdict, peak_kib = result.stdout.split()
    assert verdict == "wrong_answer", result.stderr
    assert int(peak_kib) < 500 * 1024


@pytest.mark.parametrize("mode", MODES)
def test_a_checkout_under_tmp_grades_as_anywhere_else(mode):
    """CI runners and throwaway venvs often live under /tmp, which the strong sandbox replaces with its own:
    the package (and Python) must still be visible inside it."""
    root = Path(tempfile.mkdtemp(prefix="mhaquiz-checkout-", dir="/tmp"))
    try:
        top = Path(__file__).resolve().parents[1]
        for name in ("mhaquiz", "exercises", "solutions", "questions"):
            shutil.copytree(top / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
        path = write(root, "ref.py", CORRECT)
        probe = ("import mhaquiz, sys\nfrom mhaquiz.grader.grade import grade_file\n"
                 f"r = grade_file({str(path)!r}, timeout=10, sandbox={mode!r})\n"
                 "print(mhaquiz.__file__, r.verdict.value, r.sandbox['engine'])\n")
        result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, cwd=root,
                                env={**os.environ, "PYTHONPATH": str(root), "MHAQUIZ_HOME": str(root / "home")})
        assert result.stdout.split() == [str(root / "mhaquiz" / "__init__.py"), "passed", mode], result.stderr
    finally:
        shutil.rmtree(root, ignore_errors=True)
