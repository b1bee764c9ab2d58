"""Run the worker in its sandbox (engine.py), pump what it sends under budgets, stop it at the deadline,
and leave no process behind. Returns raw facts (`RunFacts`); grade.py turns them into verdicts.

Kept free of numpy, so the worker starts before the grader's own heavy imports (the two overlap).

- The job (which exercises, the checks' sources, the seed, the limits; never a reference) goes to the worker
  on its stdin as one JSON line, never through files the submission could read. Once the warden says the
  cases runner is done (control pipe), `collect`'s `plan_measurements` decides what to measure and its
  answer goes down stdin as a second line.
- Output (stdout and stderr, merged): the first OUTPUT_KEPT bytes are kept; more than OUTPUT_LIMIT is a
  verdict of its own and stops the run.
- Results: a private pipe read by channel.Decoder as the bytes arrive, against the contract; more than
  RESULT_BUDGET bytes, or anything malformed, stops the run as a corrupted channel. Nothing is buffered past
  these budgets.
- Control: the warden's own pipe (channel.ControlDecoder): each runner's exit status, CPU time and peak
  memory, as the kernel reported them to the warden.
- Processes: the worker starts in its own session. At the end its process group is killed; under bwrap the
  PID namespace dies with it; in the fallback the grader is the children's subreaper, so every descendant
  that escaped the group (setsid, double fork) is found in /proc, killed and reaped.
- Warm (`keep=True`, `WarmPool`): after a grade that ended cleanly (every pipe read, no limit hit, nothing
  refused, the runner exited 0) the warden is kept for the next grade, which gets a fresh folder (job-<n>)
  and a fresh runner; anything else stops it and the next grade starts a new one. `watch` keeps one.
"""

from __future__ import annotations

import json
import os
import selectors
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional

from mhaquiz.errors import MhaquizError
from mhaquiz.grader import engine as engines
from mhaquiz.grader.channel import ChannelError, Contract, ControlDecoder, Decoder, Messages

OUTPUT_KEPT = 8 * 1024  # bytes of the submission's output shown to the learner
OUTPUT_LIMIT = 1024 * 1024  # printing more than this is a verdict of its own
RESULT_BUDGET = 64 * 1024 * 1024  # bytes the result channel may carry in a whole run
SIBLING_LIMIT = 64  # .py files next to the submission copied along (it may import them), at most
SIBLING_BYTES = 1024 * 1024
STARTUP_LIMIT = 60.0  # seconds the warden may take to start (Python, numpy, torch) before the timeout counts
KILL_WAIT = 2.0  # seconds to wait for a killed process to be gone
EXIT_WAIT = 0.5  # seconds to let a worker whose pipes have closed finish exiting before it counts as killed
DISK_BUDGET = engines.TMPFS_BYTES  # bytes the fallback's working folder may hold (the strong sandbox's tmpfs size)
DISK_ENTRIES = 4096  # files and folders it may hold
DISK_EVERY = 0.05  # seconds between two looks at it
_PR_SET_CHILD_SUBREAPER = 36


@dataclass
class RunFacts:
    """What happened in the sandbox, as measured by the grader."""

    messages: Messages = field(default_factory=Messages)
    control: ControlDecoder = field(default_factory=ControlDecoder)
    output: bytes = b""
    output_bytes: int = 0
    result_bytes: int = 0
    timed_out: bool = False
    output_limited: bool = False
    corrupt: Optional[str] = None  # why the channel is not to be trusted
    exit: engines.Exit = field(default_factory=engines.Exit)
    killed_by_grader: bool = False
    left_processes: int = 0  # descendants still running when the worker was done (fallback only)
    elapsed: float = 0.0
    sandbox: dict = field(default_factory=dict)  # {"engine", "version"} or {"engine", "reason"}
    workdir: str = ""  # the submission's folder as the worker saw it (tracebacks name it)


