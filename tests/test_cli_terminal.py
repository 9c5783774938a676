"""`physlora ask` and the chat print model text without escape sequences: a real (tiny) model whose greedy
answer IS an ANSI colour code, generated and streamed token by token through the real code paths."""

from __future__ import annotations

import re

import pytest

ANSI_CYCLE = "\x1b[31mred"  # ESC [ 3 1 m red: a colour code, then text, over and over
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


@pytest.fixture(scope="module")
def ansi_model_dir(tiny_llama_dir, tokenizer, tmp_path_factory):
    """A bigram model: attention and MLP outputs are zeroed, so the logits at a position depend only on that
    position's token; each token of ANSI_CYCLE (and the prompt's last token) points at the next one."""
    import torch
    from transformers import LlamaForCausalLM

    from physlora.prompting import encode_prompt

    model = LlamaForCausalLM.from_pretrained(tiny_llama_dir)
    cycle = tokenizer.encode(ANSI_CYCLE, add_special_tokens=False)
    assert tokenizer.decode(cycle) == ANSI_CYCLE and len(cycle) >= 4  # several pieces: the code arrives split
    prompt_end = encode_prompt(tokenizer, "q", None)[-1]
    chain = [prompt_end, *cycle]
    successor = {tok: chain[i + 1] if i + 1 < len(chain) else cycle[0] for i, tok in enumerate(chain)}
    with torch.no_grad():
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
        model.model.embed_tokens.weight.zero_()
        model.lm_head.weight.zero_()
        for k, (tok, nxt) in enumerate(successor.items()):
            model.model.embed_tokens.weight[tok, k] = 1.0
            model.lm_head.weight[nxt, k] = 1.0
    out = tmp_path_factory.mktemp("ansi-model")
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    return out


def test_the_model_really_answers_with_escape_codes(ansi_model_dir):
    from physlora.inference.generate import generate_answers
    from physlora.models.loading import load_model

    loaded = load_model(str(ansi_model_dir), device="cpu")
    (raw,) = generate_answers(loaded.model, loaded.tokenizer, ["q"], system_prompt=None, max_new_tokens=12)
    assert raw.startswith(ANSI_CYCLE + "\x1b[")  # what an unprotected print would send to the terminal


def test_ask_prints_no_escape_sequences(ansi_model_dir, capsys):
    from physlora.cli import main

    assert main(["ask", "--model", str(ansi_model_dir), "--max-new-tokens", "12", "q"]) == 0
    out = capsys.readouterr().out
    assert not CONTROL.search(out) and out.startswith("redred") and "[31m" not in out


def test_chat_streams_no_escape_sequences(ansi_model_dir):
    from physlora.cli import chat
    from physlora.models.loading import load_model

    loaded = load_model(str(ansi_model_dir), device="cpu")
    questions = iter(["q", "/quit"])
    written: list[str] = []
    chat(loaded, None, 18, read=lambda prompt: next(questions), write=lambda s="", **kw: written.append(s))
    out = "".join(written)
    assert not CONTROL.search(out), repr(out)
    assert "model> red" in out and "[31m" not in out
