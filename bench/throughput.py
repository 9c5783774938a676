"""Training and generation throughput: the reference recipe vs TRL vs physlora, side by side.

    python bench/throughput.py                      # all variants, defaults (~11 min on 2 idle CPU cores)
    python bench/throughput.py --steps 2 --eval-examples 4 --variants reference physlora   # a quick look

Every variant uses the same model, the same training records, the same number of optimizer steps
and the same eval questions, and runs in its own subprocess (fresh model load, its own peak RSS):

  reference         the reference recipe as written: transformers Trainer, "Question: ...\\nAnswer: ..."
                    plain text padded to max_length=256, labels = input_ids (pads included),
                    batch 1 x grad-accum 4; generation one example at a time, prompt+answer decoded.
  trl               TRL SFTTrainer on prompt/completion data (physlora's chat prompt / completion),
                    completion-only loss, padding to the longest in the batch, batch 4 x grad-accum 1.
  trl_packing       the same with packing=True (BFD packing => padding-free, TRL's default for packing).
  physlora          physlora.training.sft.train_lora, batch 4 x grad-accum 1, dynamic padding + length grouping;
                    generation with physlora.inference.generate.generate_answers (batch 16), checked against
                    one-at-a-time greedy generation of the same prompts.
  physlora_packing  the same with train.packing=True (padding-free, position ids restart per example).
  physlora_1x4      physlora with batch 1 x grad-accum 4, the reference's own shape (and physlora's default):
                    no padding at all, at most max_length tokens per forward pass, so the least memory.
  physlora_bf16     physlora (batch 4) with train.bf16=true: bf16 autocast, fp32 master weights (a different
                    precision from the others: its ratio is not a like-for-like comparison).
  physlora_2x2      (opt-in) physlora with batch 2 x grad-accum 2.

All variants: LoRA r=8, alpha=16, dropout 0.1 on q_proj,v_proj, lr 2e-4, fp32, no gradient
checkpointing (TRL's own defaults turn on gradient checkpointing and bf16; `--trl-defaults` keeps
them), max_length 256 (TRL's default is 1024; with packing it is the bin size, so trl_packing sees
~2x the examples per step), torch threads = cores, max_new_tokens=100 greedy.
Timings are wall clock: on a shared machine other jobs distort them (the table shows the load).

Measurements (the same code for every variant):
  * useful tokens: non-pad tokens of each training forward pass, counted by a forward pre-hook on
    the base model (attention_mask.sum(), or every token of a padding-free row);
  * train seconds: wall time of `Trainer.train()` only (model load and tokenization excluded);
  * seconds per optimizer step: train seconds / steps (and the median of per-step times);
  * eval examples/s: eval questions / wall time of generation;
  * peak RSS: ru_maxrss of the variant's process at the end (after training and generation).

Results: a table on stdout and every number in bench/results/throughput.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
BUNDLED_TRAIN = ROOT / "src" / "physlora" / "bundled" / "freeform" / "train.jsonl"
FIXTURE = ROOT / "tests" / "fixtures" / "mini.jsonl"
VARIANTS = ["reference", "trl", "trl_packing", "physlora", "physlora_packing", "physlora_1x4", "physlora_bf16"]
EXTRA_VARIANTS = ["physlora_2x2"]  # opt-in (--variants): physlora with batch 2 x grad-accum 2, same 4 examples/step
# examples per micro-batch (x grad-accum = 4 examples per optimizer step for every variant)
PHYSLORA_BATCH = {"physlora": 4, "physlora_packing": 4, "physlora_1x4": 1, "physlora_2x2": 2, "physlora_bf16": 4}
FP32_PHYSLORA = [k for k in PHYSLORA_BATCH if k != "physlora_bf16"]  # the same precision as the reference
WITH_GENERATION = {"reference", "physlora"}  # physlora_packing generates with the same code as physlora

LORA = dict(r=8, alpha=16, dropout=0.1, target_modules=["q_proj", "v_proj"])
LEARNING_RATE = 2e-4
MAX_LENGTH = 256  # the reference's max_length; used as the truncation length by every variant
MAX_NEW_TOKENS = 100
GEN_BATCH = 64  # physlora's default eval.batch_size
SEED = 42


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


# ====================================================================== shared by all variants


def load_data(eval_examples: int):
    """(train records, eval records, description): the bundled free-form set if present, else the fixture."""
    from physlora.data.sources import load_records

    if BUNDLED_TRAIN.is_file():
        train = load_records("physlora-physics", "train").records
        try:
            evals = load_records("physlora-physics", "test").records
            source = "physlora-physics (bundled): train split / test split"
        except Exception:
            evals, source = train, "physlora-physics (bundled): train split (no test split)"
    else:
        train = evals = load_records(str(FIXTURE)).records
        source = f"{FIXTURE.relative_to(ROOT)} (bundled set not present)"
    evals = [evals[i % len(evals)] for i in range(eval_examples)]  # cycles when the set is smaller
    return train, evals, source


class TokenCounter:
    """Counts what each *training* forward pass of the base model processes."""

    def __init__(self, model):
        self.useful = self.total = self.sequences = self.forwards = 0
        self.handle = model.register_forward_pre_hook(self._hook, with_kwargs=True)

    def _hook(self, module, args, kwargs):
        if not module.training:
            return
        ids = kwargs.get("input_ids", args[0] if args else None)
        mask, pos = kwargs.get("attention_mask"), kwargs.get("position_ids")
        self.forwards += 1
        self.total += ids.numel()
        self.useful += int(mask.sum()) if mask is not None else ids.numel()
        if mask is None and pos is not None and ids.shape[0] == 1:  # padding-free: sequences restart at 0
            self.sequences += int((pos == 0).sum())
        else:
            self.sequences += ids.shape[0]

    def remove(self):
        self.handle.remove()


def step_timer(counter: TokenCounter):
    """Per optimizer step: wall seconds and useful tokens (for a contention-robust median rate)."""
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        def __init__(self):
            self.steps: list[tuple[float, int]] = []
            self._start = None

        def on_step_begin(self, args, state, control, **kw):
            self._start = (time.perf_counter(), counter.useful)

        def on_step_end(self, args, state, control, **kw):
            if self._start is not None:
                t, n = self._start
                self.steps.append((time.perf_counter() - t, counter.useful - n))

    return StepTimer()


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def load(model_name: str):
    from physlora.models.loading import load_model

    t = time.perf_counter()
    lm = load_model(model_name, device="cpu", dtype="float32")
    return lm.model, lm.tokenizer, time.perf_counter() - t


def train_stats(counter: TokenCounter, seconds: float, cpu: float, steps: int, timer, losses: list[float],
                n_params: int) -> dict:
    useful_per_s = counter.useful / seconds
    return {
        "seconds": seconds,
        "cpu_seconds": cpu,  # user+sys of this process during training; ~cores x seconds when uncontended
        "steps": steps,
        "useful_tokens": counter.useful,
        "total_tokens": counter.total,
        "padding_fraction": 1 - counter.useful / max(counter.total, 1),
        "sequences": counter.sequences,
        "sequences_per_step": counter.sequences / max(steps, 1),
        "forward_passes": counter.forwards,
        "useful_tokens_per_s": useful_per_s,
        "seconds_per_step": seconds / max(steps, 1),
        "median_step_seconds": statistics.median(dt for dt, _ in timer.steps) if timer.steps else None,
        # median over steps of (step's useful tokens / step's seconds): robust to other jobs' CPU bursts
        "median_step_useful_tokens_per_s": statistics.median(n / dt for dt, n in timer.steps) if timer.steps else None,
        "flops_per_s_6nd": 6 * n_params * useful_per_s,
        "first_loss": losses[0] if losses else None,
        "last_loss": losses[-1] if losses else None,
    }


def losses_of(trainer) -> list[float]:
    return [h["loss"] for h in trainer.state.log_history if "loss" in h]


def training_args_common(out: Path, steps: int) -> dict:
    return dict(
        output_dir=str(out),
        max_steps=steps,
        learning_rate=LEARNING_RATE,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        seed=SEED,
        dataloader_num_workers=0,
        disable_tqdm=True,
    )


# ====================================================================== the variants


def run_reference(args, out: Path) -> dict:
    """The reference recipe: fixed-length plain-text rows, loss on every position (pads too)."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig, get_peft_model
    from transformers import Trainer, TrainingArguments, set_seed

    from physlora.prompting import PLAIN_PROMPT

    set_seed(SEED)
    model, tok, load_s = load(args.model)
    train, evals, _ = load_data(args.eval_examples)
    texts = [PLAIN_PROMPT.format(question=r.question) + " " + r.answer for r in train]

    def tokenize(batch):
        enc = tok(batch["text"], padding="max_length", max_length=MAX_LENGTH, truncation=True)
        enc["labels"] = [list(ids) for ids in enc["input_ids"]]  # pads included, as in the reference
        return enc

    ds = Dataset.from_dict({"text": texts}).map(tokenize, batched=True, remove_columns=["text"])
    cfg = LoraConfig(r=LORA["r"], lora_alpha=LORA["alpha"], lora_dropout=LORA["dropout"],
                     target_modules=LORA["target_modules"], task_type="CAUSAL_LM", bias="none")
    counter = TokenCounter(model)
    peft_model = get_peft_model(model, cfg)
    timer = step_timer(counter)
    trainer = Trainer(
        model=peft_model,
        args=TrainingArguments(per_device_train_batch_size=1, gradient_accumulation_steps=4,
                               **training_args_common(out, args.steps)),
        train_dataset=ds,
        callbacks=[timer],
    )
    t, c = time.perf_counter(), cpu_seconds()
    trainer.train()
    seconds, cpu = time.perf_counter() - t, cpu_seconds() - c
    counter.remove()
    rss_train = peak_rss_mb()
    n_params = sum(p.numel() for p in peft_model.parameters())
    steps = trainer.state.global_step
    result = {"load_seconds": load_s, "n_params": n_params,
              "train": train_stats(counter, seconds, cpu, steps, timer, losses_of(trainer), n_params),
              "peak_rss_mb_after_train": rss_train}

    # generation: one example at a time, greedy, plain prompt; the reference decoded prompt + answer
    peft_model.eval()
    new_tokens = 0
    t = time.perf_counter()
    with torch.inference_mode():
        for r in evals:
            enc = tok(PLAIN_PROMPT.format(question=r.question), return_tensors="pt")
            gen = peft_model.generate(**enc, max_new_tokens=MAX_NEW_TOKENS, do_sample=False, temperature=None,
                                      top_p=None, top_k=None, pad_token_id=tok.pad_token_id)
            new_tokens += gen.shape[1] - enc["input_ids"].shape[1]
            tok.decode(gen[0], skip_special_tokens=True)
    gen_s = time.perf_counter() - t
    result["generation"] = {"mode": "one at a time, plain prompt, prompt+answer decoded", "examples": len(evals),
                            "seconds": gen_s, "examples_per_s": len(evals) / gen_s,
                            "mean_new_tokens": new_tokens / len(evals), "new_tokens_per_s": new_tokens / gen_s}
    return result


