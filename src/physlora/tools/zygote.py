"""The sandbox's warm worker: `python -m physlora.tools.zygote CONFIG_JSON`, started by physlora.tools.sandbox.

It imports the allowed libraries once (numpy, sympy, pint... take ~1-2 s to import), then serves requests,
one JSON line each on stdin: for every program it forks a fresh child, which locks itself down
(physlora.tools.jail), runs the program restricted (physlora.tools.restricted) and reports one JSON result
through a pipe. The zygote enforces the wall-clock limit, kills the child's process group, reaps it and
answers with one JSON line on stdout. Fork gives every program a clean copy of the warm interpreter in
milliseconds, and nothing a program does can reach the next one.

multiprocessing's forkserver does the same forking but unpickles the work in the child before any guard
can be applied and has no wall-clock kill; this loop is short enough to own.
"""

from __future__ import annotations

import json
import os
import resource
import select
import signal
import sys
import time

from physlora.tools import jail
from physlora.tools.restricted import ALLOWED_MODULES, CappedText, CpuLimit, describe_exception, run_restricted

STDERR_CHARS = 2000
WARMUP = """
import math, cmath, fractions, decimal, statistics, itertools, functools, collections, random
import numpy as np
a = np.linspace(0.0, 1.0, 5)
print(f"{np.trapezoid(a * a, a) if hasattr(np, 'trapezoid') else np.trapz(a * a, a):.3g}", np.linalg.norm(a))
print(np.array([[1.0, 2.0], [3.0, 4.0]]) @ np.ones(2), np.sqrt(2.0) * np.pi)
import sympy as sp
x = sp.symbols('x', positive=True)
print(sp.solve(x**2 - 2, x), sp.integrate(sp.sin(x) * sp.exp(-x), (x, 0, sp.oo)), sp.N(sp.pi, 5), sp.simplify((x**2 - 1) / (x - 1)))
import pint
u = pint.UnitRegistry()
print((3.0 * u.meter / u.second).to(u.kilometer / u.hour), f"{(2 * u.newton * u.meter).to('J'):~P}")
from scipy import constants
print(constants.c, constants.physical_constants['electron mass'][0])
from scipy import integrate, optimize, special
print(integrate.quad(lambda t: t * t, 0, 1)[0], optimize.brentq(lambda t: t * t - 2, 0, 2), special.gamma(4.5))
from fractions import Fraction
print(Fraction(1, 3) + Fraction(1, 6), '{:.2e}'.format(12345.678), round(2.5), sorted({3, 1, 2}))
"""


def _warm_up() -> None:
    """Import every allowed module that is installed and exercise the common paths once, so that lazy
    imports happen here (unrestricted) rather than in a locked-down child."""
    for name in ALLOWED_MODULES:
        try:
            __import__(name)
        except ImportError:
            pass
    out, err = CappedText(100_000), CappedText(100_000)
    status, message = run_restricted(WARMUP, out, err)
    if status != "ok":
        print(f"physlora sandbox warm-up: {status}: {message}", file=sys.stderr, flush=True)


def _child(request: dict, result_fd: int, roots: list[str], workdir: str) -> None:
    """In the forked child: lock down, run, report, exit (never returns)."""
    dumps, write = json.dumps, os.write  # bound before the program runs, so it cannot replace them
    try:
        layers = _lock_down_child(request, result_fd, roots, workdir)
    except Exception as e:  # noqa: BLE001 - a guard that cannot be applied means no program runs
        result = {"status": "sandbox_error", "stdout": "", "stderr": f"could not lock the sandbox down: {e}",
                  "truncated": False, "layers": []}
    else:
        result = _run_child_program(request, layers, roots)
    try:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        result["cpu_seconds"] = usage.ru_utime + usage.ru_stime
        data = dumps(result).encode()
        while data:
            data = data[write(result_fd, data[:65536]) :]
        os.close(result_fd)  # EOF now: the zygote answers before this large process is torn down
    except BaseException:  # noqa: BLE001 - the zygote classifies a child that reports nothing
        os._exit(3)
    os._exit(0)


def _lock_down_child(request: dict, result_fd: int, roots: list[str], workdir: str) -> list[str]:
    os.setsid()  # its own process group: the zygote kills the group on timeout
    jail.die_with_parent()
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)  # native code writing to fd 1/2 writes nowhere
    os.closerange(3, result_fd)
    os.closerange(result_fd + 1, 1024)
    os.chdir(workdir)
    import random

    random.seed(0)  # same program, same output: also across zygote restarts
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed(0)
    signal.signal(signal.SIGXCPU, _raise_cpu_limit)
    layers = jail.lock_down(request["cpu_seconds"], request["memory_mb"], roots) if request.get("os_guards", True) else []
    if request.get("python_guards", True):
        layers = ["restricted-python", *layers, "audit-hook"]
    sys.setrecursionlimit(request.get("recursion_limit", 400))
    return layers


