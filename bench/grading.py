"""Speed of the physics check, and how it compares with Hugging Face math-verify on physlora's grader test set.

    python bench/grading.py                 # 10,000 answers; prints the table, writes bench/results/grading.json
    python bench/grading.py --n 2000        # fewer answers

1. Throughput: 10,000 (prediction, reference) pairs made from tests/grading/grader_cases.jsonl, each prediction
   a distinct text (a varied opening sentence) and each reference a distinct string, so no cache answers for
   the grader: every pair is normalised, extracted and compared from scratch, as in a real evaluation.
   Prints the total time (target < 30 s on 2 cores), answers/s, and the slowest single comparison (target < 2 s;
   the budget is 1 s). pint's registry and the sympy import (~1-2 s, once per process) are timed apart.
2. The LaTeX/sympy half with math-verify instead of physlora's own: the same extraction and unit layer, with
   formula/equation comparison and closed-form values (\\frac, \\sqrt, \\pi) parsed by math_verify.parse and
   compared by math_verify.verify. And math-verify on its own (its extraction, no units), as a plain maths
   grader would score the same physics answers. Agreement with the hand labels per class, and time.
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


def throughput(pairs: list[dict]) -> dict:
    from physlora.grading.physics_check import _warm_up, grade

    t0 = time.perf_counter()
    _warm_up()
    warm = time.perf_counter() - t0
    times, slowest = [], ("", 0.0)
    start = time.perf_counter()
    for p in pairs:
        t = time.perf_counter()
        grade(p["prediction"], p["reference"], answer_type=p.get("answer_type"), tolerance=p.get("tolerance"),
              choices=p.get("choices"))
        d = time.perf_counter() - t
        times.append(d)
        if d > slowest[1]:
            slowest = (p["id"], d)
    total = time.perf_counter() - start
    times.sort()
    return {"answers": len(pairs), "seconds": round(total, 2), "answers_per_s": round(len(pairs) / total, 1),
            "warm_up_s": round(warm, 2), "p50_ms": round(1e3 * times[len(times) // 2], 3),
            "p99_ms": round(1e3 * times[int(len(times) * 0.99)], 2), "max_s": round(slowest[1], 3),
            "slowest_case": slowest[0], "mean_ms": round(1e3 * statistics.mean(times), 3)}  # fmt: skip


# ---------------------------------------------------------------- math-verify


def _mv_value(text: str):
    """math-verify's reading of a closed-form value or expression (its first parse that sympy understands)."""
    from math_verify import parse

    wrapped = text if "$" in text or "\\(" in text else f"${text}$"
    return parse(wrapped, parsing_timeout=None)  # physlora's budget (SIGALRM via setitimer) governs, not math-verify's alarm


def with_math_verify_half():
    """physlora's grader with its LaTeX/sympy half swapped for math-verify: formula and equation equivalence by
    math_verify.verify on math_verify.parse results (extraction, tolerance, units and the other types stay)."""
    from math_verify import verify

    from physlora.grading import answer_types

    def formulas(a: str, b: str) -> bool:
        try:
            return bool(verify(_mv_value(b), _mv_value(a), timeout_seconds=None))
        except Exception:
            return False

    answer_types.formulas_equivalent = formulas
    answer_types.equations_equivalent = formulas


def math_verify_alone(case: dict) -> float | None:
    """math-verify as a maths benchmark uses it: parse both texts, verify; no units, no answer types."""
    from math_verify import parse, verify

    gold = parse(case["reference"] if "$" in case["reference"] else f"${case['reference']}$", parsing_timeout=1)
    if not gold:
        return None
    return float(verify(gold, parse(case["prediction"], parsing_timeout=1), timeout_seconds=1))


def agreement(cases: list[dict], grader) -> dict:
    per: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    start = time.perf_counter()
    for c in cases:
        got = grader(c)
        per[c["class"]][0] += got == c["expected"]
        per[c["class"]][1] += 1
    seconds = time.perf_counter() - start
    total = sum(a for a, _ in per.values())
    return {"agreement": round(total / len(cases), 4), "seconds": round(seconds, 2),
            "per_class": {k: f"{a}/{n}" for k, (a, n) in sorted(per.items())}}  # fmt: skip


def compare_math_verify(cases: list[dict]) -> dict | None:
    try:
        import math_verify  # noqa: F401
    except ImportError:
        return None
    import importlib

    from physlora.grading import answer_types, physics_check

    def physlora(c: dict) -> float | None:
        return physics_check.grade(c["prediction"], c["reference"], answer_type=c.get("answer_type"),
                                   tolerance=c.get("tolerance"), choices=c.get("choices"))

    symbolic = [c for c in cases if c["class"] in ("formula", "equation", "latex_values")]
    own = {"all": agreement(cases, physlora), "symbolic": agreement(symbolic, physlora)}
    with_mv_half = None
    try:
        with_math_verify_half()
        with_mv_half = {"all": agreement(cases, physlora), "symbolic": agreement(symbolic, physlora)}
    finally:
        importlib.reload(answer_types)
        importlib.reload(physics_check)
    alone = {"all": agreement(cases, math_verify_alone), "symbolic": agreement(symbolic, math_verify_alone)}
    return {"physlora": own, "physlora_with_math_verify_half": with_mv_half, "math_verify_alone": alone}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--skip-math-verify", action="store_true")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT / "src"))
    cases = load_cases()
    res = {"throughput": throughput(make_pairs(cases, args.n))}
    t = res["throughput"]
    print(f"{t['answers']} answers graded in {t['seconds']} s ({t['answers_per_s']}/s; target < 30 s); "
          f"median {t['p50_ms']} ms, p99 {t['p99_ms']} ms, slowest {t['max_s']} s ({t['slowest_case']}; target < 2 s); "
          f"one-time warm-up {t['warm_up_s']} s")
    if not args.skip_math_verify:
        res["math_verify"] = compare_math_verify(cases)
        if res["math_verify"] is None:
            print("math-verify not installed: comparison skipped")
        else:
            print(f"\nagreement with the hand labels on {len(cases)} cases (symbolic: formula, equation, latex_values):")
            for name, r in res["math_verify"].items():
                if r:
                    print(f"  {name:34s} all {r['all']['agreement']:.1%} in {r['all']['seconds']} s; "
                          f"symbolic {r['symbolic']['agreement']:.1%} in {r['symbolic']['seconds']} s")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}")
    ok = t["seconds"] < 30 * args.n / 10_000 and t["max_s"] < 2
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
