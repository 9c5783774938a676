"""`physlora serve RUN_DIR`: a small local web page to compare the base and the fine-tuned model.

One page (inline CSS/JS, nothing from the network) asks both models the same question side by side,
shows the run's metrics and lets you browse its predictions. Routes:

    GET  /                 the page
    GET  /api/info         run name, model, settings (what the page header shows)
    GET  /api/metrics      metrics.json as written by `physlora run` (read as RunMetrics)
    GET  /api/predictions  ?offset=&limit=&q= -> {"total", "offset", "limit", "rows"} (q: case-insensitive substring)
    POST /api/ask          {"question": ...} -> {"base": ..., "tuned": ..., "seconds": ...}

One model is loaded: the base model with the run's adapter. "tuned" answers with the adapter, "base" with it
disabled (peft's `disable_adapter()`), which gives the plain base model's answers in one model's memory.
Generation is serialised with a lock (one question at a time); at most MAX_PENDING_ASKS questions wait or run,
more get 503 at once. Text in API answers is passed through physlora.untrusted.visible (invisible and control
characters shown as marks); the page puts it in the DOM with textContent only, never as HTML. Host, Origin,
token, body-size checks and security headers: serve/guard.py.
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
MAX_PENDING_ASKS = 4  # one generating + three waiting; a fifth concurrent question is told to retry
PREDICTION_FIELDS = ("id", "set", "question", "reference", "base_answer", "tuned_answer",
                     # runs evaluated with the program tool (eval.mode tools|both): the final answer and the
                     # exchange (programs, what the sandbox printed) shown under each answer
                     "base_tools_answer", "tuned_tools_answer", "base_tools", "tuned_tools",
                     # runs with retrieval.index: the answers with passages, their [n] citations and the
                     # passages retrieved (file, heading, span, score) shown under each answer
                     "base_retrieval_answer", "tuned_retrieval_answer", "base_citations", "tuned_citations", "retrieval")
_SEARCHED = ("id", "question", "reference", "base_answer", "tuned_answer", "base_tools_answer", "tuned_tools_answer",
             "base_retrieval_answer", "tuned_retrieval_answer")
EXIT_USER_ERROR = 2
TOKEN_ENV = "PHYSLORA_SERVE_TOKEN"
MIN_TOKEN_CHARS = 16


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
    """metrics.json validated as RunMetrics (a broken file is one line, before any model is loaded) and the
    prediction rows; a byte that is not UTF-8 in predictions.jsonl shows as U+FFFD instead of stopping."""
    from physlora.results.io import read_jsonl
    from physlora.results.schema import RunMetrics, read_result, result_json

    metrics = result_json(read_result(run_dir / "metrics.json", RunMetrics))
    rows = [
        {k: _finite(r.get(k)) for k in PREDICTION_FIELDS}
        for r in read_jsonl(run_dir / "predictions.jsonl", errors="replace")
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


def matching_rows(rows: list[dict], q: str | None) -> list[int]:
    """Indices of the rows whose id, question, reference or answers contain q (case-insensitive)."""
    needle = (q or "").strip().lower()
    return [i for i, r in enumerate(rows) if not needle or any(needle in str(r.get(k) or "").lower() for k in _SEARCHED)]


def filter_predictions(rows: list[dict], q: str | None) -> list[dict]:
    return [rows[i] for i in matching_rows(rows, q)]


def load_served_model(cfg, run_dir: Path, *, say=print):
    """ONE copy of the base model with the run's adapter on top: "tuned" answers with the adapter, "base" with
    it disabled, so serving holds one model instead of two (half the memory of a base + a tuned copy)."""
    from physlora.models.loading import load_model

    say(f"loading {cfg.model.name} + {run_dir / 'adapter'} (tuned; base = the same model, adapter disabled)")
    return load_model(cfg.model.name, adapter=str(run_dir / "adapter"), dtype=cfg.model.dtype,
                      trust_remote_code=cfg.model.trust_remote_code)


# ---------------------------------------------------------------- app


def create_app(run_dir, *, model=None, max_new_tokens: int | None = None, host: str = DEFAULT_HOST,
               port: int = DEFAULT_PORT, token: str | None = None, max_pending_asks: int = MAX_PENDING_ASKS,
               compare: list[str] | None = None) -> "FastAPI":
    """The web app for one run folder, as bound to host:port (only that Host is served). `model` is a
    LoadedModel-like object (.model a PEFT model, .tokenizer); left out, it is loaded from the run's config
    (base model + RUN_DIR/adapter). With `token`, every /api/ call must send `Authorization: Bearer TOKEN`."""
    from fastapi import FastAPI
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.middleware.trustedhost import TrustedHostMiddleware

    from physlora.config import load_config
    from physlora.serve.guard import Access, Guard, page_csp

    run_dir = check_run_dir(run_dir)
    cfg = load_config(run_dir / "config.yaml")
    metrics, predictions = _load_run_files(run_dir)
    model = model if model is not None else load_served_model(cfg, run_dir)
    if not hasattr(model.model, "disable_adapter"):
        raise PhysloraError("serve needs the model with its LoRA adapter (a PEFT model): base answers come from "
                            "the same model with the adapter disabled")
    access = Access.for_bind(host, port, token)

    app = FastAPI(title=f"physlora serve: {cfg.name}", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(access.hosts), www_redirect=False)
    from physlora.serve.compare_page import compare_html

    # the CSP allows the inline script/style of each page served: the run page, and /compare with --compare
    app.add_middleware(Guard, access=access, csp=page_csp(page_html() + (compare_html() if compare else "")))

    @app.exception_handler(RequestValidationError)
    async def _bad_request(request, exc: RequestValidationError):
        problems = []
        for e in exc.errors():
            where = ".".join(str(p) for p in e.get("loc", ()) if p not in ("body", "query"))
            problems.append(f"{where}: {e.get('msg')}" if where else str(e.get("msg")))
        return JSONResponse({"detail": "invalid request: " + "; ".join(problems)}, status_code=400)

    _add_read_routes(app, cfg, run_dir, metrics, predictions, max_new_tokens or cfg.eval.max_new_tokens)
    _add_ask_route(app, cfg, model, max_new_tokens or cfg.eval.max_new_tokens, max_pending_asks)
    if compare:  # more runs or sweeps: the /compare page (physlora.serve.compare_page)
        from physlora.serve.compare_page import add_compare_routes

        add_compare_routes(app, run_dir, compare)
    return app


def _add_read_routes(app, cfg, run_dir: Path, metrics: dict, predictions: list[dict], new_tokens: int) -> None:
    from fastapi import Query
    from fastapi.responses import HTMLResponse

    from physlora.untrusted import json_visible

    labels, lower_is_better = _metric_labels(metrics)
    info = json_visible({
        "run_dir": str(run_dir), "name": cfg.name, "model": cfg.model.name, "adapter": str(run_dir / "adapter"),
        "system_prompt": cfg.system_prompt, "max_new_tokens": new_tokens, "max_question_chars": MAX_QUESTION_CHARS,
        "n_predictions": len(predictions), "metric_labels": labels, "lower_is_better": lower_is_better,
    })
    shown_metrics = json_visible(metrics)
    shown_rows = [json_visible(r) for r in predictions]  # filtering searches the text as stored

    @app.get("/", response_class=HTMLResponse)
    def page() -> HTMLResponse:
        return HTMLResponse(page_html())

    @app.get("/api/info")
    def api_info() -> dict:
        return info

    @app.get("/api/metrics")
    def api_metrics() -> dict:
        return shown_metrics

    @app.get("/api/predictions")
    def api_predictions(
        offset: int = Query(0, ge=0),
        limit: int = Query(20, ge=1, le=MAX_PAGE),
        q: str | None = Query(None, max_length=MAX_QUESTION_CHARS),
    ) -> dict:
        found = matching_rows(predictions, q)
        rows = [shown_rows[i] for i in found[offset : offset + limit]]
        return {"total": len(found), "offset": offset, "limit": limit, "rows": rows}


def _add_ask_route(app, cfg, model, new_tokens: int, max_pending: int) -> None:
    from fastapi import HTTPException

    from physlora.untrusted import json_visible, visible

    lock = threading.Lock()
    pending = threading.BoundedSemaphore(max_pending)
    sources = _retrieval_sources(cfg, model.tokenizer)

    def answer(question: str) -> str:
        from physlora.inference.generate import generate_answers
        from physlora.prompting import PromptStyle

        return generate_answers(model.model, model.tokenizer, [question], system_prompt=cfg.system_prompt,
                                max_new_tokens=new_tokens, batch_size=1, style=PromptStyle(cfg.prompt.format))[0]

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
        if not pending.acquire(blocking=False):
            raise HTTPException(503, f"busy: {max_pending} questions are already being answered or waiting; "
                                     "try again in a moment", headers={"Retry-After": "5"})
        try:
            with lock:
                started = time.perf_counter()
                prompt, passages = sources(question)
                with model.model.disable_adapter():
                    base = answer(prompt)
                tuned = answer(prompt)
                seconds = time.perf_counter() - started
        finally:
            pending.release()
        return {"base": visible(base), "tuned": visible(tuned), "seconds": round(seconds, 3),
                "passages": [json_visible(p) for p in passages]}


def _retrieval_sources(cfg, tokenizer):
    """question -> (prompt, passages as the page shows them); passages only when the run used an index.
    Passage texts come from the user's documents: the page puts them in with textContent, never as HTML."""
    if not cfg.retrieval.index:
        return lambda q: (q, [])
    from physlora.retrieval.augment import passage_view, prompt_with_sources
    from physlora.retrieval.search import Retriever

    retriever = Retriever.open(cfg.retrieval.index)

    def sources(question: str):
        prompt, passages = prompt_with_sources(question, retriever, tokenizer, cfg.retrieval)
        return prompt, [passage_view(p, retriever) for p in passages]

    return sources


