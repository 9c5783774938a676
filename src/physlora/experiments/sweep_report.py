"""What a finished sweep leaves: the trial table (summary.md/.html, trials.csv, sweep.json), plots of the
objective per trial and of parameter importance, the best config as YAML, and the best trial (and the
base config's own "defaults" trial) evaluated once on the test split, compared by `physlora compare`."""

from __future__ import annotations

import csv
import io
import json
import math
import shutil
from pathlib import Path
from typing import Any

from physlora.experiments.sweep import TrialRow, direction, ensure_base_eval, say, seed_base_eval, trial_rows_json
from physlora.experiments.sweep_config import SweepConfig, encode, trial_config
from physlora.results.io import atomic_write_text, write_json


def best_row(sweep: SweepConfig, rows: list[TrialRow]) -> TrialRow | None:
    done = [r for r in rows if r.state == "complete" and r.value is not None and math.isfinite(r.value)]
    if not done:
        return None
    pick = max if direction(sweep) == "maximize" else min
    return pick(done, key=lambda r: r.value)


def evaluate_on_test(sweep: SweepConfig, base: Path | None, row: TrialRow, label: str) -> Path:
    """A run folder sweep_dir/<label> with the trial's adapter evaluated (with the base model) on the base
    config's own eval sets, i.e. the test split; done once, reused by a rerun."""
    from physlora.experiments.run import run

    cfg = trial_config(base, sweep.overrides, row.params)
    cfg.name, cfg.output_dir = label, str(sweep.sweep_dir.resolve())
    folder, trial_dir = cfg.run_dir, Path(row.run_dir or "")
    if (folder / "metrics.json").is_file():
        return folder
    say(f"evaluating trial-{row.number:03d} once on the test split -> {folder}")
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copytree(trial_dir / "adapter", folder / "adapter", dirs_exist_ok=True)
    for name in ("train_summary.json", "train_log.jsonl"):
        if (trial_dir / name).is_file():
            shutil.copy2(trial_dir / name, folder / name)
    if sweep.reuse_base_eval:
        seed_base_eval(ensure_base_eval(cfg, (sweep.sweep_dir / "base").resolve()), folder)
    return run(cfg, resume=True)  # training is found finished: only the evaluations run


def distributions(sweep: SweepConfig) -> dict[str, Any]:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    out = {}
    for key, s in sweep.params.items():
        if s.values is not None:
            out[key] = CategoricalDistribution([encode(v) for v in s.values])
        elif s.is_int:
            out[key] = IntDistribution(int(s.low), int(s.high), log=s.log, step=int(s.step or 1))
        else:
            out[key] = FloatDistribution(s.low, s.high, log=s.log, step=s.step)
    return out


def importances(sweep: SweepConfig, rows: list[TrialRow]) -> dict[str, float]:
    """Optuna's parameter importance over the completed trials (any backend); {} when too few trials or
    no parameter varied."""
    import optuna

    dists = distributions(sweep)
    study = optuna.create_study(direction=direction(sweep))
    for r in rows:
        if r.state == "complete" and r.value is not None and math.isfinite(r.value):
            params = {k: encode(v) for k, v in r.params.items() if k in dists}
            try:
                study.add_trial(optuna.trial.create_trial(params=params, distributions={k: dists[k] for k in params},
                                                          value=r.value))
            except ValueError:  # a value outside the searched range (the defaults trial can be): not comparable
                continue
    if len(study.trials) < 2:
        return {}
    try:
        return optuna.importance.get_param_importances(study)
    except (RuntimeError, ValueError, ZeroDivisionError):
        return {}


