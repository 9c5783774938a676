"""Speed of the physics check, and how it compares with Hugging Face math-verify on physlora's grader test set.

    python bench/grading.py                 # 10,000 answers; prints the table, writes bench/results/grading.json
    python bench/grading.py --n 2000        # fewer answers

1. Throughput: 10,000 (prediction, reference) pairs made from tests/grading/grader_cases.jsonl, each prediction
   a distinct text (a varied opening sentence) and each reference a distinct string, so no cache answers for
   the grader: every pair is normalised, extracted and compared from scratch, as in a real evaluation.
   Prints the total time (target < 30 s on 2 cores), answers/s, and the slowest single comparison (target < 2 s;
   the budget is 1 s). pint's registry and the sympy import (~1-2 s, once per process) are timed apart.
2. The LaTeX/sympy half with math-verify instead of physlora's own: the same extraction and unit layer, with
   formula and equation answers parsed by math_verify.parse from the raw texts and compared by
   math_verify.verify (numbers with units stay with physlora's pint layer); the most charitable swap, physlora's
   extraction and parse with only the equivalence decided by math-verify (both sides rendered as LaTeX); and
   math-verify on its own (its extraction, no units), as a plain maths grader would score the same physics
   answers. Agreement with the hand labels per class, wall and CPU time, CPU-time ratio to physlora's.
   Needs `pip install "math-verify[antlr4_13_2]"` for part 2 (skipped without it).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CASES = ROOT / "tests" / "grading" / "grader_cases.jsonl"
OUT = ROOT / "bench" / "results" / "grading.json"
OPENERS = ["Let me work this out.", "Here is my answer.", "Okay.", "Sure, let's see.", "Good question.",
           "I will solve it step by step.", "Thinking about the physics here:", "Answer follows.",
           "Consider the setup carefully.", "Right, so.", "We can reason as follows.", "Short answer below."]  # fmt: skip


def load_cases() -> list[dict]:
    return [json.loads(line) for line in CASES.read_text(encoding="utf-8").splitlines()]


def make_pairs(cases: list[dict], n: int, seed: int = 0) -> list[dict]:
    """`n` pairs cycling through the cases, each prediction and reference a distinct string."""
    rng = random.Random(seed)
    pairs = []
    for i in range(n):
        case = cases[i % len(cases)]
        opener = f"{rng.choice(OPENERS)} (attempt {i})"
        pairs.append(case | {"prediction": f"{opener} {case['prediction']}", "reference": case["reference"] + " " * (i // len(cases))})
    return pairs


def throughput(pairs: list[dict], cold: bool = False) -> dict:
    """Grade every pair; with `cold`, every cache of the grader is emptied before each pair (timed apart), so
    each comparison parses its formulas and units from scratch, as a never-seen answer would."""
    from physlora.grading.physics_check import _warm_up, grade

    t0 = time.perf_counter()
    _warm_up()
    warm = time.perf_counter() - t0
    times, slowest = [], ("", 0.0)
    start, clearing = time.perf_counter(), 0.0
    for p in pairs:
        if cold:
            c = time.perf_counter()
            clear_caches()
            clearing += time.perf_counter() - c
        t = time.perf_counter()
        grade(p["prediction"], p["reference"], answer_type=p.get("answer_type"), tolerance=p.get("tolerance"),
              choices=p.get("choices"))
        d = time.perf_counter() - t
        times.append(d)
        if d > slowest[1]:
            slowest = (p["id"], d)
    total = time.perf_counter() - start - clearing
    times.sort()
    return {"answers": len(pairs), "cold": cold, "seconds": round(total, 2), "answers_per_s": round(len(pairs) / total, 1),
            "warm_up_s": round(warm, 2), "p50_ms": round(1e3 * times[len(times) // 2], 3),
            "p99_ms": round(1e3 * times[int(len(times) * 0.99)], 2), "max_s": round(slowest[1], 3),
            "slowest_case": slowest[0], "mean_ms": round(1e3 * statistics.mean(times), 3)}  # fmt: skip


# ---------------------------------------------------------------- math-verify


def with_math_verify_half():
    """physlora's grader with its LaTeX/sympy half swapped for math-verify: formula and equation answers are
    parsed from the raw texts by math_verify.parse (its own extraction: boxed first, then LaTeX, then plain
    expressions) and compared by math_verify.verify; numbers with units, yes/no, letters, tuples, intervals and
    the tolerance stay physlora's (the unit layer on top)."""
    from math_verify import parse, verify

    from physlora.grading import answer_types

    def gold_of(ref: str):
        """The reference as math-verify reads it best: physlora's parse of it rendered back to LaTeX (the
        references here are plain text, 'v = sqrt(2 g h)', which math-verify's extraction does not pick up)."""
        import sympy

        from physlora.grading.formulas import _equation_sides, parse_formula
        from physlora.grading.structured import equation_text

        found = answer_types.reference_formula(ref)
        expr = parse_formula(found[0]) if found else None
        if expr is None and equation_text(ref):
            sides = equation_text(ref).split("=")
            lhs, rhs = parse_formula(sides[0]), parse_formula(sides[-1])
            return parse(f"${sympy.latex(sympy.Eq(lhs, rhs))}$", parsing_timeout=None) if lhs is not None and rhs is not None else []
        return parse(f"${sympy.latex(expr)}$", parsing_timeout=None) if expr is not None else parse(ref, parsing_timeout=None)

    def symbolic(pred: str, ref: str, tol: float) -> float | None:  # noqa: ARG001
        gold = gold_of(ref)
        if not gold:
            return None
        return float(verify(gold, parse(pred, parsing_timeout=None), timeout_seconds=None))

    answer_types.grade_formula = symbolic
    answer_types.grade_equation = symbolic


