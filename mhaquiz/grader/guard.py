"""The second layer of the worker's confinement: a PEP 578 audit hook that refuses, and reports, what graded
code has no reason to do. The kernel (confine.py) is the boundary; this layer names what was tried.

Refused (PermissionError at the line that tried, and an `X` frame to the grader): starting a process
(`subprocess`, `os.system`, `os.fork`, `os.posix_spawn`, `_posixsubprocess.fork_exec`, ...), signalling one
(`os.kill`, `os.killpg`, `signal.pthread_kill`, pidfds), sockets, SQLite, writing outside the working folder
(or into Python and the package even where they sit inside it), reading the learner's data or our exercises,
another process's /proc files, paths relative to a directory descriptor (`dir_fd=`, an `os.open` of a
folder, `..` in an `os.open` path), symlinks pointing out of the folder, `mknod`/`mkfifo`, libc's process
and signal functions through ctypes, `gc.get_objects` and its kin, tracing and profiling hooks, and
replacing a function's code or defaults.

Hardened against the code it watches (PEP 578 warns that a hook in the same interpreter is reachable):
the hook and its helpers are plain functions whose every collaborator (os functions, str methods, builtins,
the event tables, the folders) is bound at install time as a positional default, and all its state is
immutable (frozensets, tuples, strings). Nothing is looked up in `sys.modules` or on a module at call time,
so patching `os.path.realpath`, `builtins` or this module changes nothing; `gc` cannot reach it (refused),
nor can its defaults or code be replaced (refused). What it cannot stop (native code writing memory, a
path-like object answering differently twice) the kernel layers stop.
"""

from __future__ import annotations

import os
import stat
import struct
import sys

PROCESS_EVENTS = frozenset({"os.fork", "os.forkpty", "os.system", "os.exec", "os.posix_spawn", "os.spawn",
                            "subprocess.Popen", "os.startfile", "pty.spawn"})
SIGNAL_EVENTS = frozenset({"os.kill", "os.killpg", "signal.pthread_kill"})
NETWORK_EVENTS = frozenset({"socket.__new__", "socket.connect", "socket.bind", "socket.sendto", "socket.sendmsg"})
INTROSPECTION_EVENTS = frozenset({"gc.get_objects", "gc.get_referrers", "gc.get_referents", "sys.settrace",
                                  "sys.setprofile", "sqlite3.connect"})
FUNCTION_INTERNALS = frozenset({"__code__", "__defaults__", "__kwdefaults__"})  # of the guard's own functions
# event -> (indexes of the paths that must stay inside the working folder, indexes of its dir_fd arguments)
PATH_WRITE_EVENTS = {
    "os.remove": ((0,), (1,)), "os.rmdir": ((0,), (1,)), "os.rename": ((0, 1), (2, 3)), "os.link": ((0, 1), (2, 3)),
    "os.symlink": ((1,), (2,)), "os.mkdir": ((0,), (2,)), "os.chmod": ((0,), (2,)), "os.chown": ((0,), (3,)),
    "os.truncate": ((0,), ()), "os.utime": ((0,), (3,)), "os.chflags": ((0,), ()), "os.setxattr": ((0,), ()),
    "os.removexattr": ((0,), ()), "shutil.rmtree": ((0,), ()),
}
LIBC_SYMBOLS = frozenset({"fork", "vfork", "_Fork", "clone", "clone3", "execve", "execv", "execvp", "execl", "execlp",
                          "execvpe", "fexecve", "system", "popen", "posix_spawn", "posix_spawnp", "kill", "killpg",
                          "tgkill", "tkill", "raise", "sigqueue", "syscall", "ptrace", "prctl", "unshare", "setns",
                          "mount", "socket", "connect", "pidfd_open", "pidfd_send_signal", "process_vm_writev",
                          "process_vm_readv", "daemon", "setsid", "setpgid", "mknod", "mknodat", "mkfifo",
                          "mkfifoat", "unlinkat", "renameat", "renameat2", "openat", "openat2", "linkat",
                          "symlinkat"})
