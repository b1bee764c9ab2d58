"""The sandboxed side of grading: a warden process that never runs learner code, and the runners it forks.

Started by sandbox.py inside its engine (engine.py). The job (the exercises, the checks' sources, the seed,
the limits; never a reference solution or anything derived from one) arrives on stdin as one JSON line.

The warden imports numpy, builds the seeded cases (every input array read-only) and forks a *runner* for the
cases: the runner sets its limits, confines itself (`_lock_down`), imports the submission, calls it on every
case and sends frames on the result pipe (channel.py): the arrays it returned, exceptions with the
submission's own frames. The runner's frames are evidence for the grader to check, never claims to believe.

The warden keeps a second pipe, the control pipe, that no runner holds: on it it reports what the kernel
says of each runner it waited for (exit status, CPU time, peak resident memory from wait4). When the grader
asks (one more JSON line on stdin), it forks one runner for the memory case (its peak is the kernel's
high-water mark minus the warden's resident size at the fork) and two for the timed calls (1 and 1 + R
calls: the CPU time of the extra R calls, as the kernel counts it, is the submission's time). A runner's
fate is the warden's: killed by a signal, the warden kills itself with the same signal; exited early, the
warden exits with the same code, so the grader reads the run's exit status as before.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from pathlib import Path
from types import ModuleType

from mhaquiz.grader import channel

PERF_ROUNDS_MAX = 200  # extra timed calls at most (fewer when one call is slow)
PERF_BUDGET = 0.02  # seconds of CPU the extra timed calls may take in all
PERF_SLOW = 2.0  # seconds: a call slower than this (CPU or wall clock) is not timed
PERF_WALL_BUDGET = 0.5  # seconds of wall clock the extra timed calls may take in all (a call may wait, not compute)
FILE_SIZE_LIMIT = 16 * 1024 * 1024  # bytes: the largest file the submission may write
ARRAY_BUDGET = 32 * 1024 * 1024  # bytes of returned arrays sent in a whole run (the grader reads at most 64 MiB);
# arrays beyond it are described ("array of N elements"), not sent: a wrong answer, not a broken channel
READ_ONLY_MESSAGES = ("read-only", "cannot set WRITEABLE flag", "does not own its data")  # NumPy's words for a
# write into an array that is not writeable: the inputs are the only such arrays a submission is given


class Channel:
    """Frames on the result pipe (encoding in channel.py)."""

    def __init__(self, fd: int):
        self.fd = fd

    def send(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view):]

    def send_json(self, kind: bytes, obj: dict) -> None:
        self.send(channel.json_frame(kind, obj))

    def send_line(self, obj: dict) -> None:
        """One JSON line (the warden's control pipe)."""
        self.send(json.dumps(obj).encode() + b"\n")


# --- describing what happened ---------------------------------------------------------------------------


def describe_frames(frames, submission: Path) -> str:
    """The stack frames of the submission's own code (its file and its folder's modules), formatted."""
    own = [frame for frame in frames if _is_submissions(frame.filename, submission)]
    return "".join(traceback.format_list(own))[-channel.MAX_TEXT:]


def describe_error(error: BaseException, submission: Path) -> dict:
    """The exception as the learner needs it: type, message and only the submission's own frames.

    Never raises: a submission's exception whose str() raises, or whose name is huge, is still described."""
    try:
        message = str(error)
    except BaseException:  # noqa: B036  (its __str__ is the submission's code)
        message = "<the exception's message could not be read>"
    described = {"type": type(error).__name__[:100], "message": message[:channel.MAX_TEXT],
                 "traceback": describe_frames(traceback.extract_tb(error.__traceback__), submission),
                 "input_modified": isinstance(error, ValueError) and any(m in message for m in READ_ONLY_MESSAGES)}
    if isinstance(error, SyntaxError):
        line, offset = error.lineno, error.offset
        described.update(line=line if isinstance(line, int) else None, offset=offset if isinstance(offset, int) else None,
                         text=(error.text if isinstance(error.text, str) else "").rstrip()[:300])
    return described


def _is_submissions(filename: str, submission: Path) -> bool:
    """A frame of the submission's own code: its file or a sibling module of its folder."""
    path = Path(filename)
    return path == submission or path.parent == submission.parent


# --- setting up -------------------------------------------------------------------------------------------


def module_from_source(name: str, path: str, source: str) -> ModuleType:
    """Execute `source` as module `name` (our checks and references arrive as text, not as files)."""
    module = ModuleType(name)
    module.__file__ = path
    sys.modules[name] = module  # dataclasses look their module up here
    exec(compile(source, path, "exec"), module.__dict__)
    return module


def freeze(value, memo: dict):
    """`value` with every ndarray replaced by a read-only copy over immutable bytes (its WRITEABLE flag
    cannot be set again); dicts, lists and tuples rebuilt; aliasing kept (q is k stays true)."""
    import numpy as np

    if id(value) in memo:
        return memo[id(value)]
    if isinstance(value, np.ndarray):
        frozen = np.frombuffer(np.ascontiguousarray(value).tobytes(), dtype=value.dtype).reshape(value.shape)
    elif isinstance(value, dict):
        frozen = {key: freeze(item, memo) for key, item in value.items()}
    elif isinstance(value, (list, tuple)):
        frozen = type(value)(freeze(item, memo) for item in value)
    else:
        frozen = value
    memo[id(value)] = frozen
    return frozen


def set_limits(memory_mb: int, cpu_seconds: float) -> None:
    """Address space, CPU time, file size and no core dumps, for this process and any child."""
    import resource

    memory = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    cpu = int(cpu_seconds) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_SIZE_LIMIT, FILE_SIZE_LIMIT))