class Sandbox:
    """A started worker; `collect()` waits for it (up to `timeout` seconds) and leaves nothing running, or,
    with `keep=True`, leaves its warden ready for `next()` when the grade ended cleanly."""

    def __init__(self, submission: Path, job: dict, timeout: float, mode: str = "auto", keep: bool = False,
                 track: str = "numpy"):
        self.submission = Path(submission)
        self.job = job
        self.timeout = timeout
        self.mode = mode
        self.keep, self.track, self.alive, self.jobs = keep, track, False, 0
        self.engine, self.reason = engines.choose(mode)
        if mode == "bwrap" and self.engine.name != "bwrap":
            raise MhaquizError("error.no_bwrap", reason=self.reason)
        self.hostdir = Path(tempfile.mkdtemp(prefix="mhaquiz-run-"))
        self._start()

    def next(self, submission: Path, job: dict, timeout: float) -> "Sandbox":
        """The next grade in this warm warden: a fresh folder and runner; `collect()` as for the first."""
        self.submission, self.job, self.timeout = Path(submission), job, timeout
        self.started = time.monotonic()
        self._send_job()
        return self

    def close(self) -> None:
        """Stop the warden (if still running) and remove its folders."""
        if self.alive:
            self.alive = False
            self._stop()
        self._cleanup()

    def _send_job(self) -> None:
        """Copy the submission into a fresh job folder and send the job line (the first also sets up)."""
        if self.jobs:
            shutil.rmtree(self.hostdir / f"job-{self.jobs}", ignore_errors=True)
        self.jobs += 1
        folder = self.hostdir / f"job-{self.jobs}"
        folder.mkdir()
        _copy_submission(self.submission, folder)
        if self.engine.name == "bwrap":  # the warden copies it from the read-only inbox into its tmpfs
            workdir, inbox = f"{engines.SANDBOX_WORKDIR}/job-{self.jobs}", f"{engines.SANDBOX_INBOX}/job-{self.jobs}"
        else:
            workdir, inbox = str(folder), None
        self.workdir = workdir
        job = dict(self.job, workdir=workdir, inbox=inbox, submission=f"{workdir}/{self.submission.name}",
                   keep=self.keep)
        self._send(json.dumps(job).encode() + b"\n")

    # --- starting ------------------------------------------------------------------------------

    def _start(self) -> None:
        result_read, result_write = os.pipe()
        control_read, control_write = os.pipe()
        job_read, job_write = os.pipe()
        status_read = status_write = None
        pass_fds = [result_write, control_write]
        if self.engine.name == "bwrap":
            status_read, status_write = os.pipe()
            pass_fds.append(status_write)
        else:
            _become_subreaper()
        launch = self.engine.launch(self.hostdir, status_write)
        setup = {"result_fd": result_write, "control_fd": control_write, "engine": self.engine.name,
                 "track": self.track, "write_roots": [engines.SANDBOX_TMP] if self.engine.name == "bwrap" else [],
                 "read_only": engines.python_paths()}
        self.started = time.monotonic()
        try:
            self.process = subprocess.Popen(
                launch.argv, stdin=job_read, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, pass_fds=pass_fds,
                start_new_session=True, cwd=launch.cwd, env=launch.env)
        finally:
            for fd in (result_write, control_write, job_read, status_write):
                if fd is not None:
                    os.close(fd)
        stat = _proc_stat(self.process.pid)
        self.worker_start = stat[1] if stat else 0  # clock ticks since boot: its descendants start later
        self.result_pipe = os.fdopen(result_read, "rb", buffering=0)
        self.control_pipe = os.fdopen(control_read, "rb", buffering=0)
        self.status_pipe = os.fdopen(status_read, "rb", buffering=0) if status_read is not None else None
        self.status_text = b""
        self.job_fd, self.writer = job_write, None
        self.alive = True
        self._send(json.dumps(setup).encode() + b"\n")
        self._send_job()

    # --- collecting ----------------------------------------------------------------------------

    def collect(self, contract: Optional[Contract] = None, plan_measurements=None, while_measuring=None) -> RunFacts:
        """Read until the worker is done, the deadline passes or a budget is spent; then kill and reap.

        `plan_measurements(messages)`, called once the cases runner is done, returns what to measure:
        [{"exercise", "memory": bool, "perf": bool}] (nothing when None); `while_measuring()` is called right
        after the warden is asked (the grader's own measurements, on the other core)."""
        self.contract, self.plan_measurements, self.while_measuring = contract, plan_measurements, while_measuring
        facts = self._collect_once()
        if self.engine.name == "bwrap" and facts.sandbox.get("setup_failed"):
            reason = facts.sandbox["setup_failed"]
            if self.mode == "bwrap":
                self._cleanup()
                raise MhaquizError("error.bwrap_failed", reason=reason)
            self.engine, self.reason = engines.ProcessEngine(), f"bubblewrap could not start the sandbox: {reason}"
            self.jobs = 0
            self._start()
            facts = self._collect_once()
        if not self.alive:
            self._cleanup()
        return facts

    def _collect_once(self) -> RunFacts:
        facts = RunFacts(sandbox=self.engine.describe() if self.reason is None else
                         {**self.engine.describe(), "reason": self.reason}, workdir=self.workdir)
        facts.sandbox.update(_kernel_layers())  # what the runner's own confinement reaches here (confine.py)
        decoder = Decoder(self.contract)
        control = facts.control
        status_text = self.status_text
        deadline = self.started + STARTUP_LIMIT + self.timeout  # until the warden is ready
        warm = False  # the warden finished this job cleanly and stays for the next
        selector = selectors.DefaultSelector()
        selector.register(self.process.stdout, selectors.EVENT_READ, "output")
        selector.register(self.result_pipe, selectors.EVENT_READ, "results")
        selector.register(self.control_pipe, selectors.EVENT_READ, "control")
        if self.status_pipe is not None:
            selector.register(self.status_pipe, selectors.EVENT_READ, "status")
        disk_due, disk_full = 0.0, False
        try:
            while selector.get_map():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    facts.timed_out = True
                    break
                # Wake now and then: a leftover process may hold the pipes open after the worker is gone.
                events = selector.select(timeout=min(remaining, 0.05))
                for key, _ in events:
                    chunk = os.read(key.fileobj.fileno(), 65536)
                    if not chunk:
                        selector.unregister(key.fileobj)
                    elif key.data == "output":
                        _take_output(facts, chunk)
                    elif key.data == "status":
                        status_text = (status_text + chunk)[-65536:]
                    elif key.data == "control":
                        try:
                            kinds = control.feed(chunk)
                            if "ready" in kinds:  # the timeout counts from here: start-up is ours
                                ready = min(max(control.ready, self.started), time.monotonic())
                                deadline = ready + self.timeout
                            if "cases" in kinds:
                                self._request(decoder.messages, facts.corrupt is None)
                        except ChannelError as error:
                            facts.corrupt = facts.corrupt or f"control: {error}"
                    elif facts.corrupt is None:
                        _take_results(facts, decoder, chunk)
                if facts.output_bytes > OUTPUT_LIMIT:
                    facts.output_limited = True
                    break
                if facts.corrupt is not None:
                    break
                if self.engine.name == "process" and time.monotonic() >= disk_due:  # bwrap's tmpfs has a size
                    disk_due = time.monotonic() + DISK_EVERY
                    disk_full = _over_disk_budget(self.hostdir, decoder.messages)
                    if disk_full:
                        break
                if self.keep and control.done:
                    warm = self._drained(facts, decoder)  # its runners are gone: read what is left
                    break
                if not events and self.process.poll() is not None:
                    break  # the worker is gone and its pipes are quiet (a leftover may still hold them)
        finally:
            selector.close()
            facts.elapsed = time.monotonic() - self.started
            warm = warm and self._clean(facts, control, decoder)
            if warm:  # the warden stays: its runner's fate is the run's exit status
                facts.exit = engines.Exit(code=(control.cases or {}).get("code", 0))
                facts.sandbox["warm"] = self.jobs > 1
                self.status_text = status_text
            elif not (facts.timed_out or facts.output_limited or facts.corrupt is not None or disk_full):
                try:  # its pipes are closed: it is exiting on its own (or a leftover holds nothing of ours)
                    self.process.wait(timeout=max(0.0, min(EXIT_WAIT, deadline - time.monotonic())))
                except subprocess.TimeoutExpired:
                    pass
            if not warm:
                self.alive = False
                facts.killed_by_grader = self.process.poll() is None
                facts.left_processes = self._stop()
                if self.engine.name == "process":  # what it wrote after the last look
                    _over_disk_budget(self.hostdir, decoder.messages)
                status = _status(status_text + self._drain(self.status_pipe))
                facts.exit = self.engine.decode(self.process.returncode, status)
                if self.engine.name == "bwrap" and "child-pid" not in status and not facts.timed_out:
                    first = facts.output.decode("utf-8", "replace").strip().splitlines()
                    facts.sandbox["setup_failed"] = (first[0] if first else f"exit status {self.process.returncode}")[:300]
        if facts.corrupt is None:
            try:
                facts.messages = decoder.finish()
            except ChannelError as error:
                facts.corrupt = str(error)
        else:
            facts.messages = decoder.messages
        return facts

    # --- stopping ------------------------------------------------------------------------------

    def _stop(self) -> int:
        """Kill the worker's process group (and, in the fallback, every escaped descendant); reap them all.
        Returns how many processes besides the worker were still running."""
        pid = self.process.pid
        others = 0
        finished = self.process.poll() is not None
        if finished and _group_alive(pid):
            others += 1
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.process.wait(timeout=KILL_WAIT)
        except subprocess.TimeoutExpired:
            pass
        if self.engine.name == "process":
            others = max(others, _kill_descendants(pid, self.worker_start))
        for pipe in (self.process.stdout, self.result_pipe, self.control_pipe):
            pipe.close()
        self._close_job()
        return others if finished else 0

    def _request(self, messages: Messages, trusted: bool) -> None:
        """Answer the warden once its cases runner is done: the measurements to make (or none); a one-shot
        warden's stdin then closes (it has nothing more to read)."""
        wanted = []
        if trusted and self.plan_measurements is not None:
            wanted = self.plan_measurements(messages)
        self._send(json.dumps({"measure": wanted}).encode() + b"\n", close=not self.keep)
        if not self.keep:
            self.job_fd = None
        if wanted and self.while_measuring is not None:
            self.while_measuring()

    def _send(self, payload: bytes, close: bool = False) -> None:
        """Write to the warden's stdin from a thread of its own (a job is larger than a pipe holds and the
        warden reads it only once Python has started), in order."""
        if self.writer is not None:
            self.writer.join()
        self.writer = threading.Thread(target=_write_all, args=(self.job_fd, payload, close), daemon=True,
                                       name="mhaquiz-job")
        self.writer.start()

    def _drained(self, facts: RunFacts, decoder: Decoder) -> bool:
        """After the warden's done line: what is left in the output and result pipes (its runners are gone,
        so all they wrote is there). False when that breaks a budget or the channel."""
        for pipe, kind in ((self.process.stdout, "output"), (self.result_pipe, "results")):
            os.set_blocking(pipe.fileno(), False)
            try:
                while True:
                    chunk = os.read(pipe.fileno(), 65536)
                    if not chunk:
                        return False  # closed: the warden is going away
                    if kind == "output":
                        _take_output(facts, chunk)
                    elif _take_results(facts, decoder, chunk) is not None:
                        return False
            except BlockingIOError:
                pass
            finally:
                os.set_blocking(pipe.fileno(), True)
        return facts.output_bytes <= OUTPUT_LIMIT

    def _clean(self, facts: RunFacts, control: ControlDecoder, decoder: Decoder) -> bool:
        """A grade after which the warden may be kept: nothing hit a limit, nothing was refused or corrupt,
        its runner exited 0, and the kernel layers that keep runners from one another are in place."""
        return (not facts.timed_out and not facts.output_limited and facts.corrupt is None
                and not decoder.messages.blocked_count and (control.cases or {}).get("code") == 0
                and "signal" not in (control.cases or {}) and facts.sandbox.get("seccomp") is not False
                and self.process.poll() is None)

    def _close_job(self) -> None:
        if self.writer is not None:
            self.writer.join(timeout=KILL_WAIT)
        if self.job_fd is not None:
            try:
                os.close(self.job_fd)
            except OSError:
                pass
            self.job_fd = None

    def _drain(self, pipe) -> bytes:
        if pipe is None:
            return b""
        chunks = []
        try:
            os.set_blocking(pipe.fileno(), False)
            while True:
                chunk = os.read(pipe.fileno(), 65536)
                if not chunk:
                    break
                chunks.append(chunk)
        except (BlockingIOError, OSError):
            pass
        pipe.close()
        self.status_pipe = None
        return b"".join(chunks)

    def _cleanup(self) -> None:
        shutil.rmtree(self.hostdir, ignore_errors=True)


