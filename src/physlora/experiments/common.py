"""What every recipe does the same way: messages, the run folder, provenance, the configured model, and one
set's evaluation (cached in the run folder)."""

from __future__ import annotations

import shutil
from pathlib import Path

from physlora.config import RunConfig
from physlora.data.records import Record
from physlora.data.selection import RunData
from physlora.distributed import is_main_process, same_on_all_ranks
from physlora.errors import PhysloraError
from physlora.prompting import PLAIN_PROMPT, PromptStyle
from physlora.results.io import atomic_write_text, environment, write_json
from physlora.results.schema import EvalOutput
from physlora.untrusted import terminal_text


def say(msg: str) -> None:
    """A progress line on rank 0; data set names and notes in it come from data, so escapes are stripped."""
    if is_main_process():
        print(f"[physlora] {terminal_text(msg)}", flush=True)


def prepare_run_dir(run_dir: Path, *, overwrite: bool, resume: bool) -> None:
    if not is_main_process():
        return  # rank 0 owns the run folder
    if run_dir.exists() and any(run_dir.iterdir()) and not resume:
        if not overwrite:
            raise PhysloraError(f"run folder {run_dir} exists; pass --overwrite to replace it or --resume to continue it")
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)


def announce_and_check(data: RunData) -> list[str]:
    """Tell the user what was skipped or looks wrong, and stop unless every rank selected the same records
    (returns each rank's fingerprint of the selection, for the data manifest)."""
    for note in data.notes:
        say(note)
    return same_on_all_ranks("training and evaluation records", data.manifest())


def write_provenance(cfg: RunConfig, folder: Path, data: RunData, rank_fingerprints: list[str]) -> None:
    """config.yaml (resolved), environment.json (versions, commit) and data_manifest.json (every id used)."""
    if not is_main_process():
        return
    write_json(folder / "environment.json", environment())
    atomic_write_text(folder / "config.yaml", cfg.to_yaml())
    write_json(folder / "data_manifest.json", {**data.manifest(), "rank_fingerprints": rank_fingerprints})


def load_configured_model(cfg: RunConfig, *, adapter: str | None = None):
    from physlora.distributed import set_threads
    from physlora.models.loading import load_model

    set_threads(cfg.train.num_threads)  # the processes of one machine share its cores, in evaluation as in training
    loaded = load_model(cfg.model.name, adapter=adapter, dtype=cfg.model.dtype,
                        trust_remote_code=cfg.model.trust_remote_code)
    n_params = sum(p.numel() for p in loaded.model.parameters()) / 1e6
    say(f"model: {cfg.model.name} ({n_params:.1f}M params) on {loaded.model.device}")
    return loaded


def semantic_scorer(cfg: RunConfig, record_sets: list[list[Record]]):
    """The MiniLM scorer when semantic similarity is on and some set is free-form (MC sets never need it)."""
    from physlora.grading.text_metrics import SemanticScorer

    free_form = any(not r.is_mc for records in record_sets for r in records)
    return SemanticScorer() if cfg.eval.semantic and free_form else None


def print_metrics(label: str, out: EvalOutput) -> None:
    parts = [f"{m}={v.mean:.3f} [{v.ci95[0]:.3f},{v.ci95[1]:.3f}]" for m, v in out.metrics.items()]
    say(f"{label}: " + "  ".join(parts))


def check_prompt_format(cfg: RunConfig) -> None:
    """The tool exchange (data.format tools/mixed, eval.mode tools/both) is a conversation of model, tool and
    model turns in the chat template: it has no plain (lm-eval) form."""
    if cfg.prompt.format == "plain" and (cfg.data.format != "plain" or cfg.eval.mode != "plain"):
        raise PhysloraError(f"prompt.format=plain needs data.format=plain and eval.mode=plain (got data.format="
                            f"{cfg.data.format}, eval.mode={cfg.eval.mode}): tool exchanges use the chat template")


def prompt_style(cfg: RunConfig, records: list[Record] = ()) -> PromptStyle:
    """The configured prompt format (`prompt.format`). In plain format a benchmark's questions, which it
    renders whole (description, shots, options, 'Answer:'), are used as they are, as lm-eval does."""
    check_prompt_format(cfg)
    rendered = bool(records) and all(r.extra.get("rendered") for r in records)
    return PromptStyle(cfg.prompt.format, "{question}" if rendered else PLAIN_PROMPT)


def evaluate_set(model, tokenizer, records: list[Record], cfg: RunConfig, *, path: Path, label: str,
                 resume: bool, semantic, adapter: str | Path | None = None) -> EvalOutput:
    """One model on one set, kept at `path` (reused by --resume), with its metrics printed. `adapter`: the LoRA
    adapter folder `model` carries (vLLM generation loads it itself)."""
    from physlora.evaluation.cache import evaluate_cached
    from physlora.evaluation.runner import evaluate_records

    def evaluate(partial: Path) -> EvalOutput:
        say(f"evaluating {label}")
        return evaluate_records(model, tokenizer, records, cfg.eval, system_prompt=cfg.system_prompt,
                                semantic=semantic, seed=cfg.seed, label=label, cache=partial,
                                generate=vllm_generate(cfg, model, tokenizer, adapter), style=prompt_style(cfg, records))

    out = evaluate_cached(path, records, evaluate, resume=resume, say=say)
    print_metrics(label, out)
    return out


def check_backend(cfg: RunConfig) -> None:
    """Stops with one line, before any model is loaded, when eval.backend=vllm cannot run here."""
    if cfg.eval.backend == "vllm":
        from physlora.inference.vllm_backend import vllm_unavailable_reason

        reason = vllm_unavailable_reason()
        if reason:
            raise PhysloraError(reason)
        if cfg.prompt.format != "chat":
            raise PhysloraError(f"eval.backend=vllm prompts in the chat template only (got prompt.format="
                                f"{cfg.prompt.format}); use eval.backend=transformers for the plain format")


_VLLM_ENGINES: dict = {}


def vllm_generate(cfg: RunConfig, model, tokenizer, adapter: str | Path | None):
    """With eval.backend=vllm, a generate function for evaluate_records on one vLLM engine per process (LoRA
    enabled: the base model and the adapter are answered by the same engine); None for transformers."""
    if cfg.eval.backend != "vllm":
        return None
    from physlora.distributed import world_size
    from physlora.inference.generate import stop_token_ids
    from physlora.inference.vllm_backend import VllmGenerator, adapter_rank, lora_rank_limit
    from physlora.models.loading import resolve_model_path

    if world_size() > 1:
        raise PhysloraError("eval.backend=vllm runs in one process: launch without accelerate (vLLM spreads a model "
                            "over GPUs itself: eval.vllm_args='{tensor_parallel_size: N}'), or use eval.backend=transformers")
    path = resolve_model_path(cfg.model.name)
    if path not in _VLLM_ENGINES:
        rank = max(cfg.lora.r, adapter_rank(adapter) if adapter else 0)
        args = {"enable_lora": True, "max_lora_rank": lora_rank_limit(rank), **cfg.eval.vllm_args}
        _VLLM_ENGINES[path] = VllmGenerator(path, tokenizer, dtype=cfg.model.dtype, seed=cfg.seed, vllm_args=args)
    engine, stop = _VLLM_ENGINES[path], stop_token_ids(model, tokenizer)

    def generate(questions: list[str], progress, on_batch) -> list[str]:
        answers = engine.generate(questions, system_prompt=cfg.system_prompt, max_new_tokens=cfg.eval.max_new_tokens,
                                  stop_ids=stop, adapter=adapter, progress=progress)
        on_batch(list(range(len(questions))), answers)
        return answers

    return generate