def _run_child_program(request: dict, layers: list[str], roots: list[str]) -> dict:
    out, err = CappedText(request["output_chars"]), CappedText(STDERR_CHARS)
    if request.get("python_guards", True):
        # the hook goes in after the program is compiled (it refuses compiling code with dunder names)
        status, message = run_restricted(request["code"], out, err, lambda: jail.install_audit_hook(roots))
    else:  # OS guards alone (tests of that layer only; never used for model-written code)
        status, message = _run_unrestricted(request["code"], out, err)
    return {"status": status, "stdout": out.getvalue(), "stderr": (message + "\n" + err.getvalue()).strip(),
            "truncated": out.truncated, "layers": layers}


def _raise_cpu_limit(signum, frame) -> None:
    raise CpuLimit("the program used up its CPU time")


def _run_unrestricted(code: str, out: CappedText, err: CappedText) -> tuple[str, str]:
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    try:
        exec(compile(code, "<program>", "exec"), {"__name__": "__program__"})
    except SyntaxError as e:
        return "syntax_error", f"SyntaxError: {e}"
    except BaseException as e:  # noqa: BLE001
        return describe_exception(e)
    finally:
        sys.stdout, sys.stderr = saved
    return "ok", ""


def _collect(read_fd: int, pid: int, wall_seconds: float) -> tuple[bytes, bool]:
    """Read the child's report until EOF or the wall-clock deadline (then kill its process group)."""
    deadline, chunks, timed_out = time.monotonic() + wall_seconds, [], False
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            timed_out = True
            break
        ready, _, _ = select.select([read_fd], [], [], left)
        if not ready:
            continue
        chunk = os.read(read_fd, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    if timed_out:
        for kill in (os.killpg, os.kill):
            try:
                kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
    return b"".join(chunks), timed_out


def _classify(timed_out: bool, wait_status: int, cpu: float, request: dict) -> dict:
    if timed_out:
        status, message = "timeout", f"killed after {request['wall_seconds']:g} s of wall-clock time"
    elif os.WIFSIGNALED(wait_status) and os.WTERMSIG(wait_status) in (signal.SIGXCPU, signal.SIGKILL) and \
            cpu >= request["cpu_seconds"] * 0.9:
        status, message = "cpu_limit", f"killed after {cpu:.1f} s of CPU time"
    elif os.WIFSIGNALED(wait_status):
        status, message = "crashed", f"killed by signal {signal.Signals(os.WTERMSIG(wait_status)).name}"
    else:
        status, message = "crashed", f"exited with code {os.WEXITSTATUS(wait_status)} without a result"
    return {"status": status, "stdout": "", "stderr": message, "truncated": False, "layers": []}


def serve_one(request: dict, roots: list[str], workdir: str) -> dict:
    read_fd, write_fd = os.pipe()
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read_fd)
            _child(request, write_fd, roots, workdir)
        finally:
            os._exit(4)  # a child must never return into the zygote's loop
    os.close(write_fd)
    try:
        data, timed_out = _collect(read_fd, pid, request["wall_seconds"])
    finally:
        os.close(read_fd)
    reply = _reported(data) if not timed_out else None
    if reply is None:  # killed, crashed or silent: its exit status says why
        _, wait_status, usage = os.wait4(pid, 0)
        cpu = usage.ru_utime + usage.ru_stime
        reply = _classify(timed_out, wait_status, cpu, request) | {"cpu_seconds": cpu}
    else:
        _UNREAPED.append(pid)  # reaped after the reply: tearing down a forked numpy takes ~10-50 ms
    reply.update(id=request.get("id"), cpu_seconds=round(float(reply.get("cpu_seconds", 0.0)), 4),
                 child_seconds=round(time.monotonic() - started, 4))
    return reply


_UNREAPED: list[int] = []


def reap_finished() -> None:
    """Wait for children that already reported (they exit right after)."""
    while _UNREAPED:
        os.waitpid(_UNREAPED.pop(), 0)


def _reported(data: bytes) -> dict | None:
    if not data:
        return None
    try:
        return json.loads(data)
    except ValueError:
        return None


def main() -> None:
    config = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    protocol = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)  # anything else printed goes to stderr, never into the protocol
    workdir = config.get("workdir") or os.getcwd()
    _warm_up()
    roots = jail.read_roots()
    protocol.write(json.dumps({"ready": True, "pid": os.getpid()}) + "\n")
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        try:
            reply = serve_one(request, roots, workdir)
        except Exception as e:  # noqa: BLE001 - report and keep serving
            reply = {"id": request.get("id"), "status": "sandbox_error", "stdout": "", "stderr": f"{type(e).__name__}: {e}",
                     "truncated": False, "layers": [], "cpu_seconds": 0.0, "child_seconds": 0.0}
        protocol.write(json.dumps(reply) + "\n")
        reap_finished()
    os._exit(0)  # stdin closed: nothing to clean up, and tearing down numpy/sympy would take seconds


if __name__ == "__main__":
    main()
