"""Benchmark of answers with tools, measured side by side in one run (ratios, not absolute targets):

1. sandbox overhead per program: the warm pool (a fork of a zygote that has numpy/sympy/pint imported)
   against running the same program in-process without any guard, and against a cold sandbox (a new
   worker per program); p50 and p95 over the bundled programs (target: warm p50 <= 50 ms);
2. tools-mode evaluation wall time against plain mode on the same questions (target <= 1.5x), with the
   seconds split into generation and sandbox;
3. the hostile-program table: each case of issue 13, its error class, the message that stopped it, seconds.

    python bench/tools.py [--questions 34] [--adapter RUN/adapter] [--skip-eval] [--json bench/results/tools.json]
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import time
from contextlib import redirect_stdout
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "tools"))

SYSTEM = "You are a physicist. Answer concisely and correctly."


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def bundled_programs() -> list[str]:
    from physlora.data.sources import load_records

    return [r.program for s in ("train", "validation", "test") for r in load_records("physlora-physics", s).records if r.program]


def in_process_seconds(program: str) -> float:
    started = time.perf_counter()
    with redirect_stdout(io.StringIO()):
        exec(compile(program, "<program>", "exec"), {"__name__": "__bench__"})
    return time.perf_counter() - started


def sandbox_overhead(programs: list[str], cold_runs: int) -> dict:
    from physlora.tools.sandbox import Sandbox

    for p in programs:  # warm the in-process baseline's imports too (math is all most programs use)
        in_process_seconds(p)
    inproc = [in_process_seconds(p) for p in programs]
    with Sandbox() as box:
        started = time.perf_counter()
        box.run("print(1)")
        start_up = time.perf_counter() - started
        trivial = [box.run("print(1)").seconds for _ in range(50)]
        warm = [box.run(p).seconds for p in programs]
    cold = []
    for p in programs[:cold_runs]:
        started = time.perf_counter()
        with Sandbox() as fresh:
            fresh.run(p)
        cold.append(time.perf_counter() - started)
    row = lambda xs: {"p50_ms": 1000 * statistics.median(xs), "p95_ms": 1000 * percentile(xs, 0.95), "n": len(xs)}  # noqa: E731
    return {"worker_start_s": start_up, "in_process": row(inproc), "warm_trivial": row(trivial), "warm": row(warm),
            "cold": row(cold)}


def hostile_table() -> list[dict]:
    from hostile_programs import HOSTILE

    from physlora.tools.sandbox import Sandbox

    rows = []
    with Sandbox() as box:
        box.run("print(1)")  # the worker's start-up is not part of what a hostile program costs
        for case, program, expected in HOSTILE:
            r = box.run(program)
            rows.append({"case": case, "status": r.status, "expected": expected, "seconds": r.seconds,
                         "stopped_by": (r.stderr.splitlines() or [""])[0][:110]})
    return rows


def eval_wall_time(n_questions: int, adapter: str | None, max_new_tokens: int) -> dict:
    from physlora.data.sources import load_records
    from physlora.grading.physics_check import check_answer
    from physlora.inference.generate import generate_answers
    from physlora.inference.tools import answer_with_tools
    from physlora.models.loading import load_model
    from physlora.tools.sandbox import Sandbox

    records = [r for r in load_records("physlora-physics", "test").records if r.program][:n_questions]
    loaded = load_model("smollm2-135m-instruct", adapter=adapter, device="cpu")
    questions = [r.question for r in records]
    started = time.perf_counter()
    plain = generate_answers(loaded.model, loaded.tokenizer, questions, system_prompt=SYSTEM,
                             max_new_tokens=max_new_tokens, batch_size=64)
    plain_s = time.perf_counter() - started
    with Sandbox() as box:
        box.run("print(1)")  # the worker's start-up is paid once per evaluation, not per question
        started = time.perf_counter()
        tools = answer_with_tools(loaded.model, loaded.tokenizer, questions, system_prompt=SYSTEM, sandbox=box,
                                  max_rounds=2, max_new_tokens=max_new_tokens, batch_size=64)
        tools_s = time.perf_counter() - started
    return {
        "questions": len(records), "adapter": adapter, "plain_s": plain_s, "tools_s": tools_s,
        "ratio": tools_s / plain_s, "sandbox_s": sum(a.sandbox_seconds for a in tools),
        "generation_s": sum(a.generation_seconds for a in tools),
        "tool_calls": sum(a.rounds > 0 for a in tools),
        "physics_plain": sum(check_answer(a, r.answer) or 0 for a, r in zip(plain, records)) / len(records),
        "physics_tools": sum(check_answer(a.final, r.answer) or 0 for a, r in zip(tools, records)) / len(records),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--questions", type=int, default=34)
    ap.add_argument("--adapter", help="a run's adapter folder: time the tuned model (it writes programs)")
    ap.add_argument("--max-new-tokens", type=int, default=160)
    ap.add_argument("--cold-runs", type=int, default=5)
    ap.add_argument("--skip-eval", action="store_true", help="only the sandbox numbers")
    ap.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "tools.json")
    args = ap.parse_args()

    result = {"sandbox": sandbox_overhead(bundled_programs(), args.cold_runs), "hostile": hostile_table()}
    s = result["sandbox"]
    print(f"sandbox worker start-up: {s['worker_start_s']:.2f} s (once per evaluation)")
    print("| program run | p50 ms | p95 ms | n |\n|---|---|---|---|")
    for key, label in (("in_process", "in-process exec, no guards"), ("warm_trivial", "warm pool, print(1)"),
                       ("warm", "warm pool, bundled programs"), ("cold", "cold sandbox per program")):
        print(f"| {label} | {s[key]['p50_ms']:.1f} | {s[key]['p95_ms']:.1f} | {s[key]['n']} |")
    print(f"warm vs cold p50: {s['cold']['p50_ms'] / s['warm']['p50_ms']:.0f}x faster; "
          f"overhead over in-process p50: {s['warm']['p50_ms'] - s['in_process']['p50_ms']:.1f} ms")
    print("\n| hostile program | error class | stopped by | s |\n|---|---|---|---|")
    for row in result["hostile"]:
        flag = "" if row["status"] in row["expected"].split("|") else f" (expected {row['expected']})"
        print(f"| {row['case']} | {row['status']}{flag} | {row['stopped_by']} | {row['seconds']:.2f} |")
    if not args.skip_eval:
        e = result["eval"] = eval_wall_time(args.questions, args.adapter, args.max_new_tokens)
        print(f"\ntools vs plain on {e['questions']} numeric test questions ({'tuned' if e['adapter'] else 'base'} model): "
              f"plain {e['plain_s']:.1f} s, tools {e['tools_s']:.1f} s = {e['ratio']:.2f}x "
              f"(generation {e['generation_s']:.1f} s, sandbox {e['sandbox_s']:.2f} s; {e['tool_calls']} answers used "
              f"the tool); physics check plain {e['physics_plain']:.3f}, tools {e['physics_tools']:.3f}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1))
    print(f"\nwritten to {args.json}")


if __name__ == "__main__":
    main()
