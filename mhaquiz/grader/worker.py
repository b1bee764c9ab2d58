"""The sandboxed side of grading: runs in its own process, imports the submission, calls it on every case.

Started by sandbox.py as `python -m mhaquiz.grader.worker CONFIG_JSON` with stdin closed, stdout and stderr
captured, and a private pipe (config["result_fd"]) for results. It sends frames (see `Channel`): the arrays
the submission returned and its inputs as they were after the call. It judges nothing: every comparison
happens in the grader's own process.
"""

from __future__ import annotations

import copy
import json
import os
import struct
import sys
import time
import traceback
from pathlib import Path

# Frame types on the result channel.
CASE_START = b"S"  # json {"exercise", "case"}
CASE_RESULT = b"R"  # npz: out/<name>, in/<name>, meta (json bytes)
MISSING = b"M"  # json {"exercise", "missing": [...]}
FATAL = b"E"  # json {"kind": "syntax" | "import", "error": {...}}
FORKED = b"F"  # json {"pid"}: the submission forked this process
PERF = b"P"  # json {"exercise", "submission", "reference", "rounds", "shapes"}: seconds per call, larger size
DONE = b"D"  # json {}
HEADER = struct.Struct(">cI")
MAX_ELEMENTS = 10_000_000  # per returned array: a bigger one is refused rather than shipped
PERF_ROUNDS = 5
PERF_BUDGET = 0.05  # seconds: fewer rounds when a call is slow


class Channel:
    """Length-prefixed frames on the result pipe."""

    def __init__(self, fd: int):
        self.fd = fd
        self.pid = os.getpid()

    def send(self, kind: bytes, payload: bytes) -> None:
        if os.getpid() != self.pid:  # a forked copy of the worker must not speak for it
            return
        data = HEADER.pack(kind, len(payload)) + payload
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view):]

    def send_json(self, kind: bytes, obj: dict) -> None:
        self.send(kind, json.dumps(obj).encode())

    def report_fork(self) -> None:
        """Runs in a forked child: one small (atomic) frame telling the grader it happened, and who to kill."""
        payload = json.dumps({"pid": os.getpid()}).encode()
        try:
            os.write(self.fd, HEADER.pack(FORKED, len(payload)) + payload)
        except OSError:
            pass


def set_limits(memory_mb: int, cpu_seconds: float) -> None:
    """Address-space, CPU-time and core-dump limits for this process and its children."""
    import resource

    memory = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    cpu = int(cpu_seconds) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def describe_error(error: BaseException, submission: Path) -> dict:
    """The exception as the learner needs it: type, message and only the submission's own frames."""
    frames = [frame for frame in traceback.extract_tb(error.__traceback__) if _is_submissions(frame.filename, submission)]
    where = "".join(traceback.format_list(frames))
    described = {"type": type(error).__name__, "message": str(error)[:2000], "traceback": where[-4000:]}
    if isinstance(error, SyntaxError):
        described.update(line=error.lineno, offset=error.offset, text=(error.text or "").rstrip()[:200])
    return described


def _is_submissions(filename: str, submission: Path) -> bool:
    """A frame of the submission's own code: its file or a sibling module, but not our checks.py drivers."""
    path = Path(filename).resolve()
    return path == submission or (path.parent == submission.parent and path.name != "checks.py")


