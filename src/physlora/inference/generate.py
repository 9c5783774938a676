"""Batched greedy generation that returns only the new tokens of each answer."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch

from physlora.batching import length_sorted_batches, pad_batch
from physlora.prompting import PromptStyle, encode_prompt


def stop_token_ids(model, tokenizer) -> list[int]:
    """EOS ids from the tokenizer and the generation config (Llama 3 ends turns with <|eot_id|>)."""
    ids = set()
    for src in (getattr(model, "generation_config", None), tokenizer):
        eos = getattr(src, "eos_token_id", None)
        if isinstance(eos, int):
            ids.add(eos)
        elif eos:
            ids.update(eos)
    return sorted(ids)


@torch.inference_mode()
def generate_answers(
    model,
    tokenizer,
    questions: list[str],
    *,
    system_prompt: str | None,
    max_new_tokens: int = 128,
    batch_size: int = 16,
    progress: Callable[[int], None] | None = None,
    on_batch: Callable[[list[int], list[str]], None] | None = None,
    style: PromptStyle | None = None,
) -> list[str]:
    """Greedy answers, in the order of `questions`. Left padding + KV cache; decodes new tokens only.
    `on_batch(indices, answers)` sees each finished batch (to save partial results as they come)."""
    prompts = [encode_prompt(tokenizer, q, system_prompt, style=style) for q in questions]

    def text(ids: list[int]) -> str:
        return _trim(tokenizer.decode(ids, skip_special_tokens=True), style)

    def decoded(batch: list[int], new_ids: list[list[int]]) -> None:
        if on_batch:
            on_batch(batch, [text(ids) for ids in new_ids])

    new = generate_ids(model, tokenizer, prompts, max_new_tokens=max_new_tokens, batch_size=batch_size,
                       progress=progress, on_batch=decoded, generate_kwargs=_plain_stops(tokenizer, style))
    return [text(ids) for ids in new]


@torch.inference_mode()
def generate_ids(
    model,
    tokenizer,
    prompts: list[list[int]],
    *,
    max_new_tokens: int = 128,
    batch_size: int = 16,
    stopping_criteria: Callable[[int], object] | None = None,
    progress: Callable[[int], None] | None = None,
    on_batch: Callable[[list[int], list[list[int]]], None] | None = None,
    generate_kwargs: dict | None = None,
) -> list[list[int]]:
    """Greedy continuation of each prompt (token ids), length-sorted batches with left padding; returns the
    new token ids of each prompt (up to and including its stop token). `stopping_criteria(width)` builds
    extra per-row stopping criteria for a batch whose prompts are padded to `width` tokens; `generate_kwargs`
    go to model.generate as they are (the plain format's stop strings)."""
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else stop_token_ids(model, tokenizer)[0]
    stops = stop_token_ids(model, tokenizer)
    device = next(model.parameters()).device
    out_ids: list[list[int]] = [[] for _ in prompts]
    # prompts of similar length together (little padding); left padding puts every prompt's last token
    # at the same position, where generation continues
    for batch in length_sorted_batches([len(p) for p in prompts], batch_size):
        inputs = pad_batch([prompts[i] for i in batch], pad_id, side="left")
        width = inputs["input_ids"].shape[1]
        extra = {"stopping_criteria": [stopping_criteria(width)]} if stopping_criteria else {}
        extra |= generate_kwargs or {}
        out = model.generate(
            input_ids=inputs["input_ids"].to(device),
            attention_mask=inputs["attention_mask"].to(device),
            max_new_tokens=max_new_tokens,
            do_sample=False,
            temperature=None,
            top_p=None,
            top_k=None,
            eos_token_id=stops,
            pad_token_id=pad_id,
            **extra,
        )
        for row, i in enumerate(batch):
            out_ids[i] = _until_stop(out[row, width:].tolist(), stops, pad_id)
        if on_batch:
            on_batch(batch, [out_ids[i] for i in batch])
        if progress:
            progress(len(batch))
    return out_ids


def _until_stop(ids: list[int], stops: list[int], pad_id: int) -> list[int]:
    """New tokens up to and including the first stop token; a row ended by a stopping criterion is
    padded after its last token, and those pads go too."""
    for k, t in enumerate(ids):
        if t in stops:
            return ids[: k + 1]
    while ids and ids[-1] == pad_id:
        ids = ids[:-1]
    return ids


# In the plain format nothing marks the end of an answer but the start of the next question: stop there,
# as lm-evaluation-harness's generation tasks do with their `until` strings.
PLAIN_STOPS = ("\nQuestion:", "\n\n\n")


def _plain_stops(tokenizer, style: PromptStyle | None) -> dict:
    return {"stop_strings": list(PLAIN_STOPS), "tokenizer": tokenizer} if style is not None and style.plain else {}


def _trim(answer: str, style: PromptStyle | None) -> str:
    if style is not None and style.plain:
        for stop in PLAIN_STOPS:
            answer = answer.split(stop, 1)[0]
    return answer.strip()


def stream_answer(model, tokenizer, prompt_ids: list[int], *, max_new_tokens: int = 256) -> Iterator[str]:
    """Yield text pieces of one greedy answer as they are generated (for the chat REPL)."""
    from threading import Thread

    from transformers import TextIteratorStreamer

    streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
    device = next(model.parameters()).device
    ids = torch.tensor([prompt_ids], device=device)
    kwargs = dict(
        input_ids=ids,
        attention_mask=torch.ones_like(ids),
        max_new_tokens=max_new_tokens,
        do_sample=False,
        eos_token_id=stop_token_ids(model, tokenizer),
        pad_token_id=tokenizer.pad_token_id,
        streamer=streamer,
    )
    thread = Thread(target=lambda: model.generate(**kwargs), daemon=True)
    thread.start()
    yield from streamer
    thread.join()