def run_trl(args, out: Path, packing: bool) -> dict:
    """TRL SFTTrainer on prompt/completion data; completion-only loss; batch padding or BFD packing."""
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import set_seed
    from trl import SFTConfig, SFTTrainer

    from physlora.config import DEFAULT_SYSTEM_PROMPT
    from physlora.prompting import build_completion, build_prompt

    set_seed(SEED)
    model, tok, load_s = load(args.model)
    train, _, _ = load_data(args.eval_examples)
    ds = Dataset.from_dict({
        "prompt": [build_prompt(tok, r.question, DEFAULT_SYSTEM_PROMPT) for r in train],
        "completion": [build_completion(tok, r.question, r.answer, DEFAULT_SYSTEM_PROMPT) for r in train],
    })
    overrides = {} if args.trl_defaults else {"bf16": False, "gradient_checkpointing": False}
    config = SFTConfig(per_device_train_batch_size=4, gradient_accumulation_steps=1, packing=packing,
                       max_length=MAX_LENGTH, **overrides, **training_args_common(out, args.steps))
    cfg = LoraConfig(r=LORA["r"], lora_alpha=LORA["alpha"], lora_dropout=LORA["dropout"],
                     target_modules=LORA["target_modules"], task_type="CAUSAL_LM", bias="none")
    counter = TokenCounter(model)
    timer = step_timer(counter)
    trainer = SFTTrainer(model=model, args=config, train_dataset=ds, processing_class=tok, peft_config=cfg,
                         callbacks=[timer])
    t, c = time.perf_counter(), cpu_seconds()
    trainer.train()
    seconds, cpu = time.perf_counter() - t, cpu_seconds() - c
    counter.remove()
    n_params = sum(p.numel() for p in trainer.model.parameters())
    return {"load_seconds": load_s, "n_params": n_params,
            "settings": {"packing": packing, "padding_free": bool(getattr(trainer, "padding_free", False)),
                         "completion_only_loss": bool(getattr(trainer, "completion_only_loss", False)),
                         "bf16": config.bf16, "gradient_checkpointing": config.gradient_checkpointing,
                         "max_length": config.max_length},
            "train": train_stats(counter, seconds, cpu, trainer.state.global_step, timer, losses_of(trainer),
                                 n_params),
            "peak_rss_mb_after_train": peak_rss_mb()}


