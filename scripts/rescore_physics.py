"""Rescore saved predictions with the physics check of the physlora on the import path.

    python scripts/rescore_physics.py RUN/eval_base_0.json [--data DATA --split test] [--out scores.json]
    python scripts/rescore_physics.py RUN/eval_base_0.json --against before.json

Used to say how a grader change moves an evaluation's physics number on the very same answers: run it once
with an older physlora first on PYTHONPATH (e.g. `git archive main src | tar -x -C /tmp/main`, then
PYTHONPATH=/tmp/main/src) writing --out, then with this one and --against that file: it prints both means
and every answer whose score changed. Reads rows with `id` and `prediction` (and `reference`, or
--data to look it up): predictions.jsonl, eval_*.partial.jsonl or eval_*.json of a run folder. Only the grader's public API is used, so any version can score.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def read_rows(path: Path) -> list[dict]:
    """Rows of predictions.jsonl / eval_*.partial.jsonl (one JSON object a line) or of an eval_*.json cache
    (an object whose `rows` carry id, reference and prediction)."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        return json.loads(text)["rows"]
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def score(predictions: Path, data: str | None, split: str | None) -> dict[str, float | None]:
    from physlora.data.sources import load_records
    from physlora.evaluation import runner

    rows = read_rows(predictions)
    records = {r.id: r for r in load_records(data, split).records} if data else {}
    missing = [row["id"] for row in rows if row["id"] not in records and "reference" not in row]
    if missing:
        sys.exit(f"{len(missing)} predictions have no reference and are not in --data (first: {missing[0]})")
    out = {}
    for row in rows:
        rec = records.get(row["id"])
        reference = row.get("reference", rec.answer if rec else "")
        try:  # the record-aware grader (answer_type, tolerance) where this physlora has one
            scores = runner.text_scores(row["prediction"], reference, record=rec)
        except TypeError:
            scores = runner.text_scores(row["prediction"], reference)
        out[row["id"]] = scores["physics"]
    return out


def mean(scores: dict[str, float | None]) -> tuple[float, int]:
    graded = [v for v in scores.values() if v is not None]
    return (sum(graded) / len(graded) if graded else float("nan")), len(graded)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("predictions", type=Path)
    ap.add_argument("--data", help="the data the run evaluated (needed when the rows carry no reference)")
    ap.add_argument("--split")
    ap.add_argument("--out", type=Path, help="write the per-answer scores here")
    ap.add_argument("--against", type=Path, help="per-answer scores of an earlier grader to compare with")
    args = ap.parse_args()
    now = score(args.predictions, args.data, args.split)
    m, n = mean(now)
    print(f"physics {m:.3f} on {n} gradable of {len(now)} answers")
    if args.out:
        args.out.write_text(json.dumps(now, indent=1), encoding="utf-8")
    if args.against:
        before = json.loads(args.against.read_text(encoding="utf-8"))
        mb, nb = mean(before)
        print(f"before: physics {mb:.3f} on {nb} gradable")
        for key in now:
            if before.get(key) != now[key]:
                print(f"  {key}: {before.get(key)} -> {now[key]}")


if __name__ == "__main__":
    main()
