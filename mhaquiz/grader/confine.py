"""The worker confines itself with the kernel, irreversibly, before the submission is imported.

Standard library only (it runs in the worker); the system calls go through ctypes. `lock_down` applies, in
this order, each as far as this kernel allows (best effort by ABI, as the kernel documentation's sample does):

1. `PR_SET_NO_NEW_PRIVS`: no exec can gain privileges (and the two layers below need it).
2. Landlock (Linux 5.13+, no privileges needed, root included): the process and anything it could start may
   read and execute only the system (/usr, /lib*, /bin, a few /etc files, /proc, /sys, /dev/null and the
   random devices), Python's installation and site-packages and the mhaquiz package (minus our exercises and
   solutions where they sit inside it), and its working folder; it may write only its working folder (and
   /dev/null). ABI >= 4: no TCP bind or connect. ABI >= 6: signals and abstract Unix sockets scoped to the
   sandbox, so it cannot signal or connect to the grader. Paths are resolved by the kernel against these
   rules (relative paths, dir_fd, /proc/<pid>/cwd, symlinks), and another process's /proc files that need
   ptrace rights (fd, cwd, environ, mem) are refused as Landlock refuses ptrace outside the sandbox.
3. seccomp (a BPF filter; x86_64 and aarch64, any other architecture is skipped and said so): no new
   process (fork, vfork, clone without CLONE_THREAD, execve, execveat: EPERM; clone3: ENOSYS, so the C
   library falls back to clone for threads, which keep working), no socket of any family (socketpair
   stays), no ptrace or process_vm_*, signals only to itself (kill to its own pid, tgkill to its own
   threads), no pidfd_open / pidfd_send_signal / pidfd_getfd, no io_uring (its operations would bypass this
   filter), and none of namespaces, mounts, bpf, perf events, userfaultfd, keyrings, kernel modules or
   file handles. This is the bound on processes: stronger than RLIMIT_NPROC, which root ignores.
4. The audit-hook guard (guard.py): a second layer that refuses and reports what it sees.

The grader never believes what the worker says it reached: `probe()` tells the grader (and `doctor`) what
this kernel offers, and the hostile tests check that it holds.
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct
from typing import Iterable, List, Optional, Sequence, Tuple

# --- Landlock ----------------------------------------------------------------------------------------------

SYS_LANDLOCK_CREATE_RULESET, SYS_LANDLOCK_ADD_RULE, SYS_LANDLOCK_RESTRICT_SELF = 444, 445, 446  # every arch
LANDLOCK_CREATE_RULESET_VERSION = 1
LANDLOCK_RULE_PATH_BENEATH = 1

FS_EXECUTE = 1 << 0
FS_WRITE_FILE = 1 << 1
FS_READ_FILE = 1 << 2
FS_READ_DIR = 1 << 3
FS_REMOVE_DIR = 1 << 4
FS_REMOVE_FILE = 1 << 5
FS_MAKE_CHAR = 1 << 6
FS_MAKE_DIR = 1 << 7
FS_MAKE_REG = 1 << 8
FS_MAKE_SOCK = 1 << 9
FS_MAKE_FIFO = 1 << 10
FS_MAKE_BLOCK = 1 << 11
FS_MAKE_SYM = 1 << 12
FS_REFER = 1 << 13  # ABI 2
FS_TRUNCATE = 1 << 14  # ABI 3
FS_IOCTL_DEV = 1 << 15  # ABI 5
NET_BIND_TCP, NET_CONNECT_TCP = 1 << 0, 1 << 1  # ABI 4
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1  # ABI 6

FS_ALL_V1 = (1 << 13) - 1
FILE_RIGHTS = FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE | FS_IOCTL_DEV  # what a rule on a file may hold
READ = FS_EXECUTE | FS_READ_FILE | FS_READ_DIR

SYSTEM_FOLDERS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/proc", "/sys")
SYSTEM_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/alternatives", "/etc/localtime",
                "/etc/passwd", "/etc/group", "/dev/urandom", "/dev/random", "/dev/zero")  # the strong sandbox's /etc too
READ_WRITE_FILES = ("/dev/null",)

# --- seccomp -----------------------------------------------------------------------------------------------

PR_SET_NO_NEW_PRIVS = 38
PR_GET_SECCOMP = 21
SECCOMP_SET_MODE_FILTER = 1
SECCOMP_FILTER_FLAG_TSYNC = 1
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_ERRNO = 0x00050000
CLONE_THREAD = 0x00010000

# Per architecture: its audit arch, the seccomp syscall, and the numbers the filter names
# (arch/x86/entry/syscalls/syscall_64.tbl; include/uapi/asm-generic/unistd.h for aarch64).
ARCHES = {
    "x86_64": {
        "audit_arch": 0xC000003E, "seccomp": 317, "x32_bit": 0x40000000,
        "clone": 56, "clone3": 435, "kill": 62, "tgkill": 234,
        "deny": {"fork": 57, "vfork": 58, "execve": 59, "execveat": 322, "socket": 41, "ptrace": 101,
                 "process_vm_readv": 310, "process_vm_writev": 311, "tkill": 200, "rt_sigqueueinfo": 129,
                 "rt_tgsigqueueinfo": 297, "pidfd_open": 434, "pidfd_send_signal": 424, "pidfd_getfd": 438,
                 "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427, "unshare": 272,
                 "setns": 308, "mount": 165, "umount2": 166, "pivot_root": 155, "chroot": 161, "open_tree": 428,
                 "move_mount": 429, "fsopen": 430, "fsmount": 432, "mount_setattr": 442, "bpf": 321,
                 "userfaultfd": 323, "perf_event_open": 298, "keyctl": 250, "add_key": 248, "request_key": 249,
                 "kexec_load": 246, "init_module": 175, "finit_module": 313, "name_to_handle_at": 303,
                 "open_by_handle_at": 304},
    },
    "aarch64": {
        "audit_arch": 0xC00000B7, "seccomp": 277, "x32_bit": None,
        "clone": 220, "clone3": 435, "kill": 129, "tgkill": 131,
        "deny": {"execve": 221, "execveat": 281, "socket": 198, "ptrace": 117, "process_vm_readv": 270,
                 "process_vm_writev": 271, "tkill": 130, "rt_sigqueueinfo": 138, "rt_tgsigqueueinfo": 240,
                 "pidfd_open": 434, "pidfd_send_signal": 424, "pidfd_getfd": 438, "io_uring_setup": 425,
                 "io_uring_enter": 426, "io_uring_register": 427, "unshare": 97, "setns": 268, "mount": 40,
                 "umount2": 39, "pivot_root": 41, "chroot": 51, "open_tree": 428, "move_mount": 429, "fsopen": 430,
                 "fsmount": 432, "mount_setattr": 442, "bpf": 280, "userfaultfd": 282, "perf_event_open": 241,
                 "keyctl": 219, "add_key": 217, "request_key": 218, "kexec_load": 104, "init_module": 105,
                 "finit_module": 273, "name_to_handle_at": 264, "open_by_handle_at": 265},
    },
}
ARCHES["arm64"] = ARCHES["aarch64"]
ARCHES["amd64"] = ARCHES["x86_64"]


class ConfineError(Exception):
    """The kernel offered a layer and refused our rules for it: a bug of ours, never run unconfined."""


def _libc():
    return ctypes.CDLL(None, use_errno=True)


def _syscall(libc, number: int, *args) -> int:
    libc.syscall.restype = ctypes.c_long
    return libc.syscall(ctypes.c_long(number), *args)


# --- what this machine offers (the grader's and doctor's view) ---------------------------------------------


def landlock_abi() -> Optional[int]:
    """The Landlock ABI version this kernel offers, or None (not Linux, too old, or disabled at boot)."""
    try:
        libc = _libc()
    except OSError:
        return None
    version = _syscall(libc, SYS_LANDLOCK_CREATE_RULESET, None, ctypes.c_size_t(0),
                       ctypes.c_uint32(LANDLOCK_CREATE_RULESET_VERSION))
    return version if version > 0 else None


def seccomp_available() -> bool:
    """seccomp filters exist here and the filter knows this architecture's system call numbers."""
    if os.uname().machine not in ARCHES:
        return False
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as status:
            return any(line.startswith("Seccomp:") for line in status)
    except OSError:
        return False


