"""`physlora serve`: the API against a real (tiny) run folder, and the page end to end in Chromium."""

from __future__ import annotations

import argparse
import json
import math
import re
import shutil
import socket
import threading
import time

import pytest

from chromium_helpers import browser_or_skip, chromium_page, serve_process, wait_until
from physlora.errors import PhysloraError

QUESTION = "What is Newton's second law?"
LOCAL = "http://127.0.0.1:8000"  # the Host / Origin the app fixture is bound to


# ---------------------------------------------------------------- API


def test_page_is_self_contained(client):
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    html = r.text
    for needed in ('id="question"', 'id="ask"', 'id="base-answer"', 'id="tuned-answer"', "/api/ask",
                   "/api/metrics", "/api/predictions", "<style>", "<script>"):
        assert needed in html, needed
    # nothing from the network: no external scripts, styles, fonts or images
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "@import" not in html and "url(http" not in html


def test_metrics_are_served_as_valid_json(client, run_folder):
    r = client.get("/api/metrics")
    assert r.status_code == 200
    metrics = json.loads(r.text)  # strict JSON: the NaN p-value in metrics.json must arrive as null
    block = metrics["sets"]["mini.jsonl"]
    assert block["tuned"]["token_f1"]["mean"] == 0.34
    assert block["comparison"]["ref_nll"]["p_value"] is None
    assert "NaN" not in r.text and math.isfinite(metrics["train"]["final_loss"])


def test_info_names_the_run(client, run_folder):
    info = client.get("/api/info").json()
    assert info["name"] == "mini" and info["model"] == "smollm2-135m-instruct"
    assert info["max_new_tokens"] == 16 and info["n_predictions"] == run_folder.n


def test_predictions_page_and_filter(client, run_folder):
    r = client.get("/api/predictions", params={"offset": 0, "limit": 5}).json()
    assert r["total"] == run_folder.n and len(r["rows"]) == 5
    assert set(r["rows"][0]) >= {"id", "question", "reference", "base_answer", "tuned_answer"}
    assert "base_scores" not in r["rows"][0]
    rest = client.get("/api/predictions", params={"offset": 10, "limit": 5}).json()
    assert len(rest["rows"]) == run_folder.n - 10
    ids = [row["id"] for row in client.get("/api/predictions", params={"limit": 200}).json()["rows"]]
    assert len(set(ids)) == run_folder.n

    hit = client.get("/api/predictions", params={"q": "NEWTON'S SECOND"}).json()  # case-insensitive substring
    assert hit["total"] == 1 and hit["rows"][0]["question"] == QUESTION
    assert client.get("/api/predictions", params={"q": "tuned answer 3"}).json()["total"] == 1  # answers too
    assert client.get("/api/predictions", params={"q": "no such text anywhere"}).json() == {
        "total": 0, "offset": 0, "limit": 20, "rows": []}


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 10_000}, {"offset": -1}, {"limit": "many"}])
def test_predictions_bad_paging_is_400(client, params):
    r = client.get("/api/predictions", params=params)
    assert r.status_code == 400 and r.json()["detail"].startswith("invalid request")


def test_ask_answers_with_both_models(client, run_folder, small):
    """One served model answers "base" (adapter disabled) exactly as a separate plain base model does, and
    "tuned" exactly as the model just trained: the same answers the old two-model server gave."""
    from physlora.inference.generate import generate_answers

    r = client.post("/api/ask", json={"question": f"  {QUESTION}\n"}, headers={"Origin": LOCAL})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["base"].strip() and body["tuned"].strip() and body["seconds"] >= 0
    kw = dict(system_prompt=run_folder.cfg.system_prompt, max_new_tokens=16, batch_size=1)
    assert body["base"] == generate_answers(small.model, small.tokenizer, [QUESTION], **kw)[0]
    assert body["tuned"] == generate_answers(run_folder.trained, run_folder.tokenizer, [QUESTION], **kw)[0]
    assert body["base"] != body["tuned"]  # the adapter is really switched (lr 0.005 for 2 steps changes the answer)


@pytest.mark.parametrize(
    "payload, fragment",
    [
        ({"question": ""}, "empty"),
        ({"question": "   \n\t "}, "empty"),
        ({"question": "x" * 2001}, "too long: 2001 characters, at most 2000"),
        ({"question": 42}, "question"),
        ({}, "question"),
    ],
)
def test_ask_rejects_bad_questions_with_400(client, payload, fragment):
    r = client.post("/api/ask", json=payload)
    assert r.status_code == 400
    assert fragment in r.json()["detail"]


def test_ask_accepts_exactly_2000_characters(app, monkeypatch):
    from fastapi.testclient import TestClient

    import physlora.inference.generate

    monkeypatch.setattr(physlora.inference.generate, "generate_answers", lambda m, t, qs, **kw: [f"{len(qs[0])}"])
    with TestClient(app, base_url=LOCAL) as c:
        r = c.post("/api/ask", json={"question": "y" * 2000})
    assert r.status_code == 200 and r.json()["base"] == "2000"


