"""The operating-system layer of the sandbox, applied inside the forked child before a program runs.

Each guard holds on its own, and as root too (none relies on file permissions of the caller):

* rlimits: CPU seconds, address space, no file growth (RLIMIT_FSIZE=0), no core dumps, few descriptors;
* a dropped uid/gid (nobody) when started as root, so RLIMIT_NPROC and file permissions apply;
* seccomp (libseccomp via pyseccomp): no execve, no new processes (clone without CLONE_THREAD, fork,
  vfork), no sockets, no file creation, writing, renaming or removal, no ptrace, io_uring, bpf, mounts,
  namespaces, and no OS entropy (programs stay deterministic);
* Landlock (where the kernel has it): the file system is read-only and only the Python installation
  (interpreter, standard library, site-packages) can be read at all; TCP bind/connect are refused;
* a Python audit hook (PEP 578) that stops opens outside those folders, process, socket, ctypes and
  introspection events, raised even from inside numpy or sympy.

Which guards were active is reported with every result (`layers`), so a machine without Landlock or
libseccomp is visible rather than silently weaker.
"""

from __future__ import annotations

import ctypes
import errno
import os
import resource
import sys
from collections.abc import Iterable

from physlora.tools.restricted import ForbiddenOperation, forbid

try:  # loaded here, in the warm worker: a locked-down child could no longer find libseccomp.so
    import pyseccomp as _seccomp
except (ImportError, OSError):
    _seccomp = None

NOBODY = 65534

# Audit events a program must never cause (prefix match on the event name).
_DENIED_EVENTS = (
    "os.system", "os.exec", "os.fork", "os.forkpty", "os.posix_spawn", "os.spawn", "os.kill", "os.killpg",
    "os.remove", "os.unlink", "os.rename", "os.rmdir", "os.mkdir", "os.chmod", "os.chown", "os.chflags", "os.link",
    "os.symlink", "os.truncate", "os.utime", "os.putenv", "os.unsetenv", "os.setxattr", "os.removexattr",
    "os.chdir", "os.startfile", "os.add_dll_directory", "os.listxattr", "os.getxattr",
    "subprocess.", "pty.", "socket.", "ctypes.", "shutil.", "webbrowser.", "urllib.", "http.", "ftplib.",
    "smtplib.", "poplib.", "imaplib.", "nntplib.", "telnetlib.", "sqlite3.", "mmap.", "resource.", "signal.",
    "sys._getframe", "sys.settrace", "sys.setprofile", "sys._current_frames", "sys.addaudithook", "gc.get_",
    "code.__new__", "function.__new__", "marshal.dumps", "pickle.", "cpython.run_", "cpython._PySys_ClearAuditHooks",
    "_thread.start_new_thread", "winreg.", "msvcrt.",
)  # fmt: skip
# Modules that library code must not load while a program runs (the program's own imports are held to
# physlora.tools.restricted.ALLOWED_MODULES already; these are lazy imports from inside allowed libraries).
_DENIED_IMPORTS = frozenset(
    "subprocess socket _socket ssl ctypes _ctypes multiprocessing _multiprocessing _posixsubprocess pty shutil "
    "tempfile glob threading _thread signal resource select selectors asyncio http urllib ftplib smtplib "
    "telnetlib webbrowser pickle _pickle marshal shelve sqlite3 mmap fcntl termios gc runpy code codeop pdb "
    "importlib.util zipimport".split()
)


# shared libraries that extension modules load lazily (zlib, libffi...): nothing private lives there
_SYSTEM_LIBRARIES = ("/usr/lib", "/lib", "/usr/lib64", "/lib64", "/usr/local/lib", "/etc/ld.so.cache")


def read_roots() -> list[str]:
    """Folders a program's libraries may read from: the interpreter's prefixes and every sys.path folder
    (standard library, site-packages, an editable checkout's src/)."""
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, *_SYSTEM_LIBRARIES}
    roots.update(p for p in sys.path if p and os.path.isdir(p))
    return sorted({os.path.realpath(r) for r in roots if os.path.exists(r)})


# ---------------------------------------------------------------- audit hook