def die_with_parent() -> None:
    """SIGKILL this process when the grader dies (bwrap's --die-with-parent does the same for its child)."""
    try:
        import ctypes
        import signal

        ctypes.CDLL(None).prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def load_submission(path: Path) -> ModuleType:
    """Execute the submission as module `submission` (its folder importable)."""
    import importlib.util

    sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location("submission", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["submission"] = module
    spec.loader.exec_module(module)
    return module


# --- running ---------------------------------------------------------------------------------------------


def fresh(value, memo: dict):
    """`value` with its dicts, lists and tuples rebuilt and its (read-only) arrays kept: each call gets its
    own containers, so what one call does to them cannot reach the next."""
    if id(value) in memo:
        return memo[id(value)]
    if isinstance(value, dict):
        rebuilt = {key: fresh(item, memo) for key, item in value.items()}
    elif isinstance(value, (list, tuple)):
        rebuilt = type(value)(fresh(item, memo) for item in value)
    else:
        rebuilt = value
    memo[id(value)] = rebuilt
    return rebuilt


def identities(value, prefix: str = "") -> dict:
    """{'params.W_q': id(array), ...}: what each container entry holds, to see whether a call replaced one."""
    if isinstance(value, dict):
        found = {}
        for key, item in value.items():
            found.update(identities(item, f"{prefix}.{key}" if prefix else str(key)))
        return found
    return {prefix: id(value)}


_sent = [0]  # bytes of arrays sent so far by this runner


def pack_result(case_name: str, exercise_id: str, outputs, error, replaced=()) -> bytes:
    """One case's frame: the returned arrays (those of a numeric dtype; others are described by type).

    Only outputs with a plain name (channel.NAME) are sent; the grader asks for its contract's names only."""
    import numpy as np

    arrays, bad = [], {}
    names = [str(key) for key in list((outputs or {}))[:64]]
    for name, value in list((outputs or {}).items())[:64]:
        name = str(name)
        if not channel.plain_name(name):
            continue
        try:
            array = np.asarray(value)
            if type(array) is not np.ndarray:  # a subclass's own methods are the submission's code
                array = np.array(array, copy=True, subok=False)
            kind = array.dtype.kind
        except BaseException:  # noqa: B036  (an object whose __array__ is the submission's code)
            bad[name] = "type:" + type(value).__name__[:100]
            continue
        if kind not in "biuf" or array.dtype.str not in channel.DTYPES:
            bad[name] = "type:" + (type(value).__name__[:100] if array.dtype == object else f"array of {array.dtype}"[:100])
        elif array.size > channel.MAX_ELEMENTS or _sent[0] + array.nbytes > ARRAY_BUDGET:
            bad[name] = f"size:{array.size}"
        else:
            _sent[0] += array.nbytes
            arrays.append((name, np.ascontiguousarray(array).reshape(array.shape)))  # 0-d stays 0-d
    meta = {"exercise": exercise_id, "case": case_name, "error": error,
            "returned": None if outputs is None else [name for name in names if channel.plain_name(name)],
            "bad_outputs": bad, "replaced": list(replaced)}
    return channel.result_frame(meta, arrays)


def invoker(exercise: dict, checks, namespace):
    """How a case is run in the exercise's track: `invoke(case, args)` returns what the submission returned.

    NumPy: the case's call (or driver). PyTorch: the exercise's `torch_call` (checks.py), which builds the
    learner's module or Function, loads the case's weights by name and calls it; tensors come back as arrays."""
    if exercise.get("track") == "torch":
        from mhaquiz.grader.torch_form import to_numpy

        return lambda case, args: to_numpy(checks.torch_call(namespace, args, case))
    return lambda case, args: case.run(namespace, args)


def call_case(case, invoke, submission: Path):
    """Call the submission on one case: (outputs, error description, input entries the call replaced)."""
    from mhaquiz.grader.spec import named_outputs

    outputs, error = None, None
    args = fresh(case.args, {})
    before = identities(args)
    try:
        outputs = named_outputs(invoke(case, args), case.output_names)
    except BaseException as exc:  # noqa: B036
        error = describe_error(exc, submission)
        del exc  # its traceback holds the submission's frames, and their memory
    after = identities(args)
    return outputs, error, [path for path, ident in before.items() if after.get(path) != ident]


def run_cases(job: dict, plans, out: Channel) -> None:
    """The cases runner: import the submission, call it on every case, one result frame per case."""
    submission = Path(job["submission"])
    try:
        namespace = load_submission(submission)
    except BaseException as error:  # noqa: B036  (SystemExit and KeyboardInterrupt at import are the submission's)
        kind = "syntax" if isinstance(error, SyntaxError) else "import"
        out.send_json(b"E", {"kind": kind, "error": describe_error(error, submission)})
        out.send_json(b"D", {})
        return
    for exercise, checks, cases in plans:
        missing = [name for name in exercise["functions"] if not callable(getattr(namespace, name, None))]
        if missing:
            out.send_json(b"M", {"exercise": exercise["id"], "missing": missing})
            continue
        invoke = invoker(exercise, checks, namespace)
        for case in cases:
            out.send_json(b"S", {"exercise": exercise["id"], "case": case.name})
            outputs, error, replaced = call_case(case, invoke, submission)
            out.send(pack_result(case.name, exercise["id"], outputs, error, replaced))
            if error and error["type"] == "MemoryError":  # more cases would only thrash
                out.send_json(b"D", {})
                return
    out.send_json(b"D", {})


def run_measured_calls(job: dict, exercise: dict, checks, case, calls: int, out: Channel) -> None:
    """A measuring runner: import the submission, call it `calls` times on `case` (fresh containers each
    time) and send what the last call returned, for the grader to check."""
    submission = Path(job["submission"])
    try:
        namespace = load_submission(submission)
    except BaseException:  # noqa: B036  (it imported in the cases runner: failing now is its own doing)
        os._exit(3)
    if not all(callable(getattr(namespace, name, None)) for name in exercise["functions"]):
        os._exit(3)
    invoke = invoker(exercise, checks, namespace)
    outputs, error, replaced = None, None, []
    for _ in range(calls):
        outputs, error, replaced = call_case(case, invoke, submission)
        if error is not None:
            break
    out.send_json(b"S", {"exercise": exercise["id"], "case": case.name})
    out.send(pack_result(case.name, exercise["id"], outputs, error, replaced))


def _lock_down(job: dict, out: Channel) -> None:
    """In a runner, before the submission is imported: its limits, the kernel's confinement and the guard
    (confine.py, guard.py; irreversible, and it raises rather than leave the runner unconfined)."""
    from mhaquiz.grader import confine

    set_limits(job["memory_mb"] + job.get("extra_mb", 0), job["timeout"])
    confine.lock_down(out.fd, job["submission"], job["workdir"], job.get("write_roots", []), job.get("read_only", []),
                      job.get("deny_read", []))


def fork_runner(job: dict, control_fd: int, body, gate=None) -> int:
    """Fork a runner: it drops the control pipe, reads nothing more from stdin, locks itself down and runs
    `body(out)`; it never returns here. The warden gets the runner's pid.

    `gate` (a MemoryGate): the runner waits, still running only our code, while the warden resets its peak
    resident size and reads its resident size, then goes on."""
    pid = os.fork()
    if pid:
        if gate is not None:
            gate.hold(pid)
        return pid
    try:
        os.chdir(job["workdir"])  # relative paths are the runner's own folder
        if gate is not None:
            gate.wait()
        os.close(control_fd)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        die_with_parent()
        out = Channel(job["result_fd"])
        _lock_down(job, out)
        body(out)
    except BaseException:  # noqa: B036  (our own failure: the warden reports the exit status)
        os._exit(70)
    for stream in (sys.stdout, sys.stderr):  # the submission may have replaced them
        try:
            stream.flush()
        except BaseException:  # noqa: B036
            pass
    os._exit(0)  # skip interpreter teardown: atexit handlers the submission registered do not run


def wait_runner(pid: int) -> dict:
    """The kernel's account of a finished runner: exit code or signal, CPU seconds, peak resident bytes; and
    the wall clock from now until it ended."""
    started = time.monotonic()
    _, status, usage = os.wait4(pid, 0)
    fate = {"code": os.WEXITSTATUS(status)} if os.WIFEXITED(status) else {"signal": os.WTERMSIG(status)}
    return {**fate, "cpu": usage.ru_utime + usage.ru_stime, "maxrss": usage.ru_maxrss * 1024,
            "wall": time.monotonic() - started}


M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter
MMAP_THRESHOLD = 128 * 1024  # glibc's default: allocations from here up are mapped afresh (fixed, not adaptive)


def _libc():
    import ctypes

    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc: the allocator's defaults stand
        return None


def trim_heap() -> None:
    """Give the heap's free pages back to the kernel, so that resident memory is memory in use."""
    libc = _libc()
    if libc is not None and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)


