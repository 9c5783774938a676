"""LoRA fine-tuning with peft + transformers' Trainer.

Each example is `prompt_ids + answer_ids` with the loss on answer tokens only; batches are
padded dynamically (length-grouped) or packed without cross-attention (padding-free,
position ids restart per example).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from transformers import Trainer, TrainingArguments, set_seed

from physlora.batching import pad_batch
from physlora.config import LoraSection, TrainSection
from physlora.data.records import Record
from physlora.distributed import set_threads
from physlora.errors import PhysloraError, TrainingInterrupted
from physlora.models.forward import answer_loss, next_token_targets, supports_logits_mask
from physlora.distributed import is_main_process
from physlora.prompting import PromptStyle
from physlora.training.callbacks import DiskGuard, JsonlLossLog, NanGuard, StopOnSignal
from physlora.training.checkpoints import (checkpoint_bytes, checkpoint_step, finish_from_checkpoint, last_checkpoint,
                                          read_log, truncate_log)
from physlora.results.schema import TrainSummary
from physlora.tracking import configure_tracking


@dataclass
class TrainResult:
    adapter_dir: Path
    steps: int
    seconds: float
    losses: list[dict] = field(default_factory=list)
    train_tokens: int = 0
    truncated: int = 0
    validation: list[dict] = field(default_factory=list)  # the validation rows of train_log.jsonl
    select_by: str | None = None
    best_step: int | None = None  # the step whose adapter was saved, when train.select_by chose it
    best_metric: float | None = None
    stopped_early: bool = False

    def summary(self, n_train: int) -> TrainSummary:
        return TrainSummary(
            steps=self.steps, seconds=self.seconds, n_train=n_train, train_tokens=self.train_tokens,
            truncated_rows=self.truncated, final_loss=self.losses[-1]["loss"] if self.losses else None,
            validation_evals=len(self.validation), select_by=self.select_by, best_step=self.best_step,
            best_metric=self.best_metric, stopped_early=self.stopped_early,
        )


def tokenize_records(
    tokenizer, records: list[Record], system_prompt: str | None, max_length: int, data_format: str = "plain",
    sandbox=None, style: PromptStyle | None = None,
):
    """A `datasets.Dataset` of input_ids/labels (+ lengths for length grouping), in `data_format`
    (plain | tools | mixed, see physlora.training.tool_format; programs run in `sandbox`, or a new one), with
    `style`'s prompt format (prompt.format)."""
    from datasets import Dataset

    from physlora.training.tool_format import encode_records

    encoded_set = encode_records(tokenizer, records, system_prompt, max_length, data_format, sandbox, style)
    if data_format != "plain" and is_main_process():
        print(f"[physlora] training data: {encoded_set.summary()}", flush=True)
    encoded = encoded_set.examples
    ds = Dataset.from_dict(
        {
            "input_ids": [e.input_ids for e in encoded],
            "labels": [e.labels for e in encoded],
            "length": [len(e.input_ids) for e in encoded],
        }
    )
    return ds, sum(e.truncated for e in encoded)


class PadCollator:
    """Right-pads a batch to its own longest row; pads never carry loss (labels -100). Other columns
    (the `length` of length-grouping) are dropped. The padding is physlora.batching's, which equals
    transformers' DataCollatorForSeq2Seq on a right-padding tokenizer (see there why it is not used)."""

    def __init__(self, pad_id: int):
        self.pad_id = pad_id

    def __call__(self, features: list[dict]) -> dict[str, torch.Tensor]:
        return pad_batch([f["input_ids"] for f in features], self.pad_id, labels=[f["labels"] for f in features])


class KeepAnswerLogits:
    """Adds `logits_to_keep`, the mask of positions that predict an answer token, to each batch:
    the model then projects only those hidden states onto the vocabulary (see physlora.models.forward)."""

    def __init__(self, collator):
        self.collator = collator

    def __call__(self, features: list[dict]) -> dict[str, torch.Tensor]:
        batch = self.collator(features)
        batch["logits_to_keep"] = next_token_targets(batch["labels"])[0]
        return batch


def make_collator(tokenizer, packing: bool, answer_logits_only: bool = True):
    if packing:
        from transformers import DataCollatorWithFlattening

        # one row of concatenated examples; position_ids restart per example, and transformers
        # builds a block-diagonal mask from them, so examples never attend to each other
        collator = DataCollatorWithFlattening(return_position_ids=True)
    else:
        collator = PadCollator(tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0)
    return KeepAnswerLogits(collator) if answer_logits_only else collator


def lora_model(model, lora: LoraSection, init_adapter: str | None = None):
    from peft import LoraConfig, get_peft_model

    if init_adapter:
        return continue_adapter(model, init_adapter)

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


def continue_adapter(model, adapter_dir: str):
    """A saved adapter, trainable again (more SFT on new data, or a later RL stage starts from it): the one
    loader of train.init_adapter, shared with GRPO (physlora.models.loading.load_adapter_for_training)."""
    from physlora.models.loading import load_adapter_for_training

    return load_adapter_for_training(model, adapter_dir)


