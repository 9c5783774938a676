"""GRPO with the physics check as a verifiable reward: TRL's GRPOTrainer on a peft LoRA adapter.

Reinforcement learning here rewards being right rather than sounding like the references: each step
samples `num_generations` answers per question, scores them with physlora.training.rewards (physics
check, partial credit, final-answer format) and moves the adapter toward the answers that beat their
group's mean, with a KL penalty (`beta`) toward the starting point (the base model, or the SFT adapter
given as `train.init_adapter`, which TRL copies into a frozen "ref" adapter).

physlora's parts around TRL:
* prompts are built by physlora.prompting (the same text and token ids as evaluation sees);
* the training rows are the records whose reference the grader can read (others are left out and counted);
* per-step timing (generation / reward / log-probs / update), the mean spread inside groups, and a few
  completions every `samples_every` steps in grpo_samples.jsonl;
* the run folder's safety: loss log as it happens, NaN, Ctrl-C and disk guards, resumable checkpoints.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from transformers import set_seed

from physlora.config import GrpoSection, LoraSection, TrainSection
from physlora.data.records import Record
from physlora.errors import PhysloraError
from physlora.prompting import PromptStyle, build_prompt, encode_prompt
from physlora.tracking import configure_tracking
from physlora.training.checkpoints import checkpoint_step, last_checkpoint, read_log
from physlora.training.rewards import RewardFunction, build_rewards, completion_text, reference_kind, rewards_for

LOG_NAME = "grpo_log.jsonl"
SAMPLES_NAME = "grpo_samples.jsonl"
CHECKPOINTS_NAME = "grpo_checkpoints"
TIMING_PHASES = ("generation", "reward", "logprobs", "update")


@dataclass
class GrpoData:
    """The GRPO training rows and what was left out of the records, by reason."""

    rows: list[dict[str, Any]]
    prompt_ids: dict[str, list[int]]
    left_out: Counter = field(default_factory=Counter)
    kinds: Counter = field(default_factory=Counter)

    def summary(self) -> str:
        kinds = ", ".join(f"{n} {k}" for k, n in self.kinds.most_common())
        text = f"{len(self.rows)} GRPO training questions ({kinds})"
        if self.left_out:
            text += "; left out " + ", ".join(f"{n} ({why})" for why, n in self.left_out.most_common())
        return text


def _question_text(record: Record) -> str:
    if record.choices:
        from physlora.scoring.multiple_choice import lettered_question  # the lettered-MC prompt of evaluation

        return lettered_question(record.question, record.choices)
    return record.question


def grpo_rows(records: list[Record], tokenizer, system_prompt: str | None, grpo: GrpoSection,
              style: PromptStyle | None = None) -> GrpoData:
    """One row per record whose reference the grader can read, of a kind in `grpo.answer_kinds`, and whose
    prompt fits `grpo.max_prompt_length` tokens; every other record is counted under its reason."""
    data = GrpoData(rows=[], prompt_ids={})
    for r in records:
        kind = reference_kind(r.answer, r.choices)
        if kind is None:
            data.left_out["reference not gradable"] += 1
            continue
        if kind not in grpo.answer_kinds:
            data.left_out[f"{kind} answers not in train.grpo.answer_kinds"] += 1
            continue
        question = _question_text(r)
        prompt = build_prompt(tokenizer, question, system_prompt, style=style)
        ids = encode_prompt(tokenizer, question, system_prompt, style=style)
        if len(ids) > grpo.max_prompt_length:
            data.left_out[f"prompt over train.grpo.max_prompt_length={grpo.max_prompt_length} tokens"] += 1
            continue
        data.prompt_ids[prompt] = ids
        data.kinds[kind] += 1
        data.rows.append({"prompt": prompt, "question": r.question, "answer": r.answer, "answer_kind": kind,
                          "choices": list(r.choices or []), "id": r.id})
    return data


def _world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def grpo_arguments(out_dir: Path, train: TrainSection, seed: int, bf16: bool, reward_weights: list[float]):
    """TRL's GRPOConfig from train.grpo (+ the shared train.* keys: tracking, logging, checkpoints)."""
    from trl import GRPOConfig

    from physlora.training.sft import _has_accelerator

    g = train.grpo
    completions = g.prompts_per_step * g.num_generations
    per_device, rest = divmod(completions, g.grad_accum * _world_size())
    if rest or per_device == 0:
        raise PhysloraError(
            f"train.grpo: prompts_per_step x num_generations = {completions} completions per step must split evenly "
            f"into grad_accum={g.grad_accum} micro-batches on {_world_size()} process(es)"
        )
    if g.use_vllm:
        import importlib.util

        if importlib.util.find_spec("vllm") is None:
            raise PhysloraError("train.grpo.use_vllm needs vLLM (`pip install vllm`, GPU only); or set it to false")
    configure_tracking(out_dir, train.report_to)
    return GRPOConfig(
        output_dir=str(out_dir / CHECKPOINTS_NAME),
        max_steps=g.max_steps,
        learning_rate=g.learning_rate,
        lr_scheduler_type=g.lr_scheduler,
        warmup_steps=g.warmup_steps,
        weight_decay=train.weight_decay,
        per_device_train_batch_size=per_device,
        gradient_accumulation_steps=g.grad_accum,
        num_generations=g.num_generations,
        max_completion_length=g.max_completion_length,
        temperature=g.temperature,
        top_p=g.top_p,
        beta=g.beta,
        epsilon=g.epsilon,
        loss_type=g.loss_type,
        scale_rewards=g.scale_rewards,
        reward_weights=reward_weights,
        disable_dropout=g.disable_dropout,
        gradient_checkpointing=g.gradient_checkpointing,
        use_vllm=g.use_vllm,
        vllm_mode="colocate",
        vllm_gpu_memory_utilization=g.vllm_gpu_memory_utilization,
        logging_steps=train.logging_steps,
        save_strategy="steps",
        save_steps=g.save_steps,
        save_total_limit=train.save_total_limit,
        report_to=train.report_to or "none",
        seed=seed,
        data_seed=seed,
        bf16=bf16,
        remove_unused_columns=False,
        dataloader_num_workers=0,
        dataloader_pin_memory=torch.cuda.is_available(),
        logging_nan_inf_filter=False,
        use_cpu=not _has_accelerator(),
        ddp_backend="gloo" if not _has_accelerator() and _world_size() > 1 else None,
        ddp_find_unused_parameters=False,
    )