def fixed_mmap_threshold() -> None:
    """Large allocations always get fresh pages (glibc otherwise raises the threshold after a large free and
    serves the next from free memory already resident, which a high-water mark would not see)."""
    libc = _libc()
    if libc is not None and hasattr(libc, "mallopt"):
        libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)


MADV_POPULATE_READ = 22  # Linux 5.14+


def populate_file_mappings() -> None:
    """Map in every page of this process's readable file mappings (libraries, numpy's code)."""
    import ctypes

    libc = _libc()
    if libc is None:
        return
    libc.madvise.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
    with open("/proc/self/maps") as maps:
        for line in maps:
            fields = line.split()
            if len(fields) < 6 or not fields[5].startswith("/") or fields[1][0] != "r":
                continue
            start, end = (int(x, 16) for x in fields[0].split("-"))
            libc.madvise(start, end - start, MADV_POPULATE_READ)


def resident_bytes(pid="self") -> int:
    """A process's resident memory now, from the kernel (/proc/<pid>/status)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


class MemoryGate:
    """Holds a forked runner before it runs anything of the submission's, so that the warden can zero the
    kernel's high-water mark of its resident memory (/proc/<pid>/clear_refs: 5) and read where it starts;
    its peak over that start is then the kernel's count, whatever the runner does afterwards."""

    def __init__(self):
        self.ready_read, self.ready_write = os.pipe()
        self.go_read, self.go_write = os.pipe()
        self.base = None

    def wait(self) -> None:
        """In the runner: large allocations get fresh pages, the libraries' pages are mapped in (a forked
        process maps them lazily: the call would otherwise count the code it runs), then wait for the warden."""
        fixed_mmap_threshold()
        trim_heap()
        populate_file_mappings()
        os.close(self.ready_read)
        os.close(self.go_write)
        os.write(self.ready_write, b"r")
        os.close(self.ready_write)
        os.read(self.go_read, 1)
        os.close(self.go_read)

    def hold(self, pid: int) -> None:
        """In the warden: wait until the runner is ready, reset its peak, note its resident size, let it go."""
        os.close(self.ready_write)
        os.close(self.go_read)
        try:
            if os.read(self.ready_read, 1) == b"r":
                with open(f"/proc/{pid}/clear_refs", "w") as clear:
                    clear.write("5")
                self.base = resident_bytes(pid)
        except OSError:
            self.base = None
        finally:
            os.close(self.ready_read)
            os.write(self.go_write, b"g")
            os.close(self.go_write)