def _take_output(facts: RunFacts, chunk: bytes) -> None:
    """Count what was printed; keep the first OUTPUT_KEPT bytes."""
    facts.output_bytes += len(chunk)
    if len(facts.output) < OUTPUT_KEPT:
        facts.output += chunk[: OUTPUT_KEPT - len(facts.output)]


def _take_results(facts: RunFacts, decoder: Decoder, chunk: bytes) -> Optional[str]:
    """Feed the result channel's bytes to the decoder under the run's budget; why the channel is now
    corrupt (also in `facts.corrupt`), or None."""
    facts.result_bytes += len(chunk)
    try:
        if facts.result_bytes > RESULT_BUDGET:
            raise ChannelError(f"more than {RESULT_BUDGET // (1024 * 1024)} MiB of results")
        decoder.feed(chunk)
    except ChannelError as error:
        facts.corrupt = str(error)
    return facts.corrupt


def _copy_submission(submission: Path, hostdir: Path) -> None:
    """The submission, and what beside it it may import (its .py files, and the .py files of package
    folders: those with an __init__.py), into the private folder; at most SIBLING_LIMIT files and
    SIBLING_BYTES in all, no symlinks followed."""
    shutil.copyfile(submission, hostdir / submission.name)
    folder = submission.parent
    budget = {"files": SIBLING_LIMIT, "bytes": SIBLING_BYTES}
    try:
        entries = sorted(folder.iterdir())
    except OSError:
        return
    for entry in entries:
        if entry.is_symlink() or entry.name == submission.name:
            continue
        if entry.suffix == ".py" and entry.is_file():
            _copy_bounded(entry, hostdir / entry.name, budget)
        elif entry.is_dir() and (entry / "__init__.py").is_file():
            for source in sorted(entry.rglob("*.py")):
                if not any(part.is_symlink() for part in (source, *source.parents) if folder in part.parents):
                    _copy_bounded(source, hostdir / source.relative_to(folder), budget)


