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


def _adapter_rank(adapter: Path) -> int:
    config = adapter / "adapter_config.json"
    if not config.is_file():
        raise PhysloraError(f"adapter not found: {adapter} has no adapter_config.json (pass the folder `train` wrote)")
    return int(json.loads(config.read_text(encoding="utf-8")).get("r", 8))


class VllmGenerator:
    """A vLLM engine on one model (+ optionally one LoRA adapter), answering lists of questions greedily."""

    def __init__(self, model_path: str, tokenizer, *, adapter: str | Path | None = None, dtype: str = "auto",
                 seed: int = 0, vllm_args: dict[str, Any] | None = None):
        reason = vllm_unavailable_reason()
        if reason:
            raise PhysloraError(reason)
        from vllm import LLM

        self.tokenizer = tokenizer
        self.adapter = Path(adapter) if adapter else None
        args = {**DEFAULT_VLLM_ARGS, **(vllm_args or {})}
        if self.adapter is not None:
            args.setdefault("enable_lora", True)
            args.setdefault("max_lora_rank", max(8, _adapter_rank(self.adapter)))
        try:
            self.llm = LLM(model=model_path, tokenizer=model_path, dtype=dtype, seed=seed, **args)
        except (TypeError, ValueError) as e:  # an unknown or bad entry of eval.vllm_args
            raise PhysloraError(f"vLLM refused eval.vllm_args {vllm_args or {}}: {str(e).splitlines()[0]}") from None

    def generate(self, questions: list[str], *, system_prompt: str | None, max_new_tokens: int, stop_ids: list[int],
                 progress: Callable[[int], None] | None = None) -> list[str]:
        from vllm import SamplingParams

        params = SamplingParams(temperature=0.0, max_tokens=max_new_tokens, stop_token_ids=stop_ids,
                                skip_special_tokens=True)
        prompts = [{"prompt_token_ids": encode_prompt(self.tokenizer, q, system_prompt)} for q in questions]
        lora = None
        if self.adapter is not None:
            from vllm.lora.request import LoRARequest

            lora = LoRARequest("physlora-adapter", 1, str(self.adapter))
        outputs = self.llm.generate(prompts, params, lora_request=lora, use_tqdm=False)
        answers = [self.tokenizer.decode(list(o.outputs[0].token_ids), skip_special_tokens=True).strip() for o in outputs]
        if progress:
            progress(len(answers))
        return answers