def with_math_verify_equivalence():
    """The most charitable swap: physlora extracts the answer and parses it (its reading of plain-text formulas,
    which math-verify's extraction does not pick up); math-verify only decides equivalence, on both sides
    rendered as LaTeX. Units and the other answer types stay physlora's."""
    import sympy
    from math_verify import parse, verify

    from physlora.grading import answer_types
    from physlora.grading.formulas import _equation_sides, parse_formula

    def as_latex(expr) -> list:
        return parse(f"${sympy.latex(expr)}$", parsing_timeout=None) if expr is not None else []

    def equal(a: str, b: str) -> bool:
        ea, eb = as_latex(parse_formula(a)), as_latex(parse_formula(b))
        return bool(ea and eb and verify(eb, ea, timeout_seconds=None))

    def equations_equal(a: str, b: str) -> bool:
        def eq(text: str):
            sides = text.split("=")
            lhs, rhs = parse_formula(sides[0]), parse_formula(sides[-1])
            return as_latex(sympy.Eq(lhs, rhs, evaluate=False)) if lhs is not None and rhs is not None else []

        ea, eb = eq(a), eq(b)
        return bool(ea and eb and verify(eb, ea, timeout_seconds=None))

    answer_types.formulas_equivalent = equal
    answer_types.equations_equivalent = equations_equal


def math_verify_alone(case: dict) -> float | None:
    """math-verify as a maths benchmark uses it: parse both texts, verify; no units, no answer types."""
    from math_verify import parse, verify

    gold = parse(case["reference"] if "$" in case["reference"] else f"${case['reference']}$", parsing_timeout=1)
    if not gold:
        return None
    return float(verify(gold, parse(case["prediction"], parsing_timeout=1), timeout_seconds=1))


def clear_caches() -> None:
    """Forget every cached normalisation, extraction and parse, so a timing starts cold."""
    from physlora.grading import extract, formulas, normalize, quantities

    from sympy.core.cache import clear_cache

    for fn in (normalize.normalize, extract.answer_spans, extract.sentences, formulas.parse_formula,
               quantities.as_unit, quantities.unit_dimension, quantities._conversion, quantities._base_unit):  # fmt: skip
        fn.cache_clear()
    clear_cache()  # sympy's own memo of built expressions