def follow(fate: dict) -> None:
    """The warden shares a runner's fate when it did not finish cleanly: the same signal, or the same code."""
    import resource
    import signal

    if "signal" in fate:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        try:
            signal.signal(fate["signal"], signal.SIG_DFL)
        except (OSError, ValueError):  # SIGKILL and SIGSTOP keep their default anyway
            pass
        os.kill(os.getpid(), fate["signal"])
        os._exit(128 + fate["signal"])
    if fate.get("code"):
        os._exit(fate["code"])


def measure(job: dict, checks, exercise: dict, request: dict, control: Channel) -> None:
    """The measurements the grader asked for, each in runners of its own, reported on the control pipe."""
    seed, exercise_id = job["seed"], exercise["id"]
    if request.get("memory") and hasattr(checks, "memory_case"):
        case = checks.memory_case(seed)
        case.args = freeze(case.args, {})
        gate = MemoryGate()
        fate = wait_runner(fork_runner(job, control.fd, lambda out: run_measured_calls(job, exercise, checks, case, 1, out),
                                       gate))
        line = {"kind": "memory", "exercise": exercise_id, **fate}
        if gate.base is not None:
            line["peak_bytes"] = max(0, fate["maxrss"] - gate.base)
        control.send_line(line)
    if request.get("perf") and hasattr(checks, "perf_case"):
        case = checks.perf_case(seed)
        case.args = freeze(case.args, {})

        def timed(calls: int, send: bool) -> dict:
            body = (lambda out: run_measured_calls(job, exercise, checks, case, calls, out)) if send else (
                lambda out: run_measured_calls(job, exercise, checks, case, calls, _Discard()))
            return wait_runner(fork_runner(job, control.fd, body))

        once = timed(1, send=False)
        report = {"kind": "perf", "exercise": exercise_id}
        if once.get("code") != 0:
            report["skipped"] = "failed"
        elif max(once["cpu"], once["wall"]) > PERF_SLOW:
            report.update(skipped="slow", seconds=max(once["cpu"], once["wall"]))
        else:
            report.update(timed_extra_calls(once, lambda calls, send: timed(calls, send)))
        control.send_line(report)


