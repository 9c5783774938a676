"""Run model-written Python programs safely: out of process, time/memory/output limited, no network, no
file writes, allow-listed imports, deterministic. Usable by evaluation, the grader and reinforcement learning.

    with Sandbox() as box:
        result = box.run("import math\\nprint(f'{math.sqrt(2 * 9.8 * 20):.3g} m/s')")
        result.status, result.stdout        # 'ok', '19.8 m/s\\n'

Every way a program can end is a `ProgramResult` with a named `status` (never an exception), so an
evaluation carries on past a hostile or broken program. The guards, from the program outwards:
RestrictedPython (physlora.tools.restricted), an audit hook, rlimits, a dropped uid/capabilities, Landlock
and seccomp (physlora.tools.jail), each in a fresh fork of a warm worker process (physlora.tools.zygote).

Public API (kept stable for its users: tools-mode evaluation, the grader, reinforcement-learning rewards):

    Sandbox(limits: SandboxLimits | None = None, workers: int = 1)   context manager; close() stops workers
        .run(code) -> ProgramResult          one program; thread-safe (up to `workers` run at once)
        .run_many(codes) -> list[ProgramResult]   on all workers at once, results in input order
    SandboxLimits(cpu_seconds, wall_seconds, memory_mb, output_chars, recursion_limit)   frozen dataclass
    ProgramResult: status (one of STATUSES), stdout, stderr, truncated, seconds, cpu_seconds, layers;
        .ok (status == "ok": ran and printed something), .as_tool_output(max_chars) (what a model is shown)
    STATUSES: every status a program can end with (see `Status` below)
    physlora.tools.programs.extract_program(text) -> str | None   the first fenced Python block of a turn

A worker starts on the first run (~1-3 s), then each program costs one fork (~tens of ms); create one
Sandbox per evaluation / training job and reuse it. run() never raises for anything a program does; it
raises PhysloraError only when the sandbox itself cannot start or was closed.
"""

from __future__ import annotations

import atexit
import json
import os
import queue
import select
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from physlora.errors import PhysloraError

Status = Literal[
    "ok",  # ran and printed something
    "no_output",  # ran to the end and printed nothing
    "syntax_error",  # not valid Python
    "forbidden_code",  # a construct the sandbox refuses (dunder names, __import__, ...), found before running
    "forbidden_import",  # import of a module outside the allow-list
    "forbidden_operation",  # files, processes, network, introspection... refused while running
    "timeout",  # wall-clock limit
    "cpu_limit",  # CPU-time limit
    "memory_limit",  # address-space limit
    "recursion_limit",  # recursion depth
    "output_limit",  # printed more than the cap
    "runtime_error",  # any other exception (ZeroDivisionError, NameError, ...)
    "crashed",  # the process died without a result (a signal)
    "sandbox_error",  # the sandbox itself failed (not the program's fault)
]
STATUSES: tuple[str, ...] = Status.__args__  # type: ignore[attr-defined]


class ProgramResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Status
    stdout: str = ""
    stderr: str = ""  # the error (one line) and any warnings, capped
    truncated: bool = False  # stdout was cut at the output cap
    seconds: float = 0.0  # wall time seen by the caller: request, fork, run, reply
    cpu_seconds: float = 0.0
    layers: list[str] = []  # guards that were active

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def as_tool_output(self, max_chars: int = 800) -> str:
        """What the model sees as the tool's answer: the printed text, or the error."""
        if self.status == "ok":
            text = self.stdout.strip()
            return text[:max_chars] + (" ...(truncated)" if len(text) > max_chars or self.truncated else "")
        if self.status == "no_output":
            return "(the program printed nothing; print the result)"
        first = (self.stderr.strip().splitlines() or [self.status])[0]
        return f"Error ({self.status}): {first}"[:max_chars]


@dataclass(frozen=True)
class SandboxLimits:
    cpu_seconds: float = 2.0
    wall_seconds: float = 5.0
    memory_mb: int = 512  # beyond what the warm interpreter already maps
    output_chars: int = 4000
    recursion_limit: int = 400


