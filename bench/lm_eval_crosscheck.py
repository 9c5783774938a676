"""Cross-check physlora's multiple-choice log-likelihood accuracy against lm-evaluation-harness.

    python bench/lm_eval_crosscheck.py                                   # tests/fixtures/mini_mc.jsonl
    python bench/lm_eval_crosscheck.py --data src/physlora/data/bundled/mc/test.jsonl --limit 60
    python bench/lm_eval_crosscheck.py --benchmark mmlu:college_physics=DIR --benchmark gpqa:physics=FILE

With --benchmark (an MC entry of physlora's benchmark registry on a local copy of the set), physlora scores the
set as `physlora eval --data NAME=PATH prompt.format=plain` does, and lm-eval runs its *own packaged task*
(mmlu_<subject>, gpqa_main_zeroshot / gpqa_main_n_shot, included from the installed lm_eval/tasks YAML) with
only the data source replaced by the local rows: lm-eval builds the prompts from the native rows itself, so
identical contexts mean physlora renders lm-eval's prompt exactly. For GPQA the option order is physlora's
(lm-eval shuffles with its global RNG), handed to lm-eval as choice1..choice4 with its process_docs turned off.

Both sides see the same items, the same model weights (fp32, CPU) and the same prompt string:

  lm-eval   a custom task (written to a temp dir) whose documents are physlora's exact prompt
            (`prompting.build_prompt`, chat template + assistant header) as `context`, the options
            as `choices` and the gold index; output_type multiple_choice, target_delimiter "",
            metrics acc and acc_norm; run through `lm_eval.simple_evaluate(model="hf", ...)`, which
            loads the model its own way from the local safetensors folder, fully offline.
  physlora  `scoring.score_multiple_choice` on the same records, model from `models.load_model`.

Prints a side-by-side table (and per-item log-likelihood differences), writes everything as JSON to
--out, and exits 1 when acc or acc_norm differ by more than 0.0005 (or per-item predictions differ).
Needs `pip install lm-eval` (tested with lm-eval 0.4.13).
"""

from __future__ import annotations

import os

# before anything imports huggingface_hub / datasets / transformers: never touch the network
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import argparse  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT / "tests" / "fixtures" / "mini_mc.jsonl"
DEFAULT_OUT = ROOT / "bench" / "results" / "lm_eval_crosscheck.json"
TASK_NAME = "physlora_mc_crosscheck"
TOLERANCE = 0.0005


def _task_yaml(jsonl: Path, cache: Path) -> str:
    # JSON strings are valid YAML scalars: paths with odd characters stay safe
    return "\n".join(
        [
            f"task: {TASK_NAME}",
            "dataset_path: json",
            "dataset_kwargs:",
            f"  data_files: {{train: {json.dumps(str(jsonl))}}}",
            f"  cache_dir: {json.dumps(str(cache))}",
            "test_split: train",
            "output_type: multiple_choice",
            'doc_to_text: "{{context}}"',
            'doc_to_choice: "{{choices}}"',
            'doc_to_target: "{{gold}}"',
            'target_delimiter: ""',
            "num_fewshot: 0",
            "metric_list:",
            "  - metric: acc",
            "    aggregation: mean",
            "    higher_is_better: true",
            "  - metric: acc_norm",
            "    aggregation: mean",
            "    higher_is_better: true",
            "metadata:",
            "  version: 1.0",
            "",
        ]
    )


def _sample_args(sample: dict) -> list[tuple[str, str]]:
    """(context, continuation) of each request of a logged lm-eval sample (tuple or dict form)."""
    args = sample.get("arguments")
    if isinstance(args, dict):  # {"gen_args_0": {"arg_0": ctx, "arg_1": cont}, ...}
        return [(a["arg_0"], a["arg_1"]) for a in args.values()]
    return [(a[0], a[1]) for a in args]


def _sample_lls(sample: dict) -> list[float]:
    out = []
    for r in sample["filtered_resps"]:
        r = r[0] if isinstance(r, (list, tuple)) else r
        out.append(float(r))
    return out


def _argmax(xs: list[float]) -> int:
    return max(range(len(xs)), key=lambda i: xs[i])  # first max on ties, like np.argmax


