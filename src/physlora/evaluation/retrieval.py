"""Evaluation with retrieval, paired with the same model without it.

For each set: the questions get their top-k passages (physlora.retrieval.augment), the model answers or
scores the options with them, and every metric is compared to the no-retrieval run on the same examples
(paired bootstrap CI + permutation p, as base vs tuned). On top of that:

* answers lost to context / gained from it: per binary metric (MC acc, acc_norm, letter, circular; free-form
  exact match and physics check), the examples right without and wrong with retrieval, and the reverse, as
  counts with bootstrap 95% CIs;
* retrieval quality where a record names its gold passage or document: recall@k and MRR;
* citations (free-form): the share of answers that cite a passage as [n], and citation accuracy, the share of
  an answer's valid citations that point at its gold passage.
"""

from __future__ import annotations

from pathlib import Path

from physlora.config import RunConfig
from physlora.data.records import Record
from physlora.evaluation.runner import FREEFORM_METRICS, MC_METRICS, evaluate_records, text_scores
from physlora.evaluation.stats import bootstrap_ci, paired_comparison
from physlora.evaluation.summary import compare, summarize
from physlora.registry import declare_metric
from physlora.results.schema import EvalOutput
from physlora.retrieval.augment import for_evaluation
from physlora.retrieval.context import citations, gold_match, strip_citations

declare_metric("retrieval_recall", label="Retrieval recall@k (gold passage in the top k)")
declare_metric("retrieval_mrr", label="Retrieval MRR (gold passage)")
declare_metric("cites", label="Answers citing a source [n]")
declare_metric("citation_accuracy", label="Citation accuracy (cited passage is gold)")

RETRIEVAL_METRICS = ["retrieval_recall", "retrieval_mrr", "cites", "citation_accuracy"]
BINARY_METRICS = ["acc", "acc_norm", "letter", "circular", "exact_match", "physics"]


def _citation_scores(answer: str, context, record: Record) -> dict:
    cited = citations(answer, context.passages)
    valid = [c for c in cited if c["valid"]]
    row: dict = {"citations": cited, "cites": float(bool(valid))}
    if valid and context.scores is not None:
        gold = [gold_match(context.passages[c["n"] - 1].chunk, record.passage_id, record.source) for c in valid]
        row["citation_accuracy"] = sum(gold) / len(gold)
    return row


def evaluate_with_retrieval(model, tokenizer, records: list[Record], cfg: RunConfig, retriever, *, semantic=None,
                            seed: int = 0, label: str = "eval", cache: Path | None = None, style=None,
                            sandbox=None) -> EvalOutput:
    """The model on `records` with retrieved passages in every prompt; rows keep the original question and
    record the passages (chunk ids, scores), citations and retrieval scores. With a `sandbox`, free-form
    questions are answered in tools mode (physlora.evaluation.tool_eval), the passages in the same question."""
    augmented, contexts = for_evaluation(records, retriever, tokenizer, cfg.retrieval)
    if sandbox is None:
        out = evaluate_records(model, tokenizer, augmented, cfg.eval, system_prompt=cfg.system_prompt, semantic=None,
                               seed=seed, label=f"{label} + retrieval", cache=cache, style=style)
    else:
        from physlora.evaluation.tool_eval import evaluate_with_tools

        out = evaluate_with_tools(model, tokenizer, augmented, cfg.eval, system_prompt=cfg.system_prompt,
                                  sandbox=sandbox, seed=seed, label=f"{label} + retrieval", cache=cache)
    by_id = {r.id: (r, c) for r, c in zip(records, contexts)}
    for row in out.rows:
        record, context = by_id[row["id"]]
        row["question"] = record.question
        row["retrieval"] = context.to_dict()
        row.update(context.scores or {})
        if out.kind == "freeform":
            answer = row["prediction"]
            row.update(_citation_scores(answer, context, record))
            row.update(text_scores(strip_citations(answer), record.answer, cfg.eval.physics_rel_tol, record=record))
    if semantic is not None and out.kind == "freeform":
        answers = [strip_citations(row["prediction"]) for row in out.rows]
        for row, s in zip(out.rows, semantic.similarity(answers, [r["reference"] for r in out.rows])):
            row["semantic"] = s
    names = (out.metric_names if out.mode == "tools" else MC_METRICS if out.kind == "mc" else FREEFORM_METRICS)
    summary = summarize(out.kind, out.rows, names + RETRIEVAL_METRICS, cfg.eval.bootstrap_resamples, seed)
    summary.mode, summary.tools = out.mode, out.tools
    return summary