def run_physlora(args, out: Path, packing: bool, batch: int = 4, bf16: bool = False) -> dict:
    """physlora's own training and generation code, as `physlora run` uses it."""
    from physlora.config import DEFAULT_SYSTEM_PROMPT, LoraSection, TrainSection
    from physlora.inference.generate import generate_answers
    from physlora.training.sft import train_lora

    model, tok, load_s = load(args.model)
    train, evals, _ = load_data(args.eval_examples)
    section = TrainSection(max_steps=args.steps, learning_rate=LEARNING_RATE, batch_size=batch, grad_accum=4 // batch,
                           warmup_steps=0, max_length=MAX_LENGTH, packing=packing, group_by_length=True, bf16=bf16,
                           save_steps=args.steps + 1)  # no mid-run checkpoint (the others save none either)
    counter = TokenCounter(model)
    timer = step_timer(counter)
    c = cpu_seconds()
    peft_model, res = train_lora(model, tok, train, out, lora=LoraSection(**LORA), train=section,
                                 system_prompt=DEFAULT_SYSTEM_PROMPT, seed=SEED, extra_callbacks=[timer])
    cpu = cpu_seconds() - c  # includes tokenization and the adapter save around Trainer.train()
    counter.remove()
    n_params = sum(p.numel() for p in peft_model.parameters())
    losses = [row["loss"] for row in res.losses if "loss" in row]
    result = {"load_seconds": load_s, "n_params": n_params,
              "train": train_stats(counter, res.seconds, cpu, res.steps, timer, losses, n_params),
              "peak_rss_mb_after_train": peak_rss_mb()}
    result["train"]["physlora_reported_tokens"] = res.train_tokens
    if not args.with_generation:
        return result

    questions = [r.question for r in evals]
    t = time.perf_counter()
    batched = generate_answers(peft_model, tok, questions, system_prompt=DEFAULT_SYSTEM_PROMPT,
                               max_new_tokens=MAX_NEW_TOKENS, batch_size=GEN_BATCH)
    gen_s = time.perf_counter() - t
    rss_gen = peak_rss_mb()
    t = time.perf_counter()
    single = generate_answers(peft_model, tok, questions, system_prompt=DEFAULT_SYSTEM_PROMPT,
                              max_new_tokens=MAX_NEW_TOKENS, batch_size=1)
    single_s = time.perf_counter() - t
    same = [a == b for a, b in zip(batched, single)]
    lengths = [len(tok(a, add_special_tokens=False)["input_ids"]) for a in single]
    result["generation"] = {
        "mode": f"generate_answers, batch {GEN_BATCH}, chat prompt, new tokens decoded",
        "examples": len(questions), "seconds": gen_s, "examples_per_s": len(questions) / gen_s,
        "mean_answer_tokens": sum(lengths) / len(lengths), "peak_rss_mb_after_batched": rss_gen,
    }
    result["generation_equality"] = {
        "one_at_a_time_seconds": single_s,
        "one_at_a_time_examples_per_s": len(questions) / single_s,
        "batched_speedup": single_s / gen_s,
        "identical": sum(same), "examples": len(same), "identical_fraction": sum(same) / len(same),
        "mismatches": [{"index": i, "batched": b[:300], "one_at_a_time": s[:300]}
                       for i, (b, s, ok) in enumerate(zip(batched, single, same)) if not ok],
    }
    return result