def probe() -> dict:
    """{"landlock": ABI or None, "seccomp": bool}: what the kernel layers reach on this machine."""
    return {"landlock": landlock_abi(), "seccomp": seccomp_available()}


# --- Landlock --------------------------------------------------------------------------------------------------


def _handled_fs(abi: int) -> int:
    rights = FS_ALL_V1
    if abi >= 2:
        rights |= FS_REFER
    if abi >= 3:
        rights |= FS_TRUNCATE
    if abi >= 5:
        rights |= FS_IOCTL_DEV
    return rights


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def allowed_tree(roots: Iterable[str], holes: Iterable[str]) -> List[str]:
    """The paths to grant so that every root is reachable except the holes beneath it: a root with no hole
    under it is granted whole; one with a hole is replaced by its entries, recursively, the hole left out.
    (Landlock rules only add access: a folder inside a granted one cannot be taken away, only not granted.)"""
    holes = sorted({os.path.realpath(hole) for hole in holes})
    granted: List[str] = []

    def visit(path: str, depth: int) -> None:
        if any(_under(path, hole) for hole in holes):
            return
        inside = [hole for hole in holes if _under(hole, path)]
        if not inside:
            granted.append(path)
            return
        if depth > 32 or not os.path.isdir(path):
            return
        try:
            names = sorted(os.listdir(path))
        except OSError:
            return
        for name in names:
            visit(os.path.realpath(os.path.join(path, name)), depth + 1)

    for root in roots:
        if os.path.exists(root):
            visit(os.path.realpath(root), 0)
    return sorted(set(granted))


