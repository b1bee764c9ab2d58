"""The worker's confinement, one layer at a time and all together: a fresh Python process confines itself
(Landlock, seccomp, the audit-hook guard, or lock_down's three), then tries each thing; every attempt has an
exact expected outcome ("ok", the errno's name, or "refused" by the guard with the event it reported).

Kernel layers are checked against what this kernel offers, measured here with the raw system call, not
with the code under test; where the kernel lacks Landlock the Landlock tests skip, saying why.
"""

import ctypes
import json
import os
import platform
import socket
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mhaquiz.grader import confine, engine

ROOT = Path(__file__).resolve().parents[1]


def kernel_landlock_abi():
    """The Landlock ABI, asked of the kernel directly (landlock_create_ruleset with the VERSION flag)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    version = libc.syscall(ctypes.c_long(444), None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    return version if version > 0 else None


ABI = kernel_landlock_abi()
needs_landlock = pytest.mark.skipif(ABI is None, reason="this kernel has no Landlock")
needs_seccomp = pytest.mark.skipif(platform.machine() not in ("x86_64", "aarch64"), reason="no syscall table here")

# Each attempt is one expression run in the confined process; `w` is the working folder, `ppid` the parent
# (this test process), `p` a dict of paths and ports the test prepared.
ATTEMPTS = {
    "read python": "open(os.__file__).read(10)",
    "read workdir": "open(w + '/sub.py').read()",
    "write workdir": "open(w + '/new.txt', 'w').write('x')",
    "rename in workdir": "(os.mkdir(w + '/d'), os.rename(w + '/new.txt', w + '/d/moved.txt'), os.remove(w + '/d/moved.txt'))",
    "mkfifo in workdir": "os.mkfifo(w + '/fifo')",
    "mkfifo outside": "os.mkfifo(p['outside'] + '/fifo')",
    "write outside": "open(p['outside'] + '/x.txt', 'w')",
    "read store": "open(p['store']).read()",
    "remove store via dir_fd": "os.remove('progress.sqlite3', dir_fd=os.open(p['home'], os.O_PATH))",
    "read hole": "open(p['hole_file']).read()",
    "read beside hole": "open(p['beside_hole']).read()",
    "grader stdout": "open('/proc/%d/fd/1' % ppid, 'w')",
    "grader cwd": "os.listdir('/proc/%d/cwd/' % ppid)",
    "signal grader": "os.kill(ppid, 0)",
    "signal itself": "os.kill(os.getpid(), 0)",
    "tcp connect": "socket.create_connection(('127.0.0.1', p['port']), timeout=2)",
    "abstract unix connect": "socket.socket(socket.AF_UNIX).connect(p['abstract'])",
    "socketpair": "socket.socketpair()",
    "fork": "os.fork() or os._exit(0)",  # a child, should one be made, leaves at once
    "subprocess": "subprocess.run(['/bin/true'])",
    "posix_spawn": "os.posix_spawn('/bin/true', ['true'], {})",
    "exec": "os.execv('/bin/true', ['true'])",
    "native fork": "native('_Fork')",
    "native ptrace": "native('ptrace', 0, 0, 0, 0)",
    "native clone3": "clone3()",  # a process the way fork would make it, through clone3
    "pidfd of grader": "os.pidfd_open(ppid)",
    "thread": "thread()",
    "numpy": "float(np.linalg.solve(np.eye(3) * 2, np.ones(3)).sum())",
    "namedtuple defaults": "collections.namedtuple('P', 'a b', defaults=(1,))(0).b",
}

SCRIPT = textwrap.dedent("""
    import collections, ctypes, errno, json, os, socket, subprocess, sys, threading
    sys.path.insert(0, {root!r})
    import numpy as np
    from mhaquiz.grader import confine, guard
    config = json.loads(sys.argv[1])
    w, p, ppid = config["workdir"], config["paths"], os.getppid()
    libc = ctypes.CDLL(None, use_errno=True)
    reached = {{}}
    read_fd, write_fd = os.pipe()
    os.set_blocking(read_fd, False)
    if "landlock" in config["layers"]:
        reached["landlock"] = confine.landlock(config["read"], [w], config["holes"], abi=config.get("abi"))[0]
    if "seccomp" in config["layers"]:
        reached["seccomp"] = confine.seccomp()[0]
    if "guard" in config["layers"]:
        guard.install(write_fd, w + "/sub.py", [w], config["read"], config["holes"])
    if "no landlock" in config["layers"]:  # a kernel without it, as lock_down sees one
        confine.landlock_abi = lambda: None
    if "lock_down" in config["layers"]:
        reached = confine.lock_down(write_fd, w + "/sub.py", w, [], config["read"], config["holes"])

    def native(name, *args):
        function = getattr(libc, name)
        if function(*args) == -1:
            raise OSError(ctypes.get_errno(), name)

    def clone3():
        arguments = (ctypes.c_uint64 * 11)()  # struct clone_args: flags 0, exit_signal SIGCHLD
        arguments[4] = 17
        libc.syscall.restype = ctypes.c_long
        pid = libc.syscall(ctypes.c_long(435), ctypes.byref(arguments), ctypes.c_size_t(88))
        if pid == 0:
            os._exit(0)
        if pid < 0:
            raise OSError(ctypes.get_errno(), "clone3")
        os.waitpid(pid, 0)

    def thread():
        out = []
        t = threading.Thread(target=lambda: out.append(sum(range(10))))
        t.start()
        t.join()
        return out[0]

    import builtins
    saved = builtins.isinstance, os.path.realpath
    results = {{}}
    for name, expression in config["attempts"].items():
        try:
            exec(expression, dict(globals()))
            results[name] = "ok"
        except PermissionError as error:
            results[name] = errno.errorcode[error.errno] if error.errno else "refused"
        except OSError as error:
            results[name] = errno.errorcode.get(error.errno, str(error))
    import builtins
    builtins.isinstance, os.path.realpath = saved  # what an attempt patched
    frames = b""
    try:
        frames = os.read(read_fd, 1 << 20)
    except BlockingIOError:
        pass
    events = []
    while frames:
        kind, length = frames[0:1], int.from_bytes(frames[1:5], "big")
        events.append(json.loads(frames[5:5 + length])["event"])
        frames = frames[5 + length:]
    print(json.dumps({{"results": results, "reached": reached, "events": events}}))
