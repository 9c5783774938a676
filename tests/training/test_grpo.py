"""GRPO with the real embedded model: data selection, a few real steps that change the adapter, the logs,
the samples file, starting from a saved adapter."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from physlora.config import load_config
from physlora.data.records import Record
from physlora.errors import PhysloraError
from physlora.training.grpo import LOG_NAME, SAMPLES_NAME, grpo_arguments, grpo_rows, train_grpo

SYSTEM = "You are a physicist. Answer concisely. End with a last line 'Answer: <number> <unit>'."

# short one-step items in our own words; a 135M model gets some right and some wrong, so groups have spread
ITEMS = [
    Record("k1", "A cyclist covers 100 m in 5 s at constant speed. What is her speed?", "v = d / t = 100 m / 5 s = 20 m/s."),
    Record("k2", "A 2 kg box accelerates at 3 m/s^2. What net force acts on it?", "F = m a = 2 kg * 3 m/s^2 = 6 N."),
    Record("k3", "A 4 ohm resistor carries 2 A. What is the voltage across it?", "V = I R = 2 A * 4 ohm = 8 V."),
    Record("k4", "A lamp uses 60 J of energy every 2 s. What is its power?", "P = E / t = 60 J / 2 s = 30 W."),
    Record("c1", "Why is the sky blue?", "Air molecules scatter short wavelengths more strongly (Rayleigh scattering)."),
    Record("m1", "Which quantity is a vector?", "Velocity", choices=["Speed", "Velocity", "Mass", "Energy"]),
]


def _cfg(*overrides: str):
    return load_config(None, [
        "train.report_to=[]", "train.grpo.prompts_per_step=2", "train.grpo.num_generations=4",
        "train.grpo.max_completion_length=16", "train.grpo.temperature=1.2", "train.grpo.learning_rate=1e-3", "train.grpo.samples_every=1",
        "train.grpo.samples_per_step=3", "train.grpo.save_steps=100", "train.num_threads=1", *overrides,
    ])


def test_rows_keep_gradable_references_and_count_the_rest(tokenizer):
    cfg = _cfg("train.grpo.answer_kinds=[quantity]")
    data = grpo_rows(ITEMS, tokenizer, SYSTEM, cfg.train.grpo)
    assert [r["id"] for r in data.rows] == ["k1", "k2", "k3", "k4"]
    assert data.left_out == {"reference not gradable": 1, "mc answers not in train.grpo.answer_kinds": 1}
    row = data.rows[0]
    # the prompt is physlora's (chat template + system prompt), token ids exactly as evaluation encodes them
    from physlora.prompting import encode_prompt

    assert data.prompt_ids[row["prompt"]] == encode_prompt(tokenizer, ITEMS[0].question, SYSTEM)
    assert row["answer_kind"] == "quantity" and row["answer"] == ITEMS[0].answer
    mc = grpo_rows(ITEMS, tokenizer, SYSTEM, _cfg().train.grpo)
    assert mc.kinds == {"quantity": 4, "mc": 1} and "B. Velocity" in mc.rows[-1]["prompt"]
    short = grpo_rows(ITEMS, tokenizer, SYSTEM, _cfg("train.grpo.max_prompt_length=20").train.grpo)
    assert not short.rows and sum(short.left_out.values()) == len(ITEMS)


def test_batch_shape_errors_are_one_line(tmp_path):
    cfg = _cfg("train.grpo.prompts_per_step=3", "train.grpo.num_generations=2", "train.grpo.grad_accum=4")
    with pytest.raises(PhysloraError, match="split evenly"):
        grpo_arguments(tmp_path, cfg.train, 0, False, [1.0])


def test_no_gradable_rows_is_a_clear_error(small, tmp_path):
    cfg = _cfg()
    with pytest.raises(PhysloraError, match="no GRPO training data"):
        train_grpo(small.model, small.tokenizer, [ITEMS[4]], tmp_path, lora=cfg.lora, train=cfg.train,
                   system_prompt=SYSTEM)


@pytest.mark.slow
def test_a_few_grpo_steps_change_the_adapter(tmp_path):
    from physlora.models.loading import load_model

    loaded = load_model("smollm2-135m-instruct", device="cpu")  # its own copy: training wraps it in LoRA
    cfg = _cfg("train.grpo.max_steps=2", "train.grpo.answer_kinds=[quantity]", "train.grpo.save_steps=1")
    model, result = train_grpo(loaded.model, loaded.tokenizer, ITEMS, tmp_path, lora=cfg.lora, train=cfg.train,
                               system_prompt=SYSTEM, seed=3)
    assert result.steps == 2
    log = [json.loads(line) for line in (tmp_path / LOG_NAME).read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2]
    for key in ("rewards/correctness/mean", "rewards/partial/mean", "rewards/answer_format/mean", "reward_std",
                "frac_reward_zero_std", "reward_group_std", "completions/mean_length", "kl", "time/generation_s",
                "time/reward_s", "time/update_s"):
        assert key in log[0], key
    # the partial credit's purpose: at least one group of four completions did not score all alike
    assert min(r["frac_reward_zero_std"] for r in log) < 1.0
    # a fresh LoRA adapter starts with B = 0; GRPO's updates moved it
    weights = load_file(str(result.adapter_dir / "adapter_model.safetensors"))
    lora_b = [w for name, w in weights.items() if "lora_B" in name]
    assert lora_b and max(float(w.abs().max()) for w in lora_b) > 0
    assert not (result.adapter_dir / "ref").exists()  # TRL's KL reference is not part of the saved adapter
    samples = [json.loads(line) for line in (tmp_path / SAMPLES_NAME).read_text().splitlines()]
    assert len(samples) == 6 and set(samples[0]["rewards"]) == {"correctness", "partial", "answer_format"}
    assert result.reward_counters["correctness"]["calls"] == 2 * 8
    assert result.reward_counters["correctness"]["errors"] == 0

    # --resume with more steps continues from the last checkpoint (step 2): one more step, the log kept
    more = _cfg("train.grpo.max_steps=3", "train.grpo.answer_kinds=[quantity]", "train.grpo.save_steps=1")
    fresh = load_model("smollm2-135m-instruct", device="cpu")  # as a rerun of the command would load it
    _, resumed = train_grpo(fresh.model, fresh.tokenizer, ITEMS, tmp_path, lora=more.lora,
                            train=more.train, system_prompt=SYSTEM, seed=3, resume=True)
    assert resumed.steps == 3 and resumed.reward_counters["correctness"]["calls"] == 8
    log_after = [json.loads(line) for line in (tmp_path / LOG_NAME).read_text().splitlines()]
    assert [r["step"] for r in log_after] == [1, 2, 3] and log_after[:2] == log

    # --resume again from the finished run's last checkpoint (step 3 = max_steps): no step more, no reward call
    again = load_model("smollm2-135m-instruct", device="cpu")
    _, finished = train_grpo(again.model, again.tokenizer, ITEMS, tmp_path, lora=more.lora,
                             train=more.train, system_prompt=SYSTEM, seed=3, resume=True)
    assert finished.steps == 3 and finished.reward_counters["correctness"]["calls"] == 0
    assert [json.loads(line) for line in (tmp_path / LOG_NAME).read_text().splitlines()] == log_after


def test_init_adapter_that_is_not_an_adapter_is_a_clear_error(small, tmp_path):
    cfg = _cfg(f"train.init_adapter={tmp_path}")
    with pytest.raises(PhysloraError, match="no adapter_config.json"):
        train_grpo(small.model, small.tokenizer, ITEMS, tmp_path / "out", lora=cfg.lora, train=cfg.train,
                   system_prompt=SYSTEM)