def run_lm_eval(model_dir: str, docs: list[dict], batch_size: int, workdir: Path) -> dict:
    import lm_eval
    from lm_eval.tasks import TaskManager

    jsonl = workdir / "docs.jsonl"
    with jsonl.open("w", encoding="utf-8") as f:
        for d in docs:
            f.write(json.dumps(d, ensure_ascii=False) + "\n")
    task_dir = workdir / "tasks"
    task_dir.mkdir()
    (task_dir / f"{TASK_NAME}.yaml").write_text(_task_yaml(jsonl, workdir / "hf_datasets_cache"), encoding="utf-8")

    results = lm_eval.simple_evaluate(
        model="hf",
        model_args=f"pretrained={model_dir},dtype=float32,device=cpu",
        tasks=[TASK_NAME],
        batch_size=batch_size,
        num_fewshot=0,
        task_manager=TaskManager(include_path=str(task_dir), include_defaults=False),
        log_samples=True,
        bootstrap_iters=0,
        use_cache=None,
    )
    metrics = results["results"][TASK_NAME]
    samples = sorted(results["samples"][TASK_NAME], key=lambda s: s["doc_id"])
    per_item = []
    for s in samples:
        args = _sample_args(s)
        lls = _sample_lls(s)
        n_chars = [len(cont) for _, cont in args]
        per_item.append(
            {
                "doc_id": s["doc_id"],
                "context": args[0][0],
                "continuations": [cont for _, cont in args],
                "loglik": lls,
                "pred_acc": _argmax(lls),
                "pred_acc_norm": _argmax([x / max(n, 1) for x, n in zip(lls, n_chars)]),
                "acc": float(s["acc"]),
                "acc_norm": float(s["acc_norm"]),
            }
        )
    out = {
        "acc": float(metrics["acc,none"]),
        "acc_norm": float(metrics["acc_norm,none"]),
        "per_item": per_item,
        "version": getattr(lm_eval, "__version__", None),
    }
    del results
    gc.collect()
    return out


def _bos_report(tokenizer, context: str) -> dict:
    """What a default (add_special_tokens=True) encode does vs physlora's add_special_tokens=False."""
    default = tokenizer(context)["input_ids"]
    plain = tokenizer(context, add_special_tokens=False)["input_ids"]
    bos = tokenizer.bos_token
    return {
        "bos_token": bos,
        "bos_token_id": tokenizer.bos_token_id,
        "tokenizer_add_bos_token": getattr(tokenizer, "add_bos_token", None),
        "default_encode_adds_tokens": len(default) != len(plain),
        "prompt_starts_with_bos_text": bool(bos) and context.startswith(bos),
    }