def run_variant(args) -> None:
    """Child process: run one variant, write its numbers (or its error) to --json-out."""
    import torch

    torch.set_num_threads(cores())
    result: dict = {"variant": args.variant, "ok": True, "threads": torch.get_num_threads(),
                    "loadavg_1min_at_start": os.getloadavg()[0]}
    try:
        with tempfile.TemporaryDirectory(prefix=f"bench-{args.variant}-") as tmp:
            out = Path(tmp)
            if args.variant == "reference":
                result.update(run_reference(args, out))
            elif args.variant in ("trl", "trl_packing"):
                result.update(run_trl(args, out, packing=args.variant == "trl_packing"))
            elif args.variant in PHYSLORA_BATCH:
                args.with_generation = args.variant == "physlora"
                result.update(run_physlora(args, out, packing=args.variant == "physlora_packing",
                                           batch=PHYSLORA_BATCH[args.variant], bf16=args.variant == "physlora_bf16"))
            else:
                raise ValueError(f"unknown variant {args.variant}")
    except Exception as e:  # recorded in the table; the other variants still run
        result.update(ok=False, error=f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:400],
                      traceback=traceback.format_exc()[-3000:])
    result["peak_rss_mb"] = peak_rss_mb()
    result["loadavg_1min_at_end"] = os.getloadavg()[0]
    Path(args.json_out).write_text(json.dumps(result, indent=2))
    print(json.dumps({k: v for k, v in result.items() if k != "traceback"}, indent=2))


