"""Fixtures of the serve tests: a real run folder (a real 2-step LoRA adapter), the one served model, the app."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

LOCAL = "http://127.0.0.1:8000"  # the Host / Origin create_app is bound to by default


# ---------------------------------------------------------------- a real run folder


@pytest.fixture(scope="session")
def run_folder(tmp_path_factory, fixtures):
    """config.yaml + a real LoRA adapter (2 steps on mini.jsonl, embedded model) + small metrics/predictions.
    Returns the folder and the trained (in-memory) PEFT model, to check the served adapter against it."""
    from physlora.config import load_config
    from physlora.data.sources import load_records
    from physlora.models.loading import load_model
    from physlora.results.io import atomic_write_text, write_json, write_jsonl
    from physlora.training.sft import train_lora

    run_dir = tmp_path_factory.mktemp("serve-run") / "mini"
    cfg = load_config(None, [f"output_dir={run_dir.parent}", "name=mini", f"data.train={fixtures / 'mini.jsonl'}",
                             "train.max_steps=2", "train.batch_size=2", "train.grad_accum=1", "train.warmup_steps=0",
                             "train.learning_rate=0.005", "train.report_to=[]", "eval.max_new_tokens=16"])
    records = load_records(str(fixtures / "mini.jsonl")).records
    fresh = load_model(cfg.model.name, device="cpu")  # train_lora changes its model in place: not the shared one
    trained, result = train_lora(fresh.model, fresh.tokenizer, records, run_dir, lora=cfg.lora, train=cfg.train,
                                 system_prompt=cfg.system_prompt, seed=cfg.seed)
    assert result.steps == 2 and (run_dir / "adapter" / "adapter_config.json").is_file()
    atomic_write_text(run_dir / "config.yaml", cfg.to_yaml())

    def stat(mean):
        return {"mean": mean, "ci95": [mean - 0.05, mean + 0.05], "n": len(records)}

    block = {
        "kind": "freeform", "n": len(records), "source": "mini.jsonl",
        "base": {"token_f1": stat(0.21), "rouge_l": stat(0.18), "ref_nll": stat(2.5)},
        "tuned": {"token_f1": stat(0.34), "rouge_l": stat(0.29), "ref_nll": stat(1.9)},
        "comparison": {"token_f1": {"diff": 0.13, "ci95": [0.05, 0.2], "p_value": 0.01, "n": len(records)},
                       "rouge_l": {"diff": 0.11, "ci95": [-0.01, 0.2], "p_value": 0.08, "n": len(records)},
                       "ref_nll": {"diff": -0.6, "ci95": [-0.9, -0.3], "p_value": float("nan"), "n": len(records)}},
        "metric_info": {"token_f1": {"name": "token_f1", "label": "Token F1"},
                        "rouge_l": {"name": "rouge_l", "label": "ROUGE-L"},
                        "ref_nll": {"name": "ref_nll", "label": "Reference NLL (nats/token)", "higher_is_better": False}},
    }
    write_json(run_dir / "metrics.json", {"config": cfg.model_dump(mode="json"), "sets": {"mini.jsonl": block},
                                          "train": {"steps": 2, "seconds": 1.0, "n_train": len(records),
                                                    "final_loss": result.losses[-1]["loss"]}})
    write_jsonl(run_dir / "predictions.jsonl", [
        {"set": "mini.jsonl", "id": r.id, "topic": r.topic, "question": r.question, "reference": r.answer,
         "base_answer": f"base answer {i}", "tuned_answer": f"tuned answer {i}",
         "base_scores": {"token_f1": 0.1}, "tuned_scores": {"token_f1": 0.2}}
        for i, r in enumerate(records)
    ])
    return SimpleNamespace(path=run_dir, cfg=cfg, trained=trained, tokenizer=fresh.tokenizer, n=len(records))


@pytest.fixture(scope="session")
def served_model(run_folder):
    """The one model serve holds, loaded the real way: base model + RUN_DIR/adapter."""
    from physlora.serve.app import load_served_model

    return load_served_model(run_folder.cfg, run_folder.path, say=lambda msg: None)


@pytest.fixture(scope="module")
def app(run_folder, served_model):
    from physlora.serve.app import create_app

    return create_app(run_folder.path, model=served_model)  # as bound to 127.0.0.1:8000


@pytest.fixture()
def client(app):
    from fastapi.testclient import TestClient

    with TestClient(app, base_url=LOCAL) as c:
        yield c