class GrpoTrainerMixin:
    """What physlora adds to TRL's GRPOTrainer: its own prompt token ids, per-phase timing and completion
    samples. A mixin so that TRL is imported only when GRPO runs (`trainer_class`)."""

    def __init__(self, *args, prompt_ids: dict[str, list[int]], samples_path: Path | None,
                 samples_every: int, samples_per_step: int, **kwargs):
        super().__init__(*args, **kwargs)
        self._prompt_ids = prompt_ids
        self._samples = (samples_path, samples_every, samples_per_step)
        self._phase = dict.fromkeys(("generation", "reward", "rollout"), 0.0)
        self.phase_totals = dict.fromkeys(TIMING_PHASES, 0.0)

    def _tokenize_prompts(self, prompts: list):
        # the token ids physlora.prompting.encode_prompt gives evaluation, not a re-tokenisation of the text
        if prompts and all(isinstance(p, str) and p in self._prompt_ids for p in prompts):
            return [list(self._prompt_ids[p]) for p in prompts], None, {}
        return super()._tokenize_prompts(prompts)

    def _generate(self, prompts: list):
        started = time.perf_counter()
        try:
            return super()._generate(prompts)
        finally:
            self._phase["generation"] += time.perf_counter() - started

    def _generate_and_score_completions(self, inputs):
        started = time.perf_counter()
        try:
            return super()._generate_and_score_completions(inputs)
        finally:
            self._phase["rollout"] += time.perf_counter() - started

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        started = time.perf_counter()
        rewards = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        self._phase["reward"] += time.perf_counter() - started
        self._log_group_spread(rewards)
        self._save_samples(inputs, completions, rewards)
        return rewards

    def _log_group_spread(self, rewards_per_func: torch.Tensor) -> None:
        total = (rewards_per_func * self.reward_weights.to(rewards_per_func.device)).nansum(dim=1)
        groups = total.view(-1, self.num_generations)
        self._metrics["train"]["reward_group_std"].append(groups.std(dim=1).mean().item())

    def _save_samples(self, inputs: list[dict], completions: list, rewards_per_func: torch.Tensor) -> None:
        path, every, count = self._samples
        step = self.state.global_step + 1  # the optimizer step these completions are for
        if path is None or not count or step % every or not self.accelerator.is_main_process:
            return
        weights = self.reward_weights.tolist()
        rows = []
        for i in range(min(count, len(inputs))):  # the first rows are this process's (gathered first)
            per = {name: float(rewards_per_func[i, j]) for j, name in enumerate(self.reward_func_names)}
            rows.append({"step": step, "id": inputs[i].get("id"), "question": inputs[i]["question"],
                         "reference": inputs[i]["answer"], "completion": completion_text(completions[i]),
                         "rewards": per, "total": sum(w * v for w, v in zip(weights, per.values()))})
        with path.open("a", encoding="utf-8") as f:
            f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)

    def training_step(self, model, inputs, num_items_in_batch):
        started = time.perf_counter()
        out = super().training_step(model, inputs, num_items_in_batch)
        self._phase["step"] = self._phase.get("step", 0.0) + time.perf_counter() - started
        if self._step % self.current_gradient_accumulation_steps == 0:
            self._flush_timing()
        return out

    def _flush_timing(self) -> None:
        """Seconds of this optimizer step by phase: generation, reward, log-probs (old/reference policy,
        the rest of the rollout) and update (forward + backward + optimizer)."""
        p = self._phase
        step = {
            "generation": p["generation"], "reward": p["reward"],
            "logprobs": max(0.0, p["rollout"] - p["generation"] - p["reward"]),
            "update": max(0.0, p.get("step", 0.0) - p["rollout"]),
        }
        for name, seconds in step.items():
            self._metrics["train"][f"time/{name}_s"].append(seconds)
            self.phase_totals[name] += seconds
        self._phase = dict.fromkeys(("generation", "reward", "rollout", "step"), 0.0)


