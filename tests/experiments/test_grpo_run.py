"""`physlora run` with train.method=grpo from a saved adapter, end to end with the real model: before = the
starting adapter, after = GRPO, on the gradable items only, with the GRPO section in the report; --resume
after training reuses everything."""

from __future__ import annotations

import json

import pytest

from physlora.cli import main

# quantitative items in our own words (numbers with units); two conceptual ones the grader cannot read back
ROWS = [
    ("q1", "A cyclist covers 100 m in 5 s at constant speed. What is her speed?", "v = d / t = 100 m / 5 s = 20 m/s."),
    ("q2", "A 2 kg box accelerates at 3 m/s^2. What net force acts on it?", "F = m a = 2 kg * 3 m/s^2 = 6 N."),
    ("q3", "A 4 ohm resistor carries 2 A. What voltage is across it?", "V = I R = 2 A * 4 ohm = 8 V."),
    ("q4", "A lamp uses 60 J every 2 s. What is its power?", "P = E / t = 60 J / 2 s = 30 W."),
    ("q5", "A 3 kg stone is held 2 m above the floor. What is its potential energy (g = 10 m/s^2)?",
     "U = m g h = 3 kg * 10 m/s^2 * 2 m = 60 J."),
    ("c1", "Why is the sky blue?", "Air molecules scatter short wavelengths more strongly than long ones."),
]
TEST_ROWS = [
    ("t1", "A runner covers 400 m in 80 s. What is his average speed?", "v = 400 m / 80 s = 5 m/s."),
    ("t2", "A 5 kg cart accelerates at 2 m/s^2. What net force acts on it?", "F = m a = 5 kg * 2 m/s^2 = 10 N."),
    ("t3", "A 6 V battery drives 3 A. What resistance is in the circuit?", "R = V / I = 6 V / 3 A = 2 ohm."),
    ("c2", "Why do we see lightning before we hear thunder?", "Light travels far faster than sound in air."),
]
SYSTEM = "You are a physicist. Answer concisely. End with a last line 'Answer: <number> <unit>'."


def _write(path, rows):
    path.write_text("".join(json.dumps({"id": i, "question": q, "answer": a}) + "\n" for i, q, a in rows))
    return path