def install_audit_hook(roots: Iterable[str]) -> None:
    """Refuse forbidden events from here on, for the rest of the process (hooks cannot be removed).
    Each refusal is also recorded (restricted.forbid), so a program that catches the error still fails."""
    prefixes = tuple(r.rstrip("/") + "/" for r in roots)
    denied_events, denied_imports = _DENIED_EVENTS, _DENIED_IMPORTS
    realpath = os.path.realpath
    write_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND

    def refuse(message: str):
        raise forbid(ForbiddenOperation(message))

    def hook(event: str, args: tuple) -> None:
        if event == "open":
            path, mode, flags = (tuple(args) + (None, None, None))[:3]
            if isinstance(mode, str) and any(c in mode for c in "wax+"):
                refuse(f"writing files is not allowed ({path!r})")
            if isinstance(flags, int) and flags & write_flags:
                refuse(f"writing files is not allowed ({path!r})")
            if not isinstance(path, (str, bytes)) or not (realpath(os.fsdecode(path)) + "/").startswith(prefixes):
                refuse(f"reading {path!r} is not allowed")
        elif event == "import":
            name = str(args[0]) if args else ""
            if name in denied_imports or name.split(".")[0] in denied_imports:
                refuse(f"loading module '{name}' is not allowed")
        elif event in ("os.listdir", "os.scandir"):  # import machinery lists package folders
            path = args[0] if args else None
            if not isinstance(path, (str, bytes)) or not (realpath(os.fsdecode(path)) + "/").startswith(prefixes):
                refuse(f"listing {path!r} is not allowed")
        elif event.startswith(denied_events) or event == "compile" and _compiles_dunders(args, prefixes):
            refuse(f"operation '{event}' is not allowed")
        elif event == "object.__setattr__" and len(args) > 1 and args[1] in ("__code__", "__globals__"):
            refuse("replacing a function's code is not allowed")

    sys.addaudithook(hook)


def _compiles_dunders(args: tuple, prefixes: tuple[str, ...]) -> bool:
    """Library code (sympy's parser) may compile expressions, but not code that mentions dunder names
    (`__import__`, `__class__`): the way out of the restricted namespace. Modules the import system
    compiles from their files below the installation are fine ('marshal.loads' of their .pyc is too)."""
    source, filename = (tuple(args) + (None, None))[:2]
    if isinstance(filename, (str, bytes)) and (os.path.realpath(os.fsdecode(filename)) + "/").startswith(prefixes):
        return False
    if isinstance(source, bytes):
        source = source.decode("utf-8", "replace")
    return isinstance(source, str) and "__" in source


# ---------------------------------------------------------------- rlimits and identity


def _vm_size_bytes() -> int:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def apply_rlimits(cpu_seconds: float, memory_mb: int) -> None:
    """CPU time (soft: SIGXCPU, which the program sees as CpuLimit; hard one second later: SIGKILL) and an
    address space of what the warm interpreter already maps + `memory_mb`."""
    cpu = max(1, int(round(cpu_seconds)))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    address_space = _vm_size_bytes() + memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))


def _world_readable(path: str) -> bool:
    """Whether uid nobody could read `path`: o+x on every ancestor folder, o+r (o+rx for a folder) on it."""
    import stat

    parts = os.path.realpath(path).split("/")
    for i in range(1, len(parts) + 1):
        try:
            mode = os.stat("/".join(parts[:i]) or "/").st_mode
        except OSError:
            return False
        last = i == len(parts)
        need = (stat.S_IROTH | (stat.S_IXOTH if stat.S_ISDIR(mode) else 0)) if last else stat.S_IXOTH
        if mode & need != need:
            return False
    return True


