"""Headless Chromium for the page tests (report.html, `physlora serve`): Debian's /usr/bin/chromium driven by
playwright, a `physlora serve` subprocess, and a CSP-proof wait. Imported as `chromium_helpers`."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from process_helpers import stop_process

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def browser_or_skip():
    """Playwright's sync API, or a skip (locally) / a failure (under CI, which installs the browser)."""
    missing = []
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        missing.append(f"{CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
        missing.append("the playwright Python package (pip install playwright)")
    if missing:
        reason = "browser test needs " + " and ".join(missing) + "; scripts/ci-system-deps.sh installs the browser"
        if in_ci():
            pytest.fail(f"CI is set, so the browser test must run: {reason}")
        pytest.skip(reason)
    return sync_playwright


@contextlib.contextmanager
def chromium_page(sync_playwright, **page_options):
    """A fresh page in headless Chromium; the browser is closed however the test ends."""
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=60_000)
        try:
            page = browser.new_page(**page_options)
            page.set_default_timeout(60_000)
            yield page
        finally:
            browser.close()


def wait_until(page, condition: str, timeout: float) -> None:
    """Poll a JS condition with page.evaluate (DevTools, not page script): the pages' CSP forbids eval, which
    Playwright's wait_for_function needs, and a test must not weaken that CSP (no bypass_csp)."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(condition):
        if time.monotonic() > deadline:
            pytest.fail(f"not true after {timeout:.0f} s: {condition}")
        time.sleep(0.2)


def _wait_for_server(proc: subprocess.Popen, log: Path, timeout: float, headers: dict) -> str:
    """The URL the server printed (without its #token), once it answers /api/info; fails with its log otherwise."""
    deadline = time.monotonic() + timeout
    url = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"server exited with {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        if url is None:
            found = re.search(r"at http://[^:/]+:(\d+)/", log.read_text(errors="replace"))
            url = f"http://127.0.0.1:{found.group(1)}/" if found else None
        if url is not None:
            try:
                with urllib.request.urlopen(urllib.request.Request(url + "api/info", headers=headers), timeout=5) as r:
                    if r.status == 200:
                        return url
            except OSError:
                pass
        time.sleep(0.5)
    pytest.fail(f"server not ready after {timeout:.0f} s:\n{log.read_text(errors='replace')[-3000:]}")


@contextlib.contextmanager
def serve_process(run_dir: Path, log: Path, *extra: str, token: str | None = None, timeout: float = 300):
    """`python -m physlora.serve RUN_DIR --port 0 ...` until the block ends; yields (url, log path).
    --port 0: the server binds a free port itself and prints it (no race with another process)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TOKENIZERS_PARALLELISM": "false"}
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "physlora.serve", str(run_dir), "--port", "0", *extra],
                                stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        yield _wait_for_server(proc, log, timeout, headers)
    finally:
        stop_process(proc)
