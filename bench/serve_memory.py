"""Memory of `physlora serve`: one model with the adapter switched off for "base" vs two model copies.

    python bench/serve_memory.py runs/demo            # a finished run folder (config.yaml, adapter/, ...)

Three processes, each started fresh, each answering the same question with base and tuned once:

  two_models   what serve did before: the base model, and a second copy of it with the adapter on top
               (physlora.models.loading.load_model twice), one greedy answer from each;
  one_model    what serve does now: one copy with the adapter; base answers inside peft's disable_adapter();
  serve        the real `python -m physlora.serve RUN --port 0`, asked once over HTTP (adds uvicorn/FastAPI).

Peak RSS is VmHWM from /proc/PID/status after the answers (Linux). The two in-process variants also check
that their answers are identical (the adapter switch gives the plain base model's answer). Prints a table
and writes bench/results/serve_memory.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

QUESTION = "Why does a satellite in orbit not fall to Earth?"


def peak_rss_mb(pid: int | str = "self") -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024


def child(variant: str, run_dir: Path) -> None:
    """Runs in its own process: load, answer once with each side, print one JSON line."""
    from physlora.config import load_config
    from physlora.inference.generate import generate_answers
    from physlora.models.loading import load_model

    cfg = load_config(run_dir / "config.yaml")
    kw = dict(system_prompt=cfg.system_prompt, max_new_tokens=cfg.eval.max_new_tokens, batch_size=1)
    adapter = str(run_dir / "adapter")
    started = time.perf_counter()
    if variant == "two_models":
        base = load_model(cfg.model.name, dtype=cfg.model.dtype)
        tuned = load_model(cfg.model.name, adapter=adapter, dtype=cfg.model.dtype)
        answers = [generate_answers(m.model, m.tokenizer, [QUESTION], **kw)[0] for m in (base, tuned)]
    else:
        tuned = load_model(cfg.model.name, adapter=adapter, dtype=cfg.model.dtype)
        with tuned.model.disable_adapter():
            base_answer = generate_answers(tuned.model, tuned.tokenizer, [QUESTION], **kw)[0]
        answers = [base_answer, generate_answers(tuned.model, tuned.tokenizer, [QUESTION], **kw)[0]]
    print(json.dumps({"variant": variant, "peak_rss_mb": peak_rss_mb(), "answers": answers,
                      "seconds": time.perf_counter() - started}))


def run_child(variant: str, run_dir: Path) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", variant, str(run_dir)], capture_output=True,
                         text=True, check=True, env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_serve(run_dir: Path) -> dict:
    """The real server process, asked once; its VmHWM read before it is stopped."""
    with tempfile.TemporaryFile("w+") as log:
        proc = subprocess.Popen([sys.executable, "-m", "physlora.serve", str(run_dir), "--port", "0"], stdout=log,
                                stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1",
                                                               "TOKENIZERS_PARALLELISM": "false"})
        try:
            url = None
            deadline = time.monotonic() + 600
            while url is None and time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.5)
                log.seek(0)
                found = re.search(r"at (http://127\.0\.0\.1:\d+/)", log.read())
                url = found.group(1) if found else None
            if url is None:
                log.seek(0)
                raise SystemExit(f"serve did not start:\n{log.read()[-2000:]}")
            started = time.perf_counter()
            req = urllib.request.Request(url + "api/ask", data=json.dumps({"question": QUESTION}).encode(),
                                         headers={"Content-Type": "application/json", "Origin": url.rstrip("/")})
            with urllib.request.urlopen(req, timeout=600) as r:
                body = json.loads(r.read())
            return {"variant": "serve", "peak_rss_mb": peak_rss_mb(proc.pid), "answers": [body["base"], body["tuned"]],
                    "seconds": time.perf_counter() - started}
        finally:
            proc.terminate()
            proc.wait(timeout=60)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--child", choices=["two_models", "one_model"], help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        child(args.child, args.run_dir)
        return 0
    results = [run_child("two_models", args.run_dir), run_child("one_model", args.run_dir), run_serve(args.run_dir)]
    ref = results[0]["peak_rss_mb"]
    print(f"{'variant':<12} {'peak RSS':>10} {'vs two_models':>14}  answers equal to two_models'")
    for r in results:
        same = r["answers"] == results[0]["answers"]
        print(f"{r['variant']:<12} {r['peak_rss_mb']:>7.0f} MB {r['peak_rss_mb'] / ref:>13.2f}x  {same}")
    out = Path(__file__).parent / "results" / "serve_memory.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"question": QUESTION, "run_dir": str(args.run_dir), "results": results}, indent=2))
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