NO_AUDIT_EVENT = (("os", "mknod"), ("os", "mkfifo"), ("os", "pidfd_open"), ("posix", "mknod"), ("posix", "mkfifo"),
                  ("posix", "pidfd_open"), ("signal", "pidfd_send_signal"), ("_signal", "pidfd_send_signal"),
                  ("_posixsubprocess", "fork_exec"))  # functions that raise no audit event: replaced by refusals
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_MAX_TEXT = 4000
_MAX_LINKS = 40


def _resolve(path, own="", _getcwd=os.getcwd, _lstat=os.lstat, _readlink=os.readlink, _islink=stat.S_ISLNK,
             _split=str.split, _startswith=str.startswith, _rpartition=str.rpartition, _isdigit=str.isdigit,
             _OSError=OSError, _ValueError=ValueError):
    """The absolute path with every symlink followed, like os.path.realpath(strict=False), from bound
    primitives only; None when it cannot be resolved (a symlink loop) or when it passes through another
    process's /proc folder (anything but `own`)."""
    if not _startswith(path, "/"):
        path = _getcwd() + "/" + path
    pending = _split(path, "/")
    pending.reverse()
    resolved, links = "", 0
    while pending:
        name = pending.pop()
        if name == "" or name == ".":
            continue
        if name == "..":
            resolved = _rpartition(resolved, "/")[0]
            continue
        candidate = resolved + "/" + name
        if resolved == "/proc" and _isdigit(name) and candidate != own:
            return None
        try:
            mode = _lstat(candidate).st_mode
        except (_OSError, _ValueError):
            resolved = candidate
            continue
        if not _islink(mode):
            resolved = candidate
            continue
        links += 1
        if links > _MAX_LINKS:
            return None
        try:
            target = _readlink(candidate)
        except (_OSError, _ValueError):  # another process's /proc link: taken as it is written
            resolved = candidate
            continue
        if _startswith(target, "/"):
            resolved = ""
        more = _split(target, "/")
        more.reverse()
        pending += more
    return resolved or "/"


def _text(path, _fspath=os.fspath, _decode=bytes.decode, _isinstance=isinstance, _bytes=bytes, _str=str,
          _BaseException=BaseException):
    """A path argument as text, or None when it is not a path."""
    try:
        path = _fspath(path)
    except _BaseException:
        return None
    if _isinstance(path, _bytes):
        return _decode(path, "utf-8", "surrogateescape")
    return path if _isinstance(path, _str) else None


def _inside(real, roots, _startswith=str.startswith):
    for root in roots:
        if real == root or _startswith(real, root + "/"):
            return True
    return False


