"""The Python layer of the sandbox: a model-written program is compiled by RestrictedPython and run with
a small set of builtins, an import allow-list, guarded attribute access and a capped print.

This layer gives clear error classes ("import of 'os' is not allowed") for the common cases; it is not
the security boundary on its own. Allowed libraries (numpy, sympy) can still reach the operating system
from C or through `eval` inside them, so the process around the program is also locked down (audit hook
here; rlimits, seccomp, Landlock and a dropped uid in physlora.tools.jail).
"""

from __future__ import annotations

import builtins as _python_builtins
import operator
import string
import sys
import types
from collections.abc import Callable
from typing import Any

from RestrictedPython import compile_restricted_exec
from RestrictedPython.Guards import guarded_iter_unpack_sequence, guarded_unpack_sequence, safe_builtins
from RestrictedPython.transformer import INSPECT_ATTRIBUTES

# Packages a program may import (and their submodules, minus DENIED_MODULES).
ALLOWED_MODULES = (
    "math", "cmath", "fractions", "decimal", "statistics", "itertools", "functools", "operator", "collections",
    "numbers", "random", "re", "string", "numpy", "sympy", "mpmath", "pint",
    "scipy.constants", "scipy.special", "scipy.integrate", "scipy.optimize", "scipy.linalg",
)  # fmt: skip
# Submodules of allowed packages that reach files, compilers or native code.
DENIED_MODULES = (
    "numpy.ctypeslib", "numpy.f2py", "numpy.distutils", "numpy.testing", "numpy.lib.npyio", "numpy.lib.format",
    "sympy.utilities.autowrap", "sympy.utilities.codegen", "sympy.utilities.runtests", "sympy.testing",
    "sympy.printing.preview", "sympy.interactive", "pint.testing",
)  # fmt: skip


# Refusals during the current run, kept even when the program catches the exception: (status, message).
VIOLATIONS: list[tuple[str, str]] = []


def forbid(error: "ProgramStopped") -> "ProgramStopped":
    """Record a refusal and return the exception to raise."""
    VIOLATIONS.append((error.status, f"{type(error).__name__}: {error}"))
    return error


class ProgramStopped(BaseException):
    """Raised into a program by the sandbox; a BaseException so that `except Exception` in the program
    cannot swallow it. `status` is the error class the result reports."""

    status = "runtime_error"


class ForbiddenOperation(ProgramStopped):
    status = "forbidden_operation"


class ForbiddenImport(ProgramStopped):
    status = "forbidden_import"


class OutputLimit(ProgramStopped):
    status = "output_limit"


class CpuLimit(ProgramStopped):
    status = "cpu_limit"


def module_allowed(name: str) -> bool:
    """Whether a module (by dotted name) may be used: inside an allowed package (or a parent package of one,
    as `import scipy` before `scipy.constants`), not in a denied subtree, and no private component."""
    if _denied(name):
        return False
    return any(name == a or name.startswith(a + ".") or a.startswith(name + ".") for a in ALLOWED_MODULES)


def _denied(name: str) -> bool:
    return any(part.startswith("_") for part in name.split(".")) or any(
        name == d or name.startswith(d + ".") for d in DENIED_MODULES
    )


def _guarded_import(name: str, globals=None, locals=None, fromlist=(), level: int = 0):
    """`__import__` for programs: allowed packages only, checked before anything is imported."""
    if level != 0:
        raise forbid(ForbiddenImport("relative imports are not allowed"))
    if not module_allowed(name) or any(_denied(f"{name}.{f}") for f in fromlist or () if f != "*"):
        shown = next((f"{name}.{f}" for f in fromlist or () if _denied(f"{name}.{f}")), name)
        raise forbid(ForbiddenImport(f"import of '{shown}' is not allowed (allowed: {', '.join(ALLOWED_MODULES)})"))
    module = __import__(name, globals, locals, fromlist, level)
    for f in fromlist or ():
        _check_value(getattr(module, f, None), f)
    return module


