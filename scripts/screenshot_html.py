"""Screenshot a local HTML file (e.g. a run's report.html) in headless Chromium, full page, no network.

    python scripts/screenshot_html.py runs/demo/report.html report.png [--width 1280]

Drives Debian's /usr/bin/chromium through playwright (scripts/ci-system-deps.sh installs it); never
downloads a browser. Prints the PNG path and any console error or CSP violation the page reported.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]


def screenshot(html: Path, png: Path, width: int = 1280) -> list[str]:
    from playwright.sync_api import sync_playwright

    problems: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": 900})
            page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.goto(html.resolve().as_uri())
            page.screenshot(path=str(png), full_page=True)
        finally:
            browser.close()
    return problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("html", type=Path)
    ap.add_argument("png", type=Path)
    ap.add_argument("--width", type=int, default=1280)
    args = ap.parse_args(argv)
    if not args.html.is_file():
        print(f"screenshot_html: {args.html} not found", file=sys.stderr)
        return 2
    for problem in screenshot(args.html, args.png, args.width):
        print(problem)
    print(args.png)
    return 0


if __name__ == "__main__":
    sys.exit(main())