# ---------------------------------------------------------------- command line


def add_parser(subparsers) -> None:
    """Add the `serve` subcommand to physlora's argparse subparsers."""
    p = subparsers.add_parser("serve", help="local web page comparing the base and fine-tuned model of a run folder")
    _add_arguments(p)
    p.set_defaults(func=main)


def _add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="a run folder written by `physlora run` (config.yaml, metrics.json, adapter/, ...)")
    p.add_argument("--host", default=DEFAULT_HOST,
                   help=f"address to listen on (default {DEFAULT_HOST}: this machine only; another address, e.g. "
                        "0.0.0.0, exposes the page and needs --token)")
    p.add_argument("--token", default=None,
                   help=f"secret every API call must carry (needed with a non-local --host; at least "
                        f"{MIN_TOKEN_CHARS} characters; or set {TOKEN_ENV}); open the printed address, which ends in "
                        "#token=...")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0 picks a free one)")
    p.add_argument("--compare", nargs="+", metavar="RUN_OR_SWEEP", default=None,
                   help="more run or sweep folders: the page /compare tests them against this run")
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


def _token(args: argparse.Namespace, bound_host: str) -> str | None:
    """The API token: required when the page is reachable from other machines (the Host/Origin checks alone
    cannot tell a colleague from an attacker there)."""
    import os

    from physlora.serve.guard import is_loopback

    token = getattr(args, "token", None) or os.environ.get(TOKEN_ENV) or None
    if token is not None and len(token) < MIN_TOKEN_CHARS:
        raise PhysloraError(f"--token is too short ({len(token)} characters, at least {MIN_TOKEN_CHARS}); make one with "
                            "python -c 'import secrets; print(secrets.token_urlsafe())'")
    if token is None and not is_loopback(bound_host):
        raise PhysloraError(f"--host {args.host} lets other machines reach the page: pass --token SECRET (or set "
                            f"{TOKEN_ENV}); make one with python -c 'import secrets; print(secrets.token_urlsafe())'")
    return token


