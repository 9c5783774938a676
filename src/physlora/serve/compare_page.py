"""`physlora serve RUN --compare RUN2 SWEEP ...`: a second page, /compare, with the table of
`physlora compare` for the served run and the others (the served run is the baseline). Routes:

    GET /compare       the page (static/compare.html: inline JS, every run-derived string set as textContent)
    GET /api/compare   {"baseline", "runs": {label: folder}, "tables": [...]} (NaN as null)
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path


def compare_payload(run_dir: Path, others: list[str]) -> dict:
    from physlora.experiments.compare import compare_runs
    from physlora.serve.app import _finite

    result = compare_runs([str(run_dir), *others], baseline=0)
    return _finite({"baseline": result.baseline, "runs": {r.label: str(r.folder) for r in result.runs},
                    "tables": [asdict(t) for t in result.tables]})


def compare_html() -> str:
    from importlib.resources import files

    return files("physlora.serve").joinpath("static/compare.html").read_text(encoding="utf-8")


def add_compare_routes(app, run_dir: Path, others: list[str]) -> None:
    """Register /compare and /api/compare on the serve app; the comparison is computed once, up front,
    so a broken run folder fails at start-up with its one-line error."""
    from fastapi.responses import HTMLResponse

    payload = compare_payload(run_dir, others)
    page = compare_html()

    @app.get("/compare", response_class=HTMLResponse)
    def compare_page() -> HTMLResponse:
        return HTMLResponse(page)

    @app.get("/api/compare")
    def api_compare() -> dict:
        return payload