def landlock(read: Sequence[str], write: Sequence[str], holes: Sequence[str] = (), read_write_files=READ_WRITE_FILES,
             abi: Optional[int] = None) -> Tuple[Optional[int], List[str]]:
    """Restrict this thread (and every thread and process it starts later) to reading `read` and writing
    `write`, minus `holes`. Returns (the ABI applied or None, reasons for what could not be applied)."""
    abi = landlock_abi() if abi is None else abi
    if abi is None:
        return None, ["Landlock is not available on this kernel (Linux 5.13+ with Landlock enabled)"]
    libc = _libc()
    reasons = []
    handled_fs = _handled_fs(abi)
    handled_net = NET_BIND_TCP | NET_CONNECT_TCP if abi >= 4 else 0
    scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL if abi >= 6 else 0
    if abi < 4:
        reasons.append(f"Landlock ABI {abi} cannot refuse TCP (seccomp refuses sockets)")
    if abi < 6:
        reasons.append(f"Landlock ABI {abi} cannot scope signals (seccomp keeps them to the worker itself)")
    attr = struct.pack("=QQQ", handled_fs, handled_net, scoped)
    ruleset = _syscall(libc, SYS_LANDLOCK_CREATE_RULESET, ctypes.c_char_p(attr), ctypes.c_size_t(len(attr)),
                       ctypes.c_uint32(0))
    if ruleset < 0:
        raise ConfineError(f"landlock_create_ruleset: {os.strerror(ctypes.get_errno())}")
    try:
        grants = [(path, READ) for path in allowed_tree(read, holes)]
        grants += [(path, handled_fs) for path in allowed_tree(write, holes)]
        grants += [(path, FS_READ_FILE | FS_WRITE_FILE | FS_TRUNCATE | FS_IOCTL_DEV) for path in read_write_files]
        for path, rights in grants:
            _add_path_rule(libc, ruleset, path, rights & handled_fs)
        no_new_privs(libc)
        if _syscall(libc, SYS_LANDLOCK_RESTRICT_SELF, ctypes.c_int(ruleset), ctypes.c_uint32(0)) < 0:
            raise ConfineError(f"landlock_restrict_self: {os.strerror(ctypes.get_errno())}")
    finally:
        os.close(ruleset)
    return abi, reasons


def _add_path_rule(libc, ruleset: int, path: str, rights: int) -> None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:  # gone or never there (a /lib32 on this system): nothing to grant
        return
    try:
        if not os.path.isdir(path):
            rights &= FILE_RIGHTS
        rule = struct.pack("=Qi", rights, fd)  # struct landlock_path_beneath_attr, packed
        if _syscall(libc, SYS_LANDLOCK_ADD_RULE, ctypes.c_int(ruleset), ctypes.c_int(LANDLOCK_RULE_PATH_BENEATH),
                    ctypes.c_char_p(rule), ctypes.c_uint32(0)) < 0:
            raise ConfineError(f"landlock_add_rule({path}): {os.strerror(ctypes.get_errno())}")
    finally:
        os.close(fd)


def no_new_privs(libc=None) -> None:
    libc = libc or _libc()
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise ConfineError(f"prctl(PR_SET_NO_NEW_PRIVS): {os.strerror(ctypes.get_errno())}")


# --- seccomp ---------------------------------------------------------------------------------------------------

_LD_ABS_W, _JEQ_K, _JGE_K, _JSET_K, _RET_K = 0x20, 0x15, 0x35, 0x45, 0x06
_NR, _ARCH, _ARG0 = 0, 4, 16  # offsets in struct seccomp_data (args[0]'s low 32 bits: little-endian arches)


