"""Evaluation speed, side by side in one run: physlora's batched likelihood scoring vs lm-evaluation-harness and
vs physlora's own scoring before batching across questions; `physlora eval` on 2 processes vs 1.

    python bench/eval_speed.py                      # every part, 128 MC items, 128 free-form items
    python bench/eval_speed.py --parts mc --n 32    # a quick look
    python bench/eval_speed.py --threads 1          # on a busy shared machine: compare CPU seconds
    python bench/eval_speed.py --parts mc --threads 1 --lm-eval-batch 32 --skip before "acc alone" "acc_norm alone"

Parts (each variant runs on the same model object, loaded once: model load excluded on every side):

  mc     the first --n bundled multiple-choice items (test, then validation, then train split), physlora's exact
         prompts (prompting.build_prompt) for both sides.
           lm-eval        `HFLM(pretrained=<the loaded model>).loglikelihood(...)` on one (context, option) request
                          per option: lm-eval's multiple_choice scoring (acc/acc_norm), at each --lm-eval-batch.
           before         bench/baseline_scoring.py: physlora before issue 18 (one question per forward pass,
                          all four metrics).
           physlora       scoring.multiple_choice.score_multiple_choice with eval.mc_metrics = [acc, acc_norm], all
                          four, and each metric alone (what each one costs).
         lm-eval's and physlora's acc/acc_norm picks are compared item by item.
  nll    reference NLL of --n bundled free-form items: before (batches of 8 by count) vs after (token budget).
  procs  `physlora eval` on the MC items (and --procs-freeform free-form items with generation) as 1 process
         and under `accelerate launch --num_processes 2` (threads split as in training); both metrics.json
         must hold the same numbers.

Timing: wall seconds and CPU seconds (this process's, all threads) of each variant; rounds interleave the
variants (--repeats), and the median is reported. On a machine shared with other jobs the wall clock follows
their load, CPU seconds much less: run with --threads 1 there and read the CPU columns.
Results: a table on stdout and every number in bench/results/eval_speed.json.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
SYSTEM = "You are a physicist. Answer concisely and correctly."
BEFORE_ALL_FOUR = "physlora before: all four (one question per pass)"  # MC variant names the tables compare
ALL_FOUR = "physlora all four"
MODEL = "smollm2-135m-instruct"
SPLITS = ("test", "validation", "train")


def _baseline():
    spec = importlib.util.spec_from_file_location("baseline_scoring", ROOT / "bench" / "baseline_scoring.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def items(source: str, n: int) -> list:
    from physlora.data.sources import load_records

    out = []
    for split in SPLITS:
        out += load_records(source, split).records
        if len(out) >= n:
            break
    return out[:n]


def timed(fn) -> tuple[float, float, object]:
    cpu, wall = time.process_time(), time.perf_counter()
    result = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def lm_eval_scorer(model, tokenizer, records, batch_size: int):
    """lm-eval's multiple_choice scoring of the records: loglikelihood of each (context, option) request."""
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM

    from physlora.prompting import build_prompt

    lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=batch_size, device=str(model.device))
    requests, owner = [], []
    for q, rec in enumerate(records):
        context = build_prompt(tokenizer, rec.question, SYSTEM)
        for c in rec.choices:
            requests.append(Instance("loglikelihood", {}, (context, c), len(requests), ("bench", q, 1)))
            owner.append(q)

    def run() -> list[list[float]]:
        lls: list[list[float]] = [[] for _ in records]
        for q, (ll, _) in zip(owner, lm.loglikelihood(requests, disable_tqdm=True)):
            lls[q].append(ll)
        return lls

    return run


def _picks(records, lls: list[list[float]]) -> list[tuple[int, int]]:
    argmax = lambda xs: max(range(len(xs)), key=lambda i: xs[i])  # noqa: E731
    return [(argmax(ll), argmax([x / max(len(c), 1) for x, c in zip(ll, r.choices)])) for r, ll in zip(records, lls)]


