"""The sandboxed side of grading: runs in its own process, imports the submission, calls it on every case.

Started by sandbox.py inside its engine (engine.py) with the job on stdin: the exercises with their checks'
and references' sources (never read from files the submission could see), the seed and the limits. It
sends frames on a private pipe (channel.py): the arrays the submission returned, exceptions with the
submission's own frames, the speed comparison. It judges nothing: every comparison happens in the grader.

Before the submission is imported, the worker
- builds the cases and makes every input array read-only (backed by immutable bytes, so the flag cannot
  be turned back on): an in-place write raises at the line that does it and is reported as such;
- sets its limits: address space, CPU time, file size, no core dumps;
- installs its guard (`Guard`, a PEP 578 audit hook, which cannot be removed once added): starting or
  signalling a process, sockets, SQLite, writing outside its working folder, reading the learner's progress
  or our exercises, and loading libc through ctypes are refused with PermissionError and reported (`X`
  frame). An audit hook is not a sandbox on its own (native code can go around it); the engine is.
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

PERF_ROUNDS = 5
PERF_BUDGET = 0.05  # seconds of timing rounds after the first (fewer rounds when a call is slow)
PERF_SLOW = 2.0  # seconds: a call slower than this is not timed again
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


# --- the guard ----------------------------------------------------------------------------------------

PROCESS_EVENTS = frozenset({"os.fork", "os.forkpty", "os.system", "os.exec", "os.posix_spawn", "os.spawn",
                            "subprocess.Popen", "os.startfile", "pty.spawn"})
SIGNAL_EVENTS = frozenset({"os.kill", "os.killpg", "signal.pthread_kill", "os.pidfd_open"})
NETWORK_EVENTS = frozenset({"socket.__new__", "socket.connect", "socket.bind", "socket.sendto", "socket.sendmsg"})
PATH_WRITE_EVENTS = {  # event -> indexes of the path arguments that must stay inside the working folder
    "os.remove": (0,), "os.rmdir": (0,), "os.rename": (0, 1), "os.link": (0, 1), "os.symlink": (1,),
    "os.mkdir": (0,), "os.chmod": (0,), "os.chown": (0,), "os.truncate": (0,), "os.utime": (0,),
    "os.chflags": (0,), "os.setxattr": (0,), "os.removexattr": (0,), "shutil.rmtree": (0,),
}
LIBC_SYMBOLS = frozenset({"fork", "vfork", "clone", "clone3", "execve", "execv", "execvp", "execl", "execlp",
                          "system", "popen", "posix_spawn", "posix_spawnp", "kill", "killpg", "tgkill", "tkill",
                          "raise", "sigqueue", "syscall", "ptrace", "prctl", "unshare", "setns", "mount",
                          "socket", "connect", "pidfd_open", "pidfd_send_signal", "process_vm_writev",
                          "daemon", "setsid", "setpgid"})
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


class Guard:
    """The audit hook that refuses what graded code has no reason to do (see the module docstring)."""

    def __init__(self, channel: Channel, submission: Path, write_roots, deny_read_roots, read_only_roots=()):
        self.channel = channel
        self.submission = submission
        self.write_roots = [os.path.realpath(root) for root in write_roots]
        # Python and the grader's package are never written, even where they sit inside a write root (a
        # checkout or virtualenv under /tmp, which the strong sandbox's private /tmp holds read-only)
        self.read_only_roots = [os.path.realpath(root) for root in read_only_roots]
        self.deny_read_roots = [os.path.realpath(root) for root in deny_read_roots]
        self.own = f"/proc/{os.getpid()}"
        self.busy = False

    def install(self) -> None:
        sys.addaudithook(self)

    def __call__(self, event: str, args: tuple) -> None:
        if self.busy:
            return
        refused = self.refuses(event, args)
        if refused:
            self.busy = True
            try:
                where = describe_frames(traceback.extract_stack()[:-1], self.submission)
                self.channel.send_json(b"X", {"event": refused, "where": where})
            finally:
                self.busy = False
            raise PermissionError(f"mhaquiz: {refused} is not allowed in graded code")

    def refuses(self, event: str, args: tuple):
        """The refused operation's name, or None when `event` is allowed."""
        if event in PROCESS_EVENTS or event in SIGNAL_EVENTS or event in NETWORK_EVENTS or event == "sqlite3.connect":
            return event
        if event == "open":
            path, mode, flags = (args + (None, None, None))[:3]
            if isinstance(path, int):
                return None
            writing = bool((flags or 0) & _WRITE_FLAGS) or any(c in (mode or "") for c in "wax+")
            return self._path(path, writing, event)
        if event in PATH_WRITE_EVENTS:
            for index in PATH_WRITE_EVENTS[event]:
                if index < len(args) and not isinstance(args[index], int) and self._path(args[index], True, event):
                    return event
            return None
        if event == "ctypes.dlopen":
            name = args[0] if args else None
            if name is None or "libc." in str(name) or "libpthread" in str(name):
                return f"ctypes.dlopen({name})"
        if event == "ctypes.dlsym":
            name = args[1] if len(args) > 1 else None
            if isinstance(name, (str, bytes)) and (name.decode() if isinstance(name, bytes) else name) in LIBC_SYMBOLS:
                return f"ctypes.dlsym({name})"
        return None

    def _path(self, path, writing: bool, event: str):
        try:
            real = os.path.realpath(os.fsdecode(path))
        except (TypeError, ValueError):
            return None
        if writing:
            protected = any(real == root or real.startswith(root + os.sep) for root in self.read_only_roots)
            if real == "/dev/null" or (not protected and any(real == root or real.startswith(root + os.sep)
                                                             for root in self.write_roots)):
                return None
            return f"{event}({real}) for writing"
        if any(real == root or real.startswith(root + os.sep) for root in self.deny_read_roots):
            return f"{event}({real})"
        if real.startswith("/proc/") and real.split("/")[2].isdigit() and not (
                real == self.own or real.startswith(self.own + "/")):
            return f"{event}({real})"
        return None


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