""").format(root=str(ROOT))


@pytest.fixture
def place(tmp_path):
    """A working folder, a learner's store, a folder outside, and a package with our solutions inside it."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "sub.py").write_text("x = 1\n")
    home = tmp_path / "home"
    home.mkdir()
    (home / "progress.sqlite3").write_bytes(b"SQLite format 3\x00 precious")
    outside = tmp_path / "outside"
    outside.mkdir()
    package = tmp_path / "package"
    (package / "_content" / "solutions").mkdir(parents=True)
    (package / "_content" / "solutions" / "softmax.py").write_text("REFERENCE = 1\n")
    (package / "_content" / "notes.txt").write_text("fine\n")
    (package / "grader.py").write_text("fine\n")
    return {"work": work, "home": home, "outside": outside, "package": package}


def run_confined(place, layers, attempts, abi=None):
    listener = socket.create_server(("127.0.0.1", 0))
    abstract = b"\0mhaquiz-test-%d" % os.getpid()
    unix = socket.socket(socket.AF_UNIX)
    unix.bind(abstract)
    unix.listen()
    paths = {"outside": str(place["outside"]), "home": str(place["home"]),
             "store": str(place["home"] / "progress.sqlite3"),
             "hole_file": str(place["package"] / "_content" / "solutions" / "softmax.py"),
             "beside_hole": str(place["package"] / "_content" / "notes.txt"),
             "port": listener.getsockname()[1], "abstract": abstract.decode()}
    config = {"layers": layers, "workdir": str(place["work"]), "paths": paths, "abi": abi,
              "read": [*confine.SYSTEM_FOLDERS, *confine.SYSTEM_FILES, *engine.python_paths(), str(place["package"])],
              "holes": [str(place["package"] / "_content" / "solutions"), str(place["home"])],
              "attempts": {name: ATTEMPTS[name] for name in attempts}}
    try:
        result = subprocess.run([sys.executable, "-I", "-c", SCRIPT, json.dumps(config)], capture_output=True,
                                text=True, timeout=60, env={"PATH": "/usr/bin:/bin", "OPENBLAS_NUM_THREADS": "1"})
    finally:
        listener.close()
        unix.close()
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def assert_untouched(place):
    assert (place["home"] / "progress.sqlite3").read_bytes() == b"SQLite format 3\x00 precious"
    assert sorted(p.name for p in place["outside"].iterdir()) == []