def load_submission(path: Path):
    """Execute the submission as module `submission` (its own directory importable)."""
    import importlib.util

    sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location("submission", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["submission"] = module
    spec.loader.exec_module(module)
    return module


def pack_result(case_name: str, exercise_id: str, outputs, args, error, elapsed: float) -> bytes:
    """One case's frame: the returned arrays, the inputs after the call, and a json meta entry."""
    import io

    import numpy as np

    from mhaquiz.grader.spec import flatten_arrays

    arrays, bad = {}, {}
    for name, value in (outputs or {}).items():
        try:
            array = np.asarray(value)
        except Exception:  # an object numpy cannot even look at
            array = None
        if array is None or array.dtype.kind not in "biuf":
            bad[name] = type(value).__name__ if array is None or array.dtype == object else f"array of {array.dtype}"
        elif array.size > MAX_ELEMENTS:
            bad[name] = f"array of {array.size} elements"
        else:
            arrays[f"out/{name}"] = array
    for name, value in flatten_arrays(args, "").items():
        if isinstance(value, np.ndarray):
            arrays[f"in/{name.lstrip('.')}"] = value
    meta = {"exercise": exercise_id, "case": case_name, "error": error, "elapsed": elapsed,
            "returned": sorted(outputs) if outputs is not None else None, "bad_outputs": bad}
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def time_against_reference(case, namespace, reference) -> dict:
    """Fastest of a few interleaved calls of the submission and the reference on one larger case.

    The minimum, not the mean: on a shared machine noise only ever adds time.
    """
    timings = {"submission": [], "reference": []}
    budget_end = time.perf_counter() + PERF_BUDGET
    for round_ in range(PERF_ROUNDS + 1):  # round 0 warms up
        for name, module in (("submission", namespace), ("reference", reference)):
            args = copy.deepcopy(case.args)
            started = time.perf_counter()
            try:
                case.run(module, args)
            except Exception:
                return {}
            if round_:
                timings[name].append(time.perf_counter() - started)
        if time.perf_counter() > budget_end:
            break
    if not timings["submission"]:
        return {}
    return {"submission": min(timings["submission"]), "reference": min(timings["reference"]),
            "rounds": len(timings["submission"]), "shapes": case.shapes}


def run(config: dict, channel: Channel) -> None:
    import numpy as np  # noqa: F401  (imported before the limits: numpy's own start-up is not the submission's)

    from mhaquiz.grader.exercises import import_file
    from mhaquiz.grader.spec import named_outputs

    submission = Path(config["file"]).resolve()
    plans = []  # (exercise, its checks module, its cases)
    for exercise in config["exercises"]:
        checks = import_file(Path(exercise["checks"]), f"mhaquiz_checks_{exercise['id']}")
        plans.append((exercise, checks, checks.make_cases(config["seed"])))

    set_limits(config["memory_mb"], config["timeout"])
    os.register_at_fork(after_in_child=channel.report_fork)
    os.chdir(submission.parent)
    try:
        namespace = load_submission(submission)
    except BaseException as error:  # SystemExit and KeyboardInterrupt at import are the submission's too
        kind = "syntax" if isinstance(error, SyntaxError) else "import"
        channel.send_json(FATAL, {"kind": kind, "error": describe_error(error, submission)})
        return

    for exercise, checks, cases in plans:
        missing = [name for name in exercise["functions"] if not callable(getattr(namespace, name, None))]
        if missing:
            channel.send_json(MISSING, {"exercise": exercise["id"], "missing": missing})
            continue
        failed = False
        for case in cases:
            channel.send_json(CASE_START, {"exercise": exercise["id"], "case": case.name})
            args = copy.deepcopy(case.args)  # keeps aliasing: in self-attention q, k and v stay one array
            outputs, error = None, None
            started = time.perf_counter()
            try:
                outputs = named_outputs(case.run(namespace, args), case.output_names)
            except BaseException as exc:
                error = describe_error(exc, submission)
                del exc  # its traceback holds the submission's frames, and their memory
            elapsed = time.perf_counter() - started
            channel.send(CASE_RESULT, pack_result(case.name, exercise["id"], outputs, args, error, elapsed))
            if error and error["type"] == "MemoryError":  # the verdict is in; more cases would only thrash
                channel.send_json(DONE, {})
                return
            failed = failed or error is not None
        if not failed and hasattr(checks, "perf_case"):
            reference = import_file(Path(exercise["solution"]), f"mhaquiz_solution_{exercise['id']}")
            timings = time_against_reference(checks.perf_case(config["seed"]), namespace, reference)
            channel.send_json(PERF, {"exercise": exercise["id"], **timings})
    channel.send_json(DONE, {})


def main() -> None:
    config = json.loads(sys.argv[1])
    channel = Channel(config["result_fd"])
    os.set_inheritable(channel.fd, False)  # the submission's own subprocesses do not get the channel
    run(config, channel)
    sys.stdout.flush()
    os._exit(0)  # skip interpreter teardown: atexit handlers the submission registered do not run


if __name__ == "__main__":
    main()