def plot_objective(sweep: SweepConfig, rows: list[TrialRow], path: Path) -> bool:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = [r for r in rows if r.state == "complete" and r.value is not None]
    stopped = [r for r in rows if r.state == "pruned" and r.intermediate]
    if not done and not stopped:
        return False
    fig, ax = plt.subplots(figsize=(6, 3.4))
    ax.plot([r.number for r in done], [r.value for r in done], "o", color="#2f6fb0", label="complete")
    if stopped:
        ax.plot([r.number for r in stopped], [r.intermediate[max(r.intermediate)] for r in stopped], "x",
                color="#b42318", label="pruned (last intermediate value)")
    pick = max if direction(sweep) == "maximize" else min
    best, line = None, []
    for r in sorted(done, key=lambda r: r.number):
        best = r.value if best is None else pick(best, r.value)
        line.append((r.number, best))
    if line:
        ax.step([p[0] for p in line], [p[1] for p in line], where="post", color="#1a7f37", lw=1, label="best so far")
    for r in done:
        if r.defaults:
            ax.annotate("defaults", (r.number, r.value), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.set_xlabel("trial")
    ax.set_ylabel(f"validation {sweep.objective}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def plot_importance(values: dict[str, float], path: Path) -> bool:
    if not values:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(values)[::-1]
    fig, ax = plt.subplots(figsize=(6, 0.5 * len(names) + 1.2))
    ax.barh(names, [values[n] for n in names], color="#2f6fb0")
    ax.set_xlabel("importance (Optuna, share of the objective's variance)")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def _fmt(v: float | None, digits: int = 4) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"


def _value_text(v: Any) -> str:
    return json.dumps(v) if isinstance(v, (list, dict)) else str(v)


def trials_table(sweep: SweepConfig, rows: list[TrialRow]):
    from physlora.report.document import table

    keys = list(sweep.params)
    body = [[f"{r.number}" + (" (defaults)" if r.defaults else ""), r.state, *(_value_text(r.params.get(k, "-")) for k in keys),
             _fmt(r.value), str(r.best_step or "-"), _fmt(r.seconds, 0)] for r in rows]
    return table(["trial", "state", *keys, f"validation {sweep.objective}", "best step", "seconds"], body)


def trials_csv(sweep: SweepConfig, rows: list[TrialRow]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["trial", "state", "defaults", *sweep.params, "objective", "best_step", "seconds", "run_dir"])
    for r in rows:
        w.writerow([r.number, r.state, r.defaults, *(json.dumps(r.params.get(k)) for k in sweep.params), r.value,
                    r.best_step, r.seconds, r.run_dir])
    return buf.getvalue()


def _attach_best_steps(rows: list[TrialRow]) -> None:
    for r in rows:
        summary = Path(r.run_dir or "") / "train_summary.json"
        if summary.is_file():
            r.best_step = json.loads(summary.read_text(encoding="utf-8")).get("best_step")


def _base_eval_seconds(sweep: SweepConfig) -> list[float]:
    return [json.loads(p.read_text())["seconds"] for p in (sweep.sweep_dir / "base").glob("*/done")]


def finish_sweep(sweep: SweepConfig, base: Path | None, rows: list[TrialRow], *, seconds: float) -> Path:
    folder = sweep.sweep_dir
    _attach_best_steps(rows)
    best = best_row(sweep, rows)
    defaults = next((r for r in rows if r.defaults and r.state == "complete"), None)
    tests: dict[str, Path] = {}
    if best is not None:
        cfg = trial_config(base, sweep.overrides, best.params)
        cfg.name = f"{sweep.name}-best"
        atomic_write_text(folder / "best_config.yaml", f"# best trial {best.number} of sweep {sweep.name}: validation "
                          f"{sweep.objective} = {best.value:.6g}\n" + cfg.to_yaml())
        if sweep.test_best:
            tests["defaults"] = evaluate_on_test(sweep, base, defaults, "defaults-test") if defaults and defaults is not best else None
            tests["best"] = evaluate_on_test(sweep, base, best, "best-test")
    tests = {k: v for k, v in tests.items() if v is not None}
    imp = importances(sweep, rows)
    write_json(folder / "sweep.json", {
        "name": sweep.name, "objective": sweep.objective, "direction": direction(sweep), "search": sweep.search,
        "backend": sweep.backend, "seconds": seconds, "trials": trial_rows_json(rows),
        "best_trial": best.number if best else None, "defaults_trial": defaults.number if defaults else None,
        "test_runs": {k: str(v) for k, v in tests.items()}, "importance": imp,
        "base_eval_seconds": _base_eval_seconds(sweep),
    })
    atomic_write_text(folder / "trials.csv", trials_csv(sweep, rows))
    from physlora.report.document import Document
    from physlora.report.html import to_html
    from physlora.report.markdown import to_markdown

    doc = Document(title=f"physlora sweep {sweep.name}", blocks=summary_blocks(sweep, rows, best, defaults, tests, imp, seconds))
    atomic_write_text(folder / "summary.md", to_markdown(doc))
    atomic_write_text(folder / "summary.html", to_html(doc, folder))
    return folder / "summary.md"


def summary_blocks(sweep, rows, best, defaults, tests, imp, seconds) -> list:
    """The summary page: what was searched, the trial table and plots, the best trial, best vs defaults."""
    from physlora.report.document import Code, Image, bullets, heading, paragraph, table

    states = {s: sum(r.state == s for r in rows) for s in ("complete", "pruned", "failed")}
    facts = [[f"objective: validation ", Code(sweep.objective), f" ({direction(sweep)}); search {sweep.search}, backend "
              f"{sweep.backend}; {len(rows)} trials ({states['complete']} complete, {states['pruned']} pruned, "
              f"{states['failed']} failed); {seconds:.0f} s in this invocation, {sum(r.seconds or 0 for r in rows):.0f} s in trials"]]
    base_s = _base_eval_seconds(sweep)
    if base_s and sweep.reuse_base_eval:
        reused = max(0, sum(r.state != "failed" for r in rows) + len(tests) - len(base_s))
        facts.append(f"base model evaluated {len(base_s)} time(s) ({sum(base_s):.0f} s) and reused by the other {reused} "
                     f"run folders: about {reused * sum(base_s) / len(base_s):.0f} s of evaluation saved")
    blocks = [heading(1, f"physlora sweep {sweep.name}"), bullets(facts), heading(2, "Trials"), trials_table(sweep, rows)]
    if plot_objective(sweep, rows, sweep.sweep_dir / "objective.png"):
        blocks.append(Image("objective.png", "objective per trial"))
    if plot_importance(imp, sweep.sweep_dir / "importance.png"):
        blocks += [heading(2, "Parameter importance"), Image("importance.png", "parameter importance"),
                   table(["parameter", "importance"], [[k, f"{v:.3f}"] for k, v in imp.items()])]
    if best is None:
        return blocks + [paragraph("No trial completed: nothing to select.")]
    blocks += [heading(2, f"Best trial: {best.number}"),
               paragraph(f"Validation {sweep.objective} = {best.value:.4f}; config in ", Code("best_config.yaml"), " (",
                         Code("physlora run --config best_config.yaml"), " retrains it on the full schedule).")]
    if defaults is not None:
        better = best.value > defaults.value if direction(sweep) == "maximize" else best.value < defaults.value
        blocks.append(paragraph(
            f"The base config's own values (trial {defaults.number}) gave {defaults.value:.4f}: the best trial is "
            + ("better" if better else "not better") + f" on validation ({best.value - defaults.value:+.4f}; "
            + ("higher" if direction(sweep) == "maximize" else "lower") + " is better)."))
    return blocks + (test_blocks(tests) if tests else [])


def test_blocks(tests: dict[str, Path]) -> list:
    """The test-split comparison of best vs defaults (or the best trial alone)."""
    from physlora.experiments.compare import comparison_blocks, compare_runs
    from physlora.report.document import heading

    runs = [tests[k] for k in ("defaults", "best") if k in tests]
    result = compare_runs([str(p) for p in runs], baseline=0)
    head = "best trial vs the defaults trial" if "defaults" in tests else "the best trial"
    return [heading(2, f"Test split: {head} (evaluated once, after the search)"), *comparison_blocks(result, plots_dir=None)]
