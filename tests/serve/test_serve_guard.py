"""`physlora serve` refuses what other web pages and other machines could make it do: DNS rebinding (a
foreign Host), cross-origin POSTs, calls without the token, huge bodies, a pile-up of questions; and every
response carries CSP, nosniff and frame-ancestors. Against the real app and its real (one) model."""

from __future__ import annotations

import argparse
import base64
import hashlib
import re
import threading

import pytest

from physlora.errors import PhysloraError

LOCAL = "http://127.0.0.1:8000"
TOKEN = "correct-horse-battery-staple-42"


@pytest.mark.parametrize("host", ["evil.example:8000", "evil.example", "127.0.0.1.evil.example:8000",
                                  "192.168.1.7:8000", "localhost.evil.example"])
def test_dns_rebinding_host_is_refused(client, host):
    """A page on evil.example whose DNS now answers 127.0.0.1 reaches this port, but with its own Host."""
    for path in ("/", "/api/info", "/api/predictions"):
        assert client.get(path, headers={"Host": host}).status_code == 400, (host, path)
    assert client.post("/api/ask", json={"question": "q"}, headers={"Host": host}).status_code == 400


@pytest.mark.parametrize("host", ["127.0.0.1:8000", "localhost:8000", "[::1]:8000", "LOCALHOST:8000"])
def test_the_local_names_are_served(client, host):
    assert client.get("/api/info", headers={"Host": host}).status_code == 200


@pytest.mark.parametrize("headers", [
    {"Origin": "http://evil.example"},
    {"Origin": "null"},  # a sandboxed iframe or a file:// page
    {"Origin": "http://127.0.0.1:9999"},  # another local web app is another origin
    {"Origin": "https://127.0.0.1:8000"},
    {"Origin": "http://localhost.evil.example:8000"},
    {"Sec-Fetch-Site": "cross-site"},
])
def test_cross_origin_post_is_refused(client, headers):
    r = client.post("/api/ask", json={"question": "What is inertia?"}, headers=headers)
    assert r.status_code == 403 and "refused" in r.json()["detail"]  # refused before the app: nothing generated


def test_a_form_style_post_is_not_a_question(client):
    """A cross-site <form> can only send text/plain or form bodies (no preflight): not JSON, so refused."""
    r = client.post("/api/ask", content='{"question": "x"}', headers={"Content-Type": "text/plain"})
    assert r.status_code == 400


def test_security_headers_on_page_api_and_refusals(client):
    page = client.get("/")
    csp = page.headers["content-security-policy"]
    for tag in ("script", "style"):
        (inline,) = re.findall(rf"<{tag}>(.*?)</{tag}>", page.text, re.S)
        digest = base64.b64encode(hashlib.sha256(inline.encode()).digest()).decode()
        assert f"{tag}-src 'sha256-{digest}'" in csp  # the page's own script and style, and nothing else
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp and "connect-src 'self'" in csp
    assert "unsafe" not in csp
    responses = [page, client.get("/api/info"), client.get("/api/predictions", params={"limit": 0}),
                 client.post("/api/ask", json={"question": "q"}, headers={"Origin": "http://evil.example"})]
    for r in responses:
        assert r.headers["x-content-type-options"] == "nosniff" and r.headers["x-frame-options"] == "DENY"
        assert r.headers["content-security-policy"] == csp and r.headers["referrer-policy"] == "no-referrer"


