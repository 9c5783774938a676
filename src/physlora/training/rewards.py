"""Verifiable rewards for GRPO: the physics check as the reward, with partial credit and a format term.

Each reward is a plain function with TRL's reward signature,

    reward(prompts, completions, *, answer, question, answer_kind, choices, **_) -> list[float]

(`prompts`/`completions` as GRPOTrainer passes them, the other columns from the training rows built by
`physlora.training.grpo.grpo_rows`). The scoring of one completion is a pure function of (completion,
reference, question); `make_reward` wraps one such scorer so that it

* never raises: an exception inside scores 0.0 and is counted (`RewardCounters.errors`);
* keeps a time budget per completion (sympy can take seconds on odd formulas): past it the completion
  scores 0.0 and is counted (`RewardCounters.timeouts`);
* counts malformed completions (no final answer could be read) as `RewardCounters.no_answer`.

The rewards (all in [0, 1]; weights are `train.grpo.reward_weights`):

* ``correctness``: ``check_answer`` of physlora's grader (number within tolerance after unit conversion
  with pint, formula equivalence with sympy) and, for multiple choice, the letter (or option text) of the
  final answer.
* ``partial``: credit for a wrong but sensible quantity, so that a group of wrong answers is not all zero:
  0.5 for the reference's dimension (the unit converts to the reference's unit), 0.5 for the right order
  of magnitude (within a factor of 10 of the reference after conversion). A final number that merely
  repeats a number of the question (raw, or after unit conversion) earns no partial credit at all: by
  construction, copying a given value never scores above an honest wrong computation (its correctness,
  partial and format terms are each <= the honest answer's; see tests/training/test_rewards.py).
* ``answer_format``: 1.0 when the last line is ``Answer: <final answer>`` and that answer parses as the
  reference's kind (a number, with a unit when the reference has one; a formula; a letter), 0.5 for such
  a line that does not parse, 0.0 without one. The system prompt should ask for this line
  (configs/grpo-demo.yaml does).
* ``program_runs`` (tools mode, weight 0 unless set): 1.0 when the completion's first fenced Python block
  runs in physlora's program sandbox (physlora.tools.sandbox: out of process, allow-listed imports, no
  files or network, CPU/memory/time limits) and prints something; 0.0 when there is no program or it
  fails, is refused or runs out of time. Programs run ONLY there. It pays for a program that runs, not
  for a right one: keep its weight below correctness's (a model could learn to print anything), and give
  a system prompt that asks for a program (configs/tools.yaml's).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import math
import re
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

from physlora.grading.physics_check import (
    Quantity,
    check_answer,
    extract_formula,
    extract_quantity,
    quantities_match,
)

AnswerKind = Literal["quantity", "formula", "mc"]
ANSWER_KINDS: tuple[str, ...] = ("quantity", "formula", "mc")
DEFAULT_BUDGET_S = 2.0
LETTERS = "ABCDEFGHIJ"

# ---------------------------------------------------------------- reading completions

# 'Answer: 12 N', '**Final answer:** 12 N', 'answer = 12 N' on a line of its own
_ANSWER_LINE = re.compile(
    r"^\s*[*_#>\s]*(?:the\s+)?(?:final\s+)?answer\s*(?:is)?[*_]*\s*[:=]\s*[*_]*\s*(?P<body>.*?)[*_\s.]*$",
    re.IGNORECASE,
)
_MAX_COMPLETION_CHARS = 20_000  # a runaway completion is cut before any regex or pint sees it


def completion_text(completion: Any) -> str:
    """A completion as text: TRL passes a string for text prompts and [{'role', 'content'}] for chats."""
    if isinstance(completion, str):
        return completion[:_MAX_COMPLETION_CHARS]
    if isinstance(completion, list):
        parts = [m.get("content", "") for m in completion if isinstance(m, dict)]
        return "\n".join(p for p in parts if isinstance(p, str))[:_MAX_COMPLETION_CHARS]
    raise TypeError(f"completion is a {type(completion).__name__}, not text or messages")


def final_answer_line(text: str) -> str | None:
    """The body of the last non-empty line when it is an 'Answer: ...' line, else None."""
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    if not lines:
        return None
    m = _ANSWER_LINE.match(lines[-1])
    return m.group("body").strip() if m else None


def final_answer(text: str) -> str:
    """What the rewards grade: the final 'Answer:' line when there is one, otherwise the whole text
    (the grader then reads its last statement, as it does in evaluation)."""
    body = final_answer_line(text)
    return body if body else text


# ---------------------------------------------------------------- references


def reference_quantity(reference: str) -> Quantity | None:
    return extract_quantity(reference)


def quantity_text(q: Quantity) -> str:
    """A quantity written back as text the grader reads (e.g. '245.0 W')."""
    return f"{q.value!r} {q.unit}".strip()


def reference_kind(reference: str, choices: list[str] | None = None) -> AnswerKind | None:
    """How a reference is graded, decided by asking the grader itself:

    * 'mc': a record with choices whose answer is one of them;
    * 'quantity': the grader accepts the reference's final quantity alone ('P = W / t = 245 W' -> 245 W);
    * 'formula': the grader wants a formula ('E_0 = hbar omega / 2');
    * None: the grader cannot read the reference back (graded against itself it does not score 1):
      such rows are left out of GRPO data and counted."""
    if choices:
        return "mc" if reference in choices else None
    try:
        if check_answer(reference, reference) != 1.0:
            return None
        q = extract_quantity(reference)
        if q is not None and check_answer(quantity_text(q), reference) == 1.0:
            return "quantity"
        return "formula" if extract_formula(reference) is not None else None
    except Exception:  # the grader promises not to raise; a reference it cannot read is simply not gradable
        return None


# ---------------------------------------------------------------- numbers given in the question

# A number as it appears in prose: 2, 2.0, .5, 1,000, 3e8, 3.0 x 10^8 (not the digits inside names like m1)
_GIVEN_NUMBER = re.compile(
    r"(?<![\w.^])[-+]?(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
    r"(?:\s*(?:x|×|\*)\s*10\s*\^\s*\(?\s*[-+]?\d+\s*\)?)?"
)


def question_quantities(question: str) -> list[Quantity]:
    """Every number the question gives, each with the unit written after it. The grader's own reader
    (`extract_quantity`) reads each one from the text between it and the next number, so units and
    notations are read exactly as in grading."""
    spans = [m.start() for m in _GIVEN_NUMBER.finditer(question)] + [len(question)]
    found = []
    for start, end in zip(spans, spans[1:]):
        q = extract_quantity(question[start:end])
        if q is not None:
            found.append(q)
    return found


def _raw_close(a: float, b: float, rel_tol: float) -> bool:
    if not (math.isfinite(a) and math.isfinite(b)):
        return False
    return abs(a - b) <= rel_tol * max(abs(b), 1e-12)


def is_copied(pred: Quantity, question: str, rel_tol: float, also: tuple[float | None, ...] = ()) -> bool:
    """The predicted number equals a number of the question: as written, whatever unit is attached to it
    ('3 N' after '3 m/s^2' is a copy), after unit conversion ('2000 m' after '2 km'), or as any of the
    values in `also` (the prediction in the reference's unit: '0.05 kW' is the '50' of '50 kg')."""
    values = [v for v in (pred.value, *also) if v is not None]
    for given in question_quantities(question):
        if any(_raw_close(v, given.value, rel_tol) for v in values) or (
            pred.unit and given.unit and quantities_match(pred, given, rel_tol)
        ):
            return True
    return False


# ---------------------------------------------------------------- per-completion scorers (pure)


@lru_cache(maxsize=1)
def _units() -> Any:
    import pint  # the unit strings come from the grader's reader, which made sure pint parses them

    return pint.UnitRegistry(autoconvert_offset_to_baseunit=True)


def _same_dimension(pred: Quantity, ref: Quantity) -> bool:
    """The prediction's unit converts into the reference's (only meaningful when both have one)."""
    if not (pred.unit and ref.unit):
        return False
    try:
        return bool(_units().Quantity(1.0, pred.unit).is_compatible_with(ref.unit))
    except Exception:
        return False


def _in_reference_unit(pred: Quantity, ref: Quantity) -> float | None:
    """The predicted value expressed in the reference's unit (raw when either has no unit)."""
    if not (pred.unit and ref.unit):
        return pred.value
    try:
        return float(_units().Quantity(pred.value, pred.unit).to(ref.unit).magnitude)
    except Exception:
        return None


def _same_magnitude(value: float | None, ref: float) -> bool:
    """Within a factor of 10 of the reference (same sign)."""
    if value is None or not (math.isfinite(value) and math.isfinite(ref)):
        return False
    if ref == 0:
        return abs(value) <= 1e-9
    ratio = value / ref
    return ratio > 0 and abs(math.log10(ratio)) <= 1.0


def mc_choice(text: str, choices: list[str]) -> int | None:
    """The option a multiple-choice answer picks: the letter of the final answer ('Answer: B', 'B.',
    '(B)') or the exact text of exactly one option; None when it picks none or several."""
    body = final_answer(text).strip()
    letters = LETTERS[: len(choices)]
    m = re.fullmatch(rf"\(?([{letters}])\)?[.):]?(?:\s.*)?", body, flags=re.DOTALL)
    if m:
        return letters.index(m.group(1))
    named = [i for i, c in enumerate(choices) if c and c.lower() in body.lower()]
    return named[0] if len(named) == 1 else None


def score_correctness(completion: str, reference: str, question: str, *, kind: str, choices: list[str] | None,
                      rel_tol: float) -> float:
    """1.0 when the final answer is right by the physics check (or picks the right option), else 0.0."""
    if kind == "mc":
        picked = mc_choice(completion, choices or [])
        return float(picked is not None and choices is not None and choices[picked] == reference)
    answer = final_answer(completion)
    if kind == "quantity":
        # against the reference's final quantity only: a full reference 'P = W / t = 245 W' would also
        # accept the formula 'W / t', which states no computed value
        ref = reference_quantity(reference)
        return float(ref is not None and check_answer(answer, quantity_text(ref), rel_tol=rel_tol) == 1.0)
    if "=" not in answer and final_answer_line(completion) is not None:
        answer = f"X = {answer}"  # 'Answer: m c^2' states the formula without a left-hand side
    return float(check_answer(answer, reference, rel_tol=rel_tol) == 1.0)


def score_partial(completion: str, reference: str, question: str, *, kind: str, choices: list[str] | None,
                  rel_tol: float) -> float:
    """Partial credit for a quantity (see the module docstring); 0.0 for formulas and multiple choice,
    whose near misses have no trustworthy measure, and for any number copied from the question."""
    if kind != "quantity":
        return 0.0
    ref = reference_quantity(reference)
    pred = extract_quantity(final_answer(completion))
    if ref is None or pred is None:
        return 0.0
    in_ref_unit = _in_reference_unit(pred, ref)
    if is_copied(pred, question, rel_tol, also=(in_ref_unit,)):
        return 0.0
    dimension = 0.5 if _same_dimension(pred, ref) else 0.0
    # a number in another dimension (5 J for a force) has no comparable magnitude
    comparable = not (pred.unit and ref.unit) or dimension > 0
    magnitude = 0.5 if comparable and _same_magnitude(in_ref_unit, ref.value) else 0.0
    return dimension + magnitude


def score_format(completion: str, reference: str, question: str, *, kind: str, choices: list[str] | None,
                 rel_tol: float) -> float:
    """1.0 for a final 'Answer: ...' line of the reference's kind, 0.5 for one that does not parse, else 0."""
    body = final_answer_line(completion)
    if body is None:
        return 0.0
    if kind == "mc":
        ok = mc_choice(completion, choices or []) is not None
    elif kind == "formula":
        ok = extract_formula(body if "=" in body else f"X = {body}") is not None
    else:
        q = extract_quantity(body)
        ref = reference_quantity(reference)
        ok = q is not None and (not (ref and ref.unit) or bool(q.unit))
    return 1.0 if ok else 0.5


def has_answer(completion: str, kind: str, choices: list[str] | None) -> bool:
    """Whether any final answer of the reference's kind can be read at all (else: a malformed completion)."""
    if kind == "mc":
        return mc_choice(completion, choices or []) is not None
    target = final_answer(completion)
    return extract_quantity(target) is not None or extract_formula(target) is not None


class ProgramRuns:
    """The ``program_runs`` scorer. Its sandbox is the run's (shared with tools-mode evaluation) or its own,
    started on the first program and stopped by close(). The sandbox's wall-clock and CPU limits are the
    time budget: a SIGALRM inside the sandbox client would leave a worker's reply unread for the next
    program, so RewardFunction does not add its own alarm (`runs_own_budget`)."""

    runs_own_budget = True

    def __init__(self, sandbox=None, budget_s: float = DEFAULT_BUDGET_S):
        self._sandbox, self._owned, self.budget_s = sandbox, None, budget_s
        self.statuses: Counter[str] = Counter()  # how the programs ended (ProgramResult.status)
        self.broken: str | None = None  # the sandbox could not start: every later call fails at once

    def sandbox(self):
        if self._sandbox is None:
            from physlora.tools.sandbox import Sandbox, SandboxLimits

            limits = SandboxLimits(cpu_seconds=min(2.0, self.budget_s), wall_seconds=self.budget_s)
            self._sandbox = self._owned = Sandbox(limits)
        return self._sandbox

    def __call__(self, completion: str, reference: str, question: str, *, kind: str, choices: list[str] | None,
                 rel_tol: float) -> float:
        from physlora.tools.programs import extract_program

        code = extract_program(completion)
        if code is None:
            self.statuses["no_program"] += 1
            return 0.0
        if self.broken:
            raise RuntimeError(self.broken)  # counted as an error; not another start-up wait per completion
        try:
            result = self.sandbox().run(code)
        except Exception as e:  # PhysloraError: the sandbox cannot start or was closed (never the program's doing)
            self.broken = f"program sandbox unavailable: {e}"[:200]
            raise
        self.statuses[result.status] += 1
        return 1.0 if result.ok else 0.0

    def close(self) -> None:
        if self._owned is not None:
            self._owned.close()
            self._sandbox = self._owned = None


Scorer = Callable[..., float]
SCORERS: dict[str, Scorer] = {
    "correctness": score_correctness,
    "partial": score_partial,
    "answer_format": score_format,
}
REWARD_NAMES: tuple[str, ...] = (*SCORERS, "program_runs")  # program_runs needs a sandbox: see make_reward
DEFAULT_WEIGHTS: dict[str, float] = {"correctness": 1.0, "partial": 0.3, "answer_format": 0.2}


# ---------------------------------------------------------------- time budget


class RewardTimeout(BaseException):
    """A BaseException on purpose: the grader's own `except Exception` guards must not swallow it."""


def _alarm_usable() -> bool:
    return (
        hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
        and signal.getitimer(signal.ITIMER_REAL)[0] == 0  # someone else's timer is running: leave it alone
    )


def call_with_budget(fn: Callable[[], float], budget_s: float) -> float:
    """fn() or RewardTimeout after `budget_s` seconds.

    In the main thread (where GRPOTrainer calls rewards) a SIGALRM interrupts the computation itself,
    so a sympy simplification that would take minutes stops on time. Elsewhere (signals are main-thread
    only) the call runs in a worker thread and is abandoned at the deadline: the reward is 0 and the
    thread finishes in the background, a cost paid only for pathological inputs."""
    if _alarm_usable():

        def on_alarm(signum, frame):
            raise RewardTimeout

        previous = signal.signal(signal.SIGALRM, on_alarm)
        signal.setitimer(signal.ITIMER_REAL, budget_s)
        try:
            return fn()
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    try:
        return pool.submit(fn).result(timeout=budget_s)
    except concurrent.futures.TimeoutError:
        raise RewardTimeout from None
    finally:
        pool.shutdown(wait=False)


# ---------------------------------------------------------------- TRL reward functions


@dataclass
class RewardCounters:
    """What happened inside one reward function over a run."""

    calls: int = 0
    errors: int = 0
    timeouts: int = 0
    no_answer: int = 0
    seconds: float = 0.0
    last_error: str | None = None
    outcomes: dict[str, int] | None = None  # program_runs: how the programs ended (ok, timeout, no_program...)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None or k == "last_error"}


@dataclass
class RewardFunction:
    """A scorer turned into a TRL reward function (picklable, named for TRL's metric keys)."""

    name: str
    scorer: Scorer
    budget_s: float = DEFAULT_BUDGET_S
    rel_tol: float = 0.05
    counters: RewardCounters = field(default_factory=RewardCounters)

    @property
    def __name__(self) -> str:  # TRL names the logged metrics rewards/<__name__>/mean|std
        return self.name

    def __call__(self, prompts: list, completions: list, **columns: Any) -> list[float]:
        n = len(completions)
        answers = _column(columns, "answer", n)
        questions = _column(columns, "question", n, default="")
        kinds = _column(columns, "answer_kind", n, default=None)
        choices = _column(columns, "choices", n, default=None)
        started = time.perf_counter()
        before = (self.counters.errors, self.counters.timeouts, self.counters.no_answer)
        scores = [self.score_one(c, a, q, k, ch) for c, a, q, k, ch in zip(completions, answers, questions, kinds, choices)]
        self.counters.seconds += time.perf_counter() - started
        log_metric = columns.get("log_metric")
        if callable(log_metric) and n:  # per-batch failure rates next to TRL's rewards/<name>/mean
            after = (self.counters.errors, self.counters.timeouts, self.counters.no_answer)
            for label, b, a in zip(("errors", "timeouts", "no_answer"), before, after):
                log_metric(f"rewards/{self.name}/{label}", (a - b) / n)
        return scores

    def score_one(self, completion: Any, reference: str, question: str, kind: str | None, choices) -> float:
        """The scorer's value in [0, 1]; 0.0 (counted) for an error, a timeout or a malformed completion."""
        self.counters.calls += 1
        try:
            text = completion_text(completion)
            kind = kind or reference_kind(reference, choices or None) or "quantity"
            choices = list(choices) if choices else None
            if not has_answer(text, kind, choices):
                self.counters.no_answer += 1

            def run() -> float:
                return self.scorer(text, reference, question or "", kind=kind, choices=choices, rel_tol=self.rel_tol)

            value = float(run() if getattr(self.scorer, "runs_own_budget", False) else call_with_budget(run, self.budget_s))
            return value if math.isfinite(value) else 0.0
        except RewardTimeout:
            self.counters.timeouts += 1
            return 0.0
        except Exception as e:  # a reward must never stop training: score 0 and count it
            self.counters.errors += 1
            self.counters.last_error = f"{type(e).__name__}: {e}"[:200]
            return 0.0
        finally:
            if isinstance(self.scorer, ProgramRuns):
                self.counters.outcomes = dict(self.scorer.statuses)

    def close(self) -> None:
        """Stop what the scorer started (program_runs' own sandbox)."""
        if hasattr(self.scorer, "close"):
            self.scorer.close()


def _column(columns: dict, name: str, n: int, default: Any = ...) -> list:
    values = columns.get(name)
    if values is None:
        if default is ...:
            raise KeyError(f"reward needs the '{name}' column in the training rows")
        return [default] * n
    return list(values)


def make_reward(name: str, *, budget_s: float = DEFAULT_BUDGET_S, rel_tol: float = 0.05,
                scorer: Scorer | None = None, sandbox=None) -> RewardFunction:
    """The reward `name` (one of REWARD_NAMES), or a custom `scorer` under that name. `sandbox`
    (physlora.tools.sandbox.Sandbox) is where program_runs runs programs; None: its own, started when needed."""
    if scorer is None and name == "program_runs":
        scorer = ProgramRuns(sandbox, budget_s)
    elif scorer is None:
        if name not in SCORERS:
            raise KeyError(f"unknown reward {name!r}; known: {', '.join(REWARD_NAMES)}")
        scorer = SCORERS[name]
    return RewardFunction(name=name, scorer=scorer, budget_s=budget_s, rel_tol=rel_tol)


def warm_up() -> None:
    """Build the unit registries and parsers once, outside any time budget (pint takes ~0.2 s, seconds on a
    loaded machine, which must not count as a completion's grading time)."""
    for scorer in SCORERS.values():
        scorer("x = 3 km\nAnswer: 3 km", "It is 2 m.", "Given 1 s.", kind="quantity", choices=None, rel_tol=0.05)
    score_correctness("Answer: m c^2", "E = m c^2", "", kind="formula", choices=None, rel_tol=0.05)


def build_rewards(weights: dict[str, float], *, budget_s: float = DEFAULT_BUDGET_S, rel_tol: float = 0.05,
                  sandbox=None) -> tuple[list[RewardFunction], list[float]]:
    """The reward functions with a non-zero weight and their weights, in a fixed order (TRL's reward_weights).
    Close them when done (`close_rewards`, or use `rewards_for`)."""
    warm_up()
    funcs, ws = [], []
    for name, w in weights.items():
        if w:
            funcs.append(make_reward(name, budget_s=budget_s, rel_tol=rel_tol, sandbox=sandbox))
            ws.append(float(w))
    return funcs, ws


def close_rewards(funcs: list[RewardFunction]) -> None:
    for f in funcs:
        f.close()


@contextlib.contextmanager
def rewards_for(weights: dict[str, float], *, budget_s: float = DEFAULT_BUDGET_S, rel_tol: float = 0.05,
                sandbox=None) -> Iterator[tuple[list[RewardFunction], list[float]]]:
    """build_rewards, closed on the way out (a sandbox program_runs started is stopped, even on Ctrl-C)."""
    funcs, ws = build_rewards(weights, budget_s=budget_s, rel_tol=rel_tol, sandbox=sandbox)
    try:
        yield funcs, ws
    finally:
        close_rewards(funcs)


def total_reward(funcs: list[RewardFunction], weights: list[float], completion: str, reference: str,
                 question: str = "", kind: str | None = None, choices: list[str] | None = None) -> float:
    """The weighted sum GRPO optimises, for one completion (used by tests and the report's samples)."""
    return sum(w * f.score_one(completion, reference, question, kind, choices) for f, w in zip(funcs, weights))


def keep_answer_kinds(records: list, kinds: list[str] | None) -> tuple[list, int]:
    """The free-form records whose reference is of one of `kinds` (all when `kinds` is None; multiple-choice
    records are always kept), and how many were dropped."""
    if not kinds:
        return records, 0
    kept = [r for r in records if r.choices or reference_kind(r.answer) in kinds]
    return kept, len(records) - len(kept)
