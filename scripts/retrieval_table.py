"""The with/without-retrieval tables of a run folder's *base* evaluations (eval_base_<i>.json beside
eval_base_<i>_retrieval.json), through the same functions `physlora eval` uses: for a run that was
stopped before training finished, whose base evaluations are all there is.

    python scripts/retrieval_table.py runs/rag-mixed > retrieval-base.md
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

from physlora.config import RunConfig
from physlora.data.selection import select_run_data
from physlora.evaluation.retrieval import retrieval_block
from physlora.report.markdown import to_markdown
from physlora.report.retrieval import eval_document
from physlora.results.schema import EvalOutput


def main(run: Path) -> str:
    cfg = RunConfig.model_validate(yaml.safe_load((run / "config.yaml").read_text(encoding="utf-8")))
    names = list(select_run_data(cfg.data, cfg.seed).eval_sets)  # the order the run numbered its files in
    sets = {}
    for i, name in enumerate(names):
        plain, with_ = run / f"eval_base_{i}.json", run / f"eval_base_{i}_retrieval.json"
        if not (plain.is_file() and with_.is_file()):
            continue
        a = EvalOutput.model_validate(json.loads(plain.read_text(encoding="utf-8")))
        b = EvalOutput.model_validate(json.loads(with_.read_text(encoding="utf-8")))
        sets[name] = {"kind": a.kind, "n": len(a.rows), "metrics": {m: v.model_dump() for m, v in a.metrics.items()},
                      "retrieval": retrieval_block(a, b, cfg, cfg.seed)}
    return to_markdown(eval_document({"model": cfg.model.name, "sets": sets}))


if __name__ == "__main__":
    print(main(Path(sys.argv[1])))
