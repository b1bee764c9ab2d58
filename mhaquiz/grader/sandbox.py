"""Run a submission in its own process group, with limits, and collect what it sends back.

Kept free of numpy so the worker can start before the grader's own heavy imports (the two overlap).
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Tuple

from mhaquiz.grader import worker

OUTPUT_KEPT = 8 * 1024  # bytes of the submission's output shown to the learner
OUTPUT_LIMIT = 1024 * 1024  # printing more than this is a verdict of its own
FRAME_LIMIT = 256 * 1024 * 1024  # a larger frame is a corrupt channel, not data
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])


@dataclass
class RunOutcome:
    """Everything the sandboxed process did, as raw facts; grade.py turns them into verdicts."""

    frames: List[Tuple[bytes, bytes]] = field(default_factory=list)
    output: bytes = b""
    output_bytes: int = 0
    returncode: Optional[int] = None
    timed_out: bool = False
    output_limited: bool = False
    corrupt_channel: bool = False
    left_processes: bool = False
    elapsed: float = 0.0

    @property
    def finished(self) -> bool:
        return any(kind == worker.DONE for kind, _ in self.frames)

    @property
    def forked_pids(self) -> List[int]:
        pids = []
        for kind, payload in self.frames:
            if kind == worker.FORKED:
                try:
                    pids.append(int(json.loads(payload)["pid"]))
                except (ValueError, KeyError, TypeError):
                    pass
        return pids

    @property
    def forked(self) -> bool:
        return any(kind == worker.FORKED for kind, _ in self.frames)


class Sandbox:
    """A started worker process; `collect()` waits for it (up to the timeout) and kills its whole group."""

    def __init__(self, file: Path, exercises: List[dict], seed: int, timeout: float, memory_mb: int):
        self.timeout = timeout
        read_fd, write_fd = os.pipe()
        config = {"file": str(Path(file).resolve()), "exercises": exercises, "seed": seed, "timeout": timeout,
                  "memory_mb": memory_mb, "result_fd": write_fd}
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", PYTHONUNBUFFERED="1",
                   PYTHONPATH=os.pathsep.join(filter(None, [_PACKAGE_ROOT, os.environ.get("PYTHONPATH")])))
        command = [sys.executable, "-m", "mhaquiz.grader.worker", json.dumps(config)]
        self.command_line = b"".join(os.fsencode(arg) + b"\0" for arg in command)
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            pass_fds=(write_fd,), start_new_session=True, cwd=str(Path(file).resolve().parent), env=env,
        )
        os.close(write_fd)
        self.result_pipe = os.fdopen(read_fd, "rb", buffering=0)

    def collect(self) -> RunOutcome:
        outcome = RunOutcome()
        results = bytearray()
        deadline = self.started + self.timeout
        selector = selectors.DefaultSelector()
        selector.register(self.process.stdout, selectors.EVENT_READ, "output")
        selector.register(self.result_pipe, selectors.EVENT_READ, "results")
        try:
            while selector.get_map():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    outcome.timed_out = True
                    break
                # Wake now and then: a forked child may hold the pipes open after the worker is gone.
                events = selector.select(timeout=min(remaining, 0.05))
                for key, _ in events:
                    chunk = os.read(key.fileobj.fileno(), 65536)
                    if not chunk:
                        selector.unregister(key.fileobj)
                    elif key.data == "output":
                        outcome.output_bytes += len(chunk)
                        if len(outcome.output) < OUTPUT_KEPT:
                            outcome.output += chunk[: OUTPUT_KEPT - len(outcome.output)]
                    else:
                        results += chunk
                        outcome.corrupt_channel |= not _take_frames(results, outcome.frames)
                if outcome.output_bytes > OUTPUT_LIMIT:
                    outcome.output_limited = True
                    break
                if not events and self.process.poll() is not None:
                    break  # the worker is gone and its pipes are quiet (a child may still hold them)
        finally:
            selector.close()
            outcome.elapsed = time.monotonic() - self.started
            outcome.left_processes = self._kill_group(outcome.forked_pids)
            outcome.returncode = self.process.wait()
            self.process.stdout.close()
            self.result_pipe.close()
        return outcome

    def _kill_group(self, forked_pids: List[int]) -> bool:
        """SIGKILL everything in the worker's process group, and every child it reported forking (one that
        left the group with setsid included); True if anything besides the worker was still there."""
        pgid = self.process.pid
        worker_alive = self.process.poll() is None
        others = False
        try:
            if not worker_alive:
                os.killpg(pgid, 0)  # raises if the group is empty
                others = True
            os.killpg(pgid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        for pid in forked_pids:
            if self._is_fork_of_worker(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
        return others

    def _is_fork_of_worker(self, pid: int) -> bool:
        """A reported pid is only trusted if it runs the worker's very command line (a fork keeps it), so a
        forged report cannot make the grader kill some other process of the user's."""
        try:
            return Path(f"/proc/{pid}/cmdline").read_bytes() == self.command_line
        except OSError:
            return False


def _take_frames(buffer: bytearray, frames: list) -> bool:
    """Move complete frames from buffer into frames; False when the stream is not ours any more."""
    while len(buffer) >= worker.HEADER.size:
        kind, length = worker.HEADER.unpack_from(buffer)
        if length > FRAME_LIMIT or kind not in b"SRMEFPD":
            return False
        end = worker.HEADER.size + length
        if len(buffer) < end:
            break
        frames.append((kind, bytes(buffer[worker.HEADER.size:end])))
        del buffer[:end]
    return True
