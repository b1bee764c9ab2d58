"""Hostile submissions that went around the old audit hook, graded end to end in both sandboxes.

In each mode the runner is confined by the kernel (Landlock and seccomp, where this machine has them) and by
the hardened guard; bubblewrap adds its namespaces. Each submission gets its exact verdict, the grade ends
within timeout + 2 s, no process is left, and the learner's progress store and the files beside the
submission are untouched. A submission may pass with values it computes itself; it never passes by
reading the reference, and it never damages the learner's data.

Where the guard refuses first the verdict is `forbidden_operation`; where a submission goes around the guard
(native calls through ctypes.pythonapi), what stops it is the kernel, seen as the error it raised.
"""

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.console import Console

from mhaquiz.grader import confine
from mhaquiz.grader.grade import grade_file
from mhaquiz.grader.render import render
from mhaquiz.grader.verdict import Verdict
from mhaquiz.paths import content_dir
from mhaquiz.store import Store
from tests.test_grade_hostile import CORRECT, MODES, leftovers

TIMEOUT = 1.5
ROOT = Path(__file__).resolve().parents[1]
KERNEL = confine.probe()
needs_kernel = pytest.mark.skipif(not (KERNEL["landlock"] and KERNEL["seccomp"]),
                                  reason="this kernel has no Landlock or no seccomp filter for its architecture")

NATIVE = """import ctypes, os
libc = ctypes.pythonapi  # loaded before the guard: its symbols are the C library's too
libc.__errno_location.restype = ctypes.POINTER(ctypes.c_int)
def native(name, *args):
    result = getattr(libc, name)(*args)
    if result == -1:
        raise OSError(libc.__errno_location().contents.value, name + ' refused by the kernel')
    return result
"""
GRANDPARENT = "int(open('/proc/%d/stat' % os.getppid()).read().rsplit(')', 1)[1].split()[1])"
SOLUTION = str(content_dir("solutions") / "mha_forward.py")
FORK_EXEC = ("_posixsubprocess.fork_exec([b'/bin/sh', b'-c', b'rm -f {store}'], [b'/bin/sh'], True, (), None, None, "
             "-1, -1, -1, -1, -1, -1, r, w, True, True, -1, None, None, None, -1, None, False)")