# ====================================================================== the orchestrator


def matmul_peak(n: int = 2048, repeats: int = 5) -> dict:
    """Best fp32 torch.matmul FLOP/s over a few n x n products (FLOP = 2 n^3)."""
    import torch

    torch.set_num_threads(cores())
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.matmul(a, b)  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        torch.matmul(a, b)
        best = min(best, time.perf_counter() - t)
    return {"n": n, "repeats": repeats, "best_seconds": best, "flops_per_s": 2 * n**3 / best,
            "threads": torch.get_num_threads()}


def run_child(variant: str, args, logs: Path) -> dict:
    out = logs / f"{variant}.json"
    out.unlink(missing_ok=True)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--variant", variant, "--json-out", str(out),
           "--model", args.model, "--steps", str(args.steps), "--eval-examples", str(args.eval_examples)]
    if args.trl_defaults:
        cmd.append("--trl-defaults")
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "TRANSFORMERS_VERBOSITY": "error", "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get(
               "PYTHONPATH", "")}
    t = time.perf_counter()
    with (logs / f"{variant}.log").open("w") as log:
        try:
            proc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, timeout=args.timeout)
            rc = proc.returncode
        except subprocess.TimeoutExpired:
            rc = "timeout"
    wall = time.perf_counter() - t
    if out.is_file():
        result = json.loads(out.read_text())
    else:
        tail = (logs / f"{variant}.log").read_text(errors="replace").strip().splitlines()[-5:]
        result = {"variant": variant, "ok": False, "error": f"exit {rc}: " + " | ".join(tail)[-400:]}
    result["process_wall_seconds"] = wall
    return result


