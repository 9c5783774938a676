"""The one place prompts are built, for training, evaluation and `ask` alike.

Training examples are `prompt_ids + completion_ids`, where `prompt_ids` is exactly what
generation is given at inference. Train and inference therefore cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass

PLAIN_PROMPT = "Question: {question}\nAnswer:"


def has_chat_template(tokenizer) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def _messages(
    question: str, system_prompt: str | None, history: list[tuple[str, str]] = ()
) -> list[dict[str, str]]:
    msgs = [{"role": "system", "content": system_prompt}] if system_prompt else []
    for q, a in history:
        msgs += [{"role": "user", "content": q}, {"role": "assistant", "content": a}]
    return msgs + [{"role": "user", "content": question}]


def build_prompt(
    tokenizer, question: str, system_prompt: str | None, history: list[tuple[str, str]] = ()
) -> str:
    """The text the model sees before its answer (after earlier (question, answer) turns, in a chat)."""
    if has_chat_template(tokenizer):
        return tokenizer.apply_chat_template(
            _messages(question, system_prompt, history), tokenize=False, add_generation_prompt=True
        )
    prefix = f"{system_prompt}\n\n" if system_prompt else ""
    turns = "".join(PLAIN_PROMPT.format(question=q) + f" {a}\n\n" for q, a in history)
    return prefix + turns + PLAIN_PROMPT.format(question=question)


def build_completion(tokenizer, question: str, answer: str, system_prompt: str | None) -> str:
    """The text that follows the prompt in a finished conversation: answer + end-of-turn."""
    if not has_chat_template(tokenizer):
        return " " + answer + (tokenizer.eos_token or "")
    prompt = build_prompt(tokenizer, question, system_prompt)
    full = tokenizer.apply_chat_template(
        _messages(question, system_prompt) + [{"role": "assistant", "content": answer}], tokenize=False
    )
    if not full.startswith(prompt):
        # templates that rewrite earlier turns (rare): fall back to answer + eos
        return answer + (tokenizer.eos_token or "")
    completion = full[len(prompt) :]
    # keep the end-of-turn token so the model learns to stop; drop what follows it
    eos = tokenizer.eos_token
    if eos and eos in completion:
        completion = completion[: completion.index(eos) + len(eos)]
    return completion


def encode_text(tokenizer, text: str) -> list[int]:
    """Token ids of a text that starts a sequence (a prompt, an MC context), encoded as lm-evaluation-harness
    encodes it: with the tokenizer's special tokens (BOS, for tokenizers that add one), unless the text already
    starts with BOS because the chat template wrote it. So BOS is there exactly once, whichever adds it, in
    training, generation and scoring alike."""
    bos = tokenizer.bos_token
    starts_with_bos = bool(bos) and text.startswith(bos)
    return tokenizer(text, add_special_tokens=not starts_with_bos)["input_ids"]


def encode_prompt(
    tokenizer, question: str, system_prompt: str | None, history: list[tuple[str, str]] = ()
) -> list[int]:
    return encode_text(tokenizer, build_prompt(tokenizer, question, system_prompt, history))


@dataclass
class EncodedExample:
    input_ids: list[int]
    labels: list[int]  # -100 on prompt tokens: loss only on the answer
    truncated: bool = False


def encode_example(
    tokenizer, question: str, answer: str, system_prompt: str | None, max_length: int
) -> EncodedExample:
    """Prompt + answer token ids with the loss mask. Over-long rows lose the end of the
    *question*, never answer tokens, and say so through `truncated`."""
    completion = tokenizer(
        build_completion(tokenizer, question, answer, system_prompt), add_special_tokens=False
    )["input_ids"]
    prompt = encode_prompt(tokenizer, question, system_prompt)
    truncated = False
    for _ in range(4):  # shorten the question (not the template) until it fits
        overflow = len(prompt) + len(completion) - max_length
        if overflow <= 0:
            break
        truncated = True
        q_ids = tokenizer(question, add_special_tokens=False)["input_ids"]
        question = tokenizer.decode(q_ids[: max(len(q_ids) - overflow - 2, 0)])
        prompt = encode_prompt(tokenizer, question, system_prompt)
    if len(prompt) + len(completion) > max_length:  # template + answer alone are too long
        completion = completion[: max(max_length - len(prompt), 1)]
        prompt = prompt[-(max_length - len(completion)) :]
    return EncodedExample(prompt + completion, [-100] * len(prompt) + completion, truncated)
