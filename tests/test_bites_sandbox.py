"""The sandbox's bounds and clean-up, end to end and at their limits.

Shown output (the first 8 KiB), the output limit (1 MiB printed is allowed, one byte more is a verdict), the
result channel's budget, the memory and CPU limits a runner really has (read from its own /proc/self/limits),
`--sandbox bwrap` refused without bubblewrap, and the warden-side clean-up of processes that escaped the
process group or were orphaned by a double fork (a runner can no longer fork: seccomp refuses it, so the
clean-up is driven here with real processes of the test's own).
"""

import os
import re
import signal
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from helpers import grade_source, reference_source
from mhaquiz.cli import app
from mhaquiz.grader import sandbox as sandbox_module
from mhaquiz.grader.verdict import Verdict

KIB, MIB = 1024, 1024 * 1024
MODES = ["process", "bwrap"]


def printing(count: int) -> str:
    """The softmax reference, printing exactly `count` bytes at its first import (the runners that time it
    import it again: a file in its own folder says it already printed)."""
    return reference_source("softmax") + (
        "\nimport os, sys\nif not os.path.exists('printed'):\n    open('printed', 'w').close()\n"
        f"    sys.stdout.write('x' * {count})\n    sys.stdout.flush()\n")


# --- shown output and the output limit ---------------------------------------------------------------------------

@pytest.mark.parametrize("mode", MODES)
def test_the_first_8_kib_of_output_are_shown_and_every_byte_is_counted(tmp_path, mode):
    report = grade_source(tmp_path, "softmax", printing(20_000), sandbox=mode)
    assert report.verdict == Verdict.PASSED
    assert report.output_bytes == 20_000
    assert report.output == "x" * (8 * KIB)


@pytest.mark.parametrize("mode", MODES)
def test_printing_exactly_1_mib_is_allowed_and_one_byte_more_is_the_output_limit(tmp_path, mode):
    at_limit = grade_source(tmp_path, "softmax", printing(MIB), sandbox=mode, timeout=10)
    assert at_limit.verdict == Verdict.PASSED and at_limit.output_bytes == MIB
    over = grade_source(tmp_path, "softmax", printing(MIB + 1), name="over.py", sandbox=mode, timeout=10)
    assert over.verdict == Verdict.OUTPUT_LIMIT
    assert len(over.output) == 8 * KIB


# --- the result channel's budget -------------------------------------------------------------------------------------

def test_the_result_budget_holds_exactly_what_it_allows(tmp_path, monkeypatch):
    """The run's result bytes counted as they arrive; a budget of exactly that passes, one byte less is a
    corrupted channel (the budget is the grader's, whatever the worker sends)."""
    seen = []

    class Counting(sandbox_module.Decoder):
        def feed(self, chunk):
            seen.append(len(chunk))
            return super().feed(chunk)

    monkeypatch.setattr(sandbox_module, "Decoder", Counting)
    source = reference_source("attention")
    assert grade_source(tmp_path, "attention", source, sandbox="process").verdict == Verdict.PASSED
    total = sum(seen)
    assert total > 10 * KIB
    monkeypatch.setattr(sandbox_module, "RESULT_BUDGET", total)
    assert grade_source(tmp_path, "attention", source, name="exact.py", sandbox="process").verdict == Verdict.PASSED
    monkeypatch.setattr(sandbox_module, "RESULT_BUDGET", total - 1)
    short = grade_source(tmp_path, "attention", source, name="short.py", sandbox="process")
    assert short.verdict == Verdict.CHANNEL_CORRUPTED


# --- the limits a runner really has --------------------------------------------------------------------------------

LIMITS = reference_source("softmax") + "\nprint(open('/proc/self/limits').read())\n"


def limit_row(text: str, name: str):
    row = next(line for line in text.splitlines() if line.startswith(name))
    soft, hard = re.split(r"\s{2,}", row.strip())[1:3]
    return soft, hard


@pytest.mark.parametrize("mode", MODES)
def test_the_memory_and_cpu_limits_are_what_was_asked(tmp_path, mode):
    report = grade_source(tmp_path, "softmax", LIMITS, sandbox=mode, memory_mb=1536, timeout=3)
    assert report.verdict == Verdict.PASSED, report.output
    soft, hard = limit_row(report.output, "Max address space")
    assert int(soft) == int(hard) == 1536 * MIB
    soft, hard = limit_row(report.output, "Max cpu time")
    assert 3 <= int(soft) <= 5 and int(soft) <= int(hard) <= 6  # the timeout, rounded up (start-up included)
    soft, _ = limit_row(report.output, "Max core file size")
    assert soft == "0"
    soft, _ = limit_row(report.output, "Max file size")
    assert 0 < int(soft) <= 64 * MIB