def ratios(results: dict) -> dict:
    ref = results.get("reference", {})
    if not ref.get("ok"):
        return {}

    def get(r, *keys):
        for k in keys:
            r = (r or {}).get(k)
        return r

    out = {}
    for name, r in results.items():
        if not r.get("ok"):
            continue
        row = {}
        for key, path in [("useful_tokens_per_s", ("train", "useful_tokens_per_s")),
                          ("seconds_per_step", ("train", "seconds_per_step")),
                          ("eval_examples_per_s", ("generation", "examples_per_s")),
                          ("peak_rss_mb", ("peak_rss_mb",))]:
            a, b = get(r, *path), get(ref, *path)
            row[key] = a / b if a is not None and b else None
        out[name] = row
    return out


def targets(results: dict, rat: dict) -> dict:
    ok = {k: v for k, v in results.items() if v.get("ok")}
    tps = {k: v["train"]["useful_tokens_per_s"] for k, v in ok.items()}
    phys = max((tps[k] for k in FP32_PHYSLORA if k in tps), default=None)
    trl_best = max((tps[k] for k in ("trl", "trl_packing") if k in tps), default=None)
    ref = tps.get("reference")
    eq = ok.get("physlora", {}).get("generation_equality")
    gen_ratio = rat.get("physlora", {}).get("eval_examples_per_s")
    rss = {k: ok[k]["peak_rss_mb"] for k in ("reference", *PHYSLORA_BATCH) if k in ok}
    med = {k: v["train"]["median_step_useful_tokens_per_s"] for k, v in ok.items()}
    m_phys = max((med[k] for k in FP32_PHYSLORA if med.get(k)), default=None)
    m_trl = max((med[k] for k in ("trl", "trl_packing") if med.get(k)), default=None)
    m_ref = med.get("reference")
    t = {
        "train_tokens_per_s >= 3x reference (best fp32 physlora)": None if phys is None or ref is None else phys >= 3 * ref,
        "train_tokens_per_s >= TRL's best (best fp32 physlora)": None if phys is None or trl_best is None
        else phys >= trl_best,
        "(median-step rate) train tokens/s >= 3x reference": None if not (m_phys and m_ref) else m_phys >= 3 * m_ref,
        "(median-step rate) train tokens/s >= TRL's best": None if not (m_phys and m_trl) else m_phys >= m_trl,
        # the reference's loop (one example per generate call) on the same prompts, so the answers can be compared
        "(bf16 autocast, not like-for-like) physlora_bf16 train tokens/s >= 3x reference":
        None if ref is None or "physlora_bf16" not in tps else tps["physlora_bf16"] >= 3 * ref,
        "eval examples/s >= 4x one-at-a-time loop (same prompts)": None if not eq else eq["batched_speedup"] >= 4,
        "identical greedy answers >= 95%": None if not eq else eq["identical_fraction"] >= 0.95,
        "(as written: own prompt, stops earlier) eval examples/s >= 4x reference": None if gen_ratio is None
        else gen_ratio >= 4,
    }
    for k in PHYSLORA_BATCH:
        if k in rss and "reference" in rss:
            t[f"peak RSS {k} <= reference"] = rss[k] <= rss["reference"]
    if ref is not None and "reference" in rss:
        both = [k for k in FP32_PHYSLORA if k in tps and tps[k] >= 3 * ref and rss.get(k, 1e18) <= rss["reference"]]
        t["one fp32 physlora setting with >= 3x tokens/s AND peak RSS <= reference"] = bool(both)
        if both:
            t["  ... namely"] = ", ".join(both)
    return t


def fmt(x, spec=".1f", suffix=""):
    return "-" if x is None else f"{x:{spec}}{suffix}"


