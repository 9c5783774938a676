"""Physics metrics on the validation split during training, the best checkpoint by one of them, early
stopping, resume, and continuing from a saved adapter: the real training loop and scoring code, a few steps
on the tiny random Llama (the project's stand-in for a real model: same architecture, seconds per run)."""

import json

import pytest
import torch
from safetensors.torch import load_file
from transformers import TrainerCallback

from physlora.config import load_config
from physlora.data.sources import load_records
from physlora.errors import PhysloraError
from physlora.models.loading import attach_adapter, load_model
from physlora.scoring.likelihood import reference_nll
from physlora.training.sft import train_lora
from physlora.training.validation import ValidationSet

SYSTEM = "You are a physicist. Answer concisely and correctly."
FAST = ["train.batch_size=2", "train.grad_accum=1", "train.warmup_steps=0", "train.save_steps=100",
        "train.eval_every=2", "train.report_to=[tensorboard]", "lora.target_modules=[q_proj,v_proj]"]


def config(*extra):
    return load_config(None, [*FAST, *extra])


@pytest.fixture(scope="module")
def data(fixtures, tiny_llama_dir):
    """(training records, validation sets, model folder)"""
    train = load_records(str(fixtures / "mini.jsonl")).records
    val = load_records("physlora-physics", "validation").records[::16]  # 4 questions over 4 topics
    mc = load_records("physlora-physics-mc", "validation").records[::16]  # 2 questions
    return train, [ValidationSet("", val), ValidationSet("mc", mc)], str(tiny_llama_dir)


def train(tmp, data, cfg, **kw):
    records, sets, model_dir = data
    loaded = load_model(model_dir, device="cpu")
    model, result = train_lora(loaded.model, loaded.tokenizer, records, tmp, lora=cfg.lora, train=cfg.train,
                               system_prompt=SYSTEM, validation=sets, **kw)
    return model, result, loaded.tokenizer


@pytest.fixture(scope="module")
def selected(tmp_path_factory, data):
    """6 steps at a learning rate high enough for the validation NLL to move, best by ref_nll kept."""
    out = tmp_path_factory.mktemp("select")
    cfg = config("train.max_steps=6", "train.learning_rate=3e-3", "train.select_by=ref_nll")
    model, result, tok = train(out, data, cfg)
    return {"out": out, "result": result, "tok": tok}


def test_validation_metrics_are_logged_every_eval_every_steps(selected):
    rows = [json.loads(line) for line in (selected["out"] / "train_log.jsonl").read_text().splitlines()]
    evals = [r for r in rows if "eval_ref_nll" in r]
    assert [r["step"] for r in evals] == [2, 4, 6]
    for r in evals:
        assert 0 < r["eval_ref_nll"] < 20 and r["eval_mc/acc"] in (0.0, 0.5, 1.0) and "eval_mc/acc_norm" in r
    assert [r["step"] for r in rows if "loss" in r] == list(range(1, 7))
    assert len(selected["result"].validation) == 3 and len(selected["result"].losses) == 6


def test_validation_metrics_go_to_tensorboard(selected):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tags = set()
    for events in (selected["out"] / "tensorboard").rglob("events.out.tfevents.*"):
        acc = EventAccumulator(str(events))
        acc.Reload()
        tags |= set(acc.Tags()["scalars"])
    assert {"eval/ref_nll", "eval/mc/acc", "train/loss"} <= tags


def test_saved_adapter_is_the_best_checkpoint_by_the_metric(selected, data):
    result = selected["result"]
    evals = {r["step"]: r["eval_ref_nll"] for r in result.validation}
    best = min(evals, key=evals.get)  # ref_nll: lower is better (its registry entry)
    assert result.select_by == "ref_nll" and result.best_step == best
    assert result.best_metric == pytest.approx(evals[best])
    # the adapter on disk scores exactly what the validation logged at the best step
    m = load_model(data[2], adapter=str(selected["out"] / "adapter"), device="cpu")
    nll = reference_nll(m.model, m.tokenizer, data[1][0].records, system_prompt=SYSTEM, max_length=512, batch_size=16)
    assert sum(nll) / len(nll) == pytest.approx(evals[best], abs=2e-3)


def test_resume_after_an_interruption_keeps_the_best_checkpoint(selected, data, tmp_path):
    # 12 rows, batch 2: all 6 steps in one epoch (a resume across an epoch boundary is not bit-exact in
    # physlora today, with or without validation: a known, separate issue)
    class StopAt4(TrainerCallback):  # an interruption right after the step-4 checkpoint
        def on_save(self, args, state, control, **kwargs):
            if state.global_step == 4:
                control.should_training_stop = True

    cfg = config("train.max_steps=6", "train.learning_rate=3e-3", "train.select_by=ref_nll")
    _, first, _ = train(tmp_path, data, cfg, extra_callbacks=[StopAt4()])
    assert first.steps == 4
    _, resumed, _ = train(tmp_path, data, cfg, resume=True)
    ref = selected["result"]
    assert resumed.steps == 6 and resumed.best_step == ref.best_step
    assert resumed.best_metric == pytest.approx(ref.best_metric, abs=1e-5)
    a, b = load_file(tmp_path / "adapter" / "adapter_model.safetensors"), load_file(selected["out"] / "adapter" / "adapter_model.safetensors")
    diff = max((a[k] - b[k]).abs().max().item() for k in a)
    assert diff < 1e-5, diff


