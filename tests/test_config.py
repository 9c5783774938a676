from pathlib import Path

import pytest

from physlora.config import RunConfig, load_config, parse_override
from physlora.errors import PhysloraError

PRESETS = sorted(p for p in (Path(__file__).parents[1] / "configs").glob("*.yaml") if not p.name.startswith("sweep"))
SWEEPS = sorted((Path(__file__).parents[1] / "configs").glob("sweep*.yaml"))


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.name)
def test_every_preset_validates(preset):
    cfg = load_config(preset)
    assert isinstance(cfg, RunConfig)


@pytest.mark.parametrize("preset", SWEEPS, ids=lambda p: p.name)
def test_every_sweep_preset_validates(preset):
    from physlora.experiments.sweep_config import load_sweep_config

    sweep, base = load_sweep_config(preset)  # also builds a run config from every value of every parameter
    assert sweep.params and (base is None or base.is_file())


def test_reference_preset_is_exactly_the_reference():
    cfg = load_config(Path(__file__).parents[1] / "configs" / "llama-3.2-1b-scienceqa.yaml")
    assert cfg.model.name == "meta-llama/Llama-3.2-1B-Instruct"
    assert cfg.data.train == "veggiebird/physics-scienceqa"
    assert (cfg.lora.r, cfg.lora.alpha, cfg.lora.dropout) == (8, 16, 0.1)
    t = cfg.train
    assert (t.learning_rate, t.batch_size, t.grad_accum, t.max_steps, t.warmup_steps) == (2e-4, 1, 4, 200, 10)


def test_overrides_are_typed_and_nested():
    cfg = load_config(None, ["train.max_steps=7", "lora.target_modules=all-linear", "eval.semantic=false", "name=x"])
    assert cfg.train.max_steps == 7 and cfg.lora.target_modules == "all-linear"
    assert cfg.eval.semantic is False and cfg.name == "x"
    assert parse_override("data.columns={question: input, answer: output}")[1] == {"question": "input", "answer": "output"}


def test_unknown_key_suggests_close_match():
    with pytest.raises(PhysloraError, match=r"unknown key 'train.max_stpes'.*train.max_steps"):
        load_config(None, ["train.max_stpes=3"])


@pytest.mark.parametrize("bad", ["train.learning_rate=-1", "lora.r=0", "data.test_size=1.5", "model.dtype=fp8"])
def test_bad_values_are_one_line_errors(bad):
    with pytest.raises(PhysloraError) as e:
        load_config(None, [bad])
    assert "\n" not in str(e.value) and bad.split("=")[0] in str(e.value)


def test_missing_and_garbled_config_files(tmp_path):
    with pytest.raises(PhysloraError, match="not found"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [unclosed\n")
    with pytest.raises(PhysloraError, match="not valid YAML"):
        load_config(bad)
    bad.write_text("- just\n- a list\n")
    with pytest.raises(PhysloraError, match="mapping"):
        load_config(bad)


def test_override_without_equals_sign():
    with pytest.raises(PhysloraError, match="key=value"):
        load_config(None, ["train.max_steps"])


@pytest.mark.parametrize("path", sorted((Path(__file__).parents[1] / "configs" / "accelerate").glob("*.yaml")), ids=lambda p: p.name)
def test_accelerate_launch_configs_are_valid(path):
    from accelerate.commands.config.config_args import ClusterConfig

    cfg = ClusterConfig.from_yaml_file(path)
    assert cfg.num_processes >= 2 and str(cfg.distributed_type).split(".")[-1] in {"MULTI_GPU", "FSDP", "DEEPSPEED"}