def selection_arguments(train: TrainSection, validator, greater_is_better: bool | None) -> dict:
    """TrainingArguments for in-training validation and best-checkpoint selection. With select_by every
    evaluation also saves a checkpoint (each one is a candidate); transformers keeps the best one through
    save_total_limit and loads it at the end."""
    if validator is None or not train.eval_every:
        return {"eval_strategy": "no", "save_steps": train.save_steps}
    selecting = train.select_by is not None
    return {
        "eval_strategy": "steps",
        "eval_steps": train.eval_every,
        "save_steps": train.eval_every if selecting else train.save_steps,
        "load_best_model_at_end": selecting,
        "metric_for_best_model": f"eval_{train.select_by}" if selecting else None,
        "greater_is_better": greater_is_better,
        # the early-stopping counter lives in trainer_state.json and comes back on --resume
        "restore_callback_states_from_checkpoint": selecting,
    }


def training_arguments(out_dir: Path, train: TrainSection, seed: int, bf16: bool, selection: dict | None = None):
    configure_tracking(out_dir, train.report_to)
    selection = selection or {"eval_strategy": "no", "save_steps": train.save_steps}
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
        **selection,
        save_total_limit=train.save_total_limit,
        report_to=train.report_to or "none",
        seed=seed,
        data_seed=seed,
        bf16=bf16,
        train_sampling_strategy="group_by_length" if train.group_by_length and not train.packing else "random",
        length_column_name="length",
        remove_unused_columns=False,
        dataloader_num_workers=0,
        dataloader_pin_memory=torch.cuda.is_available(),
        disable_tqdm=False,
        save_only_model=False,
        ddp_find_unused_parameters=False,
        include_num_input_tokens_seen="non_padding",
        logging_nan_inf_filter=False,  # the NaN guard must see a NaN loss, not a smoothed one
        # without an accelerator, DDP across processes (accelerate launch / torchrun) runs on gloo
        use_cpu=not _has_accelerator(),
        ddp_backend="gloo" if not _has_accelerator() and int(os.environ.get("WORLD_SIZE", "1")) > 1 else None,
    )


def _has_accelerator() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return torch.cuda.is_available() or bool(mps and mps.is_available())


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
    validation: list | None = None,
    style: PromptStyle | None = None,
    data_format: str = "plain",
    sandbox=None,
) -> tuple[object, TrainResult]:
    """Fine-tune `model` with LoRA on `records`; save the adapter to out_dir/adapter.

    `validation` (physlora.training.validation.ValidationSet list) turns on the physics metrics every
    `train.eval_every` steps, and with `train.select_by` the best checkpoint by one of them.
    Returns the PEFT-wrapped model (ready for evaluation) and what happened."""
    set_seed(seed)
    set_threads(train.num_threads)
    out_dir.mkdir(parents=True, exist_ok=True)
    dataset, truncated = tokenize_records(tokenizer, records, system_prompt, train.max_length, data_format, sandbox,
                                          style)
    if train.packing:
        dataset = dataset.remove_columns("length")
    peft_model = lora_model(model, lora, train.init_adapter)
    peft_model.train()
    last = last_checkpoint(out_dir) if resume else None
    guards = Guards.for_run(out_dir, peft_model, resume_step=checkpoint_step(last))
    selection = validation_setup(tokenizer, validation, train, system_prompt, style)
    trainer = build_trainer(peft_model, tokenizer, dataset, out_dir, train, seed,
                            [*guards.callbacks, *selection.callbacks, *(extra_callbacks or [])], selection)
    started = time.perf_counter()
    guards.train(trainer, last, train.max_steps)
    seconds = time.perf_counter() - started
    guards.raise_if_stopped(trainer.state.global_step, train.max_steps, out_dir)
    adapter_dir = out_dir / "adapter"
    if trainer.is_world_process_zero():
        peft_model.save_pretrained(str(adapter_dir), safe_serialization=True)
        tokenizer.save_pretrained(str(adapter_dir))
    peft_model.eval()
    tokens = int(trainer.state.num_input_tokens_seen or 0)
    rows = read_log(guards.log.path)
    result = TrainResult(adapter_dir, trainer.state.global_step, seconds, [r for r in rows if "loss" in r], tokens,
                         truncated, validation=[r for r in rows if "loss" not in r])
    selection.record(result, trainer.state, train)
    return peft_model, result


@dataclass
class Selection:
    """The in-training validation of a run (none: validator None) and what it adds to the Trainer."""

    validator: object | None = None
    greater_is_better: bool | None = None
    callbacks: list = field(default_factory=list)

    def record(self, result: TrainResult, state, train: TrainSection) -> None:
        """The best step (the adapter saved) and whether early stopping ended the run."""
        if train.select_by and self.validator is not None:
            result.select_by, result.best_metric = train.select_by, state.best_metric
            result.best_step = state.best_global_step if state.best_model_checkpoint else None
            result.stopped_early = result.steps < train.max_steps


