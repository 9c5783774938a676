"""The report's GRPO section: curves plotted from the GRPO log, completions shown as text, never markup."""

from __future__ import annotations

from physlora.report.document import Document, Table
from physlora.report.grpo import grpo_intro, grpo_section, grpo_stage_summary, reward_components, step_table
from physlora.report.html import to_html
from physlora.report.markdown import to_markdown

LOG = [
    {"step": s, "loss": 0.01, "reward": 0.1 * s, "reward_std": 0.2, "reward_group_std": 0.15, "frac_reward_zero_std": 0.5,
     "completions/mean_length": 60.0 + s, "kl": 0.001 * s, "rewards/correctness/mean": 0.05 * s,
     "rewards/partial/mean": 0.3, "rewards/answer_format/mean": 0.6, "rewards/correctness/errors": 0.0}
    for s in range(1, 13)
]
HOSTILE = "<script>alert(1)</script> **bold** | cell\n# heading\n    Answer: <img src=x onerror=alert(2)> 5 N"
SAMPLES = [{"step": 10, "id": "q1", "question": "What <b>force</b>?", "reference": "F = 6 N.", "completion": HOSTILE,
            "rewards": {"correctness": 0.0, "partial": 1.0, "answer_format": 1.0}, "total": 0.5}]
SUMMARY = {"method": "grpo", "steps": 12, "n_train": 200, "seconds": 321.0, "answer_kinds": {"quantity": 200},
           "left_out": {"reference not gradable": 48}, "reward_counters": {"correctness": {"errors": 2, "timeouts": 1},
                                                                      "program_runs": {"errors": 0, "timeouts": 0,
                                                                                       "outcomes": {"ok": 5, "timeout": 1}}},
           "phase_seconds": {"generation": 70.0, "reward": 1.0, "logprobs": 9.0, "update": 20.0}}


def test_section_plots_the_curves_and_summarises(tmp_path):
    doc = Document("t", grpo_section(LOG, SAMPLES, SUMMARY, tmp_path))
    text = to_markdown(doc)
    assert (tmp_path / "grpo.png").stat().st_size > 5000
    assert "grpo.png" in text
    assert "48 (reference not gradable)" in text and "correctness 3" in text and "generation 70%" in text
    assert "program_runs reward): ok 5, timeout 1" in text
    assert reward_components(LOG) == ["correctness", "partial", "answer_format"]
    t = step_table(LOG, rows=4)
    assert isinstance(t, Table) and t.header[:4] == ("step", "correctness", "partial", "answer_format")
    assert [row[0] for row in t.rows] == ["1", "4", "7", "10", "12"]


def test_completions_are_shown_as_text_never_as_markup(tmp_path):
    doc = Document("t", grpo_section(LOG, SAMPLES, SUMMARY, tmp_path))
    html = to_html(doc, tmp_path)
    assert "<script>alert" not in html and "<img src=x" not in html and "<b>force" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "&lt;img src=x onerror=alert(2)&gt;" in html
    md = to_markdown(doc)
    assert "<script>" not in md.replace("\\<script>", "")  # escaped in Markdown too


def test_intro_and_summary_of_a_grpo_run():
    cfg = {"train": {"method": "grpo", "init_adapter": "runs/demo/adapter", "grpo": {"max_steps": 30}}}
    assert "runs/demo/adapter" in to_markdown(Document("t", grpo_intro(cfg)))
    assert grpo_intro({"train": {"method": "sft"}}) == []
    assert grpo_stage_summary({"stages": [{"method": "sft"}, SUMMARY]}) == SUMMARY
    assert grpo_stage_summary(SUMMARY) == SUMMARY and grpo_stage_summary({"method": "sft"}) is None


def test_no_grpo_log_no_section(tmp_path):
    assert grpo_section([], [], None, tmp_path) == []