_sent = [0]  # bytes of arrays sent so far in this run


def pack_result(case_name: str, exercise_id: str, outputs, error, elapsed: float, replaced=()) -> bytes:
    """One case's frame: the returned arrays (those of a numeric dtype; others are described by type)."""
    import numpy as np

    arrays, bad = [], {}
    for name, value in list((outputs or {}).items())[:64]:
        name = str(name)[:200]
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
    meta = {"exercise": exercise_id, "case": case_name, "error": error, "elapsed": elapsed,
            "returned": None if outputs is None else [str(key)[:200] for key in list(outputs)[:64]], "bad_outputs": bad,
            "replaced": list(replaced)}
    return channel.result_frame(meta, arrays)


def time_against_reference(case, submission, reference) -> dict:
    """Fastest of a few interleaved calls of the submission and the reference on one larger case.

    The minimum, not the mean: on a shared machine noise only ever adds time. One timed round always runs;
    more only while PERF_BUDGET lasts."""
    timings = {"submission": [], "reference": []}
    budget_end = None
    for round_ in range(PERF_ROUNDS + 1):  # round 0 warms up
        for name, module in (("submission", submission), ("reference", reference)):
            args = fresh(case.args, {})
            started = time.perf_counter()
            try:
                case.run(module, args)
            except Exception as error:  # noqa: BLE001
                return {"skipped": "raised", "seconds": time.perf_counter() - started, "error": type(error).__name__}
            seconds = time.perf_counter() - started
            if round_:
                timings[name].append(seconds)
            elif name == "submission" and seconds > PERF_SLOW:
                return {"skipped": "slow", "seconds": seconds}
        if budget_end is None:
            budget_end = time.perf_counter() + PERF_BUDGET
        elif round_ and time.perf_counter() > budget_end:
            break
    return {"submission": min(timings["submission"]), "reference": min(timings["reference"]),
            "rounds": len(timings["submission"]), "shapes": case.shapes}


