"""`physlora train`: LoRA fine-tune on the configured training data and save OUT/adapter (every rank of
`accelerate launch` trains on the same records; rank 0 writes the folder)."""

from __future__ import annotations

from pathlib import Path

from physlora.config import RunConfig
from physlora.data.selection import select_train_data
from physlora.distributed import is_main_process
from physlora.experiments.common import announce_and_check, load_configured_model, prepare_run_dir, say, write_provenance
from physlora.results.io import write_json
from physlora.results.schema import result_json


def train(cfg: RunConfig, out_dir: Path, *, overwrite: bool = False, resume: bool = False) -> Path:
    from physlora.training.sft import train_lora

    prepare_run_dir(out_dir, overwrite=overwrite, resume=resume)
    data = select_train_data(cfg.data)
    write_provenance(cfg, out_dir, data, announce_and_check(data))
    loaded = load_configured_model(cfg)
    say(f"LoRA fine-tuning {cfg.model.name} on {len(data.train)} examples for {cfg.train.max_steps} steps")
    _, result = train_lora(loaded.model, loaded.tokenizer, data.train, out_dir, lora=cfg.lora, train=cfg.train,
                           system_prompt=cfg.system_prompt, seed=cfg.seed, resume=resume)
    if is_main_process():
        write_json(out_dir / "train_summary.json", result_json(result.summary(len(data.train))))
    say(f"adapter saved to {result.adapter_dir} ({result.steps} steps, {result.seconds:.0f} s)")
    return result.adapter_dir