def test_resume_of_a_run_killed_after_its_last_checkpoint_saves_the_best_adapter(data, tmp_path):
    """Killed after the step-6 checkpoint, before the adapter was written: --resume trains nothing more and saves
    the best checkpoint's adapter, as the finished run did (training.checkpoints.finish_from_checkpoint)."""
    import shutil

    # a learning rate too small to change a pick: mc/acc stays flat, so the first evaluation (step 2) stays best
    cfg = config("train.max_steps=6", "train.learning_rate=1e-9", "train.select_by=mc/acc")
    _, ref, _ = train(tmp_path, data, cfg)
    assert ref.best_step == 2
    log = (tmp_path / "train_log.jsonl").read_text()
    shutil.rmtree(tmp_path / "adapter")
    _, resumed, _ = train(tmp_path, data, cfg, resume=True)
    assert resumed.steps == 6 and resumed.best_step == ref.best_step
    assert (tmp_path / "train_log.jsonl").read_text() == log
    a = load_file(tmp_path / "adapter" / "adapter_model.safetensors")
    best, last = (load_file(tmp_path / "checkpoints" / f"checkpoint-{step}" / "adapter_model.safetensors") for step in (2, 6))
    assert a.keys() == best.keys() and all(torch.equal(a[k], best[k]) for k in a)
    assert not all(torch.equal(a[k], last[k]) for k in a)  # the last checkpoint's adapter is another one


def test_early_stopping_stops_when_the_metric_stops_improving(data, tmp_path):
    # a learning rate too small to move anything: MC accuracy stays where it is, i.e. never improves on the
    # first evaluation (step 2), so patience 1 stops at the second (step 4) and keeps step 2
    cfg = config("train.max_steps=12", "train.learning_rate=1e-9", "train.select_by=mc/acc", "train.early_stopping_patience=1")
    _, result, _ = train(tmp_path, data, cfg)
    accs = [r["eval_mc/acc"] for r in result.validation]
    assert result.stopped_early and result.steps == 4 and len(accs) == 2 and accs[0] == accs[1]
    assert result.best_step == 2  # equal is not better: the first checkpoint stays the best


def test_select_by_must_name_a_validation_metric(data, tmp_path):
    with pytest.raises(PhysloraError, match="eval_generate|choose one of") as e:
        train(tmp_path, data, config("train.max_steps=2", "train.select_by=rouge_l"))
    assert "mc/acc" in str(e.value) and "ref_nll" in str(e.value)
    with pytest.raises(PhysloraError, match="needs validation data"):
        records, _, model_dir = data
        loaded = load_model(model_dir, device="cpu")
        cfg = config("train.max_steps=2", "train.select_by=ref_nll")
        train_lora(loaded.model, loaded.tokenizer, records, tmp_path, lora=cfg.lora, train=cfg.train, system_prompt=SYSTEM)


def test_init_adapter_continues_from_a_saved_adapter(selected, data, tmp_path):
    start = load_file(selected["out"] / "adapter" / "adapter_model.safetensors")
    # lora.r differs on purpose: the saved adapter's own shape wins; a tiny learning rate barely moves it
    cfg = config("train.max_steps=2", "train.learning_rate=1e-9", "train.eval_every=0", "lora.r=4",
                 f"train.init_adapter={selected['out'] / 'adapter'}")
    model, result, _ = train(tmp_path, data, cfg)
    assert any(p.requires_grad for p in model.parameters())  # trainable again, not frozen
    after = load_file(tmp_path / "adapter" / "adapter_model.safetensors")
    assert after.keys() == start.keys()
    assert max((after[k] - start[k]).abs().max().item() for k in after) < 1e-6
    assert any(k.endswith("lora_B.weight") and start[k].abs().max() > 0 for k in start)  # not a fresh LoRA (B = 0)
    assert json.loads((tmp_path / "adapter" / "adapter_config.json").read_text())["r"] == 8


def test_init_adapter_that_does_not_exist_is_one_clear_error(data, tmp_path):
    with pytest.raises(PhysloraError, match="init_adapter.*adapter_config.json"):
        train(tmp_path, data, config("train.max_steps=1", f"train.init_adapter={tmp_path / 'nope'}"))