class _Worker:
    """One zygote process: started once, asked one program at a time."""

    START_TIMEOUT = 120.0

    def __init__(self, workdir: Path):
        env = {
            "PATH": "/usr/bin:/bin", "HOME": str(workdir), "LANG": "C.UTF-8", "PYTHONHASHSEED": "0",
            "PYTHONDONTWRITEBYTECODE": "1", "PYTHONNOUSERSITE": "1", "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
            "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "NUMEXPR_NUM_THREADS": "1",
        }  # fmt: skip
        self.log = tempfile.TemporaryFile(mode="w+b")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "physlora.tools.zygote", json.dumps({"workdir": str(workdir)})],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, env=env, cwd=workdir,
            start_new_session=True,  # Ctrl-C in the terminal reaches physlora, which then stops the worker
        )
        ready = self._read_line(self.START_TIMEOUT)
        if not _is_ready(ready):
            why = self._log_tail() or (ready or "").strip()[:200] or "no output"  # read before close() closes the log
            self.close()  # stops a worker that printed something else or hung
            raise PhysloraError(
                f"the program sandbox did not start ({why.splitlines()[-1]}); check that `{sys.executable} -m "
                "physlora.tools.zygote` runs (numpy, sympy, pint, scipy installed)")

    def _read_line(self, timeout: float) -> str | None:
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            return None
        line = self.proc.stdout.readline()
        return line.decode("utf-8") if line else None

    def _log_tail(self) -> str:
        self.log.seek(0)
        return self.log.read().decode("utf-8", "replace").strip()[-500:]

    def alive(self) -> bool:
        return self.proc.poll() is None

    def ask(self, request: dict) -> dict | None:
        """The zygote's reply, or None if it died or stopped answering (the caller restarts it)."""
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write((json.dumps(request) + "\n").encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            return None
        line = self._read_line(request["wall_seconds"] + 10.0)
        return json.loads(line) if line else None

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()  # type: ignore[union-attr]
                self.proc.wait(timeout=2)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        for stream in (self.proc.stdout, self.proc.stdin):
            try:
                if stream is not None and not stream.closed:
                    stream.close()
            except OSError:  # unflushed bytes to a dead worker
                pass
        self.log.close()


class Sandbox:
    """A pool of warm workers (`workers` programs can run at once). Start-up (~1-3 s, importing numpy,
    sympy, pint, scipy) happens on the first run; close() (or the with-block) stops the workers."""

    def __init__(self, limits: SandboxLimits | None = None, workers: int = 1):
        if workers < 1:
            raise ValueError("workers must be >= 1")
        self.limits = limits or SandboxLimits()
        self.n_workers = workers
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._all: list[_Worker] = []
        self._lock = threading.Lock()
        self._tmp = tempfile.TemporaryDirectory(prefix="physlora-sandbox-")
        self._workdir = Path(self._tmp.name)
        os.chmod(self._workdir, 0o755)  # children may run as nobody; nothing can be written there anyway
        self._next_id = 0
        self._closed = False
        self._finalizer = weakref.finalize(self, Sandbox._stop, self._all, self._tmp)
        atexit.register(self._finalizer)

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._closed = True
        self._finalizer()

    @staticmethod
    def _stop(workers: list[_Worker], tmp: tempfile.TemporaryDirectory) -> None:
        for w in workers:
            w.close()
        workers.clear()
        tmp.cleanup()

    def _take(self) -> _Worker:
        if self._closed:
            raise PhysloraError("the sandbox was closed")
        with self._lock:
            if self._idle.empty() and len(self._all) < self.n_workers:
                worker = _Worker(self._workdir)
                self._all.append(worker)
                return worker
        return self._idle.get()

    def _replace(self, worker: _Worker) -> None:
        with self._lock:
            worker.close()
            if worker in self._all:
                self._all.remove(worker)

    def run(self, code: str, *, python_guards: bool = True, os_guards: bool = True) -> ProgramResult:
        """Run one program. `python_guards`/`os_guards` = False switch a layer off: for testing the other
        layer alone, never for model-written code."""
        with self._lock:
            self._next_id += 1
            request = {"id": self._next_id, "code": code, "python_guards": python_guards, "os_guards": os_guards,
                       **self.limits.__dict__}
        started = time.perf_counter()
        reply = None
        for _ in range(2):  # a worker that died (killed from outside, out of memory) is replaced once
            worker = self._take()
            try:
                reply = worker.ask(request)
            except Exception:  # noqa: BLE001 - a broken worker is replaced, the program reported
                reply = None
            if reply is not None and worker.alive():
                self._idle.put(worker)
                break
            self._replace(worker)
        reply = reply or {"status": "sandbox_error", "stderr": "the sandbox worker stopped answering"}
        return _result(reply, time.perf_counter() - started)

    def run_many(self, programs: list[str]) -> list[ProgramResult]:
        """Run programs on all workers at once; results in the order of `programs`."""
        if self.n_workers == 1 or len(programs) < 2:
            return [self.run(p) for p in programs]
        with ThreadPoolExecutor(max_workers=self.n_workers) as pool:
            return list(pool.map(self.run, programs))


def _is_ready(line: str | None) -> bool:
    try:
        return bool(line) and json.loads(line).get("ready") is True  # type: ignore[arg-type]
    except (ValueError, AttributeError):
        return False


def _result(reply: dict, seconds: float) -> ProgramResult:
    status = reply.get("status", "sandbox_error")
    stdout = reply.get("stdout", "")
    if status == "ok" and not stdout.strip():
        status = "no_output"
    return ProgramResult(
        status=status if status in STATUSES else "sandbox_error", stdout=stdout, stderr=reply.get("stderr", ""),
        truncated=bool(reply.get("truncated")), seconds=seconds, cpu_seconds=float(reply.get("cpu_seconds", 0.0)),
        layers=list(reply.get("layers", [])),
    )