@needs_landlock
def test_landlock_reads_only_the_system_python_and_its_folder_and_writes_only_its_folder(place):
    expected = {
        "read python": "ok", "read workdir": "ok", "write workdir": "ok", "rename in workdir": "ok",
        "mkfifo in workdir": "ok", "numpy": "ok", "thread": "ok",
        "mkfifo outside": "EACCES", "write outside": "EACCES", "read store": "EACCES",
        "remove store via dir_fd": "EACCES",  # resolved by the kernel, whatever the descriptor
        "read hole": "EACCES", "read beside hole": "ok",  # our solutions inside an allowed package stay hidden
        "grader stdout": "EACCES", "grader cwd": "EACCES",  # another process's /proc links need ptrace rights
    }
    out = run_confined(place, ["landlock"], expected)
    assert out["reached"] == {"landlock": ABI}
    assert out["results"] == expected
    assert_untouched(place)


@pytest.mark.skipif(ABI is None or ABI < 6, reason="Landlock ABI 6 (Linux 6.12) scopes signals and sockets")
def test_landlock_abi_6_scopes_signals_and_abstract_sockets_and_abi_4_refuses_tcp(place):
    attempts = ["signal grader", "signal itself", "abstract unix connect", "tcp connect"]
    out = run_confined(place, ["landlock"], attempts)
    assert out["results"] == {"signal grader": "EPERM", "signal itself": "ok", "abstract unix connect": "EPERM",
                              "tcp connect": "EACCES"}


@pytest.mark.skipif(ABI is None or ABI < 6, reason="needs a kernel newer than the ABI asked for")
def test_landlock_is_best_effort_by_abi_an_older_abi_handles_only_what_it_knows(place):
    """Asked for ABI 3 (as on Linux 6.2), TCP and signals are not handled: they stay allowed by Landlock."""
    attempts = ["signal grader", "tcp connect", "write outside", "read workdir"]
    out = run_confined(place, ["landlock"], attempts, abi=3)
    assert out["reached"] == {"landlock": 3}
    assert out["results"] == {"signal grader": "ok", "tcp connect": "ok", "write outside": "EACCES", "read workdir": "ok"}


@needs_seccomp
def test_seccomp_refuses_new_processes_sockets_ptrace_and_signals_to_others_but_keeps_threads(place):
    expected = {
        "fork": "EPERM", "subprocess": "EPERM", "posix_spawn": "EPERM", "exec": "EPERM", "native fork": "EPERM",
        "native ptrace": "EPERM", "native clone3": "ENOSYS", "tcp connect": "EPERM", "abstract unix connect": "EPERM",
        "signal grader": "EPERM", "pidfd of grader": "EPERM",
        "signal itself": "ok", "socketpair": "ok", "thread": "ok", "numpy": "ok", "write outside": "ok",
    }
    out = run_confined(place, ["seccomp"], expected)
    assert out["reached"] == {"seccomp": True}
    assert out["results"] == expected
    (place["outside"] / "x.txt").unlink()  # seccomp alone does not restrict the file system
    assert_untouched(place)


def test_guard_alone_refuses_and_reports_each_attempt(place):
    expected = {
        "read python": "ok", "write workdir": "ok", "namedtuple defaults": "ok", "numpy": "ok", "thread": "ok",
        "write outside": "refused", "read store": "refused", "remove store via dir_fd": "refused",
        "read hole": "refused", "mkfifo in workdir": "refused", "fork": "refused", "subprocess": "refused",
        "posix_spawn": "refused", "signal grader": "refused", "pidfd of grader": "refused", "tcp connect": "refused",
        "grader stdout": "refused", "native fork": "refused",
    }
    out = run_confined(place, ["guard"], expected)
    assert out["results"] == expected
    home, package = place["home"].resolve(), place["package"].resolve()
    assert out["events"] == [
        f"open({place['outside'].resolve()}/x.txt) for writing", f"open({home}/progress.sqlite3)",
        f"open({home})", f"open({package}/_content/solutions/softmax.py)", "os.mkfifo", "os.fork",
        "subprocess.Popen", "os.posix_spawn", "os.kill", "os.pidfd_open", "socket.__new__",
        f"open(/proc/{os.getpid()}/fd/1)", "ctypes.dlsym(_Fork)"]
    assert_untouched(place)