def crosscheck(
    *,
    model: str = "smollm2-135m-instruct",
    data: str = str(DEFAULT_DATA),
    split: str | None = None,
    limit: int | None = None,
    system_prompt: str | None = None,
    batch_size: int = 8,
) -> dict:
    """Score the same MC items with lm-eval and physlora; return every number (see module doc)."""
    import torch

    from physlora.config import DEFAULT_SYSTEM_PROMPT
    from physlora.data.sources import load_records
    from physlora.models.loading import load_model, resolve_model_path
    from physlora.prompting import build_prompt
    from physlora.scoring.multiple_choice import score_multiple_choice

    if system_prompt is None:
        system_prompt = DEFAULT_SYSTEM_PROMPT
    system_prompt = system_prompt or None  # "" -> no system turn, as in physlora's config
    records = [r for r in load_records(data, split).records if r.is_mc]
    if not records:
        raise SystemExit(f"{data}: no multiple-choice records (need id, question, choices, answer)")
    records = records[:limit] if limit else records

    t0 = time.perf_counter()
    model_dir = resolve_model_path(model)
    loaded = load_model(model, dtype="float32", device="cpu")
    tok = loaded.tokenizer
    docs = [
        {
            "id": r.id,
            "context": build_prompt(tok, r.question, system_prompt),
            "choices": list(r.choices),
            "gold": r.answer_index,
        }
        for r in records
    ]

    t_physlora = time.perf_counter()
    rows = score_multiple_choice(loaded.model, tok, records, system_prompt=system_prompt)
    t_physlora = time.perf_counter() - t_physlora
    bos = _bos_report(tok, docs[0]["context"])
    del loaded
    gc.collect()

    t_lm = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="physlora-lmeval-") as tmp:
        lm = run_lm_eval(model_dir, docs, batch_size, Path(tmp))
    t_lm = time.perf_counter() - t_lm
    if len(lm["per_item"]) != len(records):
        raise RuntimeError(f"lm-eval scored {len(lm['per_item'])} items, expected {len(records)}")

    items = []
    max_ll_diff = 0.0
    for rec, doc, row, li in zip(records, docs, rows, lm["per_item"]):
        n_chars = [len(c) for c in rec.choices]
        p_acc = _argmax(row["loglik"])
        p_norm = _argmax([x / max(n, 1) for x, n in zip(row["loglik"], n_chars)])
        diff = max(abs(a - b) for a, b in zip(row["loglik"], li["loglik"]))
        max_ll_diff = max(max_ll_diff, diff)
        items.append(
            {
                "id": rec.id,
                "gold": doc["gold"],
                "same_context": li["context"] == doc["context"],
                "same_continuations": li["continuations"] == doc["choices"],
                "physlora_loglik": row["loglik"],
                "lm_eval_loglik": li["loglik"],
                "max_abs_loglik_diff": diff,
                "physlora_pred": p_acc,
                "lm_eval_pred": li["pred_acc"],
                "physlora_pred_norm": p_norm,
                "lm_eval_pred_norm": li["pred_acc_norm"],
                "agree": p_acc == li["pred_acc"],
                "agree_norm": p_norm == li["pred_acc_norm"],
            }
        )
    n = len(records)
    physlora = {
        "acc": sum(r["acc"] for r in rows) / n,
        "acc_norm": sum(r["acc_norm"] for r in rows) / n,
    }
    lm_eval_metrics = {"acc": lm["acc"], "acc_norm": lm["acc_norm"]}
    diff = {k: abs(physlora[k] - lm_eval_metrics[k]) for k in physlora}
    agree = sum(i["agree"] for i in items)
    agree_norm = sum(i["agree_norm"] for i in items)
    ok = all(d <= TOLERANCE for d in diff.values()) and agree == n and agree_norm == n
    return {
        "ok": ok,
        "n": n,
        "model": model,
        "model_dir": model_dir,
        "data": str(data),
        "split": split,
        "system_prompt": system_prompt,
        "lm_eval": lm_eval_metrics,
        "physlora": physlora,
        "abs_diff": diff,
        "tolerance": TOLERANCE,
        "agree_acc": agree,
        "agree_acc_norm": agree_norm,
        "max_abs_loglik_diff": max_ll_diff,
        "all_contexts_identical": all(i["same_context"] for i in items),
        "all_continuations_identical": all(i["same_continuations"] for i in items),
        "bos": bos,
        "lm_eval_version": lm["version"],
        "torch_version": torch.__version__,
        "seconds": {
            "physlora_scoring": round(t_physlora, 2),
            "lm_eval": round(t_lm, 2),
            "total": round(time.perf_counter() - t0, 2),
        },
        "lm_eval_batch_size": batch_size,
        "items": items,
    }


