"""The real training loop on the real embedded model, kept small (a few steps)."""

import json

import pytest

from physlora.config import load_config
from physlora.data.sources import load_records
from physlora.inference.generate import generate_answers
from physlora.models.loading import load_model
from physlora.scoring.likelihood import reference_nll
from physlora.training.sft import PadCollator, train_lora

SYSTEM = "You are a physicist. Answer concisely and correctly."
FAST = ["train.max_steps=8", "train.batch_size=4", "train.grad_accum=1", "train.warmup_steps=0",
        "train.learning_rate=1e-3", "train.save_steps=4", "lora.target_modules=[q_proj,k_proj,v_proj,o_proj]"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, fixtures):
    cfg = load_config(None, FAST)
    records = load_records(str(fixtures / "mini.jsonl")).records
    loaded = load_model("smollm2-135m-instruct", device="cpu")
    before = reference_nll(loaded.model, loaded.tokenizer, records, system_prompt=SYSTEM)
    out = tmp_path_factory.mktemp("train")
    model, result = train_lora(loaded.model, loaded.tokenizer, records, out, lora=cfg.lora, train=cfg.train,
                               system_prompt=SYSTEM, seed=cfg.seed)
    after = reference_nll(model, loaded.tokenizer, records, system_prompt=SYSTEM)
    return {"out": out, "result": result, "before": before, "after": after, "records": records}


def test_training_lowers_the_loss_on_its_own_data(trained):
    before, after = trained["before"], trained["after"]
    assert sum(after) / len(after) < 0.8 * sum(before) / len(before)
    losses = [r["loss"] for r in trained["result"].losses]
    assert len(losses) == 8 and losses[-1] < losses[0]


def test_run_folder_has_adapter_in_peft_safetensors_and_loss_log(trained):
    out = trained["out"]
    assert (out / "adapter" / "adapter_model.safetensors").is_file()
    assert not list((out / "adapter").glob("*.bin"))
    cfg = json.loads((out / "adapter" / "adapter_config.json").read_text())
    assert cfg["r"] == 8 and cfg["lora_alpha"] == 16 and cfg["peft_type"] == "LORA"
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == list(range(1, 9)) and all("loss" in r and "learning_rate" in r for r in log)


def test_saved_adapter_reloads_and_changes_the_answers(trained, small):
    questions = [r.question for r in trained["records"][:4]]
    base = generate_answers(small.model, small.tokenizer, questions, system_prompt=SYSTEM, max_new_tokens=24)
    tuned_model = load_model("smollm2-135m-instruct", adapter=str(trained["out"] / "adapter"), device="cpu")
    tuned = generate_answers(tuned_model.model, tuned_model.tokenizer, questions, system_prompt=SYSTEM, max_new_tokens=24)
    assert tuned != base
    # the reloaded adapter scores like the in-memory one that produced trained["after"]
    nll = reference_nll(tuned_model.model, tuned_model.tokenizer, trained["records"], system_prompt=SYSTEM)
    assert nll == pytest.approx(trained["after"], abs=1e-3)


def test_pad_collator_pads_dynamically_and_never_puts_loss_on_pads():
    batch = PadCollator(pad_id=0)([{"input_ids": [5, 6, 7], "labels": [-100, 6, 7]}, {"input_ids": [5], "labels": [5]}])
    assert batch["input_ids"].shape == (2, 3)  # the longest row, not a fixed max length
    assert batch["labels"][1].tolist() == [5, -100, -100] and batch["attention_mask"][1].tolist() == [1, 0, 0]


def test_batched_generation_matches_one_at_a_time(small, fixtures):
    questions = [r.question for r in load_records(str(fixtures / "mini.jsonl")).records[:6]]
    batched = generate_answers(small.model, small.tokenizer, questions, system_prompt=SYSTEM, max_new_tokens=20, batch_size=6)
    single = [generate_answers(small.model, small.tokenizer, [q], system_prompt=SYSTEM, max_new_tokens=20)[0] for q in questions]
    same = sum(a == b for a, b in zip(batched, single))
    assert same >= 5  # left padding may flip a near-tie in fp32; nearly all must match
    assert not any(b.startswith(q[:20]) for b, q in zip(batched, questions))  # only new tokens are decoded


def test_merged_model_gives_the_same_logits_as_base_plus_adapter(trained, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM

    from physlora.cli import main
    from physlora.prompting import encode_example

    assert main(["merge", "--model", "smollm2-135m-instruct", "--adapter", str(trained["out"] / "adapter"),
                 "--out", str(tmp_path / "merged")]) == 0
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "merged", dtype=torch.float32).eval()  # plain transformers
    with_adapter = load_model("smollm2-135m-instruct", adapter=str(trained["out"] / "adapter"), device="cpu")
    rec = trained["records"][0]
    ids = torch.tensor([encode_example(with_adapter.tokenizer, rec.question, rec.answer, SYSTEM, 256).input_ids])
    with torch.no_grad():
        a, b = merged(input_ids=ids).logits, with_adapter.model(input_ids=ids).logits
    assert torch.allclose(a, b, atol=1e-3, rtol=1e-4), (a - b).abs().max()