def drop_privileges(roots: list[str]) -> str | None:
    """As root, become uid/gid nobody with no supplementary groups and no processes (RLIMIT_NPROC = 0; the
    kernel never enforces it for uid 0). Where the Python installation is not readable by nobody (a
    pyenv under /root), nobody keeps one capability, CAP_DAC_READ_SEARCH (read any file), so lazy
    imports still work; Landlock and the audit hook then decide what may be read.
    Returns the name of the identity layer, or None when not root (then only RLIMIT_NPROC applies)."""
    resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))
    if os.geteuid() != 0:
        return None
    libc = ctypes.CDLL(None, use_errno=True)
    keep_read = not all(_world_readable(r) for r in roots)
    _clear_bounding_and_ambient(libc)
    if keep_read:
        PR_SET_KEEPCAPS = 8
        libc.prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0)
    os.setgroups([])
    os.setresgid(NOBODY, NOBODY, NOBODY)
    os.setresuid(NOBODY, NOBODY, NOBODY)
    if not keep_read:
        return "uid-nobody"
    CAP_DAC_READ_SEARCH = 2
    _capset(libc, 1 << CAP_DAC_READ_SEARCH)
    return "uid-nobody+read-capability"


_SYS_CAPSET = {"x86_64": 126, "aarch64": 91}


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def _clear_bounding_and_ambient(libc) -> None:
    PR_CAPBSET_DROP, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 24, 47, 4
    libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    for cap in range(64):
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 and ctypes.get_errno() == errno.EINVAL:
            break  # past the last capability this kernel knows


def _capset(libc, caps: int) -> None:
    """Set effective = permitted = `caps` (a bit mask of the first 32 capabilities), nothing inheritable.
    ctypes: the Python bindings of libcap need a compiler and libcap headers to install."""
    header, data = _CapHeader(0x20080522, 0), (_CapData * 2)()  # _LINUX_CAPABILITY_VERSION_3
    data[0].effective = data[0].permitted = caps
    number = _SYS_CAPSET.get(os.uname().machine)
    if number is None or libc.syscall(number, ctypes.byref(header), ctypes.byref(data)) != 0:
        raise OSError(ctypes.get_errno(), "capset failed")


# ---------------------------------------------------------------- Landlock

