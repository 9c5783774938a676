"""Evaluation spread over the processes of `accelerate launch` (2 CPU processes over gloo): every rank scores
and generates its shard, rank 0 writes, and the files hold what a single process writes."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from physlora.distributed import shard

SCRIPT = """
import json, os, sys
from pathlib import Path
import physlora.evaluation.runner as runner
from physlora.config import load_config
from physlora.experiments.evaluate import evaluate_sets

shards, real_shard = [], runner.shard
runner.shard = lambda lengths: shards.append(real_shard(lengths)) or shards[-1]  # record what this rank took
data, out = sys.argv[1:-1], Path(sys.argv[-1])
cfg = load_config(None, ["eval.semantic=false", "eval.max_new_tokens=8", "eval.bootstrap_resamples=200",
                         "eval.score_tokens_per_batch=512"])
evaluate_sets("smollm2-135m-instruct", data, out, cfg)
(out / f"shards.rank{os.environ.get('RANK', '0')}.json").write_text(json.dumps(shards))
"""


def test_shards_partition_the_items_evenly():
    lengths = [5, 80, 3, 3, 41, 7, 60, 2, 9]
    parts = [shard(lengths, 3, r) for r in range(3)]
    assert sorted(i for p in parts for i in p) == list(range(9))
    assert [len(p) for p in parts] == [3, 3, 3]
    sums = [sum(lengths[i] for i in p) for p in parts]
    assert max(sums) - min(sums) < max(lengths)  # dealt in length order: no rank holds all the long ones
    assert shard(lengths, 1, 0) == list(range(9))


def _rows(out: Path) -> dict:
    return {(r["set"], r["id"]): r for r in map(json.loads, (out / "predictions.jsonl").read_text().splitlines())}


@pytest.mark.slow
def test_two_process_eval_writes_what_one_process_writes(fixtures, tmp_path):
    script = tmp_path / "eval_shards.py"
    script.write_text(SCRIPT)
    mc, ff = tmp_path / "mc.jsonl", tmp_path / "ff.jsonl"
    mc.write_text("".join((fixtures / "mini_mc.jsonl").read_text().splitlines(keepends=True)[:4]))
    ff.write_text("".join((fixtures / "mini.jsonl").read_text().splitlines(keepends=True)[:5]))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    accelerate = shutil.which("accelerate", path=str(Path(sys.executable).parent))
    two = subprocess.run(
        [accelerate, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
         "--dynamo_backend", "no", "--main_process_port", "29541", str(script), str(mc), str(ff), str(tmp_path / "two")],
        capture_output=True, text=True, timeout=900, env=env,
    )
    assert two.returncode == 0, two.stderr[-3000:]
    one = subprocess.run([sys.executable, str(script), str(mc), str(ff), str(tmp_path / "one")],
                         capture_output=True, text=True, timeout=900, env=env)
    assert one.returncode == 0, one.stderr[-3000:]

    # each rank took a different, non-empty half of every set
    rank0, rank1 = (json.loads((tmp_path / "two" / f"shards.rank{r}.json").read_text()) for r in (0, 1))
    for a, b, n in zip(rank0, rank1, (4, 5)):
        assert a and b and not set(a) & set(b) and sorted(a + b) == list(range(n))
    assert not list((tmp_path / "two").glob("*partial*")), "answer files are removed once metrics.json is written"

    one_rows, two_rows = _rows(tmp_path / "one"), _rows(tmp_path / "two")
    assert list(one_rows) == list(two_rows)  # same items, in the original order
    for key, a in one_rows.items():
        b = two_rows[key]
        assert a["prediction"] == b["prediction"], key
        for m in ("acc", "acc_norm", "letter", "circular", "exact_match", "token_f1", "rouge_l", "physics"):
            assert a.get(m) == b.get(m), (key, m)
        for m in ("ref_nll", "loglik"):
            if m in a:
                assert b[m] == pytest.approx(a[m], abs=1e-4), (key, m)
    one_m, two_m = (json.loads((tmp_path / d / "metrics.json").read_text())["sets"] for d in ("one", "two"))
    for name, block in one_m.items():
        for m, v in block["metrics"].items():
            assert two_m[name]["metrics"][m]["mean"] == pytest.approx(v["mean"], abs=1e-4), (name, m)