@pytest.fixture(scope="module")
def grpo_run(tmp_path_factory):
    import torch
    from peft import LoraConfig, get_peft_model

    from physlora.models.loading import load_model

    tmp = tmp_path_factory.mktemp("grpo-run")
    train, test = _write(tmp / "train.jsonl", ROWS), _write(tmp / "test.jsonl", TEST_ROWS)
    torch.manual_seed(0)  # a non-trivial starting adapter (an "SFT" adapter stands in: r=4 on q, v)
    start = get_peft_model(load_model("smollm2-135m-instruct", device="cpu").model,
                           LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    start.save_pretrained(str(tmp / "sft"))
    args = ["run", "--data", str(train), "--eval-data", str(test), f"output_dir={tmp}", "name=grpo",
            "--system-prompt", SYSTEM, "train.method=grpo", f"train.init_adapter={tmp / 'sft'}",
            "train.report_to=[]", "train.num_threads=1", "train.grpo.max_steps=1", "train.grpo.prompts_per_step=2",
            "train.grpo.num_generations=2", "train.grpo.max_completion_length=16", "train.grpo.samples_every=1",
            "train.grpo.answer_kinds=[quantity]", "eval.answer_kinds=[quantity]", "eval.max_new_tokens=16",
            "eval.semantic=false", "eval.bootstrap_resamples=200"]
    assert main(args) == 0
    return tmp / "grpo", args, tmp


@pytest.mark.slow
def test_grpo_run_evaluates_the_starting_adapter_and_the_grpo_adapter(grpo_run):
    run_dir, _, tmp = grpo_run
    metrics = json.loads((run_dir / "metrics.json").read_text())
    (name, block), = metrics["sets"].items()
    assert block["n"] == 3  # eval.answer_kinds=[quantity]: the conceptual test item is left out
    assert "physics" in block["comparison"] and "ref_nll" in block["comparison"]
    train = metrics["train"]
    assert train["method"] == "grpo" and train["steps"] == 1 and train["n_train"] == 5
    assert train["left_out"] == {"reference not gradable": 1}
    assert train["init_adapter"] == str(tmp / "sft")
    # the GRPO adapter is the starting adapter continued (its r=4 q/v layout), not a fresh lora.* one
    assert json.loads((run_dir / "adapter" / "adapter_config.json").read_text())["r"] == 4
    log = [json.loads(line) for line in (run_dir / "grpo_log.jsonl").read_text().splitlines()]
    assert log[0]["kl"] == pytest.approx(0.0, abs=1e-6)  # step 1: the policy still equals its KL reference
    # "base" is the starting adapter: its reference NLL differs from the plain model's
    base_nll = block["base"]["ref_nll"]["mean"]
    from physlora.evaluation.runner import evaluate_records
    from physlora.config import load_config
    from physlora.data.sources import load_records
    from physlora.models.loading import load_model

    plain = load_model("smollm2-135m-instruct", device="cpu")
    cfg = load_config(None, ["eval.semantic=false", "eval.max_new_tokens=4", "eval.bootstrap_resamples=200"])
    recs = [r for r in load_records(str(tmp / "test.jsonl")).records if r.id != "c2"]
    out = evaluate_records(plain.model, plain.tokenizer, recs, cfg.eval, system_prompt=SYSTEM)
    assert abs(out.metrics["ref_nll"].mean - base_nll) > 1e-3


@pytest.mark.slow
def test_grpo_run_report_has_the_grpo_section(grpo_run):
    run_dir, _, _ = grpo_run
    report = (run_dir / "report.md").read_text()
    assert "## GRPO (reinforcement learning, the physics check as reward)" in report
    assert "the adapter GRPO starts from" in report
    assert (run_dir / "grpo.png").is_file() and (run_dir / "grpo_samples.jsonl").is_file()


@pytest.mark.slow
def test_resume_after_grpo_finished_reuses_the_adapter(grpo_run, capsys):
    run_dir, args, _ = grpo_run
    before = json.loads((run_dir / "metrics.json").read_text())["sets"]
    before_answers = [json.loads(line)["tuned_answer"] for line in (run_dir / "predictions.jsonl").read_text().splitlines()]
    (run_dir / "eval_tuned_0.json").unlink()  # the tuned model is evaluated again, from the saved GRPO adapter
    assert main([*args, "--resume"]) == 0
    out = capsys.readouterr().out
    assert "training already finished" in out and "GRPO for" not in out
    after = json.loads((run_dir / "metrics.json").read_text())["sets"]
    for name in before:
        assert after[name]["tuned"]["ref_nll"]["mean"] == pytest.approx(before[name]["tuned"]["ref_nll"]["mean"], abs=1e-5)
    after_answers = [json.loads(line)["tuned_answer"] for line in (run_dir / "predictions.jsonl").read_text().splitlines()]
    assert after_answers == before_answers  # greedy answers of the same adapter


@pytest.mark.slow
def test_a_sweeps_base_evaluation_is_the_runs_before_evaluation(grpo_run, tmp_path):
    # a sweep evaluates "before" once for all trials (experiments.sweep.ensure_base_eval): for a GRPO run from
    # an adapter that is the adapter on the gradable items, exactly what the run itself evaluated
    from physlora.config import load_config
    from physlora.experiments.run import evaluate_base
    from physlora.experiments.sweep import base_eval_key

    run_dir, _, _ = grpo_run
    cfg = load_config(run_dir / "config.yaml")
    evaluate_base(cfg, tmp_path)
    ours, run_s = (json.loads((d / "eval_base_0.json").read_text()) for d in (tmp_path, run_dir))
    assert [r["id"] for r in ours["rows"]] == [r["id"] for r in run_s["rows"]]  # 3 items: c2 left out
    assert ours["metrics"]["ref_nll"]["mean"] == pytest.approx(run_s["metrics"]["ref_nll"]["mean"], abs=1e-5)
    plain = cfg.model_copy(update={"train": cfg.train.model_copy(update={"init_adapter": None})})
    assert base_eval_key(plain) != base_eval_key(cfg)  # another starting adapter is another "before"