# Landlock has no maintained Python binding with a stable release, and the three syscalls need ~40 lines of
# ctypes: kept here (constants from linux/landlock.h).
_SYS_LANDLOCK = {"x86_64": (444, 445, 446), "aarch64": (444, 445, 446)}
_FS_READ = (1 << 2) | (1 << 3)  # READ_FILE | READ_DIR
_FS_ALL_BY_ABI = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 4: (1 << 15) - 1}
_NET_ALL = (1 << 0) | (1 << 1)  # BIND_TCP | CONNECT_TCP (ABI >= 4)


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64)]


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def landlock_read_only(roots: Iterable[str]) -> bool:
    """Restrict this process (and anything it could start) to reading below `roots`, writing nowhere and
    no TCP. False where the kernel has no Landlock; raises if Landlock is there but refuses the rules."""
    numbers = _SYS_LANDLOCK.get(os.uname().machine)
    if numbers is None:
        return False
    create, add_rule, restrict = numbers
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    abi = libc.syscall(create, None, ctypes.c_size_t(0), ctypes.c_uint32(1))  # LANDLOCK_CREATE_RULESET_VERSION
    if abi < 1:
        return False
    fs_all = _FS_ALL_BY_ABI.get(abi, (1 << 16) - 1)  # ABI 5+ adds IOCTL_DEV (bit 15)
    attr = _RulesetAttr(fs_all, _NET_ALL if abi >= 4 else 0)
    size = ctypes.sizeof(_RulesetAttr) if abi >= 4 else 8
    ruleset = libc.syscall(create, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    if ruleset < 0:
        raise OSError(ctypes.get_errno(), "landlock_create_ruleset failed")
    try:
        for root in roots:
            try:
                fd = os.open(root, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue
            try:
                allowed = _FS_READ if os.path.isdir(root) else (1 << 2)  # a file has no READ_DIR right
                rule = _PathBeneath(allowed & fs_all, fd)
                if libc.syscall(add_rule, ctypes.c_int(ruleset), ctypes.c_int(1), ctypes.byref(rule), ctypes.c_uint32(0)) < 0:
                    raise OSError(ctypes.get_errno(), f"landlock_add_rule failed for {root}")
            finally:
                os.close(fd)
        _no_new_privs(libc)
        if libc.syscall(restrict, ctypes.c_int(ruleset), ctypes.c_uint32(0)) < 0:
            raise OSError(ctypes.get_errno(), "landlock_restrict_self failed")
    finally:
        os.close(ruleset)
    return True


def _no_new_privs(libc) -> None:
    PR_SET_NO_NEW_PRIVS = 38
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")


# ---------------------------------------------------------------- seccomp

_DENY = (
    "execve", "execveat", "fork", "vfork", "socket", "socketpair", "connect", "bind", "listen", "accept", "accept4",
    "ptrace", "process_vm_readv", "process_vm_writev", "io_uring_setup", "io_uring_enter", "io_uring_register",
    "bpf", "perf_event_open", "userfaultfd", "mount", "umount2", "pivot_root", "chroot", "unshare", "setns",
    "creat", "unlink", "unlinkat", "rename", "renameat", "renameat2", "mkdir", "mkdirat", "rmdir", "link", "linkat",
    "symlink", "symlinkat", "chmod", "fchmod", "fchmodat", "chown", "fchown", "lchown", "fchownat", "truncate",
    "ftruncate", "mknod", "mknodat", "memfd_create", "keyctl", "add_key", "request_key", "init_module",
    "finit_module", "delete_module", "kexec_load", "reboot", "swapon", "swapoff", "setuid", "setgid", "setreuid",
    "setregid", "setresuid", "setresgid", "setgroups", "personality", "getrandom", "setxattr", "lsetxattr",
    "fsetxattr", "removexattr", "lremovexattr", "fremovexattr", "utimensat", "utimes", "futimesat", "acct",
    "settimeofday", "clock_settime", "adjtimex", "quotactl", "name_to_handle_at", "open_by_handle_at",
    "fanotify_init", "inotify_init", "inotify_init1",
)  # fmt: skip


def seccomp_lockdown() -> bool:
    """Load the syscall filter (default allow, the list above refused with EPERM; clone only for threads,
    open/openat only read-only). False when libseccomp is not installed."""
    sc = _seccomp
    if sc is None:
        return False
    f = sc.SyscallFilter(sc.ALLOW)
    for name in _DENY:
        _rule(f, sc.ERRNO(errno.EPERM), name)
    _rule(f, sc.ERRNO(errno.EPERM), "clone", sc.Arg(0, sc.MASKED_EQ, 0x00010000, 0))  # no CLONE_THREAD
    _rule(f, sc.ERRNO(errno.ENOSYS), "clone3")  # flags sit in a struct seccomp cannot read: glibc falls back
    _rule(f, sc.ERRNO(errno.ENOSYS), "openat2")
    for flag in (os.O_WRONLY, os.O_RDWR, os.O_CREAT, os.O_TRUNC, os.O_APPEND):
        _rule(f, sc.ERRNO(errno.EPERM), "open", sc.Arg(1, sc.MASKED_EQ, flag, flag))
        _rule(f, sc.ERRNO(errno.EPERM), "openat", sc.Arg(2, sc.MASKED_EQ, flag, flag))
    pid = os.getpid()
    for name in ("kill", "tkill"):  # signals to this process only
        _rule(f, sc.ERRNO(errno.EPERM), name, sc.Arg(0, sc.NE, pid))
    _rule(f, sc.ERRNO(errno.EPERM), "tgkill", sc.Arg(0, sc.NE, pid))
    f.load()
    return True


def _rule(f, action: int, name: str, *args) -> None:
    try:
        f.add_rule(action, name, *args)
    except (OSError, ValueError, RuntimeError):  # a syscall this architecture does not have (open on arm64)
        pass


def die_with_parent() -> None:
    """SIGKILL this process when the zygote that forked it dies (PR_SET_PDEATHSIG)."""
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, 9, 0, 0, 0)


def lock_down(cpu_seconds: float, memory_mb: int, roots: list[str]) -> list[str]:
    """Every OS guard, in the order that keeps each possible (seccomp last: it forbids setuid).
    Returns the names of the guards that are active."""
    layers = ["rlimits"]
    apply_rlimits(cpu_seconds, memory_mb)
    identity = drop_privileges(roots)
    if identity:
        layers.append(identity)
    try:
        if landlock_read_only(roots):
            layers.append("landlock")
    except OSError:
        pass
    if seccomp_lockdown():
        layers.append("seccomp")
    return layers
