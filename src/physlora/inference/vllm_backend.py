"""Greedy generation with vLLM (`eval.backend: vllm`), for a GPU where `pip install vllm` works.

It is given exactly the prompt token ids transformers generation gets (prompting.encode_prompt), stops on the
same tokens, and its new tokens are decoded by the same tokenizer call, so answers are comparable with the
transformers backend (bench/vllm_check.sh compares them). A LoRA adapter goes through vLLM's LoRA support
(`enable_lora`, one `LoRARequest`), not a merged copy of the weights. Everything else (likelihood scoring,
training) stays on transformers.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from physlora.errors import PhysloraError
from physlora.prompting import encode_prompt

# vLLM shares the GPU with the transformers model that scores likelihoods: by default it takes half
DEFAULT_VLLM_ARGS: dict[str, Any] = {"gpu_memory_utilization": 0.5}


def vllm_unavailable_reason() -> str | None:
    """None when vLLM can run here, else what to do about it (one line)."""
    if importlib.util.find_spec("vllm") is None:
        return "eval.backend=vllm needs vLLM: `pip install vllm` on a machine with a CUDA GPU, or use eval.backend=transformers"
    import torch

    if not torch.cuda.is_available():
        return "eval.backend=vllm needs a CUDA GPU (none is visible here); use eval.backend=transformers"
    return None


# the LoRA ranks vLLM accepts for max_lora_rank
VLLM_LORA_RANKS = (8, 16, 32, 64, 128, 256, 320, 512)


def adapter_rank(adapter: str | Path) -> int:
    config = Path(adapter) / "adapter_config.json"
    if not config.is_file():
        raise PhysloraError(f"adapter not found: {adapter} has no adapter_config.json (pass the folder `train` wrote)")
    return int(json.loads(config.read_text(encoding="utf-8")).get("r", 8))


def lora_rank_limit(rank: int) -> int:
    """The smallest max_lora_rank vLLM accepts that holds an adapter of this rank."""
    return next((r for r in VLLM_LORA_RANKS if r >= rank), rank)


class VllmGenerator:
    """One vLLM engine on one model, answering lists of questions greedily, with or without a LoRA adapter
    (the same engine serves both when it was made with enable_lora)."""

    def __init__(self, model_path: str, tokenizer, *, dtype: str = "auto", seed: int = 0,
                 vllm_args: dict[str, Any] | None = None):
        reason = vllm_unavailable_reason()
        if reason:
            raise PhysloraError(reason)
        from vllm import LLM

        self.tokenizer = tokenizer
        self.adapter_ids: dict[str, int] = {}
        args = {**DEFAULT_VLLM_ARGS, **(vllm_args or {})}
        try:
            self.llm = LLM(model=model_path, tokenizer=model_path, dtype=dtype, seed=seed, **args)
        except (TypeError, ValueError) as e:  # an unknown or bad entry of eval.vllm_args
            raise PhysloraError(f"vLLM refused the engine arguments {args}: {str(e).splitlines()[0]}") from None

    def _lora(self, adapter: str | Path | None):
        if adapter is None:
            return None
        from vllm.lora.request import LoRARequest

        key = str(Path(adapter).resolve())
        adapter_rank(adapter)  # a clear error for a folder that is not an adapter
        self.adapter_ids.setdefault(key, len(self.adapter_ids) + 1)
        return LoRARequest(f"adapter-{self.adapter_ids[key]}", self.adapter_ids[key], key)

    def generate(self, questions: list[str], *, system_prompt: str | None, max_new_tokens: int, stop_ids: list[int],
                 adapter: str | Path | None = None, progress: Callable[[int], None] | None = None) -> list[str]:
        from vllm import SamplingParams

        params = SamplingParams(temperature=0.0, max_tokens=max_new_tokens, stop_token_ids=stop_ids,
                                skip_special_tokens=True)
        prompts = [{"prompt_token_ids": encode_prompt(self.tokenizer, q, system_prompt)} for q in questions]
        outputs = self.llm.generate(prompts, params, lora_request=self._lora(adapter), use_tqdm=False)
        # decoded like transformers generation's new tokens, so both backends' answers compare as text
        answers = [self.tokenizer.decode(list(o.outputs[0].token_ids), skip_special_tokens=True).strip() for o in outputs]
        if progress:
            progress(len(answers))
        return answers