HARDENING = {
    "patched realpath": "setattr(sys.modules['os'].path, 'realpath', lambda p, **k: '/nowhere'); open(p['store'])",
    "patched builtins": "import builtins; builtins.isinstance = lambda *a: False; open(p['store'])",
    "patched guard module": ("m = sys.modules['mhaquiz.grader.guard']; m._inside = lambda *a: True; "
                             "m.PROCESS_EVENTS = frozenset(); os.fork() or os._exit(0)"),
    "gc": "import gc; gc.get_objects()",
    "referrers": "import gc; gc.get_referrers(sys)",
    "settrace": "sys.settrace(lambda *a: None)",
    "code of a replacement": "os.mkfifo.__code__ = (lambda *a, **k: None).__code__",
    "defaults of a replacement": "os.mkfifo.__defaults__ = ()",
    "fork_exec": "import _posixsubprocess; _posixsubprocess.fork_exec()",
    "pidfd_send_signal": "import signal; signal.pidfd_send_signal(0, 0)",
    "mknod": "os.mknod(w + '/node')",
    "open a folder": "os.open(p['outside'], os.O_RDONLY)",
    "os.open with ..": "os.open('../outside/x', os.O_RDONLY)",
    "symlink out": "os.symlink(p['home'], w + '/link')",
    "chmod through a descriptor": "os.chmod(os.open(p['outside'] + '/victim', os.O_RDONLY), 0o600)",
    "a str subclass names libc": ("S = type('S', (str,), {'__contains__': lambda s, x: False, '__str__': lambda s: 'x', "
                                  "'__hash__': lambda s: 0, '__eq__': lambda s, o: False}); ctypes.CDLL(S('libc.so.6'))"),
    "an int subclass hides its descriptor": ("I = type('I', (int,), {'__format__': lambda s, f: '0', '__repr__': lambda s: '0'}); "
                                             "os.chmod(I(os.open(p['outside'] + '/victim', os.O_RDONLY)), 0o600)"),
    "remove through a dir_fd from elsewhere": ("os.mkdir(w + '/sub'); os.chdir(w + '/sub'); "  # seen from the cwd,
                                               "os.remove('../outside/victim', dir_fd=os.open(w, os.O_RDONLY))"),  # inside w
    "libc kill through ctypes": "native('kill', ppid, 0)",
}


def test_guard_holds_when_what_it_uses_is_patched_or_searched_for(place):
    """Patching os.path.realpath, builtins or the guard's module changes nothing (it bound everything at
    install); gc, tracing, and replacing its functions' code or defaults are refused; so are the calls that
    raise no audit event of their own."""
    ATTEMPTS.update(HARDENING)
    (place["outside"] / "victim").write_text("keep me")
    (place["outside"] / "victim").chmod(0o644)
    try:
        out = run_confined(place, ["guard"], list(HARDENING))
    finally:
        for name in HARDENING:
            del ATTEMPTS[name]
    assert out["results"] == {name: "refused" for name in HARDENING}
    assert out["events"][:4] == [f"open({place['home'].resolve()}/progress.sqlite3)"] * 2 + ["os.fork", "gc.get_objects"]
    assert "ctypes.dlsym(kill)" in out["events"] and "replacing the guard's __code__" in out["events"]
    assert [event for event in out["events"] if event.startswith("os.remove(dir_fd=")] != []
    assert (place["outside"] / "victim").read_text() == "keep me"
    assert (place["outside"] / "victim").stat().st_mode & 0o777 == 0o644


@needs_landlock
@needs_seccomp
def test_lock_down_applies_every_layer_and_reports_what_it_reached(place):
    expected = {"read python": "ok", "write workdir": "ok", "numpy": "ok", "thread": "ok",
                "read store": "refused", "fork": "refused", "native fork": "refused"}
    out = run_confined(place, ["lock_down"], expected)
    assert out["results"] == expected
    assert out["reached"] == {"landlock": ABI, "seccomp": True, "reasons": []}


@needs_seccomp
def test_lock_down_on_a_kernel_without_landlock_keeps_seccomp_and_the_guard_and_says_why(place):
    expected = {"read python": "ok", "write workdir": "ok", "read store": "refused", "write outside": "refused",
                "native clone3": "refused", "thread": "ok"}
    out = run_confined(place, ["no landlock", "lock_down"], expected)
    assert out["results"] == expected
    assert out["reached"] == {"landlock": None, "seccomp": True,
                              "reasons": ["Landlock is not available on this kernel (Linux 5.13+ with Landlock enabled)"]}
    assert_untouched(place)


def test_an_unknown_architecture_skips_seccomp_and_says_so():
    assert confine.seccomp("riscv64") == (False, ["seccomp filter skipped: no system call table for riscv64"])


