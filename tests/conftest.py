"""Shared fixtures: the real embedded model (loaded once) and a tiny random Llama stand-in."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
FIXTURES = Path(__file__).parent / "fixtures"
SYSTEM = "You are a physicist. Answer concisely and correctly."


@pytest.fixture(scope="session")
def fixtures() -> Path:
    return FIXTURES


@pytest.fixture(scope="session")
def small():
    """SmolLM2-135M-Instruct (the embedded default), fp32 on CPU, eval mode."""
    from physlora.models.loading import load_model

    return load_model("smollm2-135m-instruct", device="cpu")


@pytest.fixture(scope="session")
def tokenizer(small):
    return small.tokenizer


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory, tokenizer) -> Path:
    """A randomly initialised LlamaForCausalLM + a real tokenizer saved to a folder: stands in for
    meta-llama/Llama-3.2-1B-Instruct (same architecture family) without any hub access."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    out = tmp_path_factory.mktemp("tiny-llama")
    LlamaForCausalLM(cfg).save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    return out