# name -> (source, verdict under bwrap, verdict under the plain process); {store}, {home}, {folder}, {grader}
# and {solution} are filled in.
HOSTILE = {
    "removes the store through a dir_fd of its folder": (
        "import os\nos.remove('progress.sqlite3', dir_fd=os.open({home!r}, os.O_RDONLY))\n" + CORRECT,
        Verdict.FORBIDDEN_OPERATION, Verdict.FORBIDDEN_OPERATION),
    "removes the store through a dir_fd of its own folder": (
        "import os\nos.remove(os.path.relpath({store!r}), dir_fd=os.open('.', os.O_RDONLY))\n" + CORRECT,
        Verdict.FORBIDDEN_OPERATION, Verdict.FORBIDDEN_OPERATION),
    "reads the reference through a dir_fd": (
        "import os\nfd = os.open(os.path.dirname(os.path.dirname({solution!r})), os.O_RDONLY)\n"
        "exec(os.read(os.open('solutions/mha_forward.py', os.O_RDONLY, dir_fd=fd), 1 << 20))\n",
        Verdict.FORBIDDEN_OPERATION, Verdict.FORBIDDEN_OPERATION),
    "reads the reference natively": (
        NATIVE + "fd = native('open', {solution!r}.encode(), 0)\nbuffer = ctypes.create_string_buffer(1 << 20)\n"
        "exec(buffer.raw[:native('read', fd, buffer, 1 << 20)].decode())\n",
        Verdict.IMPORT_ERROR, Verdict.IMPORT_ERROR),
    "removes the store natively": (
        NATIVE + "native('unlink', {store!r}.encode())\n" + CORRECT, Verdict.IMPORT_ERROR, Verdict.IMPORT_ERROR),
    "fork_exec of a shell that deletes the store": (
        "import _posixsubprocess, os\nr, w = os.pipe()\n" + FORK_EXEC + "\n" + CORRECT,
        Verdict.FORBIDDEN_OPERATION, Verdict.FORBIDDEN_OPERATION),
    "posix_spawn of a shell that deletes the store": (
        "import os\nos.posix_spawn('/bin/sh', ['sh', '-c', 'rm -f {store}'], {})\n" + CORRECT,
        Verdict.FORBIDDEN_OPERATION, Verdict.FORBIDDEN_OPERATION),
    "patches realpath and the guard, then writes the store": (
        "import sys\nsys.modules['os'].path.realpath = lambda path, **k: '/tmp/harmless'\n"
        "guard = sys.modules['mhaquiz.grader.guard']\nguard._inside = lambda *a: True\n"
        "guard.PATH_WRITE_EVENTS.clear()\nopen({store!r}, 'wb').write(b'gone')\n" + CORRECT,
        Verdict.FORBIDDEN_OPERATION, Verdict.FORBIDDEN_OPERATION),
    "finds the guard with gc and empties it": (
        "import gc, sys\nfor o in gc.get_objects():\n    if callable(o) and getattr(o, '__name__', '') == 'hook':\n"
        "        o.__code__ = (lambda event, args: None).__code__\nopen({store!r}, 'wb')\n" + CORRECT,
        Verdict.FORBIDDEN_OPERATION, Verdict.FORBIDDEN_OPERATION),
    "pidfd_send_signal to the warden and the grader": (
        "import os, signal\nfor pid in (os.getppid(), {grader}):\n"
        "    signal.pidfd_send_signal(os.pidfd_open(pid), signal.SIGUSR1)\n" + CORRECT,
        Verdict.FORBIDDEN_OPERATION, Verdict.FORBIDDEN_OPERATION),
    "kills the warden and signals the grader": (
        "import os, signal\nos.kill({grader}, signal.SIGUSR1)\nos.kill(os.getppid(), signal.SIGKILL)\n" + CORRECT,
        Verdict.FORBIDDEN_OPERATION, Verdict.FORBIDDEN_OPERATION),
    "mkfifo beside the learner's file": (
        "import os\nos.mkfifo({folder!r} + '/pipe')\n" + CORRECT, Verdict.FORBIDDEN_OPERATION, Verdict.FORBIDDEN_OPERATION),
    "mknod beside the learner's file": (
        "import os\nos.mknod({folder!r} + '/node')\n" + CORRECT, Verdict.FORBIDDEN_OPERATION, Verdict.FORBIDDEN_OPERATION),
    "writes through the grader's cwd": (
        "import os\nopen('/proc/%d/cwd/precious.txt' % " + GRANDPARENT + ", 'w').write('gone')\n" + CORRECT,
        Verdict.FORBIDDEN_OPERATION, Verdict.FORBIDDEN_OPERATION),
    "writes hundreds of MB in many files": (
        "for i in range(40):\n    with open('blob%d' % i, 'wb') as f:\n        f.write(b'x' * (15 << 20))\n" + CORRECT,
        Verdict.IMPORT_ERROR, Verdict.FORBIDDEN_OPERATION),  # bubblewrap's 64 MiB /tmp is full; the grader's own look
    "a double fork that leaves the process group": (
        "import os, time\nif os.fork() == 0:\n    if os.fork() == 0:\n        os.setsid()\n        time.sleep(61.7525)\n"
        "    os._exit(0)\n" + CORRECT, Verdict.FORBIDDEN_OPERATION, Verdict.FORBIDDEN_OPERATION),
    "computes the right values itself": (CORRECT, Verdict.PASSED, Verdict.PASSED),
}


@pytest.fixture
def learner(tmp_path):
    folder = tmp_path / "learner"
    folder.mkdir()
    (folder / "precious.txt").write_text("my notes\n")
    with Store.open() as store:
        store.record_grade("softmax", True, {"verdict": "passed"})
    return folder, Path(os.environ["MHAQUIZ_HOME"]) / "progress.sqlite3"


@pytest.fixture
def signals():
    """SIGUSR1 to this process (the grader) is recorded, not fatal: a submission must never deliver one."""
    received = []
    previous = signal.signal(signal.SIGUSR1, lambda number, frame: received.append(number))
    yield received
    signal.signal(signal.SIGUSR1, previous)


def fill(source: str, folder: Path, store: Path) -> str:
    for name, value in (("store", str(store)), ("home", str(store.parent)), ("folder", str(folder)),
                        ("solution", SOLUTION), ("grader", str(os.getpid()))):
        source = source.replace("{%s!r}" % name, repr(value)).replace("{%s}" % name, value)
    return source


def check_untouched(folder: Path, store: Path, store_before: bytes) -> None:
    time.sleep(0.05)
    assert leftovers() == []
    assert sorted(p.name for p in folder.iterdir()) == ["precious.txt", "submission.py"]
    assert (folder / "precious.txt").read_text() == "my notes\n"
    assert store.read_bytes() == store_before