def mc_variants(model, tokenizer, records, lm_eval_batches: list[int], budget: int, skip: list[str]) -> dict:
    """Every variant, less those whose name contains a word of `skip` (acc alone and acc_norm alone score the
    same requests as acc/acc_norm; `before` is the old code: both can go on a busy machine)."""
    from physlora.scoring.multiple_choice import MC_METRICS, score_multiple_choice

    old = _baseline()

    def ours(metrics):
        return lambda: score_multiple_choice(model, tokenizer, records, system_prompt=SYSTEM, metrics=metrics,
                                             tokens_per_batch=budget)

    variants = {f"lm-eval acc/acc_norm (batch {b})": lm_eval_scorer(model, tokenizer, records, b) for b in lm_eval_batches}
    variants[BEFORE_ALL_FOUR] = lambda: old.score_multiple_choice(
        model, tokenizer, records, system_prompt=SYSTEM)
    variants["physlora acc/acc_norm"] = ours(["acc", "acc_norm"])
    variants[ALL_FOUR] = ours(list(MC_METRICS))
    for m in MC_METRICS:
        variants[f"physlora {m} alone"] = ours([m])
    return {k: v for k, v in variants.items() if not any(word in k for word in skip)}


def nll_variants(model, tokenizer, records, budget: int) -> dict:
    from physlora.scoring.likelihood import reference_nll

    old = _baseline()
    return {
        "reference NLL before (batches of 8)": lambda: old.reference_nll(model, tokenizer, records, system_prompt=SYSTEM),
        "reference NLL after (token budget)": lambda: reference_nll(model, tokenizer, records, system_prompt=SYSTEM,
                                                                    tokens_per_batch=budget),
    }


def run_rounds(variants: dict, repeats: int) -> tuple[dict, dict]:
    times: dict[str, list[tuple[float, float]]] = {k: [] for k in variants}
    outputs = {}
    for r in range(repeats):
        for name, fn in variants.items():
            wall, cpu, outputs[name] = timed(fn)
            times[name].append((wall, cpu))
            print(f"  round {r + 1}: {name}: {wall:.1f} s wall, {cpu:.1f} s CPU", flush=True)
    med = {k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v)) for k, v in times.items()}
    return med, outputs


def mc_part(model, tokenizer, args) -> dict:
    records = [r for r in items("physlora-physics-mc", args.n) if r.is_mc]
    print(f"mc: {len(records)} items, {sum(len(r.choices) for r in records)} options", flush=True)
    variants = mc_variants(model, tokenizer, records, args.lm_eval_batch, args.tokens_per_batch, args.skip)
    med, outputs = run_rounds(variants, args.repeats)
    lm_names = [k for k in med if k.startswith("lm-eval")]
    best_lm = min(lm_names, key=lambda k: med[k][1])
    lm_picks = _picks(records, outputs[best_lm])
    ours = outputs[ALL_FOUR]
    our_picks = _picks(records, [row["loglik"] for row in ours])
    agree = sum(a[0] == b[0] for a, b in zip(lm_picks, our_picks)), sum(a[1] == b[1] for a, b in zip(lm_picks, our_picks))
    max_diff = max(abs(x - y) for ll, row in zip(outputs[best_lm], ours) for x, y in zip(ll, row["loglik"]))
    table = {k: {"wall_s": w, "cpu_s": c, "items_per_s_wall": len(records) / w, "items_per_s_cpu": len(records) / c,
                 "vs_lm_eval_wall": med[best_lm][0] / w, "vs_lm_eval_cpu": med[best_lm][1] / c} for k, (w, c) in med.items()}
    return {"n": len(records), "table": table, "lm_eval_reference": best_lm, "agree_acc": agree[0],
            "agree_acc_norm": agree[1], "max_abs_loglik_diff": max_diff, "same_as_before": _same_as_before(outputs)}


def _same_as_before(outputs: dict) -> int | None:
    """Items on which all four metrics of physlora's batched scoring equal those of its scoring before batching
    (None where `before` was skipped): circular's rotations stop at the first wrong one, the scores may not move."""
    from physlora.scoring.multiple_choice import MC_METRICS

    before = outputs.get(BEFORE_ALL_FOUR)
    if before is None:
        return None
    return sum(all(a[k] == b[k] for k in MC_METRICS) for a, b in zip(before, outputs[ALL_FOUR], strict=True))