def agreement(cases: list[dict], grader) -> dict:
    per: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    start, cpu = time.perf_counter(), time.process_time()
    for c in cases:
        got = grader(c)
        per[c["class"]][0] += got == c["expected"]
        per[c["class"]][1] += 1
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    total = sum(a for a, _ in per.values())
    # CPU seconds as well: on a shared machine the wall clock of one variant includes the others' load
    return {"agreement": round(total / len(cases), 4), "seconds": round(seconds, 2), "cpu_seconds": round(cpu, 2),
            "per_class": {k: f"{a}/{n}" for k, (a, n) in sorted(per.items())}}  # fmt: skip


def _physlora_grader(c: dict) -> float | None:
    from physlora.grading import physics_check

    return physics_check.grade(c["prediction"], c["reference"], answer_type=c.get("answer_type"),
                               tolerance=c.get("tolerance"), choices=c.get("choices"))


def run_variant(name: str) -> dict:
    """One grader on the case set, timed from a cold start (run in its own process by compare_math_verify)."""
    cases = load_cases()
    symbolic = [c for c in cases if c["class"] in ("formula", "equation")]
    from physlora.grading.physics_check import _warm_up

    _warm_up()  # pint and sympy imports are not the comparison
    if name == "physlora_with_math_verify_half":
        with_math_verify_half()
    if name == "physlora_with_math_verify_equivalence":
        with_math_verify_equivalence()
    grader = math_verify_alone if name == "math_verify_alone" else _physlora_grader
    return {"symbolic": agreement(symbolic, grader), "all": agreement(cases, grader)}


def compare_math_verify() -> dict | None:
    """physlora, physlora with math-verify's LaTeX/sympy half, and math-verify alone, each in a fresh process."""
    import subprocess

    try:
        import math_verify  # noqa: F401
    except ImportError:
        return None
    out = {}
    for name in ("physlora", "physlora_with_math_verify_half", "physlora_with_math_verify_equivalence", "math_verify_alone"):
        proc = subprocess.run([sys.executable, __file__, "--variant", name], capture_output=True, text=True, timeout=1800)
        lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
        out[name] = json.loads(lines[-1]) if proc.returncode == 0 and lines else {"error": proc.stderr[-500:]}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--skip-math-verify", action="store_true")
    ap.add_argument("--cold", action="store_true", help="empty the grader's caches before every answer")
    ap.add_argument("--variant", help=argparse.SUPPRESS)  # internal: one grader of the comparison, in its own process
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT / "src"))
    if args.variant:
        print(json.dumps(run_variant(args.variant)))
        return 0
    cases = load_cases()
    res = {"throughput": throughput(make_pairs(cases, args.n), cold=args.cold)}
    t = res["throughput"]
    print(f"{t['answers']} answers graded{' cold (caches emptied before each)' if t['cold'] else ''} in {t['seconds']} s ({t['answers_per_s']}/s; target < 30 s); "
          f"median {t['p50_ms']} ms, p99 {t['p99_ms']} ms, slowest {t['max_s']} s ({t['slowest_case']}; target < 2 s); "
          f"one-time warm-up {t['warm_up_s']} s")
    if not args.skip_math_verify:
        res["math_verify"] = compare_math_verify()
        if res["math_verify"] is None:
            print("math-verify not installed: comparison skipped")
        else:
            print(f"\nagreement with the hand labels on {len(cases)} cases (symbolic: the formula and equation classes):")
            base = max(res["math_verify"]["physlora"].get("symbolic", {}).get("cpu_seconds", 0), 1e-3)
            for name, r in res["math_verify"].items():
                if "all" in r:
                    print(f"  {name:38s} all {r['all']['agreement']:.1%} in {r['all']['seconds']} s; "
                          f"symbolic {r['symbolic']['agreement']:.1%} in {r['symbolic']['seconds']} s "
                          f"({r['symbolic']['cpu_seconds'] / base:.1f}x physlora's CPU time)")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}")
    ok = t["seconds"] < 30 * args.n / 10_000 and t["max_s"] < 2
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
