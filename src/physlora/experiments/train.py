"""`physlora train`: LoRA fine-tune on the configured training data and save OUT/adapter (every rank of
`accelerate launch` trains on the same records; rank 0 writes the folder)."""

from __future__ import annotations

from pathlib import Path

from physlora.config import RunConfig
from physlora.data.selection import select_train_data
from physlora.distributed import is_main_process
from physlora.experiments import retrieval as rx
from physlora.experiments.common import (
    announce_and_check, load_configured_model, prepare_run_dir, prompt_style, say, write_provenance,
)
from physlora.results.io import write_json
from physlora.results.schema import TrainSummary, result_json


def train(cfg: RunConfig, out_dir: Path, *, overwrite: bool = False, resume: bool = False) -> Path:
    """The configured stages (train.method / train.stages: SFT, GRPO or SFT then GRPO) on the training data."""
    from physlora.experiments.run import sft_validation_sets
    from physlora.training.stages import run_stages, starting_model

    prepare_run_dir(out_dir, overwrite=overwrite, resume=resume)
    data = select_train_data(cfg.data)
    write_provenance(cfg, out_dir, data, announce_and_check(data))
    loaded = load_configured_model(cfg)
    say(f"training {cfg.model.name} ({' then '.join(cfg.train.stage_list)}) on {len(data.train)} examples")
    records = rx.training_records(data.train, cfg, rx.open_retriever(cfg), loaded.tokenizer)  # data.retrieval
    _, info = run_stages(starting_model(loaded.model, cfg), loaded.tokenizer, records, out_dir, cfg,
                         resume=resume, say=say, validation=sft_validation_sets(cfg, data.train),
                         style=prompt_style(cfg, data.train))
    if is_main_process():
        write_json(out_dir / "train_summary.json", result_json(TrainSummary.model_validate(info)))
    if len(cfg.train.stage_list) > 1:  # each stage has said where its adapter went; name the final one
        say(f"final adapter ({cfg.train.stage_list[-1]} stage): {out_dir / 'adapter'}")
    return out_dir / "adapter"