def _check_value(value: Any, name: str) -> Any:
    if isinstance(value, types.ModuleType) and not module_allowed(value.__name__):
        raise forbid(ForbiddenOperation(f"access to module '{value.__name__}' (as .{name}) is not allowed"))
    return value


def _check_format_fields(template: str) -> None:
    """Field names may be positions or names only: '{0.__class__}' or '{0[x]}' would reach internals.
    Format specs can hold nested fields ('{:{width}}'): checked the same way."""
    for _, field, spec, _ in string.Formatter().parse(template):
        if field is not None and ("." in field or "[" in field or field.startswith("_")):
            raise forbid(ForbiddenOperation(f"format field '{{{field}}}' is not allowed (no attributes or indexing)"))
        if spec:
            _check_format_fields(spec)


def _safe_format(template: str):
    def format(*args, **kwargs):
        _check_format_fields(template)
        return template.format(*args, **kwargs)

    return format


def guarded_getattr(obj: Any, name: str, *default: Any) -> Any:
    """getattr for programs: no private/dunder names, no introspection attributes, no forbidden modules."""
    if not isinstance(name, str):
        raise TypeError("attribute name must be a string")
    if name.startswith("_") or name in INSPECT_ATTRIBUTES:
        raise forbid(ForbiddenOperation(f"attribute '{name}' is not allowed"))
    if isinstance(obj, str) and name in ("format", "format_map"):
        return _safe_format(obj) if name == "format" else None
    return _check_value(getattr(obj, name, *default), name)


def _guarded_hasattr(obj: Any, name: str) -> bool:
    try:
        guarded_getattr(obj, name)
    except (AttributeError, ForbiddenOperation):
        return False
    return True


_INPLACE = {
    "+=": operator.iadd, "-=": operator.isub, "*=": operator.imul, "/=": operator.itruediv, "//=": operator.ifloordiv,
    "%=": operator.imod, "**=": operator.ipow, "<<=": operator.ilshift, ">>=": operator.irshift, "&=": operator.iand,
    "|=": operator.ior, "^=": operator.ixor, "@=": operator.imatmul,
}  # fmt: skip


class CappedText:
    """Collects what a program prints, up to `limit` characters; beyond that the program is stopped
    (printing 100 MB must neither fill memory nor the conversation)."""

    def __init__(self, limit: int):
        self.limit, self.parts, self.size, self.truncated = limit, [], 0, False

    def write(self, text: str) -> int:
        room = self.limit - self.size
        if len(text) > room:
            self.parts.append(text[: max(room, 0)])
            self.size, self.truncated = self.limit, True
            raise OutputLimit(f"output exceeded {self.limit} characters")
        self.parts.append(text)
        self.size += len(text)
        return len(text)

    def flush(self) -> None:
        pass

    def getvalue(self) -> str:
        return "".join(self.parts)


def _refuse(what: str):
    def refused(*_args, **_kwargs):
        raise forbid(ForbiddenOperation(f"{what} is not allowed in a program"))

    return refused