def nll_part(model, tokenizer, args) -> dict:
    records = items("physlora-physics", args.n)
    print(f"nll: {len(records)} free-form items", flush=True)
    med, outputs = run_rounds(nll_variants(model, tokenizer, records, args.tokens_per_batch), args.repeats)
    before, after = outputs.values()
    ref = "reference NLL before (batches of 8)"
    table = {k: {"wall_s": w, "cpu_s": c, "items_per_s_wall": len(records) / w, "items_per_s_cpu": len(records) / c,
                 "vs_before_wall": med[ref][0] / w, "vs_before_cpu": med[ref][1] / c} for k, (w, c) in med.items()}
    return {"n": len(records), "table": table, "max_abs_nll_diff": max(abs(a - b) for a, b in zip(before, after))}


def _eval_command(n_procs: int, data: list[Path], out: Path, extra: list[str]) -> list[str]:
    bin_dir = Path(sys.executable).parent
    tail = ["eval", "--model", MODEL, *[a for d in data for a in ("--data", str(d))], "--out", str(out),
            "eval.semantic=false", *extra]
    if n_procs == 1:
        return [sys.executable, "-m", "physlora", *tail]
    return [str(bin_dir / "accelerate"), "launch", "--multi_gpu", "--num_processes", str(n_procs), "--num_machines", "1",
            "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "29533", "-m", "physlora.cli", *tail]


def procs_part(args) -> dict:
    """`physlora eval` as 1 process and as 2 (accelerate launch); wall time of the whole command and of its
    evaluation alone (the command's own log), and whether both wrote the same metrics."""
    tmp = Path(tempfile.mkdtemp(prefix="physlora-evalspeed-"))
    try:
        data = [tmp / "mc.jsonl"]
        rows = [r for r in items("physlora-physics-mc", args.n) if r.is_mc]
        data[0].write_text("".join(json.dumps(r.to_dict()) + "\n" for r in rows), encoding="utf-8")
        if args.procs_freeform:
            data.append(tmp / "freeform.jsonl")
            ff = items("physlora-physics", args.procs_freeform)
            data[1].write_text("".join(json.dumps(r.to_dict()) + "\n" for r in ff), encoding="utf-8")
        extra = [f"eval.max_new_tokens={args.procs_max_new_tokens}", f"eval.score_tokens_per_batch={args.tokens_per_batch}"]
        result = {}
        for n_procs in (1, 2):
            out = tmp / f"out{n_procs}"
            env = {**os.environ, "OMP_NUM_THREADS": str(max(1, args.cores // n_procs))}
            wall = time.perf_counter()
            proc = subprocess.run(_eval_command(n_procs, data, out, extra), capture_output=True, text=True, env=env)
            wall = time.perf_counter() - wall
            if proc.returncode != 0:
                raise RuntimeError(f"physlora eval with {n_procs} process(es) failed:\n{proc.stderr[-3000:]}")
            metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
            result[n_procs] = {"wall_s": wall, "metrics": {s: {m: v["mean"] for m, v in b["metrics"].items()}
                                                           for s, b in metrics["sets"].items()}}
            print(f"  physlora eval, {n_procs} process(es): {wall:.1f} s", flush=True)
        same = _same_metrics(result[1]["metrics"], result[2]["metrics"])
        return {"runs": result, "speedup": result[1]["wall_s"] / result[2]["wall_s"], "same_metrics": same,
                "n_mc": len(rows), "n_freeform": args.procs_freeform}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def format_tables(res: dict) -> str:
    lines = []
    if "mc" in res:
        mc = res["mc"]
        lines += [f"\nmultiple choice, {mc['n']} items (vs {mc['lm_eval_reference']})",
                  f"{'variant':52}{'wall s':>8}{'CPU s':>8}{'items/s':>9}{'vs lm-eval wall':>17}{'CPU':>7}"]
        for k, v in mc["table"].items():
            lines.append(f"{k:52}{v['wall_s']:8.1f}{v['cpu_s']:8.1f}{v['items_per_s_cpu']:9.2f}"
                         f"{v['vs_lm_eval_wall']:16.2f}x{v['vs_lm_eval_cpu']:6.2f}x")
        lines.append(f"lm-eval vs physlora picks: acc {mc['agree_acc']}/{mc['n']}, acc_norm {mc['agree_acc_norm']}/{mc['n']}; "
                     f"max |loglik diff| {mc['max_abs_loglik_diff']:.1e}")
        if mc["same_as_before"] is not None:
            lines.append(f"physlora all four vs before batching: acc, acc_norm, letter, circular equal on "
                         f"{mc['same_as_before']}/{mc['n']} items")
    if "nll" in res:
        nll = res["nll"]
        lines += [f"\nreference NLL, {nll['n']} items", f"{'variant':52}{'wall s':>8}{'CPU s':>8}{'items/s':>9}"
                  f"{'vs before wall':>16}{'CPU':>7}"]
        for k, v in nll["table"].items():
            lines.append(f"{k:52}{v['wall_s']:8.1f}{v['cpu_s']:8.1f}{v['items_per_s_cpu']:9.2f}"
                         f"{v['vs_before_wall']:15.2f}x{v['vs_before_cpu']:6.2f}x")
        lines.append(f"max |NLL diff| before/after {nll['max_abs_nll_diff']:.1e}")
    if "procs" in res:
        p = res["procs"]
        lines += [f"\nphyslora eval ({p['n_mc']} MC + {p['n_freeform']} free-form items): 1 process "
                  f"{p['runs'][1]['wall_s']:.1f} s, 2 processes {p['runs'][2]['wall_s']:.1f} s -> {p['speedup']:.2f}x; "
                  f"same metrics: {p['same_metrics']}"]
    return "\n".join(lines)


def _same_metrics(a: dict, b: dict, tol: float = 1e-6) -> bool:
    """Equal set by set and metric by metric, to `tol`: two processes sum the same log-probabilities in another
    batch layout, so a mean NLL can differ in the 8th digit (measured: 1.9e-8) while every answer is identical."""
    return a.keys() == b.keys() and all(
        a[s].keys() == b[s].keys() and all(abs(a[s][m] - b[s][m]) <= tol for m in a[s]) for s in a)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--parts", default="mc,nll,procs", help="comma-separated: mc, nll, procs")
    ap.add_argument("--n", type=int, default=128, help="items per part")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    ap.add_argument("--repeats", type=int, default=1, help="interleaved rounds; the median is reported")
    ap.add_argument("--lm-eval-batch", type=int, nargs="+", default=[8, 32], help="lm-eval batch sizes to run")
    ap.add_argument("--tokens-per-batch", type=int, default=4096, help="physlora's eval.score_tokens_per_batch")
    ap.add_argument("--procs-freeform", type=int, default=32, help="free-form items (with generation) in the procs part")
    ap.add_argument("--procs-max-new-tokens", type=int, default=32)
    ap.add_argument("--skip", nargs="*", default=[], help="leave out MC variants whose name contains one of these words "
                    "(e.g. --skip before 'acc alone' 'acc_norm alone')")
    ap.add_argument("--out", default=str(RESULTS / "eval_speed.json"))
    args = ap.parse_args(argv)
    parts = set(args.parts.split(","))
    args.cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1

    import torch

    torch.set_num_threads(args.threads or args.cores)
    res: dict = {"threads": torch.get_num_threads(), "cores": args.cores, "load_avg_start": os.getloadavg(),
                 "tokens_per_batch": args.tokens_per_batch, "torch": torch.__version__}
    if parts & {"mc", "nll"}:
        from physlora.models.loading import load_model

        loaded = load_model(MODEL, dtype="float32", device="cpu")
        if "mc" in parts:
            res["mc"] = mc_part(loaded.model, loaded.tokenizer, args)
        if "nll" in parts:
            res["nll"] = nll_part(loaded.model, loaded.tokenizer, args)
        del loaded
    if "procs" in parts:
        res["procs"] = procs_part(args)
    res["load_avg_end"] = os.getloadavg()
    print(format_tables(res))
    print(f"load average at start {res['load_avg_start'][0]:.1f}, at end {res['load_avg_end'][0]:.1f} "
          f"on {args.cores} cores; torch threads {res['threads']}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