def validation_setup(tokenizer, validation: list | None, train: TrainSection, system_prompt: str | None,
                     style: PromptStyle | None = None) -> Selection:
    """The physics validator, the direction of train.select_by and early stopping (empty when off)."""
    from physlora.training.validation import PhysicsValidator, selection_direction

    sets = [s for s in validation or [] if s.records]
    if not sets or not train.eval_every:
        if train.select_by:
            raise PhysloraError(f"train.select_by={train.select_by} needs validation data and train.eval_every > 0: "
                                "the training source has no validation split; set data.validation=FILE")
        return Selection()
    greater = selection_direction(train.select_by, sets, train.eval_generate) if train.select_by else None
    validator = PhysicsValidator(sets, tokenizer, system_prompt=system_prompt, max_length=train.max_length,
                                 generate=train.eval_generate, style=style)
    callbacks = []
    if train.early_stopping_patience and train.select_by:
        from transformers import EarlyStoppingCallback

        callbacks.append(EarlyStoppingCallback(early_stopping_patience=train.early_stopping_patience))
    return Selection(validator, greater, callbacks)


def build_trainer(peft_model, tokenizer, dataset, out_dir: Path, train: TrainSection, seed: int, callbacks: list,
                  selection: Selection | None = None) -> Trainer:
    """transformers' Trainer over the tokenized examples, with logits (and the loss) on answer positions only
    where the model supports it; with a validator, its evaluation is the physics validation."""
    selection = selection or Selection()
    bf16 = train.bf16 if train.bf16 is not None else next(peft_model.parameters()).dtype == torch.bfloat16
    answer_logits_only = supports_logits_mask(peft_model)
    trainer_cls, extra = Trainer, {}
    if selection.validator is not None:
        from physlora.training.validation import ValidatingTrainer

        # Trainer insists on an eval set when it evaluates; the validator holds the real one
        trainer_cls, extra = ValidatingTrainer, {"validator": selection.validator, "eval_dataset": [0]}
    return trainer_cls(
        model=peft_model,
        args=training_arguments(out_dir, train, seed, bf16, selection_arguments(train, selection.validator,
                                                                                selection.greater_is_better)),
        train_dataset=dataset,
        data_collator=make_collator(tokenizer, train.packing, answer_logits_only),
        # with logits on answer positions only, the loss is computed here (the model's own loss
        # would expect logits at every position)
        compute_loss_func=answer_loss if answer_logits_only else None,
        callbacks=callbacks,
        **extra,
    )


@dataclass
class Guards:
    """The callbacks that keep a run's record and stop it cleanly (loss log, NaN, Ctrl-C/SIGTERM, full disk)."""

    log: JsonlLossLog
    nan: NanGuard
    stop: StopOnSignal
    disk: DiskGuard
    checkpoints: str = "checkpoints"  # the run folder's checkpoint folder, named in the messages
    lr_key: str = "train.learning_rate"  # the config key to lower when the loss goes NaN

    @classmethod
    def for_run(cls, out_dir: Path, peft_model, resume_step: int, *, log_name: str = "train_log.jsonl",
                checkpoints: str = "checkpoints", lr_key: str = "train.learning_rate") -> Guards:
        log = JsonlLossLog(out_dir / log_name)
        truncate_log(log.path, resume_step)  # steps after the checkpoint will be redone
        return cls(log, NanGuard(), StopOnSignal(), DiskGuard(out_dir, checkpoint_bytes(peft_model)), checkpoints, lr_key)

    @property
    def callbacks(self) -> list:
        return [self.log, self.nan, self.stop, self.disk]

    def train(self, trainer, last: Path | None, max_steps: int) -> None:
        """`trainer.train` with Ctrl-C/SIGTERM caught, resumed from checkpoint `last` where given; a run whose last
        checkpoint is its final step is finished from that checkpoint instead (finish_from_checkpoint)."""
        if not finish_from_checkpoint(trainer, last, max_steps):
            with self.stop.installed():
                trainer.train(resume_from_checkpoint=str(last) if last else None)

    def raise_if_stopped(self, step: int, max_steps: int, out_dir: Path) -> None:
        """A run stopped by a guard ends in one line that says why and how to go on."""
        if self.nan.bad_step is not None:
            raise PhysloraError(
                f"loss became NaN/inf at step {self.nan.bad_step}: lower {self.lr_key} or check the data; "
                f"the last good checkpoint is in {out_dir / self.checkpoints}"
            )
        if self.disk.short is not None:
            free, need = self.disk.short
            raise PhysloraError(
                f"stopped at step {step}: {free / 1e6:.0f} MB free in {out_dir}, a checkpoint needs ~{need / 1e6:.0f} MB; "
                "free disk, then rerun with --resume"
            )
        if self.stop.signal is not None and step < max_steps:
            raise TrainingInterrupted(
                f"training interrupted at step {step}/{max_steps}; checkpoint saved in {out_dir / self.checkpoints}; "
                "rerun the same command with --resume to continue"
            )
