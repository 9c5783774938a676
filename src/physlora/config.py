"""Typed, validated run configuration: YAML file + `key=value` overrides -> RunConfig.

Unknown keys are errors that suggest the closest valid key, so a typo never silently
falls back to a default.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from physlora.errors import PhysloraError

DEFAULT_MODEL = "smollm2-135m-instruct"
DEFAULT_SYSTEM_PROMPT = "You are a physicist. Answer concisely and correctly."


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ModelSection(_Section):
    name: str = DEFAULT_MODEL
    adapter: str | None = None
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    trust_remote_code: bool = False


class DataSection(_Section):
    train: str = "physlora-physics"
    train_split: str = "train"
    # eval source; None -> the test split of `train` (or a deterministic hold-out of it)
    eval: str | None = None
    eval_split: str = "test"
    # more sets to evaluate base and tuned on (their `eval_split`), e.g. [physlora-physics-mc]
    extra_eval: list[str] = Field(default_factory=list)
    # sets of another origin/answer style, evaluated like extra_eval but labelled "transfer" in the report
    # (e.g. [physlora-physics-short, physlora-general]); their validation splits join the in-training validation
    transfer_eval: list[str] = Field(default_factory=list)
    # validation data for the metrics during training and train.select_by; None -> the `validation_split` of
    # the training source (and of extra/transfer sets) where it has one. A file here is used whole.
    validation: str | None = None
    validation_split: str = "validation"
    # native field -> source column, e.g. {question: input, answer: output}
    columns: dict[str, str | list[str]] = Field(default_factory=dict)
    test_size: float = Field(0.2, gt=0, lt=1)
    max_train_examples: int | None = Field(None, gt=0)
    max_eval_examples: int | None = Field(None, gt=0)
    skip_invalid: bool = False
    # retrieval-aware training (needs retrieval.index): none | retrieved (top-k passages) | gold (the record's
    # gold passage among distractors; records without one get the retrieved passages) | mixed (per record:
    # no passages, gold + distractors, or distractors only)
    retrieval: Literal["none", "gold", "retrieved", "mixed"] = "none"
    # what training sees: plain question -> answer, tools (the program exchange for rows with a `program`,
    # the others answered under the tool instructions) or mixed (every row plain + the program rows as tools)
    format: Literal["plain", "tools", "mixed"] = "plain"


class LoraSection(_Section):
    r: int = Field(8, gt=0)
    alpha: int = Field(16, gt=0)
    dropout: float = Field(0.1, ge=0, lt=1)
    target_modules: str | list[str] = Field(default_factory=lambda: ["q_proj", "v_proj"])


class GrpoSection(_Section):
    """GRPO (TRL's GRPOTrainer) with the physics check as the reward; see physlora.training.grpo.
    Defaults fit the embedded 135M model on 2 CPU cores (a step of 4 prompts x 4 completions)."""

    max_steps: int = Field(30, gt=0)
    learning_rate: float = Field(5e-5, gt=0)  # LoRA: higher than full fine-tuning's ~1e-6; KL (beta) anchors it
    lr_scheduler: str = "constant"
    warmup_steps: int = Field(0, ge=0)
    prompts_per_step: int = Field(4, gt=0)  # distinct questions per optimizer step (all processes together)
    num_generations: int = Field(4, gt=1)  # group size: completions sampled per question
    grad_accum: int = Field(1, gt=0)  # micro-batches per step (fewer completions in memory at once)
    max_completion_length: int = Field(96, gt=0)
    max_prompt_length: int = Field(320, gt=8)  # longer prompts are left out of the data and counted
    temperature: float = Field(1.0, gt=0)
    top_p: float = Field(1.0, gt=0, le=1)
    beta: float = Field(0.04, ge=0)  # KL coefficient against the starting point (base or init_adapter)
    epsilon: float = Field(0.2, gt=0)  # PPO-style clip range
    loss_type: Literal["grpo", "dr_grpo", "dapo", "bnpo"] = "dapo"
    scale_rewards: Literal["group", "batch", "none"] = "group"
    # weight of each reward (physlora.training.rewards: correctness, partial, answer_format, and program_runs
    # for programs that run in the tools sandbox); 0 drops a reward
    reward_weights: dict[str, float] = Field(
        default_factory=lambda: {"correctness": 1.0, "partial": 0.3, "answer_format": 0.2}
    )
    reward_budget_s: float = Field(2.0, gt=0)  # per completion and reward; past it the completion scores 0
    # which references to train on: final quantity, formula, multiple-choice option
    answer_kinds: list[Literal["quantity", "formula", "mc"]] = Field(
        default_factory=lambda: ["quantity", "formula", "mc"], min_length=1
    )
    samples_every: int = Field(5, gt=0)  # every N steps, a few completions go to grpo_samples.jsonl
    samples_per_step: int = Field(4, ge=0)
    save_steps: int = Field(20, gt=0)
    gradient_checkpointing: bool = False
    disable_dropout: bool = True  # the policy and its KL reference then score tokens alike
    use_vllm: bool = False  # generation through vLLM (GPU, `pip install vllm`), colocated with training
    vllm_gpu_memory_utilization: float = Field(0.3, gt=0, lt=1)

    @field_validator("reward_weights")
    @classmethod
    def _known_rewards(cls, v: dict[str, float]) -> dict[str, float]:
        known = ("correctness", "partial", "answer_format", "program_runs")  # physlora.training.rewards.REWARD_NAMES
        unknown = [k for k in v if k not in known]
        if unknown:
            raise ValueError(f"unknown reward {unknown[0]!r}; known: {', '.join(known)}")
        if not any(w for w in v.values()):
            raise ValueError("every reward weight is 0: GRPO needs at least one reward")
        return v


class TrainSection(_Section):
    max_steps: int = Field(200, gt=0)
    learning_rate: float = Field(2e-4, gt=0)
    batch_size: int = Field(1, gt=0)
    grad_accum: int = Field(4, gt=0)
    warmup_steps: int = Field(10, ge=0)
    weight_decay: float = Field(0.0, ge=0)
    lr_scheduler: str = "linear"
    max_length: int = Field(512, gt=8)
    packing: bool = False
    group_by_length: bool = True
    logging_steps: int = Field(1, gt=0)
    save_steps: int = Field(50, gt=0)
    save_total_limit: int = Field(2, gt=0)
    # where loss/lr/eval metrics go: tensorboard (event files in RUN/tensorboard), mlflow (RUN/mlruns unless
    # MLFLOW_TRACKING_URI is set), or [] for none
    report_to: list[Literal["tensorboard", "mlflow"]] = Field(default_factory=lambda: ["tensorboard"])
    num_threads: int | None = Field(None, gt=0)
    # physics metrics on the validation sets every N optimizer steps (and at the last step); 0 turns it off
    eval_every: int = Field(50, ge=0)
    eval_max_examples: int | None = Field(32, gt=0)  # per validation set, evenly spaced
    eval_generate: int = Field(0, ge=0)  # also generate this many answers per free-form set: ROUGE-L, physics
    # keep the checkpoint that is best by this validation metric (e.g. ref_nll, physlora-physics-mc/acc); the
    # direction comes from the metric's registry entry. The saved adapter is the best one.
    select_by: str | None = None
    early_stopping_patience: int | None = Field(None, gt=0)  # evaluations without improvement before stopping
    # start from a saved LoRA adapter (its r/alpha/targets win over lora.*) instead of a fresh one
    init_adapter: str | None = None
    # bf16 mixed precision (fp32 master weights, bf16 autocast). null: on when the model is loaded in bf16
    # (model.dtype auto on a GPU that supports it); true on a CPU speeds up training where the CPU has native
    # bf16 (AVX512-BF16, AMX; ~1.3-1.4x here) and slows it where it has not
    bf16: bool | None = None
    # sft (supervised LoRA) or grpo (reinforcement learning with the physics check as reward); `stages` runs
    # several in order in one run, e.g. [sft, grpo] (null: [method])
    method: Literal["sft", "grpo"] = "sft"
    stages: list[Literal["sft", "grpo"]] | None = Field(None, min_length=1)
    # (train.init_adapter, above, is where the first stage starts: e.g. GRPO from an SFT run's adapter/)
    grpo: GrpoSection = Field(default_factory=GrpoSection)

    @property
    def stage_list(self) -> list[str]:
        return list(self.stages) if self.stages else [self.method]

    @field_validator("stages")
    @classmethod
    def _stage_order(cls, v: list[str] | None) -> list[str] | None:
        if v is not None and v not in (["sft"], ["grpo"], ["sft", "grpo"]):
            raise ValueError("stages must be [sft], [grpo] or [sft, grpo] (supervised first, then reinforcement)")
        return v

    @field_validator("report_to", mode="before")
    @classmethod
    def _listify(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v


class EvalSection(_Section):
    max_new_tokens: int = Field(128, gt=0)
    batch_size: int = Field(64, gt=0)  # generation batch: on a CPU, larger batches amortise the weight reads
    semantic: bool = True
    nll: bool = True
    physics_rel_tol: float = Field(0.05, gt=0)
    bootstrap_resamples: int = Field(2000, gt=99)
    samples_in_report: int = Field(5, ge=0)
    # likelihood scoring (MC options, rotations, reference NLL): padded tokens per forward pass; many questions
    # share one pass. More is faster until memory runs short (a GPU takes 16k-64k)
    score_tokens_per_batch: int = Field(4096, gt=0)
    # which multiple-choice metrics to compute; acc/acc_norm cost one pass per option, letter one prompt,
    # circular one prompt per rotation of the options
    mc_metrics: list[Literal["acc", "acc_norm", "letter", "circular"]] = Field(
        default_factory=lambda: ["acc", "acc_norm", "letter", "circular"], min_length=1
    )
    # generation backend: transformers, or vllm (GPU + `pip install vllm`; LoRA adapters through vLLM's LoRA)
    backend: Literal["transformers", "vllm"] = "transformers"
    # extra arguments of vllm.LLM, e.g. {gpu_memory_utilization: 0.5, max_model_len: 4096}
    vllm_args: dict[str, Any] = Field(default_factory=dict)
    # evaluate only the free-form items whose reference is of these kinds (as the physics check reads it:
    # quantity = ends in a number, formula); null = every item. Multiple-choice sets are not filtered.
    answer_kinds: list[Literal["quantity", "formula"]] | None = Field(None, min_length=1)
    # plain answers, answers with the program tool (sandboxed Python), or both (paired: tools vs plain)
    mode: Literal["plain", "tools", "both"] = "plain"
    max_tool_rounds: int = Field(2, ge=1, le=8)  # programs a model may run before its final answer
    sandbox_workers: int = Field(1, ge=1)  # programs run at once

    @field_validator("mc_metrics", mode="before")
    @classmethod
    def _mc_listify(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @field_validator("mc_metrics")
    @classmethod
    def _mc_unique(cls, v: list[str]) -> list[str]:
        return list(dict.fromkeys(v))


class RetrievalSection(_Section):
    # an index built by `physlora index`; set, eval/run/ask/serve answer with and without its passages
    index: str | None = None
    k: int = Field(3, gt=0, le=50)
    # budget for the passages in the prompt, in tokens of the answering model (cut passages end at a sentence)
    max_context_tokens: int = Field(500, gt=31)
    mode: Literal["hybrid", "dense", "lexical"] = "hybrid"
    # append " [n]" of the gold passage to training answers, so the model learns to cite
    cite_in_training: bool = True
class PromptSection(_Section):
    # chat: the model's chat template with system_prompt; plain: lm-evaluation-harness's "Question: ...\nAnswer:"
    # with no template and no system prompt (what its published 0-shot numbers use), for every command
    format: Literal["chat", "plain"] = "chat"


class RunConfig(_Section):
    name: str = "demo"
    output_dir: str = "runs"
    seed: int = 42
    system_prompt: str | None = DEFAULT_SYSTEM_PROMPT
    model: ModelSection = Field(default_factory=ModelSection)
    data: DataSection = Field(default_factory=DataSection)
    lora: LoraSection = Field(default_factory=LoraSection)
    train: TrainSection = Field(default_factory=TrainSection)
    eval: EvalSection = Field(default_factory=EvalSection)
    retrieval: RetrievalSection = Field(default_factory=RetrievalSection)
    prompt: PromptSection = Field(default_factory=PromptSection)

    @property
    def run_dir(self) -> Path:
        return Path(self.output_dir) / self.name

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


def _known_keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    keys = []
    for name, field in model.model_fields.items():
        keys.append(prefix + name)
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            keys.extend(_known_keys(ann, prefix + name + "."))
    return keys


def _suggest(key: str) -> str:
    close = difflib.get_close_matches(key, _known_keys(RunConfig), n=3, cutoff=0.5)
    return f" (did you mean {', '.join(close)}?)" if close else ""


def _format_validation_error(err: ValidationError, source: str) -> str:
    problems = []
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"])
        if e["type"] == "extra_forbidden":
            problems.append(f"unknown key '{key}'{_suggest(key)}")
        else:
            problems.append(f"{key}: {e['msg']} (got {e.get('input')!r})")
    return f"invalid config {source}: " + "; ".join(problems)


def parse_override(text: str) -> tuple[list[str], Any]:
    """`train.max_steps=20` -> (['train', 'max_steps'], 20); the value is parsed as YAML."""
    if "=" not in text:
        raise PhysloraError(f"override '{text}' is not key=value (e.g. train.max_steps=20)")
    key, raw = text.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw != "" else None
    except yaml.YAMLError:
        value = raw
    return key.strip().split("."), value


def apply_override(data: dict, path: list[str], value: Any) -> None:
    node = data
    for part in path[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise PhysloraError(f"override '{'.'.join(path)}': '{part}' is not a section")
        node = child
    node[path[-1]] = value


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> RunConfig:
    """Read YAML (optional), apply overrides, validate. Raises PhysloraError on any problem."""
    data: dict = {}
    source = "(defaults)"
    if path is not None:
        source = str(path)
        p = Path(path)
        if not p.is_file():
            raise PhysloraError(f"config file not found: {p} (see configs/ for presets)")
        try:
            loaded = yaml.safe_load(p.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as e:
            raise PhysloraError(f"config {p} is not valid YAML: {str(e).splitlines()[0]}") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise PhysloraError(f"config {p} must be a mapping of sections, got {type(loaded).__name__}")
        data = loaded or {}
    for text in overrides or []:
        apply_override(data, *parse_override(text))
    try:
        return RunConfig.model_validate(data)
    except ValidationError as e:
        raise PhysloraError(_format_validation_error(e, source)) from None