def peak_memory(case, module) -> int:
    """Bytes allocated at the peak of one call (tracemalloc sees NumPy's array buffers)."""
    import tracemalloc

    args = fresh(case.args, {})
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        case.run(module, args)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def run(job: dict, out: Channel) -> None:
    import numpy as np  # noqa: F401  (imported before the limits: numpy's own start-up is not the submission's)

    from mhaquiz.grader import exercises as registry
    from mhaquiz.grader.spec import named_outputs

    submission = Path(job["submission"])
    registry.provide_checks({exercise_id: (item["path"], item["source"]) for exercise_id, item in job["checks"].items()})
    plans = []  # (exercise, its checks module, its cases with read-only inputs)
    for exercise in job["exercises"]:
        checks = registry.checks_module(exercise["id"])
        cases = checks.make_cases(job["seed"])
        for case in cases:
            case.args = freeze(case.args, {})
        plans.append((exercise, checks, cases))

    set_limits(job["memory_mb"], job["timeout"])
    Guard(out, submission, [job["workdir"], *job.get("write_roots", [])], job.get("deny_read", []),
          job.get("read_only", [])).install()
    try:
        namespace = load_submission(submission)
    except BaseException as error:  # noqa: B036  (SystemExit and KeyboardInterrupt at import are the submission's)
        kind = "syntax" if isinstance(error, SyntaxError) else "import"
        out.send_json(b"E", {"kind": kind, "error": describe_error(error, submission)})
        out.send_json(b"D", {})
        return

    passed = []
    for exercise, checks, cases in plans:
        missing = [name for name in exercise["functions"] if not callable(getattr(namespace, name, None))]
        if missing:
            out.send_json(b"M", {"exercise": exercise["id"], "missing": missing})
            continue
        failed = False
        for case in cases:
            out.send_json(b"S", {"exercise": exercise["id"], "case": case.name})
            outputs, error = None, None
            args = fresh(case.args, {})
            before = identities(args)
            started = time.perf_counter()
            try:
                outputs = named_outputs(case.run(namespace, args), case.output_names)
            except BaseException as exc:  # noqa: B036
                error = describe_error(exc, submission)
                del exc  # its traceback holds the submission's frames, and their memory
            elapsed = time.perf_counter() - started
            after = identities(args)
            replaced = [path for path, ident in before.items() if after.get(path) != ident]
            out.send(pack_result(case.name, exercise["id"], outputs, error, elapsed, replaced))
            if error and error["type"] == "MemoryError":  # the verdict is in; more cases would only thrash
                out.send_json(b"D", {})
                return
            failed = failed or error is not None
        if not failed:
            passed.append((exercise, checks))
    for exercise, checks in passed:  # the reference is only loaded once every case has run
        _measure(exercise, checks, namespace, job["seed"], out)
    out.send_json(b"D", {})


def _measure(exercise: dict, checks: ModuleType, namespace, seed: int, out: Channel) -> None:
    """The speed comparison (`perf_case`) and the peak memory (`memory_case`) against the reference."""
    has_perf, has_memory = hasattr(checks, "perf_case"), hasattr(checks, "memory_case")
    if not (has_perf or has_memory):
        return
    reference = module_from_source(f"mhaquiz_solution_{exercise['id']}", exercise["reference"]["path"],
                                   exercise["reference"]["source"])
    report: dict = {"exercise": exercise["id"]}
    if has_memory:  # first: one call, so a slow submission's timing cannot leave it unmeasured
        case = checks.memory_case(seed)
        case.args = freeze(case.args, {})
        try:
            report["peak_bytes"] = {"submission": peak_memory(case, namespace), "reference": peak_memory(case, reference)}
        except Exception:  # noqa: BLE001  (it passed every case: a failure here is reported as not measured)
            pass
    if has_perf:
        case = checks.perf_case(seed)
        case.args = freeze(case.args, {})
        report.update(time_against_reference(case, namespace, reference))
    else:
        report.update(skipped="none", seconds=0.0)
    out.send_json(b"P", report)


def main() -> None:
    job = json.loads(sys.stdin.buffer.read())
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)  # the job is read: nothing more comes on stdin
    os.close(devnull)
    out = Channel(job["result_fd"])
    os.set_inheritable(out.fd, False)
    if job.get("engine") != "bwrap":
        die_with_parent()
    run(job, out)
    for stream in (sys.stdout, sys.stderr):  # the submission may have replaced them
        try:
            stream.flush()
        except BaseException:  # noqa: B036
            pass
    os._exit(0)  # skip interpreter teardown: atexit handlers the submission registered do not run
