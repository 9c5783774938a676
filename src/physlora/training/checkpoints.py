"""Checkpoints and the loss log on disk: which checkpoint is complete, what a save needs, and keeping the
log consistent with the checkpoint a run resumes from."""

from __future__ import annotations

import json
from pathlib import Path

from physlora.results.io import read_jsonl


def checkpoint_step(checkpoint: Path | None) -> int:
    return int(checkpoint.name.rsplit("-", 1)[1]) if checkpoint else 0


def checkpoint_bytes(model) -> int:
    """Adapter + Adam moments (3 x trainable params, fp32) + a margin for RNG/scheduler/tokenizer files."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return int(trainable * 4 * 3 * 1.5) + 50_000_000


def read_log(path: Path) -> list[dict]:
    return read_jsonl(path) if path.is_file() else []  # tolerates a line cut by kill -9


def truncate_log(path: Path, keep_through_step: int) -> None:
    rows = [r for r in read_log(path) if r["step"] <= keep_through_step]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def last_checkpoint(out_dir: Path, folder_name: str = "checkpoints") -> Path | None:
    """The newest *complete* checkpoint (trainer_state.json is written last; a kill -9 during a
    save leaves a folder without it, which is skipped)."""
    folder = out_dir / folder_name
    done = [p for p in folder.glob("checkpoint-*") if (p / "trainer_state.json").is_file()] if folder.is_dir() else []
    return max(done, key=checkpoint_step, default=None)


def finish_from_checkpoint(trainer, checkpoint: Path | None, max_steps: int) -> bool:
    """Where `checkpoint` is the last step of the run (a kill landed after the final save), take the run's state
    and adapter from the checkpoints and return True: the caller skips `trainer.train`. transformers' Trainer
    checks max_steps only after an optimizer step, so resuming it from a mid-epoch checkpoint at max_steps would
    train one step more than the run asked for. With load_best_model_at_end the best checkpoint's adapter is
    loaded, as the finished run would have."""
    if checkpoint is None or checkpoint_step(checkpoint) < max_steps:
        return False
    from transformers import TrainerState

    trainer.state = TrainerState.load_from_json(str(checkpoint / "trainer_state.json"))
    best = trainer.state.best_model_checkpoint if trainer.args.load_best_model_at_end else None
    source = Path(best) if best and (Path(best) / "adapter_config.json").is_file() else checkpoint
    model = trainer.model
    model.load_adapter(str(source), model.active_adapter, is_trainable=False)
    return True