def program_globals(out: CappedText) -> dict[str, Any]:
    """The namespace a program runs in: RestrictedPython's safe builtins + the harmless ones it leaves out
    (their risk in Zope is bypassing an iteration guard, which this sandbox does not rely on)."""

    class _Print:  # RestrictedPython routes print(...) to `_print_(_getattr_)._call_print(...)`
        def __init__(self, _getattr=None):
            pass

        def _call_print(self, *objects, sep=" ", end="\n", file=None, flush=False):
            if file is not None:
                raise forbid(ForbiddenOperation("print(file=...) is not allowed"))
            out.write(str(sep).join(str(o) for o in objects) + str(end))

    builtins = dict(safe_builtins)
    builtins.pop("id", None)  # memory addresses differ between runs: not deterministic
    for name in ("min", "max", "sum", "all", "any", "enumerate", "zip", "sorted", "reversed", "map", "filter",
                 "list", "tuple", "dict", "set", "frozenset", "iter", "next", "format", "bin", "bytes", "bytearray"):
        builtins[name] = getattr(_python_builtins, name)
    builtins.update(
        __import__=_guarded_import, getattr=guarded_getattr, hasattr=_guarded_hasattr,
        open=_refuse("open()"), eval=_refuse("eval()"), exec=_refuse("exec()"), compile=_refuse("compile()"),
        input=_refuse("input()"), globals=_refuse("globals()"), locals=_refuse("locals()"), vars=_refuse("vars()"),
        breakpoint=_refuse("breakpoint()"), help=_refuse("help()"), exit=_refuse("exit()"), quit=_refuse("quit()"),
    )
    return {
        "__builtins__": builtins,
        "__name__": "__program__",
        "__metaclass__": type,
        "_getattr_": guarded_getattr,
        "_getitem_": operator.getitem,
        "_getiter_": iter,
        "_write_": lambda ob: ob,  # attribute/item writes on the program's own objects (numpy arrays) are fine
        "_inplacevar_": lambda op, x, y: _INPLACE[op](x, y),
        "_unpack_sequence_": guarded_unpack_sequence,
        "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
        "_apply_": lambda f, *a, **kw: f(*a, **kw),
        "_print_": _Print,
    }


class RestrictedSyntax(Exception):
    """The program is not valid Python (`syntax`) or uses a construct RestrictedPython forbids."""

    def __init__(self, message: str, status: str):
        super().__init__(message)
        self.status = status


def compile_program(source: str) -> types.CodeType:
    """Compile with RestrictedPython; a plain SyntaxError is `syntax_error`, a refused construct
    (dunder names, `__import__`, exec statements...) is `forbidden_code`."""
    try:
        compile(source, "<program>", "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as e:  # ValueError: null bytes
        raise RestrictedSyntax(f"{type(e).__name__}: {e}", "syntax_error") from None
    except (RecursionError, MemoryError):
        raise RestrictedSyntax("program is nested too deeply to compile", "syntax_error") from None
    result = compile_restricted_exec(source, "<program>")
    if result.errors or result.code is None:
        raise RestrictedSyntax("; ".join(result.errors)[:500] or "refused", "forbidden_code")
    return result.code


def describe_exception(e: BaseException) -> tuple[str, str]:
    """(status, one-line message) for an exception that ended a program."""
    if isinstance(e, ProgramStopped):
        return e.status, f"{type(e).__name__}: {e}"
    if isinstance(e, MemoryError):
        return "memory_limit", "MemoryError: the program needed more memory than the sandbox allows"
    if isinstance(e, RecursionError):
        return "recursion_limit", f"RecursionError: {e}"
    if isinstance(e, PermissionError):  # the OS refused (seccomp, Landlock, file permissions)
        return "forbidden_operation", f"PermissionError: {e}"
    where = _program_line(e)
    return "runtime_error", f"{type(e).__name__}: {e}" + (f" (line {where})" if where else "")


def _program_line(e: BaseException) -> int | None:
    tb, line = e.__traceback__, None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<program>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def run_restricted(
    source: str, out: CappedText, err: CappedText, before_run: Callable[[], None] | None = None
) -> tuple[str, str]:
    """Compile and run `source`; returns (status, message). Output goes to `out`; warnings to `err`.
    `before_run` is called between compiling and running (the sandbox installs its audit hook there)."""
    try:
        code = compile_program(source)
    except RestrictedSyntax as e:
        return e.status, str(e)
    if before_run is not None:
        before_run()
    namespace = program_globals(out)
    VIOLATIONS.clear()
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err  # library code that prints (warnings, numpy) is captured too
    try:
        exec(code, namespace)
    except BaseException as e:  # noqa: BLE001 - every way a program can end is a result, not a crash
        namespace.clear()  # release what a memory-hungry program holds before the result is built
        return describe_exception(e)
    finally:
        sys.stdout, sys.stderr = saved
    if VIOLATIONS:  # the program caught a refusal and went on: still a forbidden program
        return VIOLATIONS[0]
    return "ok", ""