def _op(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k & 0xFFFFFFFF)  # struct sock_filter


def seccomp_program(arch: dict, pid: int) -> bytes:
    """The BPF filter for one architecture; `pid` is the worker's own (it can start no other process)."""
    eperm, enosys = SECCOMP_RET_ERRNO | errno.EPERM, SECCOMP_RET_ERRNO | errno.ENOSYS
    program = [_op(_LD_ABS_W, _ARCH), _op(_JEQ_K, arch["audit_arch"], jt=1), _op(_RET_K, eperm),  # a foreign ABI
               _op(_LD_ABS_W, _NR)]
    if arch["x32_bit"] is not None:  # x32 system calls share the x86_64 audit arch
        program += [_op(_JGE_K, arch["x32_bit"], jf=1), _op(_RET_K, eperm)]
    for number in sorted(set(arch["deny"].values())):
        program += [_op(_JEQ_K, number, jf=1), _op(_RET_K, eperm)]
    program += [_op(_JEQ_K, arch["clone3"], jf=1), _op(_RET_K, enosys)]
    program += [_op(_JEQ_K, arch["clone"], jf=4), _op(_LD_ABS_W, _ARG0),  # a thread, not a process
                _op(_JSET_K, CLONE_THREAD, jt=1), _op(_RET_K, eperm), _op(_RET_K, SECCOMP_RET_ALLOW)]
    program += [_op(_JEQ_K, arch["kill"], jf=4), _op(_LD_ABS_W, _ARG0),  # itself only (its group holds the warden)
                _op(_JEQ_K, pid, jt=1), _op(_RET_K, eperm), _op(_RET_K, SECCOMP_RET_ALLOW)]
    program += [_op(_JEQ_K, arch["tgkill"], jf=4), _op(_LD_ABS_W, _ARG0),  # its own threads
                _op(_JEQ_K, pid, jt=1), _op(_RET_K, eperm), _op(_RET_K, SECCOMP_RET_ALLOW)]
    program.append(_op(_RET_K, SECCOMP_RET_ALLOW))
    return b"".join(program)


def seccomp(machine: Optional[str] = None) -> Tuple[bool, List[str]]:
    """Install the filter on every thread of this process. Returns (installed, reasons)."""
    machine = machine or os.uname().machine
    arch = ARCHES.get(machine)
    if arch is None:
        return False, [f"seccomp filter skipped: no system call table for {machine}"]
    libc = _libc()
    no_new_privs(libc)
    program = seccomp_program(arch, os.getpid())
    count = len(program) // 8
    filters = ctypes.create_string_buffer(program, len(program))
    fprog = struct.pack("=HxxxxxxQ", count, ctypes.addressof(filters))  # struct sock_fprog
    fprog_buffer = ctypes.create_string_buffer(fprog, len(fprog))
    if _syscall(libc, arch["seccomp"], ctypes.c_uint(SECCOMP_SET_MODE_FILTER), ctypes.c_uint(SECCOMP_FILTER_FLAG_TSYNC),
                fprog_buffer) != 0:
        raise ConfineError(f"seccomp: {os.strerror(ctypes.get_errno())}")
    return True, []


# --- all of it -----------------------------------------------------------------------------------------------


def threads() -> int:
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return 1


def lock_down(channel_fd: int, submission: str, workdir: str, write_roots: Sequence[str] = (),
              read_only: Sequence[str] = (), deny_read: Sequence[str] = ()) -> dict:
    """Confine this process for good (module docstring): Landlock, seccomp, then the audit-hook guard.

    `write_roots` are writable besides `workdir`; `read_only` are Python's and the package's folders; the
    `deny_read` folders (the learner's data, our exercises and solutions) stay unreadable even inside them.
    Returns what was reached: {"landlock": ABI or None, "seccomp": bool, "reasons": [...]}."""
    from mhaquiz.grader import guard

    reasons = []
    if threads() > 1:  # Landlock binds the calling thread and its future children only
        reasons.append(f"{threads()} threads were running before the lock-down")
    writable = [workdir, *write_roots]
    abi, why = landlock([*SYSTEM_FOLDERS, *SYSTEM_FILES, *read_only], writable, deny_read)
    reasons += why
    filtered, why = seccomp()
    reasons += why
    guard.install(channel_fd, submission, writable, read_only, deny_read)
    return {"landlock": abi, "seccomp": filtered, "reasons": reasons}