def _copy_bounded(source: Path, target: Path, budget: dict) -> None:
    try:
        size = source.stat().st_size
        if budget["files"] <= 0 or size > budget["bytes"]:
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        budget["files"] -= 1
        budget["bytes"] -= size
    except OSError:
        pass


_KERNEL: dict = {}


def _kernel_layers() -> dict:
    """{"landlock": ABI or None, "seccomp": bool} on this machine, asked of the kernel once (confine.probe)."""
    if not _KERNEL:
        from mhaquiz.grader import confine

        _KERNEL.update(confine.probe())
    return dict(_KERNEL)


def _over_disk_budget(folder: Path, messages: Messages) -> bool:
    """Whether the working folder holds more than DISK_BUDGET bytes or DISK_ENTRIES entries (a bounded
    walk, no symlink followed); the first time, it is recorded as a refused operation the grader saw."""
    used, entries, pending = 0, 0, [str(folder)]
    while pending and entries <= DISK_ENTRIES and used <= DISK_BUDGET:
        try:
            with os.scandir(pending.pop()) as listing:
                for entry in listing:
                    entries += 1
                    stat = entry.stat(follow_symlinks=False)
                    used += max(stat.st_size if entry.is_file(follow_symlinks=False) else 0, stat.st_blocks * 512)
                    if entry.is_dir(follow_symlinks=False):
                        pending.append(entry.path)
        except OSError:
            continue
    if used <= DISK_BUDGET and entries <= DISK_ENTRIES:
        return False
    event = (f"disk: {used // (1024 * 1024)}+ MiB > {DISK_BUDGET // (1024 * 1024)} MiB" if used > DISK_BUDGET
             else f"disk: {entries}+ files > {DISK_ENTRIES}")
    if not any(blocked["event"].startswith("disk: ") for blocked in messages.blocked):
        messages.blocked.insert(0, {"event": event, "where": ""})
        messages.blocked_count += 1
    return True


