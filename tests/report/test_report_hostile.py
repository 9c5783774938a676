"""report.md and report.html of a run whose every text is hostile: shown literally, tables intact, no markup,
no script (checked in the HTML, in report.md rendered as GitHub does, and in headless Chromium)."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest

import hostile_text as H
from chromium_helpers import browser_or_skip, chromium_page
from physlora.errors import PhysloraError
from physlora.report.sections import SAMPLE_TEXT_LIMIT, clip
from physlora.untrusted import visible

ALLOWED_TAGS = {"html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "p", "ul", "li", "table",
                "thead", "tbody", "tr", "th", "td", "img", "code", "strong", "br"}


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory):
    from physlora.data.sources import load_records
    from physlora.report.build import build_report

    root = tmp_path_factory.mktemp("hostile")
    data = root / "hostile.jsonl"
    n_valid = H.hostile_data_file(data)
    with pytest.raises(PhysloraError) as err:  # without --skip-invalid: one line naming the file and line
        load_records(str(data))
    assert f"{data}:3: not valid UTF-8" in str(err.value) and "\n" not in str(err.value)
    loaded = load_records(str(data), skip_invalid=True)
    assert len(loaded.records) == n_valid and len(loaded.skipped) == 1

    run_dir = root / H.RUN_NAME
    run_dir.mkdir()
    written = H.write_hostile_run(run_dir, loaded.records)
    build_report(run_dir)
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    md = (run_dir / "report.md").read_text(encoding="utf-8")
    return {"dir": run_dir, "records": loaded.records, "html": html, "md": md, **written}


@pytest.fixture(scope="module")
def md_as_html(hostile_run):
    """report.md rendered as CommonMark + GFM tables, raw HTML allowed (as GitHub allows <br>): any markup that
    leaked from the data would appear here as a tag."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"]).render(hostile_run["md"])


def _squash(s: str) -> str:
    return " ".join(s.split())


@pytest.mark.parametrize("which", ["html", "md"])
def test_no_markup_and_no_hidden_characters(hostile_run, md_as_html, which):
    page = hostile_run["html"] if which == "html" else md_as_html
    tags = H.all_tags(H.parse_html(page))
    assert {t.tag for t in tags} <= ALLOWED_TAGS, {t.tag for t in tags} - ALLOWED_TAGS
    assert not [t for t in tags if any(a.lower().startswith("on") for a in t.attrs)]
    srcs = [t.attrs.get("src", "") for t in tags if t.tag == "img"]
    if which == "html":  # inlined: the page opens offline
        assert len(srcs) == 2 and all(s.startswith("data:image/png;base64,") for s in srcs)
    else:  # the plots beside report.md
        assert len(srcs) == 2 and all((hostile_run["dir"] / s).is_file() for s in srcs)
    for raw in (hostile_run["html"], hostile_run["md"]):
        assert not any(ch in raw for ch in H.RAW_FORBIDDEN)
    assert "␛[31m" in page and "⟨U+202E⟩" in page  # ANSI and RTL override shown, not acted on


def test_html_has_a_strict_content_security_policy(hostile_run):
    html = hostile_run["html"]
    (meta,) = [t for t in H.all_tags(H.parse_html(html)) if t.attrs.get("http-equiv") == "Content-Security-Policy"]
    csp = meta.attrs["content"]
    assert "default-src 'none'" in csp and "unsafe-inline" not in csp and "script-src" not in csp
    css = re.search(r"<style>(.*?)</style>", html, re.S).group(1)
    digest = base64.b64encode(hashlib.sha256(css.encode()).digest()).decode()
    assert f"style-src 'sha256-{digest}'" in csp  # the report's own style sheet, and nothing else, may apply


@pytest.mark.parametrize("which", ["html", "md"])
def test_tables_keep_their_rows_columns_and_text(hostile_run, md_as_html, which):
    root = H.parse_html(hostile_run["html"] if which == "html" else md_as_html)
    metrics_t, topic_t, loss_t = (H.table_cells(t) for t in root.find_all("table"))
    assert len(metrics_t) == 1 + 3 and {len(r) for r in metrics_t} == {7}
    assert _squash(metrics_t[1][0]) == _squash(visible(H.LABEL)) and metrics_t[1][6] == "significantly better"
    assert metrics_t[3][6] == "significantly better"  # ref_nll went down: lower is better, from metric_info
    assert len(topic_t) == 1 + len(hostile_run["topics"]) and {len(r) for r in topic_t} == {4}
    got_topics = [r[0] for r in topic_t[1:]]
    want = [visible(t) for t in hostile_run["topics"]]
    assert (got_topics if which == "html" else [_squash(t) for t in got_topics]) == (
        want if which == "html" else [_squash(t) for t in want])
    assert len(loss_t) == 1 + 3 and {len(r) for r in loss_t} == {3}


