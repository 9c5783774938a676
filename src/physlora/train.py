"""LoRA fine-tuning with peft + transformers' Trainer.

Each example is `prompt_ids + answer_ids` with the loss on answer tokens only; batches are
padded dynamically (length-grouped) or packed without cross-attention (padding-free,
position ids restart per example).
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from transformers import Trainer, TrainerCallback, TrainingArguments, set_seed

from physlora.config import LoraSection, TrainSection
from physlora.data import Record
from physlora.errors import PhysloraError
from physlora.prompting import encode_example


@dataclass
class TrainResult:
    adapter_dir: Path
    steps: int
    seconds: float
    losses: list[dict] = field(default_factory=list)
    train_tokens: int = 0
    truncated: int = 0


def set_threads(num_threads: int | None) -> None:
    """Use every core for intra-op work on CPU (torch defaults can undershoot in containers)."""
    if not torch.cuda.is_available():
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        torch.set_num_threads(num_threads or cores)


def tokenize_records(tokenizer, records: list[Record], system_prompt: str | None, max_length: int):
    """A `datasets.Dataset` of input_ids/labels (+ lengths for length grouping)."""
    from datasets import Dataset

    encoded = [encode_example(tokenizer, r.question, r.answer, system_prompt, max_length) for r in records]
    ds = Dataset.from_dict(
        {
            "input_ids": [e.input_ids for e in encoded],
            "labels": [e.labels for e in encoded],
            "length": [len(e.input_ids) for e in encoded],
        }
    )
    return ds, sum(e.truncated for e in encoded)


class PadCollator:
    """Right-pads a batch to its own longest row; pads never carry loss."""

    def __init__(self, pad_id: int):
        self.pad_id = pad_id

    def __call__(self, features: list[dict]) -> dict[str, torch.Tensor]:
        width = max(len(f["input_ids"]) for f in features)

        def pad(key: str, value: int) -> torch.Tensor:
            return torch.tensor([list(f[key]) + [value] * (width - len(f[key])) for f in features])

        ids = pad("input_ids", self.pad_id)
        mask = torch.tensor([[1] * len(f["input_ids"]) + [0] * (width - len(f["input_ids"])) for f in features])
        return {"input_ids": ids, "attention_mask": mask, "labels": pad("labels", -100)}


def make_collator(tokenizer, packing: bool):
    if packing:
        from transformers import DataCollatorWithFlattening

        # one row of concatenated examples; position_ids restart per example, and transformers
        # builds a block-diagonal mask from them, so examples never attend to each other
        return DataCollatorWithFlattening(return_position_ids=True)
    return PadCollator(tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0)


def lora_model(model, lora: LoraSection):
    from peft import LoraConfig, get_peft_model

    cfg = LoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=lora.target_modules,
        task_type="CAUSAL_LM",
        bias="none",
    )
    try:
        return get_peft_model(model, cfg)
    except ValueError as e:
        raise PhysloraError(f"LoRA target_modules {lora.target_modules!r} do not fit this model: {e}") from None


class JsonlLossLog(TrainerCallback):
    """Appends each logged step to train_log.jsonl as it happens (a crash keeps the curve so far)."""

    def __init__(self, path: Path):
        self.path = path
        self.rows: list[dict] = []

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs or "loss" not in logs:
            return
        row = {"step": state.global_step, **{k: v for k, v in logs.items() if isinstance(v, (int, float))}}
        self.rows.append(row)
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")


class NanGuard(TrainerCallback):
    """Stops training when the loss goes NaN/inf, instead of saving a broken adapter."""

    def __init__(self):
        self.bad_step: int | None = None

    def on_log(self, args, state, control, logs=None, **kwargs):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            self.bad_step = state.global_step
            control.should_training_stop = True
            control.should_save = False


def training_arguments(out_dir: Path, train: TrainSection, seed: int, bf16: bool):
    # transformers 5 takes the TensorBoard folder from the environment only
    os.environ.setdefault("TENSORBOARD_LOGGING_DIR", str(out_dir / "tensorboard"))
    return TrainingArguments(
        output_dir=str(out_dir / "checkpoints"),
        max_steps=train.max_steps,
        per_device_train_batch_size=train.batch_size,
        gradient_accumulation_steps=train.grad_accum,
        learning_rate=train.learning_rate,
        warmup_steps=train.warmup_steps,
        weight_decay=train.weight_decay,
        lr_scheduler_type=train.lr_scheduler,
        logging_steps=train.logging_steps,
        save_strategy="steps",
        save_steps=train.save_steps,
        save_total_limit=train.save_total_limit,
        report_to=train.report_to or "none",
        seed=seed,
        data_seed=seed,
        bf16=bf16,
        train_sampling_strategy="group_by_length" if train.group_by_length and not train.packing else "random",
        length_column_name="length",
        remove_unused_columns=False,
        dataloader_num_workers=0,
        disable_tqdm=False,
        save_only_model=False,
        ddp_find_unused_parameters=False,
    )


def train_lora(
    model,
    tokenizer,
    records: list[Record],
    out_dir: Path,
    *,
    lora: LoraSection,
    train: TrainSection,
    system_prompt: str | None,
    seed: int = 42,
    resume: bool = False,
    extra_callbacks: list | None = None,
) -> tuple[object, TrainResult]:
    """Fine-tune `model` with LoRA on `records`; save the adapter to out_dir/adapter.

    Returns the PEFT-wrapped model (ready for evaluation) and what happened."""
    set_seed(seed)
    set_threads(train.num_threads)
    out_dir.mkdir(parents=True, exist_ok=True)
    dataset, truncated = tokenize_records(tokenizer, records, system_prompt, train.max_length)
    if train.packing:
        dataset = dataset.remove_columns("length")
    peft_model = lora_model(model, lora)
    peft_model.train()
    bf16 = next(model.parameters()).dtype == torch.bfloat16
    log = JsonlLossLog(out_dir / "train_log.jsonl")
    guard = NanGuard()
    trainer = Trainer(
        model=peft_model,
        args=training_arguments(out_dir, train, seed, bf16),
        train_dataset=dataset,
        data_collator=make_collator(tokenizer, train.packing),
        callbacks=[log, guard, *(extra_callbacks or [])],
    )
    started = time.perf_counter()
    last = _last_checkpoint(out_dir) if resume else None
    trainer.train(resume_from_checkpoint=str(last) if last else None)
    seconds = time.perf_counter() - started
    if guard.bad_step is not None:
        raise PhysloraError(
            f"loss became NaN/inf at step {guard.bad_step}: lower train.learning_rate or check the data; "
            f"the last good checkpoint is in {out_dir / 'checkpoints'}"
        )
    adapter_dir = out_dir / "adapter"
    if trainer.is_world_process_zero():
        peft_model.save_pretrained(str(adapter_dir), safe_serialization=True)
        tokenizer.save_pretrained(str(adapter_dir))
    peft_model.eval()
    tokens = int(sum(dataset["length"])) if "length" in dataset.column_names else 0
    result = TrainResult(adapter_dir, trainer.state.global_step, seconds, log.rows, tokens, truncated)
    return peft_model, result


def _last_checkpoint(out_dir: Path) -> Path | None:
    from transformers.trainer_utils import get_last_checkpoint

    folder = out_dir / "checkpoints"
    return Path(get_last_checkpoint(str(folder))) if folder.is_dir() and get_last_checkpoint(str(folder)) else None