def test_a_larger_memory_ask_is_a_larger_limit(tmp_path):
    report = grade_source(tmp_path, "softmax", LIMITS, sandbox="process", memory_mb=3000)
    assert int(limit_row(report.output, "Max address space")[0]) == 3000 * MIB


# --- --sandbox bwrap without bubblewrap ------------------------------------------------------------------------------

def test_sandbox_bwrap_without_bubblewrap_refuses_with_exit_2(tmp_path, monkeypatch):
    path = tmp_path / "softmax.py"
    path.write_text(reference_source("softmax"), encoding="utf-8")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    result = CliRunner().invoke(app, ["grade", str(path), "--sandbox", "bwrap", "--lang", "en"])
    assert result.exit_code == 2
    assert "bubblewrap" in result.output.lower() or "bwrap" in result.output
    assert "Traceback" not in result.output
    auto = CliRunner().invoke(app, ["grade", str(path), "--lang", "en", "--json"])
    assert auto.exit_code == 0  # auto falls back to the plain process and grades


# --- clean-up of escaped and orphaned descendants ---------------------------------------------------------------------

ESCAPER = """
import os, sys, time
if os.fork() == 0:
    os.setsid()                      # out of the worker's process group
    time.sleep(60)
    os._exit(0)
middle = os.fork()
if middle == 0:
    if os.fork() == 0:               # double fork: the grandchild is orphaned
        time.sleep(60)
        os._exit(0)
    os._exit(0)
os.waitpid(middle, 0)
print("ready", flush=True)
time.sleep(60)
"""


def alive(pid: int) -> bool:
    stat = sandbox_module._proc_stat(pid)
    if stat is None:
        return False
    try:
        state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def descendants_of(pid: int, me: int) -> set:
    """Every process whose parent chain reaches `pid`, or that is our child started after it."""
    found, start = set(), sandbox_module._proc_stat(pid)[1]
    for _ in range(100):  # until the middle process of the double fork is gone and its child is ours
        found, orphans = set(), 0
        for name in os.listdir("/proc"):
            if not name.isdigit() or int(name) in (pid, me) or not alive(int(name)):
                continue
            stat = sandbox_module._proc_stat(int(name))
            if stat and (stat[0] == pid or (stat[0] == me and stat[1] >= start)):
                found.add(int(name))
                orphans += stat[0] == me
        if len(found) == 2 and orphans == 1:
            break
        time.sleep(0.05)
    return found


def test_escaped_and_double_forked_descendants_are_found_killed_and_counted():
    sandbox_module._become_subreaper()  # as the grader does: orphans come back to us, not to init
    worker = subprocess.Popen([sys.executable, "-c", ESCAPER], stdout=subprocess.PIPE, start_new_session=True)
    try:
        assert worker.stdout.readline().strip() == b"ready"
        start = sandbox_module._proc_stat(worker.pid)[1]
        left = descendants_of(worker.pid, os.getpid())
        assert len(left) == 2  # the setsid child (parent: the worker) and the orphan (parent: us)
        assert sandbox_module._kill_descendants(worker.pid, start) == 2
        assert not any(alive(pid) for pid in left)
        assert worker.poll() is None  # the worker itself is the caller's to stop
    finally:
        worker.kill()
        worker.wait()


def test_a_process_of_ours_started_before_the_worker_is_not_its_descendant():
    older = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        time.sleep(0.05)
        worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        try:
            assert sandbox_module._kill_descendants(worker.pid, sandbox_module._proc_stat(worker.pid)[1]) == 0
            assert older.poll() is None
        finally:
            worker.kill()
            worker.wait()
    finally:
        older.kill()
        older.wait()


GROUP_LINGERER = """
import os, sys, time
if os.fork() == 0:                   # stays in the worker's group after the worker is gone
    os.close(1)
    time.sleep(60)
    os._exit(0)
print("ready", flush=True)
"""


def group(pid: int):
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


def fake_sandbox(worker, engine: str):
    """Just what Sandbox._stop reads: the worker, the engine's name, its start time and pipes to close."""
    read, write = os.pipe()
    os.close(write)
    return SimpleNamespace(process=worker, engine=SimpleNamespace(name=engine), result_pipe=os.fdopen(read, "rb"),
                           control_pipe=open(os.devnull, "rb"), worker_start=sandbox_module._proc_stat(worker.pid)[1],
                           _close_job=lambda: None)