def print_table(report: dict) -> None:
    results, rat, peak = report["variants"], report["ratios_vs_reference"], report["matmul_peak"]["flops_per_s"]
    cols = ["variant", "useful tok/s", "vs ref", "median-step tok/s", "s/step", "vs ref", "seq/step", "pad %",
            "eval ex/s", "vs ref", "peak RSS MB", "vs ref", "6ND GFLOP/s", "MFU", "load"]
    rows = []
    for name, r in results.items():
        if not r.get("ok"):
            rows.append([name, "ERROR: " + r.get("error", "?")[:150]] + [""] * (len(cols) - 2))
            continue
        tr, g, q = r["train"], r.get("generation") or {}, rat.get(name, {})
        rows.append([name, fmt(tr["useful_tokens_per_s"]), fmt(q.get("useful_tokens_per_s"), ".2f", "x"),
                     fmt(tr["median_step_useful_tokens_per_s"]), fmt(tr["seconds_per_step"], ".2f"),
                     fmt(q.get("seconds_per_step"), ".2f", "x"),
                     fmt(tr["sequences_per_step"], ".1f"), fmt(100 * tr["padding_fraction"], ".0f"),
                     fmt(g.get("examples_per_s"), ".3f"), fmt(q.get("eval_examples_per_s"), ".2f", "x"),
                     fmt(r["peak_rss_mb"], ".0f"), fmt(q.get("peak_rss_mb"), ".2f", "x"),
                     fmt(tr["flops_per_s_6nd"] / 1e9, ".1f"), fmt(100 * tr["flops_per_s_6nd"] / peak, ".1f", "%"),
                     f"{r['loadavg_1min_at_start']:.1f}-{r['loadavg_1min_at_end']:.1f}"])
    try:
        from rich.console import Console
        from rich.table import Table

        table = Table(title=f"throughput: {report['config']['model']}, {report['config']['steps']} steps, "
                            f"{report['config']['eval_examples']} eval examples, {report['machine']['cores']} cores")
        for i, c in enumerate(cols):
            table.add_column(c, justify="left" if i == 0 else "right")
        for row in rows:
            table.add_row(*row)
        Console(width=200).print(table)
    except ImportError:
        widths = [max(len(str(x)) for x in col) for col in zip(cols, *rows)]
        for row in [cols, *rows]:
            print("  ".join(str(x).rjust(w) for x, w in zip(row, widths)))

    print(f"6ND GFLOP/s = 6 x n_params ({max((r.get('n_params', 0) for r in results.values()), default=0) / 1e6:.1f}M, frozen base "
          "included) x useful tokens / train seconds: the 6ND approximation, counting the frozen base's "
          "forward+backward as if all weights were trained;")
    print(f"MFU against the measured fp32 matmul peak {peak / 1e9:.1f} GFLOP/s "
          f"({report['matmul_peak']['n']}^3 x2 FLOP, best of {report['matmul_peak']['repeats']}). "
          "pad % = share of processed tokens that are padding; seq/step = examples per optimizer step;\n"
          "median-step tok/s = median over optimizer steps of step tokens / step seconds (robust to bursts of "
          "other jobs); load = 1-min load average at the variant's start-end (> 0.5 before start: the machine "
          "was shared, timings are noisy).")
    for name, r in results.items():
        g = r.get("generation")
        if r.get("ok") and g:
            extra = (f", mean {g['mean_new_tokens']:.0f} new tokens" if "mean_new_tokens" in g
                     else f", mean answer {g['mean_answer_tokens']:.0f} tokens")
            print(f"generation {name}: {g['mode']}: {g['examples_per_s']:.3f} ex/s{extra}")
    eq = results.get("physlora", {}).get("generation_equality")
    if eq:
        print(f"physlora batched ({GEN_BATCH}) vs one-at-a-time greedy (same chat prompts): "
              f"{eq['identical']}/{eq['examples']} identical ({100 * eq['identical_fraction']:.0f}%), "
              f"{eq['one_at_a_time_examples_per_s']:.3f} -> {results['physlora']['generation']['examples_per_s']:.3f} "
              f"ex/s ({eq['batched_speedup']:.2f}x)")
    for name, r in results.items():
        if not r.get("ok"):
            print(f"{name} failed: {r.get('error')}")
    print("targets:")
    for k, v in report["targets"].items():
        if isinstance(v, str):
            print(f"        {k.strip()} {v}")
        else:
            print(f"  {'PASS' if v else ('n/a ' if v is None else 'MISS')}  {k}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="smollm2-135m-instruct")
    p.add_argument("--steps", type=int, default=12, help="optimizer steps per variant")
    p.add_argument("--eval-examples", type=int, default=24)
    p.add_argument("--variants", nargs="+", default=VARIANTS, choices=VARIANTS + EXTRA_VARIANTS)
    p.add_argument("--trl-defaults", action="store_true",
                   help="keep TRL's gradient_checkpointing=True / bf16=True defaults")
    p.add_argument("--timeout", type=float, default=1800, help="seconds per variant")
    p.add_argument("--out", default=str(RESULTS / "throughput.json"))
    p.add_argument("--variant", help=argparse.SUPPRESS)  # internal: run one variant in this process
    p.add_argument("--json-out", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.variant:
        run_variant(args)
        return 0

    started = time.perf_counter()
    sys.path.insert(0, str(ROOT / "src"))
    import torch
    import transformers

    RESULTS.mkdir(parents=True, exist_ok=True)
    logs = RESULTS / "logs"
    logs.mkdir(exist_ok=True)
    _, _, data_source = load_data(args.eval_examples)
    peak = matmul_peak()
    print(f"fp32 matmul peak: {peak['flops_per_s'] / 1e9:.1f} GFLOP/s on {peak['threads']} threads", flush=True)
    results = {}
    for v in args.variants:
        print(f"[{time.perf_counter() - started:6.0f}s] running {v} ...", flush=True)
        results[v] = run_child(v, args, logs)
        r = results[v]
        print(f"         {v}: " + (f"{r['train']['useful_tokens_per_s']:.1f} useful tok/s, "
                                   f"{r['process_wall_seconds']:.0f}s wall" if r.get("ok") else
                                   f"FAILED: {r.get('error')}"), flush=True)

    def version(pkg):
        try:
            return __import__(pkg).__version__
        except Exception:
            return None

    rat = ratios(results)
    report = {
        "config": {"model": args.model, "steps": args.steps, "eval_examples": args.eval_examples,
                   "data": data_source, "max_length": MAX_LENGTH, "max_new_tokens": MAX_NEW_TOKENS,
                   "generation_batch": GEN_BATCH, "lora": LORA, "learning_rate": LEARNING_RATE,
                   "examples_per_step": 4, "trl_defaults": args.trl_defaults},
        "machine": {"cores": cores(), "torch": torch.__version__, "transformers": transformers.__version__,
                    "trl": version("trl"), "peft": version("peft"), "python": sys.version.split()[0]},
        "matmul_peak": peak,
        "notes": {
            "flops_per_s_6nd": "6 * n_params * useful_tokens / train_seconds: the 6ND approximation, counting "
                               "the frozen base's forward+backward as if trained (its weight grads are not "
                               "actually computed, so the real work is closer to 4ND)",
            "mfu": "flops_per_s_6nd / matmul_peak.flops_per_s",
            "useful_tokens": "non-pad tokens of training forward passes (forward pre-hook on the base model)",
        },
        "variants": results,
        "ratios_vs_reference": rat,
    }
    for name, r in results.items():
        if r.get("ok"):
            r["train"]["mfu"] = r["train"]["flops_per_s_6nd"] / peak["flops_per_s"]
    report["targets"] = targets(results, rat)
    report["wall_seconds"] = time.perf_counter() - started
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print()
    print_table(report)
    print(f"data: {data_source}; wall time {report['wall_seconds']:.0f}s; numbers in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
