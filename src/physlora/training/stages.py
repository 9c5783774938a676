"""The training stages of one run, in order: `train.method` alone, or `train.stages: [sft, grpo]`.

Run-folder layout (so each stage keeps its own log and checkpoints and --resume knows where it stands):

    train_log.jsonl, checkpoints/      SFT (as before)
    grpo_log.jsonl, grpo_checkpoints/  GRPO, grpo_samples.jsonl (completions to read)
    sft_adapter/, sft_summary.json     the SFT stage's result when GRPO follows it
    adapter/                           the final adapter (the last stage's)
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Callable

from physlora.config import RunConfig
from physlora.data.records import Record
from physlora.distributed import is_main_process
from physlora.results.io import write_json
from physlora.results.schema import result_json

SFT_ADAPTER = "sft_adapter"
SFT_SUMMARY = "sft_summary.json"


def starting_model(model, cfg: RunConfig):
    """The model the run evaluates as "before": with a GRPO-first run and `train.init_adapter`, the base
    model plus that adapter (already trainable, so GRPO continues the very same weights)."""
    if cfg.train.stage_list[0] == "grpo" and cfg.train.init_adapter:
        from physlora.models.loading import load_adapter_for_training

        return load_adapter_for_training(model, cfg.train.init_adapter)
    return model


def finished_model(start, adapter_dir: Path):
    """`start` with a finished run's adapter active (resume after training ended), whether `start` is the
    plain model or already carries the starting adapter."""
    from peft import PeftModel

    from physlora.models.loading import attach_adapter

    if isinstance(start, PeftModel):
        start.load_adapter(str(adapter_dir), adapter_name="trained", is_trainable=False)
        start.set_adapter("trained")
        return start.eval()
    return attach_adapter(start, adapter_dir).eval()


def run_stages(model, tokenizer, records: list[Record], run_dir: Path, cfg: RunConfig, *, resume: bool = False,
               say: Callable[[str], None] = print, callbacks: list | None = None,
               validation: list | None = None, sandbox=None, style=None) -> tuple[object, dict[str, Any]]:
    """Train every configured stage on `records`; returns the trained model and train_summary.json's content
    (the last stage's numbers at the top, every stage under "stages"). `callbacks` go to every stage's
    trainer; `validation` (in-training physics metrics, train.eval_every) to the SFT stage; `sandbox`
    (physlora.tools) runs the programs of tool-format SFT data and of the GRPO reward for programs that run;
    `style` (physlora.prompting.PromptStyle, prompt.format) builds every stage's prompts."""
    stages = cfg.train.stage_list
    summaries: list[dict[str, Any]] = []
    for i, method in enumerate(stages):
        more_follow = i + 1 < len(stages)
        if method == "sft":
            model, summary = _sft_stage(model, tokenizer, records, run_dir, cfg, resume, more_follow, say,
                                        callbacks, validation, sandbox, style)
        else:
            model, summary = _grpo_stage(model, tokenizer, records, run_dir, cfg, resume, say, callbacks, sandbox, style)
        summaries.append(summary)
    top = dict(summaries[-1])
    top.update({"steps": sum(s["steps"] for s in summaries), "seconds": sum(s["seconds"] for s in summaries),
                "n_train": summaries[-1]["n_train"], "stages": summaries, "init_adapter": cfg.train.init_adapter})
    return model, top


def _sft_stage(model, tokenizer, records, run_dir: Path, cfg: RunConfig, resume: bool, more_follow: bool, say,
               callbacks: list | None, validation: list | None, sandbox=None, style=None):
    from physlora.training.sft import train_lora

    done = run_dir / SFT_SUMMARY
    if resume and more_follow and done.is_file() and (run_dir / SFT_ADAPTER / "adapter_config.json").is_file():
        from physlora.models.loading import load_adapter_for_training

        say("resume: the SFT stage already finished; continuing from its adapter")
        return load_adapter_for_training(model, run_dir / SFT_ADAPTER), json.loads(done.read_text(encoding="utf-8"))
    say(f"LoRA fine-tuning (SFT) for {cfg.train.max_steps} steps" + (" (resuming)" if resume else ""))
    model, result = train_lora(model, tokenizer, records, run_dir, lora=cfg.lora, train=cfg.train,
                               system_prompt=cfg.system_prompt, seed=cfg.seed, resume=resume,
                               extra_callbacks=callbacks, validation=validation,
                               data_format=cfg.data.format, sandbox=sandbox, style=style)
    if result.truncated:
        say(f"{result.truncated} training rows were longer than train.max_length={cfg.train.max_length}: "
            "their questions were shortened (answers kept)")
    say(f"SFT adapter saved to {result.adapter_dir} ({result.steps} steps, {result.seconds:.0f} s)")
    if result.best_step is not None:
        say(f"best checkpoint by validation {result.select_by}: step {result.best_step} ({result.best_metric:.4f}); "
            "the saved adapter is that one" + (" (stopped early)" if result.stopped_early else ""))
    summary = {"method": "sft", **result_json(result.summary(len(records)))}
    if more_follow and is_main_process():
        # the next stage writes adapter/; keep the SFT one beside it
        shutil.rmtree(run_dir / SFT_ADAPTER, ignore_errors=True)
        shutil.copytree(result.adapter_dir, run_dir / SFT_ADAPTER)
        write_json(done, summary)
    return model, summary


def _grpo_stage(model, tokenizer, records, run_dir: Path, cfg: RunConfig, resume: bool, say, callbacks: list | None,
                sandbox=None, style=None):
    from physlora.training.grpo import train_grpo

    g = cfg.train.grpo
    say(f"GRPO for {g.max_steps} steps: {g.prompts_per_step} questions x {g.num_generations} completions per step, "
        f"beta {g.beta}, lr {g.learning_rate}" + (" (resuming)" if resume else ""))
    model, result = train_grpo(model, tokenizer, records, run_dir, lora=cfg.lora, train=cfg.train,
                               system_prompt=cfg.system_prompt, seed=cfg.seed, resume=resume,
                               rel_tol=cfg.eval.physics_rel_tol, extra_callbacks=callbacks, sandbox=sandbox, style=style)
    say(result.data.summary())
    failed = {name: c["errors"] + c["timeouts"] for name, c in result.reward_counters.items()}
    if any(failed.values()):
        say("rewards that failed inside (scored 0): " + ", ".join(f"{k} {v}" for k, v in failed.items() if v))
    programs = result.reward_counters.get("program_runs", {}).get("outcomes")
    if programs:
        say("programs (program_runs reward): " + ", ".join(f"{k} {v}" for k, v in sorted(programs.items())))
    say(f"GRPO adapter saved to {result.adapter_dir} ({result.steps} steps, {result.seconds:.0f} s)")
    return model, result.summary()