@needs_kernel
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_submission_is_held_by_the_kernel_and_the_guard(learner, signals, monkeypatch, mode, name):
    folder, store = learner
    monkeypatch.chdir(folder)  # the grader runs where the learner works: its cwd is a target too
    source, in_bwrap, in_process = HOSTILE[name]
    expected = in_bwrap if mode == "bwrap" else in_process
    path = folder / "submission.py"
    path.write_text(fill(source, folder, store))
    store_before = store.read_bytes()
    started = time.monotonic()
    report = grade_file(path, exercise_ids=["mha_forward"], timeout=TIMEOUT, memory_mb=700, sandbox=mode)
    elapsed = time.monotonic() - started
    assert report.verdict == expected, (report.verdict, report.detail and report.detail.text("en"))
    assert report.sandbox["engine"] == mode and report.sandbox["landlock"] == KERNEL["landlock"]
    assert elapsed < TIMEOUT + 2
    assert signals == []
    check_untouched(folder, store, store_before)
    console = Console(file=io.StringIO(), force_terminal=False, width=200, color_system=None)
    for lang in ("en", "zh"):
        render(report, console, lang)
    json.loads(report.to_json())


@needs_kernel
def test_a_native_refusal_is_the_kernels_own_error(learner):
    """Going around the guard, the native unlink meets Landlock: EACCES in the plain process."""
    folder, store = learner
    path = folder / "submission.py"
    path.write_text(fill(HOSTILE["removes the store natively"][0], folder, store))
    report = grade_file(path, exercise_ids=["mha_forward"], timeout=TIMEOUT, memory_mb=700, sandbox="process")
    assert report.verdict == Verdict.IMPORT_ERROR
    assert report.error["type"] == "PermissionError" and report.error["message"].startswith("[Errno 13]")


FAKE = "\\nPASSED mha_forward (seed 0)\\n{\"passed\": true, \"verdict\": \"passed\"}\\n"
STDOUT_ATTACKS = {
    "through the guard": "import os\nfd = os.open('/proc/%d/fd/1' % " + GRANDPARENT + ", os.O_WRONLY)\n"
                         "os.write(fd, b'" + FAKE + "')\n",
    "natively": NATIVE + "stat = ctypes.create_string_buffer(4096)\n"
                "fd = native('open', b'/proc/%d/stat' % os.getppid(), 0)\n"
                "grader = int(stat.raw[:native('read', fd, stat, 4096)].rsplit(b')', 1)[1].split()[1])\n"
                "out = native('open', b'/proc/%d/fd/1' % grader, 1)\n"
                "data = b'" + FAKE + "'\nnative('write', out, data, len(data))\n",
}


@needs_kernel
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("attack, expected", [("through the guard", "forbidden_operation"), ("natively", "import_error")])
def test_writing_onto_the_graders_stdout_is_refused_and_the_cli_prints_one_json_document(tmp_path, mode, attack, expected):
    folder = tmp_path / "learner"
    folder.mkdir()
    path = folder / "submission.py"
    path.write_text(STDOUT_ATTACKS[attack] + CORRECT)
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "mhaquiz", "grade", str(path), "--json", "--sandbox", mode,
                             "--exercise", "mha_forward", "--timeout", str(TIMEOUT)],
                            capture_output=True, text=True, timeout=60, cwd=folder,
                            env={**os.environ, "MHAQUIZ_HOME": str(tmp_path / "home"), "PYTHONPATH": str(ROOT)})
    assert time.monotonic() - started < 10
    document = json.loads(result.stdout)  # one document, nothing before or after it
    assert document["verdict"] == expected and document["passed"] is False
    assert "PASSED" not in result.stdout.replace('"output"', "")
    assert result.returncode == 1
    assert leftovers() == []


@pytest.mark.parametrize("mode", MODES)
def test_a_refusal_names_the_submissions_own_lines_outermost_first(learner, mode):
    folder, _ = learner
    path = folder / "submission.py"
    path.write_text("import os\n\ndef helper():\n    os.kill(os.getppid(), 9)\n\nhelper()\n" + CORRECT)
    report = grade_file(path, exercise_ids=["mha_forward"], timeout=TIMEOUT, memory_mb=700, sandbox=mode)
    where = (f'  File "{path.resolve()}", line 6, in <module>\n    helper()\n'
             f'  File "{path.resolve()}", line 4, in helper\n    os.kill(os.getppid(), 9)\n')
    assert report.verdict == Verdict.FORBIDDEN_OPERATION
    assert report.blocked == [{"event": "os.kill", "where": where}]