@pytest.mark.parametrize("which", ["html", "md"])
def test_headings_and_samples_read_as_written(hostile_run, md_as_html, which):
    root = H.parse_html(hostile_run["html"] if which == "html" else md_as_html)
    norm = (lambda s: s) if which == "html" else _squash
    (h1,) = root.find_all("h1")
    assert norm(h1.text()) == norm("physlora run " + visible(H.RUN_NAME))
    assert norm(root.find_all("h2")[0].text()) == norm(f"{visible(H.SET_NAME)} (freeform, n = {len(hostile_run['records'])})")

    questions = [p for p in root.find_all("p") if p.find_all("strong") and p.text().startswith("Q (")]
    preds = hostile_run["predictions"]
    assert len(questions) == len(preds)
    items = [li.text() for li in root.find_all("li") if li.text().startswith(("reference: ", "base: ", "tuned: "))]
    assert len(items) == 3 * len(preds)
    for i, (p, q) in enumerate(zip(preds, questions)):
        assert norm(q.text()) == norm(f"Q ({visible(p['id'])}): {visible(p['question'])}".replace("\n", " ")
                                      if which == "md" else f"Q ({visible(p['id'])}): {visible(p['question'])}")
        for j, (key, field) in enumerate((("reference", "reference"), ("base", "base_answer"), ("tuned", "tuned_answer"))):
            assert norm(items[3 * i + j]) == norm(f"{key}: {visible(clip(p[field]))}")


def test_a_one_megabyte_answer_is_cut_with_a_note(hostile_run):
    big = [p for p in hostile_run["predictions"] if p["base_answer"] == H.ONE_MB or p["reference"].endswith(H.ONE_MB)]
    assert big
    note = f"[{1_000_000 + 3 - SAMPLE_TEXT_LIMIT:,} more characters; the whole text is in predictions.jsonl]"
    assert note in hostile_run["html"]  # the reference "A4 " + 1 MB
    assert len(hostile_run["html"]) < 400_000 and len(hostile_run["md"]) < 100_000


def test_report_command_rebuilds_the_same_files(hostile_run, capsys):
    from physlora.cli import main

    before = hostile_run["md"]
    (hostile_run["dir"] / "report.md").unlink()
    assert main(["report", str(hostile_run["dir"])]) == 0
    assert (hostile_run["dir"] / "report.md").read_text(encoding="utf-8") == before
    assert "\x1b" not in capsys.readouterr().out  # the printed path has the run name's ESC removed


def test_broken_metrics_json_is_one_line(tmp_path):
    from physlora.report.build import build_report

    (tmp_path / "metrics.json").write_bytes(b'{"config": {}, "sets": {"s": \xff}}')
    with pytest.raises(PhysloraError, match="metrics.json is not valid JSON"):
        build_report(tmp_path)
    (tmp_path / "metrics.json").write_text('{"config": {}, "sets": {"s": {"kind": "freeform"}}}')
    with pytest.raises(PhysloraError, match="is not a RunMetrics file: sets.s.n"):
        build_report(tmp_path)


# ---------------------------------------------------------------- the page in Chromium


def test_report_html_runs_no_script_in_chromium(hostile_run):
    sync_playwright = browser_or_skip()
    with chromium_page(sync_playwright) as page:
        dialogs, errors = [], []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto((hostile_run["dir"] / "report.html").as_uri())
        assert page.evaluate("typeof window.__pwned") == "undefined" and dialogs == []
        assert page.evaluate("document.scripts.length") == 0
        assert page.evaluate("document.querySelectorAll('a, [onerror], iframe, object, embed').length") == 0
        assert errors == []  # no CSP violation: nothing even tried to run or load
        cell = page.inner_text("table tbody tr:first-child td:first-child")
        assert _squash(cell) == _squash(visible(H.LABEL))
        assert page.evaluate("document.querySelectorAll('img').length") == 2  # metrics + loss plots, inlined