def _write_all(fd: int, payload: bytes, close: bool = True) -> None:
    try:
        view = memoryview(payload)
        while view:
            view = view[os.write(fd, view):]
    except OSError:  # the worker is gone (or never read its job)
        pass
    finally:
        if close:
            os.close(fd)


def _status(text: bytes) -> dict:
    """bwrap's --json-status-fd lines merged into one dict ({"child-pid": n}, then {"exit-code": n})."""
    merged: dict = {}
    for line in text.decode("utf-8", "replace").splitlines():
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            merged.update(value)
    return merged


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def _become_subreaper() -> None:
    """Orphaned descendants of ours are re-parented to us rather than to init, so they can be found."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the process-group kill is all there is
        pass


def _proc_stat(pid: int):
    """(parent pid, start time in ticks) of a process, from /proc/<pid>/stat; None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rfind(")") + 2:].split()
    return int(fields[1]), int(fields[19])


def _kill_descendants(worker: int, worker_start: int) -> int:
    """SIGKILL and reap every process descending from the worker, including orphans re-parented to us
    (started no earlier than the worker); returns how many there were."""
    me = os.getpid()
    killed: set = set()
    for _ in range(20):  # a few rounds: a process may fork while we look
        try:
            pids = [int(name) for name in os.listdir("/proc") if name.isdigit()]
        except OSError:
            return 0
        parents = {pid: stat for pid in pids if (stat := _proc_stat(pid)) is not None}
        ours = {worker}
        changed = True
        while changed:
            changed = False
            for pid, (ppid, start) in parents.items():
                if pid in ours or pid == me:
                    continue
                if ppid in ours or (ppid == me and start >= worker_start and worker_start):
                    ours.add(pid)
                    changed = True
        found = ours - {worker}
        if not found:
            break
        for pid in found:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            killed.add(pid)
        time.sleep(0.01)
    for pid in killed:
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
    return len(killed)


class WarmPool:
    """One warm warden kept between grades (for `watch`): reused when the next grade asks for the same
    sandbox, track and limits and the last grade left it running; otherwise a new one is started."""

    def __init__(self):
        self.current: Optional[Sandbox] = None
        self.key = None

    def sandbox(self, submission: Path, job: dict, timeout: float, mode: str, track: str) -> Sandbox:
        key = (mode, track, job.get("memory_mb"))
        if self.current is not None and self.current.alive and self.key == key:
            return self.current.next(submission, job, timeout)
        self.close()
        self.current, self.key = Sandbox(submission, job, timeout, mode, keep=True, track=track), key
        return self.current

    def close(self) -> None:
        if self.current is not None:
            self.current.close()
        self.current = None

    def __enter__(self) -> "WarmPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
