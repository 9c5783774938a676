"""`physlora report RUN_DIR`: report.md, report.html and PNG plots from a run folder's result files only
(metrics.json as RunMetrics, train_log.jsonl, predictions.jsonl); no model, no torch."""

from __future__ import annotations

from pathlib import Path

from physlora.report.document import Document
from physlora.report.experiment_sections import origin_table, validation_section
from physlora.report.grpo import grpo_intro, grpo_section, grpo_stage_summary
from physlora.report.html import to_html
from physlora.report.markdown import to_markdown
from physlora.report.retrieval import passage_samples, run_section
from physlora.report.sections import eval_set, run_header, sample_answers, training_loss, training_summary
from physlora.report.tools_section import tool_sections
from physlora.results.io import atomic_write_text, read_jsonl
from physlora.results.schema import RunMetrics, read_result


def _rows(path: Path) -> list[dict]:
    # errors="replace": a hand-edited file with a stray byte still makes a report (the byte shows as U+FFFD)
    return [r for r in read_jsonl(path, errors="replace") if isinstance(r, dict)] if path.is_file() else []


def build_document(run_dir: Path) -> Document:
    """The report of one run folder, section by section (add a section here: see report/sections.py)."""
    run_dir = Path(run_dir)
    metrics = read_result(run_dir / "metrics.json", RunMetrics)
    cfg = metrics.config
    eval_cfg = cfg.get("eval") if isinstance(cfg.get("eval"), dict) else {}
    samples_limit = eval_cfg.get("samples_in_report", 5)
    doc = Document(title=f"physlora run {run_dir.name}")
    doc.blocks += run_header(run_dir.name, cfg)
    doc.blocks += training_summary(metrics.train)
    doc.blocks += grpo_intro(cfg)
    doc.blocks += origin_table(metrics.sets)
    for name, block in metrics.sets.items():
        doc.blocks += eval_set(name, block, run_dir)
        doc.blocks += run_section(block)  # with vs without retrieval, when the run used an index
    predictions = _rows(run_dir / "predictions.jsonl")
    doc.blocks += tool_sections(metrics, predictions)
    log = _rows(run_dir / "train_log.jsonl")
    doc.blocks += training_loss(log, run_dir)
    doc.blocks += validation_section(log, metrics.train, run_dir)
    doc.blocks += grpo_section(_rows(run_dir / "grpo_log.jsonl"), _rows(run_dir / "grpo_samples.jsonl"),
                               grpo_stage_summary(metrics.train), run_dir)
    doc.blocks += sample_answers(predictions, samples_limit if isinstance(samples_limit, int) else 5)
    doc.blocks += passage_samples(predictions)
    return doc


def build_report(run_dir: Path) -> Path:
    """Write run_dir/report.md and run_dir/report.html (and the plots); returns the report.md path."""
    run_dir = Path(run_dir)
    doc = build_document(run_dir)
    out = run_dir / "report.md"
    atomic_write_text(out, to_markdown(doc))
    atomic_write_text(run_dir / "report.html", to_html(doc, run_dir))
    return out
