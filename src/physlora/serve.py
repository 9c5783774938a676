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
    from physlora.results import read_jsonl

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


def filter_predictions(rows: list[dict], q: str | None) -> list[dict]:
    needle = (q or "").strip().lower()
    if not needle:
        return rows
    return [r for r in rows if any(needle in str(r.get(k) or "").lower() for k in _SEARCHED)]


def load_base(cfg, *, say=print):
    from physlora.models import load_model

    say(f"loading {cfg.model.name} (base)")
    return load_model(cfg.model.name, dtype=cfg.model.dtype, trust_remote_code=cfg.model.trust_remote_code)


def load_tuned(cfg, run_dir: Path, *, say=print):
    """A second copy of the base model with the run's adapter on top (PEFT changes the model in place)."""
    from physlora.models import load_model

    say(f"loading {cfg.model.name} + {run_dir / 'adapter'} (tuned)")
    return load_model(cfg.model.name, adapter=str(run_dir / "adapter"), dtype=cfg.model.dtype,
                      trust_remote_code=cfg.model.trust_remote_code)


# ---------------------------------------------------------------- app


def create_app(run_dir, *, base=None, tuned=None, max_new_tokens: int | None = None) -> "FastAPI":
    """The web app for one run folder. `base`/`tuned` are LoadedModel-like objects (.model, .tokenizer);
    either one left out is loaded from the run's config (tuned = base model + RUN_DIR/adapter)."""
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

    try:
        from physlora.evaluate import LOWER_IS_BETTER, METRIC_LABELS
    except ImportError:  # pragma: no cover - labels are cosmetic
        LOWER_IS_BETTER, METRIC_LABELS = set(), {}
    info = {
        "run_dir": str(run_dir),
        "name": cfg.name,
        "model": cfg.model.name,
        "adapter": str(run_dir / "adapter"),
        "system_prompt": cfg.system_prompt,
        "max_new_tokens": new_tokens,
        "max_question_chars": MAX_QUESTION_CHARS,
        "n_predictions": len(predictions),
        "metric_labels": METRIC_LABELS,
        "lower_is_better": sorted(LOWER_IS_BETTER),
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
        return HTMLResponse(PAGE)

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
        from physlora.generate import generate_answers

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


# ---------------------------------------------------------------- the page

PAGE = r"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>physlora: base vs fine-tuned</title>
<style>
  :root { --fg:#1d2733; --muted:#5f6b7a; --line:#d8dee6; --bg:#f6f8fa; --base:#8a96a3; --tuned:#2f6fb0;
          --good:#1a7f37; --bad:#b42318; }
  * { box-sizing: border-box; }
  body { margin:0; font:15px/1.45 system-ui, -apple-system, "Segoe UI", "Liberation Sans", sans-serif;
         color:var(--fg); background:#fff; }
  header { padding:14px 24px; border-bottom:1px solid var(--line); background:var(--bg); }
  header h1 { margin:0; font-size:20px; }
  header .meta { color:var(--muted); font-size:13px; margin-top:2px; word-break:break-all; }
  main { max-width:1200px; margin:0 auto; padding:8px 24px 40px; }
  h2 { font-size:17px; margin:26px 0 10px; }
  h3 { font-size:15px; margin:18px 0 6px; }
  textarea { width:100%; min-height:70px; padding:8px 10px; font:inherit; border:1px solid var(--line);
             border-radius:6px; resize:vertical; }
  .row { display:flex; gap:12px; align-items:center; margin-top:8px; flex-wrap:wrap; }
  button { font:inherit; padding:6px 16px; border-radius:6px; border:1px solid var(--tuned); background:var(--tuned);
           color:#fff; cursor:pointer; }
  button:disabled { opacity:.55; cursor:default; }
  button.plain { background:#fff; color:var(--tuned); }
  .status { color:var(--muted); font-size:13px; }
  .status.error { color:var(--bad); }
  .answers { display:grid; grid-template-columns:1fr 1fr; gap:16px; margin-top:14px; }
  @media (max-width:760px) { .answers { grid-template-columns:1fr; } }
  .card { border:1px solid var(--line); border-radius:8px; overflow:hidden; }
  .card h3 { margin:0; padding:8px 12px; font-size:14px; color:#fff; }
  .card.base h3 { background:var(--base); }
  .card.tuned h3 { background:var(--tuned); }
  .answer { padding:10px 12px; min-height:90px; white-space:pre-wrap; word-wrap:break-word; }
  table { border-collapse:collapse; width:100%; font-size:13.5px; }
  th, td { border-bottom:1px solid var(--line); padding:5px 8px; text-align:left; vertical-align:top; }
  th { background:var(--bg); font-weight:600; }
  td.num { font-variant-numeric:tabular-nums; white-space:nowrap; }
  .good { color:var(--good); font-weight:600; }
  .bad { color:var(--bad); font-weight:600; }
  #pred-table td { white-space:pre-wrap; word-wrap:break-word; max-width:300px; }
  #pred-table td.q { cursor:pointer; color:var(--tuned); }
  #pred-table td.q:hover { text-decoration:underline; }
  input[type=search] { font:inherit; padding:5px 8px; border:1px solid var(--line); border-radius:6px; min-width:320px; }
  .muted { color:var(--muted); font-size:13px; }
</style>
</head>
<body>
<header>
  <h1>physlora: base vs fine-tuned</h1>
  <div class="meta" id="run-info">loading run&hellip;</div>
</header>
<main>
  <section>
    <h2>Ask both models</h2>
    <textarea id="question" maxlength="2000" placeholder="e.g. Why does a satellite in orbit not fall to Earth?"></textarea>
    <div class="row">
      <button id="ask" type="button">Ask</button>
      <span class="status" id="ask-status">Ctrl+Enter also asks. Answers are greedy (deterministic).</span>
    </div>
    <div class="answers">
      <div class="card base"><h3>Base model</h3><div class="answer" id="base-answer"></div></div>
      <div class="card tuned"><h3>Fine-tuned (LoRA adapter)</h3><div class="answer" id="tuned-answer"></div></div>
    </div>
  </section>

  <section>
    <h2>Metrics of this run</h2>
    <div id="metrics"><span class="muted">loading&hellip;</span></div>
  </section>

  <section>
    <h2>Predictions</h2>
    <div class="row">
      <input type="search" id="pred-search" placeholder="filter: question, reference or answers">
      <button class="plain" id="pred-prev" type="button">&larr; Previous</button>
      <button class="plain" id="pred-next" type="button">Next &rarr;</button>
      <span class="muted" id="pred-count"></span>
    </div>
    <p class="muted">Click a question to put it in the box above.</p>
    <table id="pred-table">
      <thead><tr><th>id</th><th>question</th><th>reference</th><th>base answer</th><th>tuned answer</th></tr></thead>
      <tbody></tbody>
    </table>
  </section>
</main>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
let INFO = { metric_labels: {}, lower_is_better: [], max_question_chars: 2000 };
const PAGE_SIZE = 10;
let predOffset = 0, predTotal = 0, predQuery = "";

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}
async function getJSON(url, options) {
  const r = await fetch(url, options);
  let body = null;
  try { body = await r.json(); } catch (e) { /* not JSON */ }
  if (!r.ok) throw new Error((body && body.detail) ? String(body.detail) : ("HTTP " + r.status));
  return body;
}
const num = (x, d = 3) => (typeof x === "number" && isFinite(x)) ? x.toFixed(d) : "n/a";
const signed = (x, d = 3) => (typeof x === "number" && isFinite(x)) ? (x >= 0 ? "+" : "") + x.toFixed(d) : "n/a";
function interval(m) {
  if (!m || typeof m !== "object") return "-";
  const ci = Array.isArray(m.ci95) ? m.ci95 : [null, null];
  return num(m.mean) + " [" + num(ci[0]) + ", " + num(ci[1]) + "]";
}

async function loadInfo() {
  try {
    INFO = await getJSON("/api/info");
    $("run-info").textContent = "run " + INFO.name + " \u00b7 model " + INFO.model + " \u00b7 adapter " + INFO.adapter +
      " \u00b7 up to " + INFO.max_new_tokens + " new tokens";
    $("question").maxLength = INFO.max_question_chars;
  } catch (e) { $("run-info").textContent = "could not load run info: " + e.message; }
}

async function ask() {
  const q = $("question").value.trim();
  const status = $("ask-status");
  status.classList.remove("error");
  if (!q) { status.textContent = "Type a question first."; status.classList.add("error"); return; }
  if (q.length > INFO.max_question_chars) {
    status.textContent = "The question is too long (" + q.length + " characters, at most " + INFO.max_question_chars + ").";
    status.classList.add("error"); return;
  }
  $("ask").disabled = true;
  $("base-answer").textContent = ""; $("tuned-answer").textContent = "";
  const t0 = performance.now();
  status.textContent = "Generating with both models\u2026";
  const timer = setInterval(() => {
    status.textContent = "Generating with both models\u2026 " + ((performance.now() - t0) / 1000).toFixed(0) + " s";
  }, 1000);
  try {
    const r = await getJSON("/api/ask", { method: "POST", headers: { "Content-Type": "application/json" },
                                          body: JSON.stringify({ question: q }) });
    $("base-answer").textContent = r.base || "(empty answer)";
    $("tuned-answer").textContent = r.tuned || "(empty answer)";
    status.textContent = "Answered in " + num(r.seconds, 1) + " s (both models).";
  } catch (e) {
    status.textContent = "Error: " + e.message; status.classList.add("error");
  } finally {
    clearInterval(timer);
    $("ask").disabled = false;
  }
}

function metricsTable(block) {
  const lower = new Set(INFO.lower_is_better || []);
  const labels = INFO.metric_labels || {};
  const t = el("table"), head = el("tr");
  for (const h of ["metric", "base (95% CI)", "tuned (95% CI)", "tuned \u2212 base (95% CI)", "p", "n"]) head.appendChild(el("th", h));
  t.appendChild(el("thead")).appendChild(head);
  const body = t.appendChild(el("tbody"));
  const base = block.base || block.metrics || {}, tuned = block.tuned || {}, cmp = block.comparison || {};
  for (const [m, b] of Object.entries(base)) {
    const tr = el("tr"), c = cmp[m];
    tr.appendChild(el("td", labels[m] || m));
    tr.appendChild(el("td", interval(b), "num"));
    tr.appendChild(el("td", interval(tuned[m]), "num"));
    let cls = "";
    if (c && typeof c.p_value === "number" && c.p_value < 0.05 && typeof c.diff === "number") {
      cls = ((lower.has(m) ? c.diff < 0 : c.diff > 0) ? "good" : "bad");
    }
    const ci = c && Array.isArray(c.ci95) ? c.ci95 : [null, null];
    tr.appendChild(el("td", c ? signed(c.diff) + " [" + signed(ci[0]) + ", " + signed(ci[1]) + "]" : "-", "num " + cls));
    const p = c && typeof c.p_value === "number" && c.p_value < 0.0001 ? "< 0.0001" : (c ? num(c.p_value, 4) : "-");
    tr.appendChild(el("td", p, "num " + cls));
    tr.appendChild(el("td", b && b.n !== undefined ? String(b.n) : "-", "num"));
    body.appendChild(tr);
  }
  return t;
}

async function loadMetrics() {
  const box = $("metrics");
  try {
    const m = await getJSON("/api/metrics");
    box.textContent = "";
    const sets = m.sets || {};
    if (!Object.keys(sets).length) box.appendChild(el("p", "metrics.json has no evaluation sets.", "muted"));
    for (const [name, block] of Object.entries(sets)) {
      box.appendChild(el("h3", name + (block.kind ? " (" + block.kind + ", n = " + block.n + ")" : "")));
      box.appendChild(metricsTable(block));
    }
    const tr = m.train;
    if (tr) {
      box.appendChild(el("p", "Training: " + tr.steps + " steps" + (tr.n_train !== undefined ? " on " + tr.n_train + " examples" : "") +
        ", final loss " + num(tr.final_loss) + (tr.seconds !== undefined ? ", " + num(tr.seconds, 0) + " s" : "") +
        ". Green/red: significant (p < 0.05) improvement/regression.", "muted"));
    }
  } catch (e) { box.textContent = "could not load metrics: " + e.message; }
}

async function loadPredictions() {
  const params = new URLSearchParams({ offset: predOffset, limit: PAGE_SIZE });
  if (predQuery) params.set("q", predQuery);
  const body = $("pred-table").querySelector("tbody");
  try {
    const r = await getJSON("/api/predictions?" + params);
    predTotal = r.total;
    body.textContent = "";
    for (const row of r.rows) {
      const tr = el("tr");
      tr.appendChild(el("td", row.id));
      const q = el("td", row.question, "q");
      q.title = "ask this question";
      q.addEventListener("click", () => { $("question").value = row.question || ""; $("question").focus(); window.scrollTo(0, 0); });
      tr.appendChild(q);
      for (const k of ["reference", "base_answer", "tuned_answer"]) tr.appendChild(el("td", row[k]));
      body.appendChild(tr);
    }
    $("pred-count").textContent = predTotal ? ("rows " + (predOffset + 1) + "\u2013" + (predOffset + r.rows.length) + " of " + predTotal)
                                            : "no matching predictions";
    $("pred-prev").disabled = predOffset === 0;
    $("pred-next").disabled = predOffset + PAGE_SIZE >= predTotal;
  } catch (e) { $("pred-count").textContent = "could not load predictions: " + e.message; }
}

let searchTimer = null;
$("pred-search").addEventListener("input", () => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(() => { predQuery = $("pred-search").value.trim(); predOffset = 0; loadPredictions(); }, 250);
});
$("pred-prev").addEventListener("click", () => { predOffset = Math.max(0, predOffset - PAGE_SIZE); loadPredictions(); });
$("pred-next").addEventListener("click", () => { if (predOffset + PAGE_SIZE < predTotal) { predOffset += PAGE_SIZE; loadPredictions(); } });
$("ask").addEventListener("click", ask);
$("question").addEventListener("keydown", (e) => { if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) ask(); });

loadInfo().then(() => { loadMetrics(); loadPredictions(); });
</script>
</body>
</html>
"""

if __name__ == "__main__":
    sys.exit(_cli())
