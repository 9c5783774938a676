"""`physlora compare` on a run plus a sweep: one table per eval set whose numbers are each run's own
metrics.json, paired tests against the baseline with Holm's correction, markdown/HTML/plot."""

import json

import pytest
from statsmodels.stats.multitest import multipletests

from physlora.cli import main
from physlora.config import load_config


@pytest.fixture(scope="module")
def demo_run(swept):
    """A normal `physlora run` with the sweep's base config (its own defaults), like the demo run; the
    folder name carries markup, which must come out inert."""
    base = load_config(swept["folder"] / "base.yaml")
    out = swept["folder"] / "runs"
    assert main(["run", "--config", str(swept["folder"] / "base.yaml"), f"output_dir={out}", "name=demo<b>x"]) == 0
    assert base.train.max_steps == 4
    return out / "demo<b>x"


@pytest.fixture(scope="module")
def compared(demo_run, swept, tmp_path_factory):
    out = tmp_path_factory.mktemp("cmp")
    assert main(["compare", str(demo_run), str(swept["sweep_dir"]), "--out", str(out)]) == 0
    return out, json.loads((out / "compare.json").read_text())


def test_table_numbers_equal_each_runs_own_metrics_json(compared, demo_run, swept):
    out, result = compared
    runs = result["runs"]
    assert runs["demo<b>x"] == str(demo_run) and "sw/best-test" in runs and any("trial-000" in k for k in runs)
    checked = 0
    for table in result["tables"]:
        for row in table["rows"]:
            metrics = json.loads((__import__("pathlib").Path(runs[row["run"]]) / "metrics.json").read_text())
            own = metrics["sets"][table["name"]]["tuned"][row["metric"]]
            assert row["mean"] == own["mean"] and list(row["ci95"]) == own["ci95"] and row["n"] == own["n"]
            checked += 1
    assert checked >= 3 * 6  # demo + best-test + defaults-test on test, trials on validation


def test_paired_tests_against_the_baseline_are_holm_corrected(compared):
    _, result = compared
    test_table = next(t for t in result["tables"] if "held-out" in t["name"])
    assert test_table["baseline"] == "demo<b>x"
    tested = [r for r in test_table["rows"] if r["p_value"] is not None]
    assert tested and all(r["run"] != "demo<b>x" for r in tested)
    expected = multipletests([r["p_value"] for r in tested], method="holm")[1]
    assert [r["p_holm"] for r in tested] == pytest.approx(list(expected))
    assert all(r["p_holm"] >= r["p_value"] for r in tested)
    assert all(r["verdict"] in ("better", "worse", "no significant difference") for r in tested)


def test_markdown_html_and_plot_are_written_and_run_text_is_inert(compared):
    out, _ = compared
    md, html = (out / "compare.md").read_text(), (out / "compare.html").read_text()
    assert "p (Holm)" in md and "baseline" in md
    assert "demo\\<b>x" in md and "<b>x" not in html and "demo&lt;b&gt;x" in html  # escaped in both
    assert list(out.glob("compare_*.png")) and "data:image/png;base64," in html


def test_compare_of_something_that_is_not_a_run_is_one_clear_error(tmp_path, capsys):
    assert main(["compare", str(tmp_path)]) == 2
    assert "neither a run folder" in capsys.readouterr().err


def test_serve_page_opens_several_runs_and_compares_them(demo_run, swept, tiny_llama_dir):
    from fastapi.testclient import TestClient

    from physlora.models.loading import load_model
    from physlora.serve.app import create_app

    tuned = load_model(str(tiny_llama_dir), adapter=str(demo_run / "adapter"), device="cpu")
    app = create_app(demo_run, model=tuned, compare=[str(swept["sweep_dir"])])
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        page = client.get("/compare")
        assert page.status_code == 200 and "/api/compare" in page.text
        data = client.get("/api/compare").json()
    assert data["baseline"] == "demo<b>x" and "sw/best-test" in data["runs"]
    table = next(t for t in data["tables"] if "held-out" in t["name"])
    own = json.loads((demo_run / "metrics.json").read_text())["sets"][table["name"]]["tuned"]
    for row in table["rows"]:
        if row["run"] == "demo<b>x":
            assert row["mean"] == own[row["metric"]]["mean"]