def install(channel_fd: int, submission: str, write_roots, read_only_roots=(), deny_read_roots=()) -> None:
    """Install the hook (irreversible) and replace the functions that raise no audit event with refusals."""
    import _posixsubprocess  # noqa: F401  (imported so its fork_exec can be replaced before anyone uses it)
    import signal  # noqa: F401
    from json.encoder import encode_basestring_ascii

    real = os.path.realpath
    writable = tuple(sorted({real(root) for root in write_roots}))
    protected = tuple(sorted({real(root) for root in read_only_roots}))  # never written, even inside `writable`
    denied = tuple(sorted({real(root) for root in deny_read_roots}))
    home = (real(os.path.dirname(submission)),)  # its own folder: the only folder it may open as a dir_fd
    own = f"/proc/{os.getpid()}"
    folder = os.path.dirname(real(submission))
    sources = []
    for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
        if name.endswith(".py"):
            try:
                with open(os.path.join(folder, name), encoding="utf-8", errors="replace") as file:
                    sources.append((os.path.join(folder, name), tuple(file.read(1_000_000).splitlines())))
            except OSError:
                pass
    sources = tuple(sources)
    write_events = tuple(sorted(PATH_WRITE_EVENTS.items()))
    watched = frozenset({*PROCESS_EVENTS, *SIGNAL_EVENTS, *NETWORK_EVENTS, *INTROSPECTION_EVENTS, *PATH_WRITE_EVENTS,
                         "open", "object.__setattr__", "ctypes.dlopen", "ctypes.dlsym"})
    header = struct.Struct(">cI").pack

    def describe(_getframe=sys._getframe, _folder=folder, _sources=sources, _rpartition=str.rpartition,
                 _len=len, _str=str, _join=str.join):
        """The submission's own frames on the stack, formatted like a traceback."""
        entries = []  # innermost first, as the stack is walked
        frame = _getframe(2)
        while frame is not None and _len(entries) < 40:
            filename = frame.f_code.co_filename
            if _rpartition(filename, "/")[0] == _folder:
                line = frame.f_lineno
                entry = f'  File "{filename}", line {line}, in {frame.f_code.co_name}\n'
                for path, text in _sources:
                    if path == filename and line is not None and 0 < line <= _len(text):
                        entry += "    " + text[line - 1].strip() + "\n"
                entries.append(entry)
            frame = frame.f_back
        entries.reverse()
        return _join("", entries)[-_MAX_TEXT:]

    def refuse(what, _fd=channel_fd, _write=os.write, _header=header, _escape=encode_basestring_ascii,
               _describe=describe, _encode=str.encode, _len=len, _PermissionError=PermissionError,
               _BaseException=BaseException):
        """Tell the grader (an X frame) and raise at the line that tried."""
        try:
            payload = _encode('{"event": ' + _escape(what[:200]) + ', "where": ' + _escape(_describe()) + "}")
            data = _header(b"X", _len(payload)) + payload
            while data:
                data = data[_write(_fd, data):]
        except _BaseException:  # the report is best effort; the refusal is not
            pass
        raise _PermissionError(f"mhaquiz: {what} is not allowed in graded code")

    def path_refused(event, path, writing, _text=_text, _resolve=_resolve, _inside=_inside, _writable=writable,
                     _protected=protected, _denied=denied, _own=own):
        """Why `path` may not be opened (for writing or reading), or None."""
        text = _text(path)
        if text is None:
            return None
        real = _resolve(text, _own)
        if real is None:  # another process's /proc folder, or a symlink loop
            return f"{event}({text})"
        if writing and real != "/dev/null" and (_inside(real, _protected) or not _inside(real, _writable)):
            return f"{event}({real}) for writing"
        if _inside(real, _denied):
            return f"{event}({real})"
        return None

    def hook(event, args, _watched=watched, _process=PROCESS_EVENTS, _signals=SIGNAL_EVENTS, _network=NETWORK_EVENTS,
             _introspection=INTROSPECTION_EVENTS, _internals=FUNCTION_INTERNALS, _write_events=write_events,
             _libc_symbols=LIBC_SYMBOLS, _refuse=refuse, _path_refused=path_refused, _text=_text, _resolve=_resolve,
             _inside=_inside, _writable=writable, _home=home, _readlink=os.readlink, _stat=os.stat,
             _isdir=stat.S_ISDIR, _isinstance=isinstance, _int=int, _str=str, _bytes=bytes, _len=len,
             _any_flag=_WRITE_FLAGS,
             _split=str.split, _decode=bytes.decode, _OSError=OSError, _ValueError=ValueError, _bool=bool,
             _type=type, _function=type(_inside), _own=own, _str_value=str.__str__, _int_value=int.__index__,
             _int_text=int.__repr__, _ours=frozenset(), _ours_functions=()):
        if event not in _watched:
            return
        if event in _process or event in _signals or event in _network or event in _introspection:
            _refuse(event)
        if event == "open":
            path, mode, flags = (args + (None, None, None))[:3]
            if _isinstance(path, _int):
                return
            flags = flags if _isinstance(flags, _int) else 0
            writing = _bool(flags & _any_flag) or (_isinstance(mode, _str) and ("w" in mode or "a" in mode
                                                                                or "x" in mode or "+" in mode))
            why = _path_refused(event, path, writing)
            if why is not None:
                _refuse(why)
            if mode is None:  # os.open: its path may be relative to a dir_fd the event does not show
                text = _text(path)
                if text is not None and ".." in _split(text, "/"):
                    _refuse(f"os.open({text}) with '..'")
                real = _resolve(text, _own) if text is not None else None
                try:
                    folder = real is not None and _isdir(_stat(real).st_mode)
                except (_OSError, _ValueError):
                    folder = False
                if folder and not _inside(real, _home):
                    _refuse(f"os.open({real}) of a folder")
            return
        if event == "object.__setattr__":
            if _len(args) > 1 and args[1] in _internals and _type(args[0]) is _function:
                if args[0].__code__ in _ours or args[1] == "__code__" and args[0] in _ours_functions:
                    _refuse(f"replacing the guard's {args[1]}")
            return
        if event == "ctypes.dlopen" or event == "ctypes.dlsym":  # names as exact str (a subclass's methods lie)
            name = (args[0] if args else None) if event == "ctypes.dlopen" else (args[1] if _len(args) > 1 else None)
            if _isinstance(name, _bytes):
                name = _decode(name, "utf-8", "replace")
            elif _isinstance(name, _str):
                name = _str_value(name)
            elif name is not None:
                return  # dlsym by ordinal
            if event == "ctypes.dlopen" and (name is None or "libc." in name or "libpthread" in name):
                _refuse(f"ctypes.dlopen({name})")
            if event == "ctypes.dlsym" and name in _libc_symbols:
                _refuse(f"ctypes.dlsym({name})")
            return
        for name, (paths, dir_fds) in _write_events:
            if name != event:
                continue
            for index in dir_fds:
                if index < _len(args) and _isinstance(args[index], _int) and args[index] != -1:
                    _refuse(f"{event}(dir_fd={args[index]})")
            for index in paths:
                if index >= _len(args):
                    continue
                path = args[index]
                if _isinstance(path, _int):  # a descriptor: what it refers to
                    try:
                        path = _readlink("/proc/self/fd/" + _int_text(_int_value(path)))
                    except (_OSError, _ValueError):
                        _refuse(f"{event}(fd {path})")
                why = _path_refused(event, path, True)
                if why is not None:
                    _refuse(why)
            if event == "os.symlink" and args:  # a link leading out of the folder
                target, link = _text(args[0]), _text(args[1]) if _len(args) > 1 else None
                if target is not None and link is not None:
                    base = _resolve(link, _own)
                    base = base.rpartition("/")[0] if base else ""
                    real = _resolve(target if target.startswith("/") else base + "/" + target, _own)
                    if real is None or not _inside(real, _writable):
                        _refuse(f"os.symlink({target}) pointing out of its folder")
            return

    replacements = []
    for module_name, attribute in NO_AUDIT_EVENT:
        module = sys.modules.get(module_name)
        if module is not None and hasattr(module, attribute):
            def refused(*args, _refuse=refuse, _name=f"{module_name}.{attribute}", **kwargs):
                _refuse(_name)
            refused.__name__ = attribute
            setattr(module, attribute, refused)
            replacements.append(refused)
    ours = (hook, refuse, describe, path_refused, _resolve, _text, _inside, *replacements)
    defaults = list(hook.__defaults__)  # the guard's own functions, known to the hook by their code
    names = hook.__code__.co_varnames[2:hook.__code__.co_argcount]
    defaults[names.index("_ours")] = frozenset(function.__code__ for function in ours)
    defaults[names.index("_ours_functions")] = ours
    hook.__defaults__ = tuple(defaults)
    sys.addaudithook(hook)
