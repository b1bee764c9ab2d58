"""How the worker is launched: inside bubblewrap (the strong sandbox) or as a plain child process (the
fallback), and how each engine's exit status reads.

Strong (`bwrap` on PATH): an allow-list file system, read-only (/usr, the Python installation, its
site-packages and the mhaquiz package, with the package's shipped exercises and solutions hidden under an
empty tmpfs); a private size-limited /tmp holding the working folder with a copy of the submission; new
user, PID, network, IPC and UTS namespaces (no network; the grader and every other process invisible and
unsignallable); all capabilities dropped; a new session (no TIOCSTI injection into the terminal); killed
with the grader; an empty environment. The flags follow bubblewrap's own demos and the sandbox-runtime
and flatpak launchers (see docs/architecture.md).

Fallback: the best one user's processes allow: an empty environment, Python in isolated mode, a private
temporary working folder with a copy of the submission, a new session and process group, and the
worker's own guard (worker.py) plus the limits it sets; the grader reaps every descendant (sandbox.py).
"""

from __future__ import annotations

import functools
import os
import shutil
import site
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # .../mhaquiz
PACKAGE_ROOT = PACKAGE_DIR.parent  # the folder `import mhaquiz` needs on sys.path
SANDBOX_TMP = "/tmp"
SANDBOX_WORKDIR = "/tmp/work"  # the warden's; each job's runner works in job-<n> below it (on the tmpfs)
SANDBOX_INBOX = "/tmp/inbox"  # the grader's folder of job copies, read-only: the warden copies a job out of it
TMPFS_BYTES = 64 * 1024 * 1024  # the strong sandbox's whole writable space
MODES = ("auto", "bwrap", "process")
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")  # timings that do not
# depend on what else the machine runs, and a submission cannot spread over every core


@dataclass(frozen=True)
class Launch:
    """What to start: the command, its environment and folder, and where the submission is inside it."""

    argv: List[str]
    env: Dict[str, str]
    cwd: str
    workdir: str  # the working folder as the worker sees it
    status_fd: Optional[int] = None  # bwrap's --json-status-fd (the child's pid and exit code)


@dataclass(frozen=True)
class Exit:
    """A decoded exit status: an exit code, or the signal that killed the worker."""

    code: Optional[int] = None
    signal: Optional[int] = None


def worker_command(python: str = sys.executable) -> List[str]:
    """The worker's command line: Python isolated (no environment variables, no user site, no script folder
    on the path), no bytecode written, the package root put first explicitly."""
    boot = f"import sys; sys.path.insert(0, {str(PACKAGE_ROOT)!r}); from mhaquiz.grader.worker import main; main()"
    return [python, "-I", "-B", "-c", boot]


def base_environment(home: str) -> Dict[str, str]:
    """The worker's whole environment: nothing of the learner's (no MHAQUIZ_HOME, no tokens, no PATH tricks)."""
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": home, "LANG": "C.UTF-8", "PYTHONIOENCODING": "utf-8",
           "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1", "PYTHONHASHSEED": "0"}
    env.update({name: "1" for name in THREAD_VARIABLES})
    return env


class ProcessEngine:
    """The fallback: a child process in its own session, in a private temporary folder."""

    name = "process"

    def launch(self, host_workdir: Path, status_fd: Optional[int] = None) -> Launch:
        workdir = str(host_workdir)
        return Launch(worker_command(), base_environment(workdir), workdir, workdir)

    @staticmethod
    def decode(returncode: Optional[int], status: Optional[dict] = None) -> Exit:
        if returncode is None:
            return Exit()
        return Exit(signal=-returncode) if returncode < 0 else Exit(code=returncode)

    def describe(self) -> dict:
        return {"engine": self.name}