def test_generation_is_serialised(app, monkeypatch):
    """Concurrent requests never generate at the same time (the lock), and each still gets its answer."""
    from fastapi.testclient import TestClient

    import physlora.inference.generate

    state = {"active": 0, "max": 0}
    guard = threading.Lock()

    def slow(model, tokenizer, questions, **kw):
        with guard:
            state["active"] += 1
            state["max"] = max(state["max"], state["active"])
        time.sleep(0.05)
        with guard:
            state["active"] -= 1
        return [f"answer to {questions[0]}"]

    monkeypatch.setattr(physlora.inference.generate, "generate_answers", slow)
    results = {}
    with TestClient(app, base_url=LOCAL) as c:
        def ask(i):
            results[i] = c.post("/api/ask", json={"question": f"q{i}"}).json()

        threads = [threading.Thread(target=ask, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
    assert state["max"] == 1
    assert {i: r["tuned"] for i, r in results.items()} == {i: f"answer to q{i}" for i in range(4)}


# ---------------------------------------------------------------- run folder checks and command line


@pytest.mark.parametrize("missing", ["config.yaml", "metrics.json", "predictions.jsonl", "adapter"])
def test_missing_run_files_fail_before_serving(run_folder, tmp_path, missing):
    from physlora.serve import app as serve

    broken = tmp_path / "run"
    shutil.copytree(run_folder.path, broken, ignore=shutil.ignore_patterns("checkpoints"))
    target = broken / missing
    shutil.rmtree(target) if target.is_dir() else target.unlink()
    with pytest.raises(PhysloraError) as err:
        serve.create_app(broken)
    message = str(err.value)
    assert missing in message and "\n" not in message
    # main() fails the same way before loading a model or opening a port
    args = argparse.Namespace(run_dir=str(broken), host="127.0.0.1", port=0, max_new_tokens=None, token=None)
    with pytest.raises(PhysloraError, match=re.escape(missing)):
        serve.main(args)


def test_not_a_folder_and_bad_metrics(tmp_path, run_folder, capsys):
    from physlora.serve import app as serve

    with pytest.raises(PhysloraError, match="run folder not found"):
        serve.check_run_dir(tmp_path / "nope")
    assert serve._cli([str(tmp_path / "nope")]) == 2
    assert "physlora: error: run folder not found" in capsys.readouterr().err

    broken = tmp_path / "run"
    shutil.copytree(run_folder.path, broken, ignore=shutil.ignore_patterns("checkpoints"))
    (broken / "metrics.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(PhysloraError, match="metrics.json is not valid JSON"):
        serve.create_app(broken)
    (broken / "metrics.json").write_text('{"config": {}, "sets": {"s": {"kind": "freeform"}}}', encoding="utf-8")
    with pytest.raises(PhysloraError, match="not a RunMetrics file: sets.s.n"):
        serve.create_app(broken)


def test_add_parser_defaults_to_localhost():
    from physlora.serve import app as serve

    parser = argparse.ArgumentParser(prog="physlora")
    serve.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["serve", "runs/demo"])
    assert (args.command, args.run_dir, args.host, args.port, args.max_new_tokens, args.token) == (
        "serve", "runs/demo", "127.0.0.1", 8000, None, None)
    args = parser.parse_args(["serve", "r", "--host", "0.0.0.0", "--port", "9001", "--max-new-tokens", "32"])
    assert (args.host, args.port, args.max_new_tokens, args.func) == ("0.0.0.0", 9001, 32, serve.main)


def test_taken_port_is_a_clear_error():
    from physlora.serve import app as serve

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(PhysloraError, match=f"cannot listen on 127.0.0.1:{port}"):
            serve._bind("127.0.0.1", port)


# ---------------------------------------------------------------- the page in a real browser


@pytest.mark.slow
def test_page_end_to_end_in_chromium(request, tmp_path):
    sync_playwright = browser_or_skip()  # before the run folder is built: a skip costs nothing
    run_folder = request.getfixturevalue("run_folder")
    with serve_process(run_folder.path, tmp_path / "server.log") as url, \
            chromium_page(sync_playwright, viewport={"width": 1280, "height": 900}) as page:
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(url, timeout=60_000)
        # metrics and predictions render from the API
        wait_until(page, "document.querySelectorAll('#metrics table tr').length > 1", timeout=30)
        wait_until(page, "document.querySelectorAll('#pred-table tbody tr').length > 0", timeout=30)
        assert "Token F1" in page.inner_text("#metrics")
        assert page.inner_text("#base-answer").strip() == "" and page.inner_text("#tuned-answer").strip() == ""

        page.fill("#question", QUESTION)
        page.click("#ask")
        wait_until(page, "document.getElementById('base-answer').textContent.trim().length > 0"
                         " && document.getElementById('tuned-answer').textContent.trim().length > 0", timeout=180)
        base, tuned = page.inner_text("#base-answer").strip(), page.inner_text("#tuned-answer").strip()
        assert base and tuned
        assert page.is_visible("#base-answer") and page.is_visible("#tuned-answer")
        assert "Error" not in page.inner_text("#ask-status")
        page.screenshot(path=str(tmp_path / "serve.png"), full_page=True)
        assert (tmp_path / "serve.png").stat().st_size > 10_000

        # an empty question is refused in the page, without a request
        page.fill("#question", "   ")
        page.click("#ask")
        wait_until(page, "document.getElementById('ask-status').classList.contains('error')", timeout=10)
        assert errors == []