def trainer_class():
    """GRPOTrainer with physlora's additions (built lazily: importing TRL costs seconds)."""
    from trl import GRPOTrainer

    return type("PhysloraGRPOTrainer", (GrpoTrainerMixin, GRPOTrainer), {})


@dataclass
class GrpoResult:
    adapter_dir: Path
    steps: int
    seconds: float
    data: GrpoData
    log: list[dict] = field(default_factory=list)
    reward_counters: dict[str, dict] = field(default_factory=dict)
    phase_seconds: dict[str, float] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """train_summary.json's GRPO block."""
        last = self.log[-1] if self.log else {}
        return {
            "method": "grpo", "steps": self.steps, "seconds": self.seconds, "n_train": len(self.data.rows),
            "left_out": dict(self.data.left_out), "answer_kinds": dict(self.data.kinds),
            "final_reward": last.get("reward"), "reward_counters": self.reward_counters,
            "phase_seconds": self.phase_seconds,
        }


def policy_model(model, lora: LoraSection, init_adapter: str | None):
    """The model GRPO trains: a PeftModel as given (e.g. straight from an SFT stage), the adapter in
    `init_adapter` made trainable, or a fresh LoRA adapter from `lora`."""
    from peft import PeftModel

    from physlora.models.loading import load_adapter_for_training
    from physlora.training.sft import lora_model

    if isinstance(model, PeftModel):
        for name, param in model.named_parameters():
            if "lora_" in name and ".default." in name:
                param.requires_grad_(True)
        return model
    if init_adapter:
        return load_adapter_for_training(model, init_adapter)
    return lora_model(model, lora)