def timed_extra_calls(once: dict, timed) -> dict:
    """{"rounds": R, "seconds"} from runners making 1 + R calls, R growing 8x from 32 until the extra calls
    take a quarter of PERF_BUDGET of CPU (a runner's start, its fork and import, is noise next to small calls:
    it cancels out in the difference, but only many calls make the difference larger than that noise);
    {"skipped": "failed"} when a runner did not finish cleanly."""
    rounds = max(1, min(32, int(PERF_WALL_BUDGET / max(once["wall"], 1e-3))))
    while True:
        more = timed(1 + rounds, True)
        if more.get("code") != 0:
            return {"skipped": "failed"}
        extra = max(0.0, more["cpu"] - once["cpu"])
        per_call_wall = max(more["wall"] - once["wall"], 0.0) / rounds  # a runner's start cancels out
        most = min(PERF_ROUNDS_MAX, int(PERF_WALL_BUDGET / max(per_call_wall, 1e-5)))
        if extra >= PERF_BUDGET / 4 or rounds >= most:
            return {"rounds": rounds, "seconds": extra / rounds}
        rounds = min(rounds * 8, most)  # at most 2 runners besides the first: 32, then PERF_ROUNDS_MAX


class _Discard:
    """A channel that sends nothing (the first timing runner's result is not needed)."""

    fd = -1

    def send(self, data: bytes) -> None:
        pass

    def send_json(self, kind: bytes, obj: dict) -> None:
        pass