@pytest.mark.parametrize("machine", ["x86_64", "aarch64"])
def test_each_filter_is_well_formed_every_jump_lands_inside_and_every_path_returns(machine):
    program = confine.seccomp_program(confine.ARCHES[machine], 4242)
    ops = [struct.unpack("=HBBI", program[i:i + 8]) for i in range(0, len(program), 8)]
    assert ops[0] == (0x20, 0, 0, 4) and ops[1][3] == confine.ARCHES[machine]["audit_arch"]
    for index, (code, jt, jf, _) in enumerate(ops):
        if code & 0x07 == 0x05:  # a jump
            assert index + 1 + max(jt, jf) < len(ops)
    assert ops[-1] == (0x06, 0, 0, confine.SECCOMP_RET_ALLOW)
    denied = {k for code, _, _, k in ops if code == 0x15}
    arch = confine.ARCHES[machine]
    assert {arch["deny"]["execve"], arch["deny"]["socket"], arch["deny"]["ptrace"], arch["clone"], arch["kill"]} <= denied


def test_allowed_tree_grants_everything_but_the_holes(place):
    package = place["package"].resolve()
    granted = confine.allowed_tree([str(package)], [str(package / "_content" / "solutions")])
    assert granted == [str(package / "_content" / "notes.txt"), str(package / "grader.py")]
    assert confine.allowed_tree([str(package)], [str(place["home"])]) == [str(package)]
    assert confine.allowed_tree([str(package / "grader.py")], [str(package)]) == []  # a hole above a root wins


# --- what doctor and every report say ------------------------------------------------------------------------

ENGLISH = {"LC_ALL": "", "LC_MESSAGES": "", "LANGUAGE": "", "LANG": "en_US.UTF-8"}


def doctor(*args):
    from typer.testing import CliRunner

    from mhaquiz.cli import app

    result = CliRunner().invoke(app, ["doctor", "--sandbox", "process", *args], env=ENGLISH)
    assert result.exit_code == 0, result.output
    return result.stdout


@needs_landlock
@needs_seccomp
def test_doctor_names_the_kernel_level_and_what_each_layer_guarantees():
    facts = json.loads(doctor("--json"))
    assert (facts["landlock"], facts["seccomp"], facts["level"]) == (ABI, True, "landlock")
    english, chinese = doctor("--lang", "en"), doctor("--lang", "zh")
    assert f"Confinement: Landlock ABI {ABI} and seccomp, enforced by the kernel." in english
    assert "write only its folder" in english and "cannot start a process (fork, exec)" in english
    assert ("cannot signal the grader" in english) is (ABI >= 6)
    assert "What only bubblewrap adds" in english and "can go around the guard" not in english
    assert f"隔离级别：Landlock ABI {ABI} + seccomp，由内核强制执行。" in chinese
    assert "只有 bubblewrap 才额外提供的" in chinese and "只有真正的隔离才能挡住的" not in chinese


def test_doctor_without_landlock_or_seccomp_says_only_the_hook_is_left(monkeypatch):
    monkeypatch.setattr(confine, "landlock_abi", lambda: None)
    monkeypatch.setattr(confine, "seccomp_available", lambda: False)
    facts = json.loads(doctor("--json"))
    assert (facts["landlock"], facts["seccomp"], facts["level"]) == (None, False, "hook")
    english = doctor("--lang", "en")
    assert "Confinement: the audit hook only; this kernel has no Landlock" in english
    assert "can go around the guard" in english and "Landlock holds" not in english and "seccomp:" not in english
    assert "隔离级别：仅审计钩子" in doctor("--lang", "zh")


def test_every_report_says_when_only_the_hook_guarded_the_run(tmp_path, monkeypatch):
    import io

    from rich.console import Console

    from mhaquiz.grader import sandbox
    from mhaquiz.grader.grade import grade_file
    from mhaquiz.grader.render import render
    from tests.helpers import reference_source, write

    path = write(tmp_path, "mha.py", reference_source("mha_forward"))

    def shown(report, lang):
        console = Console(file=io.StringIO(), force_terminal=False, width=300, color_system=None)
        render(report, console, lang)
        return console.file.getvalue()

    confined = grade_file(path, exercise_ids=["mha_forward"], sandbox="process")
    assert confined.passed and confined.sandbox["landlock"] == ABI
    hook = "Only an audit hook guarded this run"
    assert (hook in shown(confined, "en")) is (ABI is None)
    monkeypatch.setattr(sandbox, "_kernel_layers", lambda: {"landlock": None, "seccomp": False})
    bare = grade_file(path, exercise_ids=["mha_forward"], sandbox="process")
    assert bare.passed and json.loads(bare.to_json())["sandbox"]["landlock"] is None
    assert hook in shown(bare, "en")
    assert "本次运行只有审计钩子把关（本机内核没有 Landlock）" in shown(bare, "zh")
