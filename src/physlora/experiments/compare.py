"""`physlora compare RUN_OR_SWEEP...`: many runs on the same eval sets in one table and one plot per set.

Each run's numbers (tuned mean and 95% CI) are read from its own metrics.json, unchanged. Against a chosen
baseline run, each metric gets a paired comparison on the examples both runs scored (bootstrap CI of the
difference, sign-flip permutation p-value: physlora.evaluation.stats), and the p-values of one set's table
are corrected for multiple comparisons with Holm's step-down method (statsmodels `multipletests`,
method="holm"), which controls the family-wise error rate without assuming independent tests.

A sweep folder stands for its trials (each a run folder on the validation split) and its test-split runs
(best-test, defaults-test).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from physlora.errors import PhysloraError
from physlora.evaluation.stats import paired_comparison
from physlora.results.io import read_jsonl
from physlora.results.schema import RunMetrics, read_result


@dataclass
class RunRef:
    label: str
    folder: Path
    metrics: RunMetrics
    scores: dict[str, dict[str, dict]] = field(default_factory=dict)  # set -> id -> tuned per-example scores


@dataclass
class Row:
    run: str
    metric: str
    mean: float
    ci95: tuple[float, float]
    n: int
    diff: float | None = None
    diff_ci95: tuple[float, float] | None = None
    p_value: float | None = None
    p_holm: float | None = None
    verdict: str = ""


@dataclass
class SetTable:
    name: str
    origin: str
    baseline: str
    base_model: dict[str, dict]  # the baseline run's base-model metrics on this set
    metric_info: dict[str, dict]
    rows: list[Row]


@dataclass
class Comparison:
    runs: list[RunRef]
    baseline: str
    tables: list[SetTable]


def _load_run(folder: Path, label: str) -> RunRef:
    metrics = read_result(folder / "metrics.json", RunMetrics)
    scores: dict[str, dict[str, dict]] = {}
    if (folder / "predictions.jsonl").is_file():
        for r in read_jsonl(folder / "predictions.jsonl"):
            if isinstance(r, dict) and "id" in r:
                scores.setdefault(r.get("set", ""), {})[str(r["id"])] = r.get("tuned_scores") or {}
    return RunRef(label, folder, metrics, scores)


def expand(paths: list[str]) -> list[RunRef]:
    """Run folders as given; a sweep folder becomes its finished trials and its test-split runs."""
    runs: list[RunRef] = []
    for text in paths:
        folder = Path(text)
        if (folder / "sweep.json").is_file():
            sweep = json.loads((folder / "sweep.json").read_text(encoding="utf-8"))
            for t in sweep.get("trials", []):
                run_dir = Path(t.get("run_dir") or "")
                if t.get("state") == "complete" and (run_dir / "metrics.json").is_file():
                    runs.append(_load_run(run_dir, f"{folder.name}/{run_dir.name}"))
            for key in ("defaults", "best"):
                run_dir = Path(sweep.get("test_runs", {}).get(key, ""))
                if (run_dir / "metrics.json").is_file():
                    runs.append(_load_run(run_dir, f"{folder.name}/{run_dir.name}"))
        elif (folder / "metrics.json").is_file():
            runs.append(_load_run(folder, folder.name))
        elif folder.is_dir():
            raise PhysloraError(f"{folder} is neither a run folder (metrics.json) nor a sweep folder (sweep.json)")
        else:
            raise PhysloraError(f"{folder} not found (pass run folders such as runs/demo or sweep folders)")
    labels = [r.label for r in runs]
    for r in runs:  # two folders of the same name (runs/a/demo, runs/b/demo) need distinct labels
        if labels.count(r.label) > 1:
            r.label = str(r.folder)
    return runs


def _verdict(diff: float, p: float | None, higher_is_better: bool, alpha: float = 0.05) -> str:
    if p is None or math.isnan(p) or p >= alpha:
        return "no significant difference"
    return "better" if (diff > 0) == higher_is_better else "worse"


def _paired(base_run: RunRef, run: RunRef, set_name: str, metric: str):
    a, b = base_run.scores.get(set_name, {}), run.scores.get(set_name, {})
    ids = [i for i in a if i in b and metric in a[i] and metric in b[i]]
    if not ids:
        return None
    return paired_comparison([a[i][metric] for i in ids], [b[i][metric] for i in ids], seed=0)


def compare_runs(paths: list[str], baseline: str | int = 0) -> Comparison:
    """The comparison of the runs in `paths` against `baseline` (an index or a run label)."""
    from statsmodels.stats.multitest import multipletests

    runs = expand(paths)
    if len(runs) < 1:
        raise PhysloraError("nothing to compare: no finished run among " + ", ".join(paths))
    base = _pick_baseline(runs, baseline)
    tables = []
    set_names = list(dict.fromkeys(name for r in runs for name in r.metrics.sets))
    for name in set_names:
        members = [r for r in runs if name in r.metrics.sets]
        ref = base if base in members else members[0]
        block = ref.metrics.sets[name]
        info = {k: v.model_dump() for r in members for k, v in r.metrics.sets[name].metric_info.items()}
        rows = []
        for r in members:
            for metric, value in r.metrics.sets[name].tuned.items():
                row = Row(r.label, metric, value.mean, tuple(value.ci95), value.n)
                if r is not ref:
                    cmp = _paired(ref, r, name, metric)
                    if cmp is not None:
                        row.diff, row.diff_ci95, row.p_value = cmp.diff, cmp.ci95, cmp.p_value
                rows.append(row)
        tested = [row for row in rows if row.p_value is not None and not math.isnan(row.p_value)]
        if tested:
            adjusted = multipletests([row.p_value for row in tested], alpha=0.05, method="holm")[1]
            for row, p in zip(tested, adjusted):
                row.p_holm = float(p)
                row.verdict = _verdict(row.diff, row.p_holm, info.get(row.metric, {}).get("higher_is_better", True))
        tables.append(SetTable(name, block.origin, ref.label, {k: v.model_dump() for k, v in block.base.items()}, info, rows))
    return Comparison(runs, base.label, tables)


def _pick_baseline(runs: list[RunRef], baseline: str | int) -> RunRef:
    if isinstance(baseline, int) or str(baseline).isdigit():
        i = int(baseline)
        if not 0 <= i < len(runs):
            raise PhysloraError(f"--baseline {i}: there are {len(runs)} runs (0..{len(runs) - 1})")
        return runs[i]
    match = [r for r in runs if r.label == baseline or r.folder.name == baseline or str(r.folder) == baseline]
    if not match:
        raise PhysloraError(f"--baseline {baseline}: not one of the runs ({', '.join(r.label for r in runs)})")
    return match[0]


def _num(x: float | None, digits: int = 3) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def comparison_blocks(result: Comparison, plots_dir: Path | None) -> list:
    """One heading, table (and plot) per eval set, as report blocks (plain text: the renderers escape it)."""
    from physlora.report.document import Image, heading, paragraph, table

    blocks: list = []
    for t in result.tables:
        label = lambda m: t.metric_info.get(m, {}).get("label", m)  # noqa: E731
        rows = [["base model", label(m), f"{_num(v['mean'])} [{_num(v['ci95'][0])}, {_num(v['ci95'][1])}]", str(v["n"]),
                 "", "", "", ""] for m, v in t.base_model.items()]
        for row in t.rows:
            diff = "-" if row.diff is None else f"{row.diff:+.3f} [{row.diff_ci95[0]:+.3f}, {row.diff_ci95[1]:+.3f}]"
            rows.append([row.run, label(row.metric), f"{_num(row.mean)} [{_num(row.ci95[0])}, {_num(row.ci95[1])}]",
                         str(row.n), diff, _num(row.p_value, 4), _num(row.p_holm, 4), row.verdict or "-"])
        blocks += [heading(3, f"{t.name} ({t.origin}; baseline {t.baseline})"),
                   table(["run", "metric", "tuned (95% CI)", "n", "diff vs baseline (95% CI)", "p", "p (Holm)", "verdict"],
                         rows)]
        if plots_dir is not None and plot_set(t, plots_dir / f"compare_{_slug(t.name)}.png"):
            blocks.append(Image(f"compare_{_slug(t.name)}.png", f"{t.name}: each run's metrics with 95% CIs"))
    blocks.append(paragraph("p: paired sign-flip permutation test against the baseline run on the examples both "
                            "scored; p (Holm): Holm-corrected over every comparison in the same table "
                            "(statsmodels multipletests)."))
    return blocks


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text)[:80]


def plot_set(t: SetTable, path: Path) -> bool:
    """One panel per metric: each run's tuned mean with its 95% CI, the base model as a dashed line."""
    metrics = list(dict.fromkeys(r.metric for r in t.rows))
    if not metrics:
        return False
    from physlora.report.plots import panel_grid, save_grid
    from physlora.untrusted import plot_text

    runs = list(dict.fromkeys(r.run for r in t.rows))
    fig, axes = panel_grid(len(metrics), max(3.2, 0.5 * len(runs) + 1.6), 3.0)
    for ax, metric in zip(axes.flat, metrics):
        rows = {r.run: r for r in t.rows if r.metric == metric}
        xs = [i for i, run in enumerate(runs) if run in rows]
        means = [rows[runs[i]].mean for i in xs]
        lo = [m - rows[runs[i]].ci95[0] for m, i in zip(means, xs)]
        hi = [rows[runs[i]].ci95[1] - m for m, i in zip(means, xs)]
        ax.bar(xs, means, yerr=[lo, hi], capsize=3, color="#2f6fb0")
        if metric in t.base_model:
            ax.axhline(t.base_model[metric]["mean"], ls="--", color="#8a96a3", lw=1, label="base model")
        ax.set_xticks(range(len(runs)), [plot_text(r[-18:], 18) for r in runs], rotation=35, ha="right", fontsize=7)
        ax.set_title(plot_text(t.metric_info.get(metric, {}).get("label", metric), 40), fontsize=9)
        ax.grid(axis="y", alpha=0.3)
    save_grid(fig, axes, len(metrics), path)
    return True


def write_comparison(paths: list[str], out: Path, baseline: str | int = 0) -> Path:
    """compare.md + compare.html (+ one PNG per eval set) in `out`; also compare.json with every number."""
    from dataclasses import asdict

    from physlora.report.document import Code, Document, bullets, heading
    from physlora.report.html import to_html
    from physlora.report.markdown import to_markdown
    from physlora.results.io import atomic_write_text, write_json

    result = compare_runs(paths, baseline)
    out.mkdir(parents=True, exist_ok=True)
    doc = Document(title="physlora compare")
    doc.blocks += [heading(1, f"physlora compare: {len(result.runs)} runs, baseline {result.baseline}"),
                   bullets([[f"{r.label}: ", Code(str(r.folder))] for r in result.runs]), *comparison_blocks(result, out)]
    atomic_write_text(out / "compare.md", to_markdown(doc))
    atomic_write_text(out / "compare.html", to_html(doc, out))
    write_json(out / "compare.json", {"baseline": result.baseline, "runs": {r.label: str(r.folder) for r in result.runs},
                                      "tables": [asdict(t) for t in result.tables]})
    return out / "compare.md"
