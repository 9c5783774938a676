"""`physlora serve RUN_DIR`: a small local web page to compare the base and the fine-tuned model.

One page (inline CSS/JS, nothing from the network) asks both models the same question side by side,
shows the run's metrics and lets you browse its predictions. Routes:

    GET  /                 the page
    GET  /api/info         run name, model, settings (what the page header shows)
    GET  /api/metrics      metrics.json as written by `physlora run`
    GET  /api/predictions  ?offset=&limit=&q= -> {"total", "offset", "limit", "rows"} (q: case-insensitive substring)
    POST /api/ask          {"question": ...} -> {"base": ..., "tuned": ..., "seconds": ...}

Generation is serialised with a lock: one question at a time, later ones wait their turn.
fastapi/uvicorn are imported only when the server is built, so `physlora --help` does not need them.
"""

import argparse
import json
import math
import socket
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from physlora.errors import PhysloraError

if TYPE_CHECKING:
    from fastapi import FastAPI

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
MAX_QUESTION_CHARS = 2000
MAX_PAGE = 200
PREDICTION_FIELDS = ("id", "set", "question", "reference", "base_answer", "tuned_answer")
_SEARCHED = ("id", "question", "reference", "base_answer", "tuned_answer")
EXIT_USER_ERROR = 2


class AskRequest(BaseModel):
    question: str


def page_html() -> str:
    """The single page (static/index.html, package data): inline CSS/JS, nothing from the network."""
    from importlib.resources import files

    return files("physlora.serve").joinpath("static/index.html").read_text(encoding="utf-8")


# ---------------------------------------------------------------- run folder


def check_run_dir(run_dir: str | Path) -> Path:
    """The folder must hold what `physlora run` writes; name the first missing piece in one line."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise PhysloraError(f"run folder not found: {run_dir} (pass a folder written by `physlora run`, e.g. runs/demo)")
    for name in ("config.yaml", "metrics.json", "predictions.jsonl", "adapter/adapter_config.json"):
        if not (run_dir / name).is_file():
            hint = "finish it with `physlora run --resume`" if name != "config.yaml" else "not a `physlora run` folder"
            raise PhysloraError(f"{run_dir / name} is missing: {run_dir} is not a finished run folder ({hint})")
    return run_dir


def _finite(value: Any) -> Any:
    """NaN/inf -> None, recursively: metrics.json may hold NaN, which is not valid JSON for a browser."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _load_run_files(run_dir: Path) -> tuple[dict, list[dict]]:
    from physlora.results.io import read_jsonl

    try:
        metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise PhysloraError(f"{run_dir / 'metrics.json'} is not valid JSON: {str(e).splitlines()[0]}") from None
    if not isinstance(metrics, dict):
        raise PhysloraError(f"{run_dir / 'metrics.json'} must hold a JSON object")
    rows = [
        {k: _finite(r.get(k)) for k in PREDICTION_FIELDS}
        for r in read_jsonl(run_dir / "predictions.jsonl")
        if isinstance(r, dict)
    ]
    return _finite(metrics), rows


def _metric_labels(metrics: dict) -> tuple[dict[str, str], list[str]]:
    """Labels and lower-is-better metrics as the evaluation recorded them in metrics.json."""
    labels, lower = {}, set()
    for block in (metrics.get("sets") or {}).values():
        for name, info in (block.get("metric_info") or {}).items():
            labels[name] = info.get("label", name)
            if info.get("higher_is_better") is False:
                lower.add(name)
    return labels, sorted(lower)


def filter_predictions(rows: list[dict], q: str | None) -> list[dict]:
    needle = (q or "").strip().lower()
    if not needle:
        return rows
    return [r for r in rows if any(needle in str(r.get(k) or "").lower() for k in _SEARCHED)]


def load_base(cfg, *, say=print):
    from physlora.models.loading import load_model

    say(f"loading {cfg.model.name} (base)")
    return load_model(cfg.model.name, dtype=cfg.model.dtype, trust_remote_code=cfg.model.trust_remote_code)


def load_tuned(cfg, run_dir: Path, *, say=print):
    """A second copy of the base model with the run's adapter on top (PEFT changes the model in place)."""
    from physlora.models.loading import load_model

    say(f"loading {cfg.model.name} + {run_dir / 'adapter'} (tuned)")
    return load_model(cfg.model.name, adapter=str(run_dir / "adapter"), dtype=cfg.model.dtype,
                      trust_remote_code=cfg.model.trust_remote_code)


# ---------------------------------------------------------------- app