def format_table(res: dict) -> str:
    lm, ph = res["lm_eval"], res["physlora"]
    lines = [
        f"model {res['model']}  data {res['data']}  n={res['n']}",
        f"{'':10}{'lm-eval':>10}{'physlora':>10}{'|diff|':>10}{'agree':>10}",
        f"{'acc':10}{lm['acc']:10.4f}{ph['acc']:10.4f}"
        f"{res['abs_diff']['acc']:10.4f}{res['agree_acc']:>6}/{res['n']:<3}",
        f"{'acc_norm':10}{lm['acc_norm']:10.4f}{ph['acc_norm']:10.4f}"
        f"{res['abs_diff']['acc_norm']:10.4f}{res['agree_acc_norm']:>6}/{res['n']:<3}",
        f"max |loglik diff| per choice: {res['max_abs_loglik_diff']:.2e}; "
        f"identical prompts: {res['all_contexts_identical']}; BOS: {res['bos']}",
        f"time: physlora {res['seconds']['physlora_scoring']} s (incl. letter/circular), "
        f"lm-eval {res['seconds']['lm_eval']} s (incl. model load), total {res['seconds']['total']} s",
        "OK" if res["ok"] else f"MISMATCH (tolerance {res['tolerance']})",
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------- benchmarks of physlora's registry

LM_EVAL_TASKS = {  # physlora benchmark -> (lm-eval task YAML under lm_eval/tasks, k-shot YAML)
    "mmlu:college_physics": ("mmlu/default/mmlu_college_physics.yaml", None),
    "mmlu:high_school_physics": ("mmlu/default/mmlu_high_school_physics.yaml", None),
    "mmlu:conceptual_physics": ("mmlu/default/mmlu_conceptual_physics.yaml", None),
    "gpqa:physics": ("gpqa/zeroshot/gpqa_main_zeroshot.yaml", "gpqa/n_shot/gpqa_main_n_shot.yaml"),
}


def _packaged_task(spec) -> Path:
    import lm_eval

    zero, kshot = LM_EVAL_TASKS[spec.benchmark.name]
    return Path(lm_eval.__file__).parent / "tasks" / (kshot if spec.shots and kshot else zero)


def _benchmark_task_yaml(spec, records, workdir: Path, index: int) -> tuple[str, str]:
    """A task that includes lm-eval's packaged one and swaps only its data for local rows."""
    name = f"physlora_{index}_" + re.sub(r"\W", "_", spec.benchmark.name)
    lines = [f"include: {json.dumps(str(_packaged_task(spec)))}", f"task: {name}", "tag: []", "dataset_path: json",
             "dataset_name: null", f"num_fewshot: {spec.shots}"]
    cache = json.dumps(str(workdir / f"hf_cache_{index}"))
    if spec.benchmark.reader == "mmlu":
        # lm-eval's template names a dev split even at 0 shots; a single file stands in for it then (unused)
        files = ({"test": spec.path / "test.jsonl", "dev": spec.path / "dev.jsonl"} if spec.path.is_dir()
                 else {"test": spec.path, "dev": spec.path})  # fmt: skip
        lines += [f"dataset_kwargs: {{data_files: {json.dumps({k: str(v) for k, v in files.items()})}, cache_dir: {cache}}}",
                  "test_split: test", "fewshot_split: dev"]
    else:  # gpqa: physlora's option order, as the fields lm-eval's template reads
        docs = workdir / f"{name}.jsonl"
        with docs.open("w", encoding="utf-8") as f:
            for r in records:
                row = {"Question": r.extra["raw_question"], **{f"choice{i + 1}": c for i, c in enumerate(r.choices)},
                       "answer": f"({'ABCD'[r.answer_index]})"}
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
        lines += [f"dataset_kwargs: {{data_files: {{train: {json.dumps(str(docs))}}}, cache_dir: {cache}}}",
                  "process_docs: null", "training_split: train", "validation_split: train"]
    return "\n".join(lines) + "\n", name


def _compare_benchmark(spec, records, contexts, rows, samples, lm_metrics) -> dict:
    items = []
    for rec, ctx, row, sample in zip(records, contexts, rows, samples):
        args, lls = _sample_args(sample), _sample_lls(sample)
        targets = rec.extra["mc_targets"]
        items.append({
            "id": rec.id, "same_context": args[0][0] == ctx, "physlora_pred": _argmax(row["loglik"]), "lm_eval_pred": _argmax(lls),
            "physlora_pred_norm": _argmax([x / len(t) for x, t in zip(row["loglik"], targets)]),
            "lm_eval_pred_norm": _argmax([x / len(t) for x, t in zip(lls, targets)]),
            "max_abs_loglik_diff": max(abs(a - b) for a, b in zip(row["loglik"], lls)),
        })  # fmt: skip
    n = len(items)
    out = {
        "benchmark": spec.label, "n": n, "lm_eval_task": str(_packaged_task(spec)),
        "agree_acc": sum(i["physlora_pred"] == i["lm_eval_pred"] for i in items),
        "agree_acc_norm": sum(i["physlora_pred_norm"] == i["lm_eval_pred_norm"] for i in items),
        "physlora": {"acc": sum(r["acc"] for r in rows) / n, "acc_norm": sum(r["acc_norm"] for r in rows) / n},
        "lm_eval": {k.split(",")[0]: float(v) for k, v in lm_metrics.items() if k.split(",")[0] in ("acc", "acc_norm")},
        "all_contexts_identical": all(i["same_context"] for i in items), "items": items,
        "max_abs_loglik_diff": max(i["max_abs_loglik_diff"] for i in items),
    }  # fmt: skip
    out["ok"] = bool(out["agree_acc"] == out["agree_acc_norm"] == n and out["all_contexts_identical"]
                     and out["max_abs_loglik_diff"] < 1e-3)  # fmt: skip
    return out


def crosscheck_benchmarks(sources: list[str], *, model: str = "smollm2-135m-instruct", batch_size: int = 8) -> list[dict]:
    """MC benchmarks on local copies: physlora (plain format) against lm-eval's packaged tasks, one model load
    on each side for all of them."""
    import lm_eval
    from lm_eval.tasks import TaskManager

    from physlora.data.benchmarks import parse_spec
    from physlora.data.sources import load_records
    from physlora.models.loading import load_model, resolve_model_path
    from physlora.prompting import PromptStyle, build_prompt
    from physlora.scoring.multiple_choice import score_multiple_choice

    specs = [parse_spec(s) for s in sources]
    for spec in specs:
        if spec.benchmark.name not in LM_EVAL_TASKS or spec.path is None:
            raise SystemExit(f"--benchmark takes NAME=PATH for one of {', '.join(LM_EVAL_TASKS)}")
    style = PromptStyle("plain", "{question}")
    loaded = load_model(model, dtype="float32", device="cpu")
    ours = []
    for source in sources:
        records = load_records(source).records
        contexts = [build_prompt(loaded.tokenizer, r.question, None, style=style) for r in records]
        ours.append((records, contexts, score_multiple_choice(loaded.model, loaded.tokenizer, records, system_prompt=None, style=style)))
    del loaded
    gc.collect()
    with tempfile.TemporaryDirectory(prefix="physlora-lmeval-") as tmp:
        workdir = Path(tmp)
        (workdir / "tasks").mkdir()
        tasks = []
        for i, (spec, (records, _, _)) in enumerate(zip(specs, ours)):
            text, task = _benchmark_task_yaml(spec, records, workdir, i)
            (workdir / "tasks" / f"{task}.yaml").write_text(text, encoding="utf-8")
            tasks.append(task)
        results = lm_eval.simple_evaluate(
            model="hf", model_args=f"pretrained={resolve_model_path(model)},dtype=float32,device=cpu", tasks=tasks,
            batch_size=batch_size, log_samples=True, bootstrap_iters=0, use_cache=None,
            task_manager=TaskManager(include_path=str(workdir / "tasks"), include_defaults=False),
        )
    return [_compare_benchmark(spec, records, contexts, rows, sorted(results["samples"][task], key=lambda s: s["doc_id"]),
                               results["results"][task])
            for spec, (records, contexts, rows), task in zip(specs, ours, tasks)]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--data", default=str(DEFAULT_DATA), help="native MC JSONL (id, question, choices, answer)")
    ap.add_argument("--split", default=None, help="split, for a bundled set or hub dataset")
    ap.add_argument("--limit", type=int, default=None, help="first N items only")
    ap.add_argument("--system-prompt", default=None, help="default: physlora's DEFAULT_SYSTEM_PROMPT; '' for none")
    ap.add_argument("--batch-size", type=int, default=8, help="lm-eval batch size")
    ap.add_argument("--out", default=str(DEFAULT_OUT))
    ap.add_argument("--benchmark", action="append", default=[],
                    help="NAME=PATH of an MC benchmark (mmlu:*, gpqa:physics) on a local copy; repeat for several")
    args = ap.parse_args(argv)
    if args.benchmark:
        res = {"benchmarks": crosscheck_benchmarks(args.benchmark, model=args.model, batch_size=args.batch_size)}
        for b in res["benchmarks"]:
            print(f"{b['benchmark']}: n={b['n']} acc physlora {b['physlora']['acc']:.4f} lm-eval {b['lm_eval'].get('acc', float('nan')):.4f}; "
                  f"items agree {b['agree_acc']}/{b['n']} (norm {b['agree_acc_norm']}/{b['n']}); identical prompts "
                  f"{b['all_contexts_identical']}; max |loglik diff| {b['max_abs_loglik_diff']:.1e}; {'OK' if b['ok'] else 'MISMATCH'}")
        res["ok"] = all(b["ok"] for b in res["benchmarks"])
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(res, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        return 0 if res["ok"] else 1

    res = crosscheck(
        model=args.model,
        data=args.data,
        split=args.split,
        limit=args.limit,
        system_prompt=args.system_prompt,
        batch_size=args.batch_size,
    )
    print(format_table(res))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {out}")
    return 0 if res["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
