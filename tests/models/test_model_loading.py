import subprocess
import sys

import pytest
import torch

from physlora.errors import PhysloraError
from physlora.models.loading import cache_dir, load_model, resolve_model_path


def test_embedded_alias_is_converted_once_to_safetensors(small):
    path = resolve_model_path("smollm2-135m-instruct")
    assert path.startswith(str(cache_dir())) and (cache_dir() / "models" / "smollm2-135m-instruct" / "model.safetensors").is_file()
    cfg = small.model.config
    assert cfg.model_type == "llama" and getattr(cfg, "quantization_config", None) is None  # trainable
    assert small.tokenizer.chat_template


def test_local_directory_stands_in_for_a_hub_model(tiny_llama_dir):
    """The hub-id path: from_pretrained on a folder laid out like a downloaded hub snapshot."""
    loaded = load_model(str(tiny_llama_dir), device="cpu")
    out = loaded.model(input_ids=torch.tensor([[1, 2, 3]])).logits
    assert out.shape == (1, 3, len(loaded.tokenizer))


def test_gguf_file_path(tmp_path, monkeypatch):
    from physlora.models.loading import embedded_gguf

    monkeypatch.setenv("PHYSLORA_CACHE", str(tmp_path / "cache"))
    gguf = embedded_gguf("smollm2-135m-instruct")
    path = resolve_model_path(str(gguf))
    assert (tmp_path / "cache" / "models").exists() and path.startswith(str(tmp_path / "cache"))
    assert resolve_model_path(str(gguf)) == path  # converted once, reused


def test_missing_things_are_one_line_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(PhysloraError, match="GGUF file not found"):
        resolve_model_path(str(tmp_path / "x.gguf"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(PhysloraError, match="no config.json"):
        resolve_model_path(str(tmp_path / "empty"))
    with pytest.raises(PhysloraError) as e:
        load_model("meta-llama/Llama-3.2-1B-Instruct", device="cpu")
    assert "cannot load model 'meta-llama/Llama-3.2-1B-Instruct'" in str(e.value) and "\n" not in str(e.value)


def test_missing_adapter_is_one_line_error(tiny_llama_dir, tmp_path):
    with pytest.raises(PhysloraError, match="adapter_config.json"):
        load_model(str(tiny_llama_dir), adapter=str(tmp_path), device="cpu")


def test_cli_unknown_model_exits_2_with_one_line(tmp_path):
    env = {"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "physlora", "ask", "--model", "nobody/no-such-model", "hi"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and proc.stderr.startswith("physlora: error: cannot load model")