def create_app(run_dir, *, base=None, tuned=None, max_new_tokens: int | None = None) -> "FastAPI":
    """The web app for one run folder. `base`/`tuned` are LoadedModel-like objects (.model, .tokenizer);
    either one left out is loaded from the run's config (tuned = base model + RUN_DIR/adapter)."""
    # long: the routes are closures over one run's state (models, metrics, predictions, lock); each is a few lines
    from fastapi import FastAPI, HTTPException, Query
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import HTMLResponse, JSONResponse

    from physlora.config import load_config

    run_dir = check_run_dir(run_dir)
    cfg = load_config(run_dir / "config.yaml")
    metrics, predictions = _load_run_files(run_dir)
    base = base if base is not None else load_base(cfg)
    tuned = tuned if tuned is not None else load_tuned(cfg, run_dir)
    new_tokens = max_new_tokens or cfg.eval.max_new_tokens
    lock = threading.Lock()

    labels, lower_is_better = _metric_labels(metrics)
    info = {
        "run_dir": str(run_dir),
        "name": cfg.name,
        "model": cfg.model.name,
        "adapter": str(run_dir / "adapter"),
        "system_prompt": cfg.system_prompt,
        "max_new_tokens": new_tokens,
        "max_question_chars": MAX_QUESTION_CHARS,
        "n_predictions": len(predictions),
        "metric_labels": labels,
        "lower_is_better": lower_is_better,
    }

    app = FastAPI(title=f"physlora serve: {cfg.name}", docs_url=None, redoc_url=None, openapi_url=None)

    @app.exception_handler(RequestValidationError)
    async def _bad_request(request, exc: RequestValidationError):
        problems = []
        for e in exc.errors():
            where = ".".join(str(p) for p in e.get("loc", ()) if p not in ("body", "query"))
            problems.append(f"{where}: {e.get('msg')}" if where else str(e.get("msg")))
        return JSONResponse({"detail": "invalid request: " + "; ".join(problems)}, status_code=400)

    @app.get("/", response_class=HTMLResponse)
    def page() -> HTMLResponse:
        return HTMLResponse(page_html())

    @app.get("/api/info")
    def api_info() -> dict:
        return info

    @app.get("/api/metrics")
    def api_metrics() -> dict:
        return metrics

    @app.get("/api/predictions")
    def api_predictions(
        offset: int = Query(0, ge=0),
        limit: int = Query(20, ge=1, le=MAX_PAGE),
        q: str | None = Query(None, max_length=MAX_QUESTION_CHARS),
    ) -> dict:
        found = filter_predictions(predictions, q)
        return {"total": len(found), "offset": offset, "limit": limit, "rows": found[offset : offset + limit]}

    @app.post("/api/ask")
    def api_ask(body: AskRequest) -> dict:
        # a plain `def`: FastAPI runs it in a worker thread, so the page stays responsive while generating
        question = body.question.strip()
        if not question:
            raise HTTPException(400, "the question is empty: type a physics question first")
        if len(question) > MAX_QUESTION_CHARS:
            raise HTTPException(
                400, f"the question is too long: {len(question)} characters, at most {MAX_QUESTION_CHARS} allowed"
            )
        from physlora.inference.generate import generate_answers

        with lock:
            started = time.perf_counter()
            answers = {
                key: generate_answers(m.model, m.tokenizer, [question], system_prompt=cfg.system_prompt,
                                      max_new_tokens=new_tokens, batch_size=1)[0]
                for key, m in (("base", base), ("tuned", tuned))
            }
            seconds = time.perf_counter() - started
        return {**answers, "seconds": round(seconds, 3)}

    return app


# ---------------------------------------------------------------- command line


def add_parser(subparsers) -> None:
    """Add the `serve` subcommand to physlora's argparse subparsers."""
    p = subparsers.add_parser("serve", help="local web page comparing the base and fine-tuned model of a run folder")
    _add_arguments(p)
    p.set_defaults(func=main)


def _add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="a run folder written by `physlora run` (config.yaml, metrics.json, adapter/, ...)")
    p.add_argument("--host", default=DEFAULT_HOST,
                   help=f"address to listen on (default {DEFAULT_HOST}: this machine only; 0.0.0.0 exposes it)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0 picks a free one)")
    p.add_argument("--max-new-tokens", type=int, default=None,
                   help="answer length limit (default: eval.max_new_tokens of the run's config)")


def _bind(host: str, port: int) -> socket.socket:
    """Bind before the (slow) model load so a taken port fails at once, with a readable message."""
    if not 0 <= port <= 65535:
        raise PhysloraError(f"--port {port} is not a valid port (0-65535)")
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    except socket.gaierror as e:
        raise PhysloraError(f"--host {host}: cannot resolve it ({e.strerror})") from None
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise PhysloraError(f"cannot listen on {host}:{port}: {e.strerror}; pick another --port") from None
    return sock


def main(args: argparse.Namespace) -> int:
    """Run the server until Ctrl+C. Raises PhysloraError (before serving) for a bad run folder or port."""
    import uvicorn

    from physlora.config import load_config

    if getattr(args, "overrides", None):
        raise PhysloraError(f"serve takes no key=value overrides (got {' '.join(args.overrides)}); "
                            "it uses the run's config.yaml")
    if args.max_new_tokens is not None and args.max_new_tokens <= 0:
        raise PhysloraError(f"--max-new-tokens must be positive, got {args.max_new_tokens}")
    run_dir = check_run_dir(args.run_dir)
    cfg = load_config(run_dir / "config.yaml")
    _load_run_files(run_dir)  # bad JSON fails now, not after the model load
    sock = _bind(args.host, args.port)
    try:
        say = lambda msg: print(f"[physlora] {msg}", flush=True)  # noqa: E731
        base, tuned = load_base(cfg, say=say), load_tuned(cfg, run_dir, say=say)
        app = create_app(run_dir, base=base, tuned=tuned, max_new_tokens=args.max_new_tokens)
        host, port = sock.getsockname()[:2]
        shown = f"[{host}]" if ":" in host else host
        say(f"serving {run_dir} at http://{shown}:{port}/ (Ctrl+C to stop)")
        config = uvicorn.Config(app, log_level="warning", access_log=False)
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
    return 0


def _cli(argv: list[str] | None = None) -> int:
    """`python -m physlora.serve RUN_DIR [--host H] [--port N]`, with the CLI's error handling."""
    import os

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    parser = argparse.ArgumentParser(prog="physlora serve", description=__doc__.splitlines()[0])
    _add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return main(args)
    except PhysloraError as e:
        print(f"physlora: error: {e}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        return 130