def train_grpo(
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
    rel_tol: float = 0.05,
    extra_callbacks: list | None = None,
    sandbox=None,
    style: PromptStyle | None = None,
) -> tuple[object, GrpoResult]:
    """GRPO-train a LoRA adapter on the gradable `records`; save it to out_dir/adapter.

    `sandbox` (physlora.tools.sandbox.Sandbox): where the program_runs reward runs programs (None: its own,
    started only if that reward is on, stopped at the end). Returns the PEFT model (its "default" adapter
    trained, in eval mode) and what happened."""
    from physlora.training.sft import set_threads

    set_seed(seed)
    set_threads(train.num_threads)
    out_dir.mkdir(parents=True, exist_ok=True)
    g = train.grpo
    data = grpo_rows(records, tokenizer, system_prompt, g, style)  # the prompts evaluation builds (prompt.format)
    if len(data.rows) < 1:
        raise PhysloraError(f"no GRPO training data: {data.summary()}; GRPO needs references the physics check can "
                            "grade (a final number, a formula or a multiple-choice option)")
    with rewards_for(g.reward_weights, budget_s=g.reward_budget_s, rel_tol=rel_tol, sandbox=sandbox) as rewards:
        return _train(model, tokenizer, data, out_dir, rewards, lora, train, seed, resume, extra_callbacks)


def _train(model, tokenizer, data: GrpoData, out_dir: Path, rewards: tuple[list[RewardFunction], list[float]],
           lora: LoraSection, train: TrainSection, seed: int, resume: bool, extra_callbacks: list | None):
    """train_grpo's trainer run, with the reward functions built."""
    from physlora.training.sft import Guards

    g, (funcs, weights) = train.grpo, rewards
    peft_model = policy_model(model, lora, train.init_adapter)
    peft_model.train()
    bf16 = train.bf16 if train.bf16 is not None else next(model.parameters()).dtype == torch.bfloat16
    args = grpo_arguments(out_dir, train, seed, bf16, weights)
    last = last_checkpoint(out_dir, CHECKPOINTS_NAME) if resume else None
    guards = Guards.for_run(out_dir, peft_model, checkpoint_step(last), log_name=LOG_NAME,
                            checkpoints=CHECKPOINTS_NAME, lr_key="train.grpo.learning_rate")
    samples = out_dir / SAMPLES_NAME
    if not resume:
        samples.unlink(missing_ok=True)
    from datasets import Dataset

    trainer = trainer_class()(
        model=peft_model, reward_funcs=funcs, args=args, train_dataset=Dataset.from_list(data.rows),
        processing_class=tokenizer, callbacks=[*guards.callbacks, *(extra_callbacks or [])],
        prompt_ids=data.prompt_ids, samples_path=samples, samples_every=g.samples_every,
        samples_per_step=g.samples_per_step,
    )
    started = time.perf_counter()
    guards.train(trainer, last, g.max_steps)
    seconds = time.perf_counter() - started
    guards.raise_if_stopped(trainer.state.global_step, g.max_steps, out_dir)
    adapter_dir = save_policy(trainer, tokenizer, out_dir / "adapter")
    peft_model = trainer.model
    result = GrpoResult(
        adapter_dir, trainer.state.global_step, seconds, data, read_log(guards.log.path),
        {f.name: f.counters.as_dict() for f in funcs}, dict(trainer.phase_totals),
    )
    return peft_model, result


def save_policy(trainer, tokenizer, adapter_dir: Path) -> Path:
    """The trained "default" adapter (without TRL's frozen "ref" copy, the KL reference) to `adapter_dir`;
    the model is left with that adapter active, in eval mode."""
    peft_model = trainer.model
    if "ref" in getattr(peft_model, "peft_config", {}):
        peft_model.delete_adapter("ref")
    peft_model.set_adapter("default")
    if trainer.is_world_process_zero():
        peft_model.save_pretrained(str(adapter_dir), safe_serialization=True, selected_adapters=["default"])
        tokenizer.save_pretrained(str(adapter_dir))
    peft_model.eval()
    return adapter_dir


def reward_functions(grpo: GrpoSection, rel_tol: float = 0.05) -> tuple[list[RewardFunction], list[float]]:
    """The configured rewards and weights (for benchmarks and tests that score outside a trainer)."""
    return build_rewards(grpo.reward_weights, budget_s=grpo.reward_budget_s, rel_tol=rel_tol)