def test_request_body_is_capped(client):
    from physlora.serve.guard import MAX_BODY_BYTES

    big = b'{"question": "' + b"x" * (MAX_BODY_BYTES + 1) + b'"}'
    r = client.post("/api/ask", content=big, headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and "too large" in r.json()["detail"]

    def streamed():  # no Content-Length: counted while it arrives
        yield b'{"question": "'
        for _ in range(100):
            yield b"x" * 1000
        yield b'"}'

    r = client.post("/api/ask", content=streamed(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413


def test_questions_beyond_the_cap_get_503_at_once(run_folder, served_model, monkeypatch):
    """With one pending slot: while a question is being answered, the next is told to retry (not queued)."""
    from fastapi.testclient import TestClient

    import physlora.inference.generate
    from physlora.serve.app import create_app

    generating, release = threading.Event(), threading.Event()

    def held(model, tokenizer, questions, **kw):  # holds the slot until the test lets go: deterministic timing
        generating.set()
        release.wait(30)
        return [f"answer to {questions[0]}"]

    monkeypatch.setattr(physlora.inference.generate, "generate_answers", held)
    app = create_app(run_folder.path, model=served_model, max_pending_asks=1)
    with TestClient(app, base_url=LOCAL) as c:
        first = {}
        t = threading.Thread(target=lambda: first.update(r=c.post("/api/ask", json={"question": "one"})))
        t.start()
        assert generating.wait(30)
        busy = c.post("/api/ask", json={"question": "two"})
        assert busy.status_code == 503 and busy.headers["retry-after"] == "5" and "busy" in busy.json()["detail"]
        release.set()
        t.join(30)
        assert first["r"].status_code == 200 and first["r"].json()["tuned"] == "answer to one"
        assert c.post("/api/ask", json={"question": "three"}).status_code == 200  # the slot is free again


def test_token_is_checked_on_every_api_call(run_folder, served_model):
    from fastapi.testclient import TestClient

    from physlora.serve.app import create_app

    app = create_app(run_folder.path, model=served_model, host="0.0.0.0", port=8000, token=TOKEN)
    good = {"Authorization": f"Bearer {TOKEN}"}
    with TestClient(app, base_url=LOCAL) as c:
        assert c.get("/").status_code == 200  # the page itself holds no data; it reads the token from #token=
        for path in ("/api/info", "/api/metrics", "/api/predictions"):
            assert c.get(path).status_code == 401
            assert c.get(path, headers={"Authorization": "Bearer " + TOKEN[:-1]}).status_code == 401
            assert c.get(path, headers={"Authorization": TOKEN}).status_code == 401  # no scheme
            assert c.get(path, headers=good).status_code == 200
        r = c.post("/api/ask", json={"question": ""})
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        assert c.post("/api/ask", json={"question": ""}, headers=good).status_code == 400  # through to validation
        assert c.post("/api/ask", json={"question": "q"}, headers={**good, "Origin": "http://evil.example"}).status_code == 403
        assert c.get("/api/info", headers={**good, "Host": "evil.example"}).status_code == 400


def test_a_non_local_host_needs_a_token(run_folder, monkeypatch):
    from physlora.serve import app as serve

    monkeypatch.delenv(serve.TOKEN_ENV, raising=False)
    args = argparse.Namespace(run_dir=str(run_folder.path), host="0.0.0.0", port=0, max_new_tokens=None, token=None)
    with pytest.raises(PhysloraError, match="lets other machines reach the page: pass --token"):
        serve.main(args)  # refused before any model is loaded
    args.token = "short"
    with pytest.raises(PhysloraError, match="--token is too short"):
        serve.main(args)


def test_allowed_hosts_and_origins():
    from physlora.serve.guard import Access, is_loopback

    local = Access.for_bind("127.0.0.1", 8123)
    assert set(local.hosts) == {"127.0.0.1", "localhost", "[::1]"}
    assert local.origins == {"http://127.0.0.1:8123", "http://localhost:8123", "http://[::1]:8123"}
    assert local.token_ok(None)
    wide = Access.for_bind("0.0.0.0", 80, token=TOKEN)
    assert "127.0.0.1" in wide.hosts and "http://127.0.0.1" in wide.origins
    assert not wide.token_ok(None) and wide.token_ok(f"bearer {TOKEN}") and not wide.token_ok("Bearer x")
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost") and is_loopback("127.5.5.5")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.7") and not is_loopback("::")