def _count_ci(flags: list[float], n_resamples: int, seed: int) -> tuple[int, list[float]]:
    iv = bootstrap_ci(flags, n_resamples=n_resamples, seed=seed)
    n = len(flags)
    return int(sum(flags)), [iv.ci95[0] * n, iv.ci95[1] * n]


def lost_gained(without: EvalOutput, with_: EvalOutput, n_resamples: int = 2000, seed: int = 0) -> dict[str, dict]:
    """Per binary metric: answers right without and wrong with retrieval (lost), the reverse (gained), as
    counts with bootstrap 95% CIs over the examples both runs scored."""
    with_by_id = {r["id"]: r for r in with_.rows}
    out = {}
    for m in BINARY_METRICS:
        pairs = [(a[m], with_by_id[a["id"]][m]) for a in without.rows
                 if a.get(m) is not None and with_by_id.get(a["id"], {}).get(m) is not None]
        if not pairs:
            continue
        lost = [float(a >= 0.5 > b) for a, b in pairs]
        gained = [float(b >= 0.5 > a) for a, b in pairs]
        n_lost, lost_ci = _count_ci(lost, n_resamples, seed)
        n_gained, gained_ci = _count_ci(gained, n_resamples, seed)
        out[m] = {"n": len(pairs), "lost": n_lost, "lost_ci95": lost_ci, "gained": n_gained, "gained_ci95": gained_ci,
                  "both_right": sum(a >= 0.5 and b >= 0.5 for a, b in pairs),
                  "both_wrong": sum(a < 0.5 and b < 0.5 for a, b in pairs), "flags": {"lost": lost, "gained": gained},
                  "ids": [a["id"] for a in without.rows if a.get(m) is not None
                          and with_by_id.get(a["id"], {}).get(m) is not None]}
    return out


def retrieval_block(without: EvalOutput, with_: EvalOutput, cfg: RunConfig, seed: int = 0) -> dict:
    """The `retrieval` entry of a set in metrics.json: metrics with retrieval, paired comparison with minus
    without, lost/gained counts, retrieval quality."""
    n_res = cfg.eval.bootstrap_resamples
    lg = lost_gained(without, with_, n_res, seed)
    return {
        "index": cfg.retrieval.index, "k": cfg.retrieval.k, "max_context_tokens": cfg.retrieval.max_context_tokens,
        "mode": cfg.retrieval.mode, "n": len(with_.rows),
        "with": {m: v.model_dump() for m, v in with_.metrics.items()},
        "comparison": {m: c.model_dump() for m, c in compare(without, with_, n_res, seed).items()},
        "lost_gained": {m: {k: v for k, v in d.items() if k not in ("flags", "ids")} for m, d in lg.items()},
        "by_topic": {t: {m: v.model_dump() for m, v in ms.items()} for t, ms in with_.by_topic.items()},
        "metric_info": {m: v.model_dump() for m, v in with_.metric_info.items()},
    }


def training_effect(base_without: EvalOutput, base_with: EvalOutput, tuned_without: EvalOutput,
                    tuned_with: EvalOutput, n_resamples: int = 2000, seed: int = 0) -> dict[str, dict]:
    """Did fine-tuning change how the model uses context? Per binary metric, the share of examples lost to
    (and gained from) retrieval after tuning minus before, paired by example, with CI and p-value."""
    before, after = lost_gained(base_without, base_with, n_resamples, seed), lost_gained(tuned_without, tuned_with, n_resamples, seed)
    out = {}
    for m in before.keys() & after.keys():
        b_ids, a_ids = before[m]["ids"], after[m]["ids"]
        common = [i for i in b_ids if i in set(a_ids)]
        bi, ai = {i: k for k, i in enumerate(b_ids)}, {i: k for k, i in enumerate(a_ids)}
        entry = {"n": len(common)}
        for kind in ("lost", "gained"):
            b = [before[m]["flags"][kind][bi[i]] for i in common]
            a = [after[m]["flags"][kind][ai[i]] for i in common]
            cmp = paired_comparison(b, a, n_resamples=n_resamples, seed=seed)
            entry[kind] = {"base": int(sum(b)), "tuned": int(sum(a)), "diff": int(sum(a) - sum(b)),
                           "diff_ci95": [cmp.ci95[0] * len(common), cmp.ci95[1] * len(common)], "p_value": cmp.p_value}
        out[m] = entry
    return out