def main(args: argparse.Namespace) -> int:
    """Run the server until Ctrl+C. Raises PhysloraError (before serving) for a bad run folder, port or token."""
    import uvicorn

    from physlora.config import load_config
    from physlora.serve.guard import is_loopback
    from physlora.untrusted import terminal_text

    if getattr(args, "overrides", None):
        raise PhysloraError(f"serve takes no key=value overrides (got {' '.join(args.overrides)}); "
                            "it uses the run's config.yaml")
    if args.max_new_tokens is not None and args.max_new_tokens <= 0:
        raise PhysloraError(f"--max-new-tokens must be positive, got {args.max_new_tokens}")
    run_dir = check_run_dir(args.run_dir)
    cfg = load_config(run_dir / "config.yaml")
    _load_run_files(run_dir)  # bad JSON fails now, not after the model load
    if getattr(args, "compare", None):  # so does a --compare folder that is no run or sweep
        from physlora.experiments.compare import expand

        expand(args.compare)
    sock = _bind(args.host, args.port)
    try:
        host, port = sock.getsockname()[:2]
        token = _token(args, host)
        say = lambda msg: print(f"[physlora] {terminal_text(msg)}", flush=True)  # noqa: E731
        if not is_loopback(host):
            say(f"WARNING: listening on {host}, not this machine only: anyone who can reach port {port} and has "
                "the token can read this run and make the model answer; prefer the default 127.0.0.1 with an SSH "
                "tunnel")
        model = load_served_model(cfg, run_dir, say=say)
        app = create_app(run_dir, model=model, max_new_tokens=args.max_new_tokens, host=host, port=port, token=token,
                         compare=getattr(args, "compare", None))
        shown = f"[{host}]" if ":" in host else host
        fragment = f"#token={token}" if token else ""
        say(f"serving {run_dir} at http://{shown}:{port}/{fragment} (Ctrl+C to stop)")
        config = uvicorn.Config(app, log_level="warning", access_log=False, server_header=False)
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
        from physlora.untrusted import terminal_text

        print(f"physlora: error: {terminal_text(e)}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        return 130