@pytest.mark.parametrize("engine", ["process", "bwrap"])
def test_a_worker_gone_with_its_group_still_alive_left_processes(engine):
    sandbox_module._become_subreaper()
    worker = subprocess.Popen([sys.executable, "-c", GROUP_LINGERER], stdout=subprocess.PIPE, start_new_session=True)
    fake = fake_sandbox(worker, engine)
    assert worker.stdout.readline().strip() == b"ready"
    worker.wait(timeout=10)
    try:
        members = [int(n) for n in os.listdir("/proc") if n.isdigit() and alive(int(n)) and group(int(n)) == worker.pid]
        assert len(members) == 1
        assert sandbox_module.Sandbox._stop(fake) == 1
        time.sleep(0.05)
        assert not alive(members[0])
    finally:
        try:
            os.killpg(worker.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_a_worker_still_running_when_stopped_is_not_counted_as_leaving_processes():
    """Killed by the grader (the deadline, a budget): what it had running dies with it and is not its verdict."""
    sandbox_module._become_subreaper()
    worker = subprocess.Popen([sys.executable, "-c", GROUP_LINGERER.replace('print("ready", flush=True)',
                                                                            'print("ready", flush=True)\ntime.sleep(60)')],
                              stdout=subprocess.PIPE, start_new_session=True)
    fake = fake_sandbox(worker, "process")
    assert worker.stdout.readline().strip() == b"ready"
    assert sandbox_module.Sandbox._stop(fake) == 0
    assert worker.poll() is not None


# --- the audit-hook guard alone (the layer left where the kernel offers nothing) ------------------------------------------

GUARD_ONLY = """
import ctypes, json, os, sys
sys.path.insert(0, sys.argv[2])
from mhaquiz.grader import guard
w = sys.argv[1]
read_fd, write_fd = os.pipe()
os.set_blocking(read_fd, False)
guard.install(write_fd, w + "/sub.py", [w], [], [])
results = {}
def attempt(name, action):
    try:
        action()
        results[name] = "allowed"
    except PermissionError:
        results[name] = "refused"
    except Exception as error:
        results[name] = type(error).__name__
attempt("own folder", lambda: open(w + "/ok.txt", "w").close())
attempt("sibling with a longer name", lambda: open(w + "x/f.txt", "w").close())
attempt("libc through ctypes", lambda: ctypes.CDLL("libc.so.6"))
attempt("the grader's /proc", lambda: open(f"/proc/{os.getppid()}/cmdline").read())
attempt("its own /proc", lambda: open(f"/proc/{os.getpid()}/cmdline").read())
print(json.dumps(results))
"""


def test_the_guard_alone_holds_its_folder_to_the_folder_itself_libc_and_other_processes(tmp_path):
    import json

    from mhaquiz.grader.engine import PACKAGE_ROOT

    work = tmp_path / "work"
    work.mkdir()
    (tmp_path / "workx").mkdir()  # a sibling whose name starts with the folder's
    out = subprocess.run([sys.executable, "-I", "-c", GUARD_ONLY, str(work), str(PACKAGE_ROOT)],
                         capture_output=True, text=True, timeout=60)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {
        "own folder": "allowed", "sibling with a longer name": "refused", "libc through ctypes": "refused",
        "the grader's /proc": "refused", "its own /proc": "allowed"}
    assert not (tmp_path / "workx" / "f.txt").exists()


SESSION_ESCAPER = """
import os, time
if os.fork() == 0:                   # a new session: out of the worker's process group, which killpg reaches
    os.setsid()
    os.close(1)
    time.sleep(60)
    os._exit(0)
print("ready", flush=True)
"""


def test_a_descendant_that_left_the_process_group_is_still_found_killed_and_counted_by_the_fallback():
    sandbox_module._become_subreaper()
    worker = subprocess.Popen([sys.executable, "-c", SESSION_ESCAPER], stdout=subprocess.PIPE, start_new_session=True)
    fake = fake_sandbox(worker, "process")
    assert worker.stdout.readline().strip() == b"ready"
    escaped = []
    for _ in range(100):  # the child, once it has left the worker's group
        escaped = [pid for pid in map(int, filter(str.isdigit, os.listdir("/proc")))
                   if pid != worker.pid and alive(pid) and group(pid) not in (None, worker.pid)
                   and (stat := sandbox_module._proc_stat(pid)) and stat[0] in (worker.pid, os.getpid())
                   and stat[1] >= fake.worker_start]
        if escaped:
            break
        time.sleep(0.02)
    worker.wait(timeout=10)
    try:
        assert sandbox_module.Sandbox._stop(fake) == 1
        time.sleep(0.05)
        assert escaped and not any(alive(pid) for pid in escaped)
    finally:
        for pid in escaped:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