def run(job: dict, control: Channel) -> None:
    """The warden's job: build the cases, fork the cases runner, then measure what the grader asks for."""
    from mhaquiz.grader import exercises as registry

    if "extra_mb" not in job and any(exercise.get("track") == "torch" for exercise in job["exercises"]):
        job["extra_mb"] = import_torch()  # a warden set up for NumPy given a PyTorch job
    registry.provide_checks({exercise_id: (item["path"], item["source"]) for exercise_id, item in job["checks"].items()})
    plans = []  # (exercise, its checks module, its cases with read-only inputs)
    for exercise in job["exercises"]:
        checks = registry.checks_module(exercise["id"])
        cases = checks.make_cases(job["seed"])
        for case in cases:
            case.args = freeze(case.args, {})
        plans.append((exercise, checks, cases))

    control.send_line({"kind": "ready", "at": time.monotonic()})  # the learner's time starts now (imports were ours)
    fate = wait_runner(fork_runner(job, control.fd, lambda out: run_cases(job, plans, out)))
    control.send_line({"kind": "cases", **fate})
    follow(fate)
    request = _read_request()
    by_id = {exercise["id"]: (exercise, checks) for exercise, checks, _ in plans}
    for item in request.get("measure", []) if isinstance(request.get("measure"), list) else []:
        if isinstance(item, dict) and item.get("exercise") in by_id:
            measure(job, by_id[item["exercise"]][1], by_id[item["exercise"]][0], item, control)
    control.send_line({"kind": "done"})


def import_torch() -> int:
    """Import torch in the warden (its runners start with it loaded) on one thread, as numpy runs; returns
    the MiB of address space the import mapped, which the runners' limit adds to the learner's allowance."""
    before = _vm_size()
    import torch

    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    torch.zeros(1).sum()  # torch's lazy start-up happens here, not in the learner's first call
    return max(0, (_vm_size() - before) // (1024 * 1024))


def _vm_size() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def _read_request() -> dict:
    """The grader's second line on stdin: which exercises to measure ({} when stdin closes)."""
    try:
        line = sys.stdin.buffer.readline()
        request = json.loads(line) if line.strip() else {}
    except ValueError:
        return {}
    return request if isinstance(request, dict) else {}


def prepare_workdir(job: dict) -> None:
    """Under bubblewrap: a fresh tmpfs folder for this job, the submission copied from the read-only inbox;
    whatever an earlier job's runner left in /tmp is removed first (a warm warden runs many jobs)."""
    import shutil

    if not job.get("inbox"):
        return
    tmp = os.path.dirname(os.path.dirname(job["workdir"]))  # /tmp
    for name in os.listdir(tmp):
        path = os.path.join(tmp, name)
        if path != os.path.dirname(job["inbox"]):
            shutil.rmtree(path, ignore_errors=True) if os.path.isdir(path) and not os.path.islink(path) else os.unlink(path)
    shutil.copytree(job["inbox"], job["workdir"], symlinks=True)


def main() -> None:
    """Read the setup line, import what every job needs, then run jobs (one, or many when kept warm)."""
    setup = json.loads(sys.stdin.buffer.readline())
    control = Channel(setup["control_fd"])
    for fd in (setup["result_fd"], control.fd):
        os.set_inheritable(fd, False)
    if setup.get("engine") != "bwrap":
        die_with_parent()
    import numpy as np  # noqa: F401  (imported before any fork: numpy's start-up is not the submission's)

    if setup.get("track") == "torch":
        setup["extra_mb"] = import_torch()
    while True:
        line = sys.stdin.buffer.readline()
        if not line.strip():
            break
        job = {**json.loads(line), **setup}
        prepare_workdir(job)
        run(job, control)
        if not job.get("keep"):
            break
    os._exit(0)
