"""The local page over a run whose every text is hostile: the API hands out visible text only, and in headless
Chromium the page shows it literally and runs none of it; exposed with --host/--token, the real server also
refuses a foreign Host, a cross-origin POST and calls without the token."""

from __future__ import annotations

import json
import shutil
import urllib.error
import urllib.request

import pytest

import hostile_text as H
from chromium_helpers import browser_or_skip, chromium_page, serve_process, wait_until
from physlora.untrusted import json_visible, visible

LOCAL = "http://127.0.0.1:8000"
TOKEN = "a-long-enough-test-token-0123456789"
FIELDS = ("id", "question", "reference", "base_answer", "tuned_answer")


@pytest.fixture(scope="module")
def hostile_folder(run_folder, tmp_path_factory):
    """The real run folder (real adapter) with hostile config name, metrics and predictions."""
    from physlora.data.sources import load_records
    from physlora.results.io import atomic_write_text

    root = tmp_path_factory.mktemp("hostile-serve")
    data = root / "hostile.jsonl"
    H.hostile_data_file(data)
    records = load_records(str(data), skip_invalid=True).records
    run_dir = root / H.RUN_NAME
    shutil.copytree(run_folder.path, run_dir, ignore=shutil.ignore_patterns("checkpoints"))
    atomic_write_text(run_dir / "config.yaml", run_folder.cfg.model_copy(update={"name": H.RUN_NAME}).to_yaml())
    written = H.write_hostile_run(run_dir, records)
    return {"dir": run_dir, **written}


def test_api_hands_out_visible_text_only(hostile_folder, served_model):
    from fastapi.testclient import TestClient

    from physlora.serve.app import create_app

    app = create_app(hostile_folder["dir"], model=served_model)
    with TestClient(app, base_url=LOCAL) as c:
        bodies = [c.get(p) for p in ("/api/info", "/api/metrics", "/api/predictions?limit=200")]
    for r in bodies:
        assert r.status_code == 200 and not any(ch in r.text for ch in H.RAW_FORBIDDEN)
    info, metrics, preds = (r.json() for r in bodies)
    assert info["name"] == visible(H.RUN_NAME) and info["metric_labels"]["token_f1"] == visible(H.LABEL)
    assert list(metrics["sets"]) == [visible(H.SET_NAME)]
    want = [{k: visible(p[k]) for k in FIELDS} for p in hostile_folder["predictions"]]
    assert [{k: r[k] for k in FIELDS} for r in preds["rows"]] == want
    assert max(len(r["base_answer"]) for r in preds["rows"]) == len(H.ONE_MB)  # the page gets the whole answer


def _status(url: str, *, method: str = "GET", headers: dict | None = None, body: bytes | None = None) -> int:
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def _refused_over_the_network(url: str) -> None:
    """Real HTTP through uvicorn: DNS rebinding, a cross-origin POST, no token."""
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert _status(url + "api/info", headers=auth) == 200
    assert _status(url + "api/info") == 401
    assert _status(url + "api/info", headers={**auth, "Host": "evil.example:" + url.rsplit(":", 1)[1].strip("/")}) == 400
    ask = json.dumps({"question": "What is inertia?"}).encode()
    assert _status(url + "api/ask", method="POST", body=ask,
                   headers={**auth, "Content-Type": "application/json", "Origin": "http://evil.example"}) == 403


_PAGE_STATE = """() => ({
  pwned: typeof window.__pwned,
  scripts: document.scripts.length,
  injected: document.querySelectorAll('img, a, iframe, object, embed, [onerror], [onclick], [onload]').length,
  rows: [...document.querySelectorAll('#pred-table tbody tr')].map(tr => [...tr.cells].map(td => td.textContent)),
  sets: [...document.querySelectorAll('#metrics h3')].map(h => h.textContent),
  labels: [...document.querySelectorAll('#metrics tbody tr')].map(tr => tr.cells[0].textContent),
  header: document.getElementById('run-info').textContent,
})"""


@pytest.mark.slow
def test_hostile_page_in_chromium_over_the_network(request, tmp_path):
    sync_playwright = browser_or_skip()
    folder = request.getfixturevalue("hostile_folder")
    log = tmp_path / "server.log"
    with serve_process(folder["dir"], log, "--host", "0.0.0.0", "--token", TOKEN, token=TOKEN) as url, \
            chromium_page(sync_playwright) as page:
        assert "WARNING: listening on 0.0.0.0" in log.read_text() and "\x1b" not in log.read_text()
        _refused_over_the_network(url)

        dialogs, errors = [], []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(url + "#token=" + TOKEN)
        wait_until(page, "document.querySelectorAll('#pred-table tbody tr').length > 0", timeout=60)
        wait_until(page, "document.querySelectorAll('#metrics tbody tr').length > 0", timeout=60)
        assert "#token" not in page.url  # taken out of the address bar (kept for the tab only)

        state = page.evaluate(_PAGE_STATE)
        assert state["pwned"] == "undefined" and dialogs == [] and errors == []
        assert state["scripts"] == 1 and state["injected"] == 0  # the page's own script; nothing from the data
        preds = folder["predictions"]
        assert len(state["rows"]) == len(preds) and {len(r) for r in state["rows"]} == {5}
        assert state["rows"] == [[visible(p[k]) for k in FIELDS] for p in preds]  # literally, the 1 MB one too
        assert state["sets"] == [f"{visible(H.SET_NAME)} (freeform, n = {len(preds) - 1})"]
        assert state["labels"][0] == visible(H.LABEL)
        assert visible(H.RUN_NAME) in state["header"]

        # answers are model text too: whatever /api/ask returns is shown as text, raw hostile strings included
        hostile_answer = {"base": H.EVERYTHING, "tuned": H.SCRIPT + H.IMG, "seconds": 0.1}
        page.route("**/api/ask", lambda route: route.fulfill(status=200, content_type="application/json",
                                                             body=json.dumps(hostile_answer)))
        page.fill("#question", "What is inertia?")
        page.click("#ask")
        wait_until(page, "document.getElementById('tuned-answer').textContent.length > 0", timeout=30)
        shown = page.evaluate("[document.getElementById('base-answer').textContent,"
                              " document.getElementById('tuned-answer').textContent]")
        assert shown == [H.EVERYTHING, H.SCRIPT + H.IMG]
        after = page.evaluate(_PAGE_STATE)
        assert after["pwned"] == "undefined" and after["scripts"] == 1 and after["injected"] == 0 and errors == []


def test_json_visible_matches_what_the_page_shows():
    """The page shows exactly json_visible(row): one rule, applied on the server."""
    row = {"question": H.BIDI + H.ANSI, "n": 3}
    assert json_visible(row) == {"question": visible(H.BIDI + H.ANSI), "n": 3}