class BwrapEngine:
    """The strong sandbox: bubblewrap."""

    name = "bwrap"

    def __init__(self, executable: str):
        self.executable = executable

    def launch(self, host_workdir: Path, status_fd: Optional[int] = None) -> Launch:
        argv = [self.executable, *bwrap_arguments(host_workdir)]
        if status_fd is not None:
            argv += ["--json-status-fd", str(status_fd)]
        argv += ["--", *worker_command()]
        return Launch(argv, {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}, str(host_workdir), SANDBOX_WORKDIR,
                      status_fd)

    @staticmethod
    def decode(returncode: Optional[int], status: Optional[dict] = None) -> Exit:
        """bwrap exits with its child's status, a signal n reading as 128 + n; --json-status-fd says the same
        once the child is done. A negative code means bwrap itself was killed (by the grader, at the deadline)."""
        code = status.get("exit-code") if status else None
        if not isinstance(code, int) or isinstance(code, bool):
            code = returncode
        if code is None:
            return Exit()
        if code < 0:
            return Exit(signal=-code)
        return Exit(signal=code - 128) if code > 128 else Exit(code=code)

    def describe(self) -> dict:
        return {"engine": self.name, "version": bwrap_version(self.executable)}


def bwrap_arguments(host_workdir: Path) -> List[str]:
    """bwrap's flags (without the command): namespaces, the allow-list of read-only folders, the private /tmp
    with the working folder, /proc and /dev last (after the binds, as bwrap requires), an empty environment."""
    args = ["--die-with-parent", "--new-session", "--unshare-all", "--cap-drop", "ALL",
            "--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    for name in ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives", "localtime", "passwd", "group"):
        args += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    args += ["--size", str(TMPFS_BYTES), "--tmpfs", SANDBOX_TMP, "--dir", SANDBOX_WORKDIR]
    for path in python_paths():  # after the private /tmp, or a Python or checkout under /tmp would be hidden
        args += ["--ro-bind", path, path]
    content = PACKAGE_DIR / "_content"
    if content.is_dir():  # an installed wheel ships the exercises' checks and the references here: hide them
        args += ["--tmpfs", str(content)]
    args += ["--ro-bind", str(host_workdir), SANDBOX_INBOX]  # after the tmpfs, or it would hide it
    args += ["--proc", "/proc", "--dev", "/dev", "--chdir", SANDBOX_WORKDIR, "--clearenv"]
    for name, value in base_environment(SANDBOX_TMP).items():
        args += ["--setenv", name, value]
    return args


def python_paths() -> List[str]:
    """The folders the worker's Python needs, read-only: the installation (and a virtualenv's), its
    site-packages, and the mhaquiz package (never the folder around it: in a source checkout that holds the
    exercises and solutions). Symlinked folders appear under both names. Folders under /usr are bound already."""
    candidates = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, str(PACKAGE_DIR),
                  os.path.dirname(sys.executable), *site.getsitepackages()}
    user_site = site.getusersitepackages() if site.ENABLE_USER_SITE else None
    if user_site and os.path.isdir(user_site):
        candidates.add(user_site)
    paths = set()
    for candidate in candidates:
        for path in (os.path.abspath(candidate), os.path.realpath(candidate)):
            if os.path.isdir(path) and path != "/" and not path.startswith("/usr/"):
                paths.add(path)
    ordered = sorted(paths)
    return [path for path in ordered if not any(path.startswith(other + os.sep) for other in ordered if other != path)]


@functools.lru_cache(maxsize=None)
def bwrap_version(executable: str) -> Optional[str]:
    try:
        out = subprocess.run([executable, "--version"], capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return out.split()[-1] if out.split() else None


def choose(mode: str = "auto") -> Tuple[object, Optional[str]]:
    """The engine for `mode` (auto: bwrap when on PATH), and why the strong one is not used (None if it is).

    `bwrap` asks for the strong sandbox only: without it the caller refuses to run (fail closed)."""
    if mode == "process":
        return ProcessEngine(), "the plain-process sandbox was asked for (--sandbox process)"
    executable = shutil.which("bwrap")
    if executable:
        return BwrapEngine(executable), None
    return ProcessEngine(), "bwrap (bubblewrap) is not installed: apt-get install bubblewrap"
