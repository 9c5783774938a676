"""The retrieval parts of the recipes (`retrieval.index` set): evaluate every set again with passages, pair it
with the plain run, and build retrieval-aware training records (`data.retrieval`). The recipes call these
hooks; with no index configured none of them does anything."""

from __future__ import annotations

from pathlib import Path

from physlora.config import RunConfig
from physlora.data.records import Record
from physlora.errors import PhysloraError
from physlora.evaluation.retrieval import evaluate_with_retrieval, retrieval_block, training_effect
from physlora.evaluation.summary import compare
from physlora.experiments.common import print_metrics, prompt_style, say
from physlora.results.schema import EvalOutput


def open_retriever(cfg: RunConfig):
    if not cfg.retrieval.index:
        if cfg.data.retrieval != "none":
            raise PhysloraError(f"data.retrieval={cfg.data.retrieval} needs an index: set retrieval.index=INDEX "
                                "(build one with `physlora index DIR --out INDEX`)")
        return None
    from physlora.retrieval.search import Retriever

    return Retriever.open(cfg.retrieval.index)


def training_records(records: list[Record], cfg: RunConfig, retriever, tokenizer) -> list[Record]:
    """`data.retrieval`: the training prompts with passages (none: unchanged)."""
    if retriever is None or cfg.data.retrieval == "none":
        return records
    from physlora.retrieval.augment import for_training

    out, counts = for_training(records, retriever, tokenizer, cfg.retrieval, cfg.data.retrieval,
                               cfg.train.max_length, cfg.seed)
    say(f"retrieval-aware training ({cfg.data.retrieval}): " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
    return out


def with_retrieval(path: Path, resume: bool, label: str, model, tok, records, cfg: RunConfig, semantic, retriever,
                   sandbox=None) -> EvalOutput:
    """Evaluate with passages, kept in the run folder like the plain evaluations (reused by --resume). With a
    `sandbox`: in tools mode, on this rank alone (tools-mode evaluation runs on rank 0 with one sandbox)."""
    from physlora.evaluation.cache import evaluate_cached

    mode = "" if sandbox is None else " in tools mode"

    def evaluate(partial: Path) -> EvalOutput:
        say(f"evaluating {label}{mode} with retrieval (k={cfg.retrieval.k}, {cfg.retrieval.index})")
        return evaluate_with_retrieval(model, tok, records, cfg, retriever, semantic=semantic, seed=cfg.seed,
                                       label=label, cache=partial, style=prompt_style(cfg, records), sandbox=sandbox)

    out = evaluate_cached(path, records, evaluate, resume=resume, say=say, sharded=sandbox is None)
    print_metrics(f"{label}{' (tools)' if sandbox is not None else ''} + retrieval", out)
    return out


def add_to_eval_set(block, plain: EvalOutput, rows: list[dict], cache: Path, caches: list[Path], *, resume: bool,
                    name: str, loaded, records, cfg: RunConfig, semantic, retriever, sandbox=None) -> list[dict]:
    """`physlora eval` with an index: the set again with passages, paired with the answers without them (`plain`)
    into block.retrieval; returns the prediction rows with the answers with retrieval beside the others. With a
    `sandbox`, `plain` and the answers with passages are both tools-mode answers."""
    cache = cache.with_name(cache.stem + "_retrieval.json")
    with_out = with_retrieval(cache, resume, name, loaded.model, loaded.tokenizer, records, cfg, semantic, retriever,
                              sandbox)
    block.retrieval = retrieval_block(plain, with_out, cfg, cfg.seed)
    for line in summary_lines(name if sandbox is None else f"{name} (tools)", block.retrieval):
        say(line)
    caches.append(cache)
    return merge_predictions(rows, with_out.rows)


def summary_lines(name: str, block: dict) -> list[str]:
    """What the terminal shows: the main metrics with and without, and lost/gained."""
    lines = []
    for m, cmp in block["comparison"].items():
        if m in ("acc", "rouge_l", "physics", "semantic", "ref_nll"):
            lines.append(f"{name}: {m} with - without retrieval {cmp['diff']:+.3f} "
                         f"[{cmp['ci95'][0]:+.3f}, {cmp['ci95'][1]:+.3f}] p={cmp['p_value']:.3g}")
    for m, lg in block["lost_gained"].items():
        if m in ("acc", "physics", "exact_match"):
            lines.append(f"{name}: {m} lost to context {lg['lost']} [{lg['lost_ci95'][0]:.0f}, {lg['lost_ci95'][1]:.0f}], "
                         f"gained {lg['gained']} [{lg['gained_ci95'][0]:.0f}, {lg['gained_ci95'][1]:.0f}] of {lg['n']}")
    for m in ("retrieval_recall", "retrieval_mrr", "citation_accuracy"):
        if m in block["with"]:
            v = block["with"][m]
            lines.append(f"{name}: {m}={v['mean']:.3f} [{v['ci95'][0]:.3f}, {v['ci95'][1]:.3f}] (n={v['n']})")
    return lines


def merge_predictions(rows: list[dict], with_rows: list[dict]) -> list[dict]:
    """One prediction row per question: the plain answer and, beside it, the answer with retrieval, its
    passages (chunk ids, scores), citations and scores."""
    by_id = {r["id"]: r for r in with_rows}
    for row in rows:
        w = by_id.get(row["id"])
        if w is None:
            continue
        row["retrieval_answer"] = w.get("prediction")
        row["retrieval"] = w.get("retrieval")
        if "citations" in w:
            row["citations"] = w["citations"]
        row["scores_with_retrieval"] = {k: w[k] for k in w if isinstance(w.get(k), (int, float)) and k in row}
    return rows


def report_eval(out_dir: Path, result: dict) -> None:
    """OUT/retrieval.md (and the same tables on the terminal) for `physlora eval` with an index."""
    from physlora.report.markdown import to_markdown
    from physlora.report.retrieval import eval_document
    from physlora.results.io import atomic_write_text
    from physlora.untrusted import terminal_text

    text = to_markdown(eval_document(result))
    atomic_write_text(out_dir / "retrieval.md", text)
    print(terminal_text(text))


def paired_retrieval_predictions(rows: list[dict], base_with: EvalOutput, tuned_with: EvalOutput, prefix: str = "") -> None:
    """Beside each paired prediction of a run: the base and tuned answers with retrieval, and what was retrieved
    (prefix "_tools": the tools-mode answers with retrieval, `{label}_tools_retrieval_answer`, their programs in
    `{label}_tools_retrieval`)."""
    from physlora.experiments.tool_mode import TOOL_FIELDS

    by_id = {label: {r["id"]: r for r in out.rows} for label, out in (("base", base_with), ("tuned", tuned_with))}
    for row in rows:
        for label in ("base", "tuned"):
            w = by_id[label].get(row["id"])
            if w is None:
                continue
            row[f"{label}{prefix}_retrieval_answer"] = w.get("prediction")
            row[f"{label}{prefix}_citations"] = w.get("citations")
            if prefix:
                row[f"{label}{prefix}_retrieval"] = {k: w[k] for k in TOOL_FIELDS if k in w}
        row.setdefault("retrieval", by_id["base"].get(row["id"], {}).get("retrieval"))


def attach_run_block(block, name: str, base: EvalOutput, base_with: EvalOutput, tuned: EvalOutput,
                     tuned_with: EvalOutput, cfg: RunConfig, mode: str = "") -> None:
    """block.retrieval = run_block(...), its summary lines on the terminal ("{name} {base|tuned}{mode}: ...")."""
    block.retrieval = run_block(base, base_with, tuned, tuned_with, cfg)
    for label in ("base", "tuned"):
        for line in summary_lines(f"{name} {label}{mode}", block.retrieval[label]):
            say(line)


def run_block(base: EvalOutput, base_with: EvalOutput, tuned: EvalOutput, tuned_with: EvalOutput, cfg: RunConfig) -> dict:
    """The `retrieval` entry of a set in a run's metrics.json."""
    n_res = cfg.eval.bootstrap_resamples
    return {
        "base": retrieval_block(base, base_with, cfg, cfg.seed),
        "tuned": retrieval_block(tuned, tuned_with, cfg, cfg.seed),
        "tuned_vs_base_with_retrieval": {m: c.model_dump() for m, c in compare(base_with, tuned_with, n_res, cfg.seed).items()},
        "training_effect": training_effect(base, base_with, tuned, tuned_with, n_res, cfg.seed),
        "data_retrieval": cfg.data.retrieval,
    }