def test_llama_architecture_trains_with_all_linear_lora(tiny_llama_dir, fixtures, tmp_path):
    """The path the 1B reference takes (Llama architecture from a hub-style folder), on a tiny random Llama."""
    cfg = load_config(None, ["train.max_steps=2", "train.batch_size=2", "train.grad_accum=1", "lora.target_modules=all-linear"])
    loaded = load_model(str(tiny_llama_dir), device="cpu")
    records = load_records(str(fixtures / "mini.jsonl")).records
    model, result = train_lora(loaded.model, loaded.tokenizer, records, tmp_path, lora=cfg.lora, train=cfg.train,
                               system_prompt=SYSTEM)
    targets = {t.rsplit(".", 1)[-1] for t in json.loads((tmp_path / "adapter" / "adapter_config.json").read_text())["target_modules"]}
    assert {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"} <= targets
    assert result.steps == 2


def test_nan_loss_stops_training_with_a_clear_message(fixtures, tmp_path):
    from physlora.errors import PhysloraError

    cfg = load_config(None, ["train.max_steps=6", "train.batch_size=4", "train.grad_accum=1", "train.warmup_steps=0",
                             "train.learning_rate=1e6", "train.save_steps=100"])
    loaded = load_model("smollm2-135m-instruct", device="cpu")
    records = load_records(str(fixtures / "mini.jsonl")).records
    with pytest.raises(PhysloraError, match="NaN/inf") as e:
        train_lora(loaded.model, loaded.tokenizer, records, tmp_path, lora=cfg.lora, train=cfg.train, system_prompt=SYSTEM)
    assert "learning_rate" in str(e.value)
    assert not (tmp_path / "adapter").exists()  # no broken adapter saved


def test_full_disk_stops_before_a_checkpoint_and_says_so(fixtures, tmp_path, monkeypatch):
    """A disk that fills up mid-run: training stops before writing a checkpoint it cannot finish.
    (Free space is simulated: filling a real disk in a test would hurt the machine.)"""
    import shutil
    from collections import namedtuple

    from physlora.errors import PhysloraError

    usage = namedtuple("usage", "total used free")
    real = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10**12, 10**12 - 10**6, 10**6) if str(tmp_path) in str(p) else real(p))
    cfg = load_config(None, ["train.max_steps=4", "train.batch_size=2", "train.grad_accum=1", "train.save_steps=2"])
    loaded = load_model("smollm2-135m-instruct", device="cpu")
    records = load_records(str(fixtures / "mini.jsonl")).records
    with pytest.raises(PhysloraError, match="MB free") as e:
        train_lora(loaded.model, loaded.tokenizer, records, tmp_path, lora=cfg.lora, train=cfg.train, system_prompt=SYSTEM)
    assert "--resume" in str(e.value) and not list(tmp_path.glob("checkpoints/checkpoint-*"))


def test_resume_from_the_last_checkpoint_of_a_finished_run_trains_no_extra_step(tiny_llama_dir, fixtures, tmp_path):
    """A run killed after its last checkpoint (step == max_steps) but before its adapter was written: --resume
    must finish it from that checkpoint. (transformers' Trainer checks max_steps only after a step, so resuming
    it there mid-epoch would train one step more: 12 rows / batch 4 = 3 steps an epoch, checkpoint-4 is mid-epoch.)"""
    import shutil

    import torch
    from safetensors.torch import load_file

    cfg = load_config(None, ["train.max_steps=4", "train.batch_size=4", "train.grad_accum=1", "train.save_steps=2",
                             "train.learning_rate=1e-3", "lora.target_modules=all-linear"])
    records = load_records(str(fixtures / "mini.jsonl")).records
    loaded = load_model(str(tiny_llama_dir), device="cpu")
    train_lora(loaded.model, loaded.tokenizer, records, tmp_path, lora=cfg.lora, train=cfg.train, system_prompt=SYSTEM)
    log_before = (tmp_path / "train_log.jsonl").read_text()
    shutil.rmtree(tmp_path / "adapter")  # what a kill -9 between the last checkpoint and the adapter save leaves
    fresh = load_model(str(tiny_llama_dir), device="cpu")
    _, resumed = train_lora(fresh.model, fresh.tokenizer, records, tmp_path, lora=cfg.lora, train=cfg.train,
                            system_prompt=SYSTEM, resume=True)
    assert resumed.steps == 4 and [r["step"] for r in resumed.losses] == [1, 2, 3, 4]
    assert (tmp_path / "train_log.jsonl").read_text() == log_before
    saved = load_file(str(tmp_path / "adapter" / "adapter_model.safetensors"))
    checkpoint = load_file(str(tmp_path / "checkpoints" / "checkpoint-4" / "adapter_model.safetensors"))
    assert saved.keys() == checkpoint.keys() and all(torch.equal(saved[k], checkpoint[k]) for k in saved)
