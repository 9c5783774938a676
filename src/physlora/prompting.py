"""The one place prompts are built, for training, evaluation and `ask` alike.

Training examples are `prompt_ids + completion_ids`, where `prompt_ids` is exactly what
generation is given at inference. Train and inference therefore cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

PLAIN_PROMPT = "Question: {question}\nAnswer:"
PASSAGES_INSTRUCTION = "Answer the question. Use the sources above where they are relevant and cite them as [n]."


@dataclass(frozen=True)
class PromptStyle:
    """How questions become model input (`prompt.format` in the config).

    chat   the tokenizer's chat template with the system prompt (physlora's default; a tokenizer without a
           template falls back to the system prompt + `Question: ...\nAnswer:`);
    plain  lm-evaluation-harness's prompt: `template` filled with the question, no chat template and no
           system prompt, earlier (question, answer) turns as 'prompt answer\n\n' (its few-shot format), the
           answer after one space. That is what its published 0-shot numbers use. `template` is
           'Question: {question}\nAnswer:' unless a benchmark renders the whole prompt itself ('{question}').
    """

    format: Literal["chat", "plain"] = "chat"
    template: str = PLAIN_PROMPT

    @property
    def plain(self) -> bool:
        return self.format == "plain"


CHAT = PromptStyle()


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
    tokenizer, question: str, system_prompt: str | None, history: list[tuple[str, str]] = (),
    style: PromptStyle | None = None,
) -> str:
    """The text the model sees before its answer (after earlier (question, answer) turns, in a chat)."""
    if style is not None and style.plain:
        turns = "".join(style.template.format(question=q) + f" {a}\n\n" for q, a in history)
        return turns + style.template.format(question=question)
    if has_chat_template(tokenizer):
        return tokenizer.apply_chat_template(
            _messages(question, system_prompt, history), tokenize=False, add_generation_prompt=True
        )
    prefix = f"{system_prompt}\n\n" if system_prompt else ""
    turns = "".join(PLAIN_PROMPT.format(question=q) + f" {a}\n\n" for q, a in history)
    return prefix + turns + PLAIN_PROMPT.format(question=question)


def build_completion(
    tokenizer, question: str, answer: str, system_prompt: str | None, style: PromptStyle | None = None
) -> str:
    """The text that follows the prompt in a finished conversation: answer + end-of-turn."""
    if not has_chat_template(tokenizer) or (style is not None and style.plain):
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


def with_passages(question: str, passages: list[tuple[str, str]]) -> str:
    """The user turn with retrieved passages (title, text) placed before the question, numbered [1], [2], ...
    A separate, composable piece: it only rewrites the question text, so every prompt builder above (chat
    template or plain, training or inference) handles retrieval the same way. No passages: the question."""
    if not passages:
        return question
    blocks = [f"[{n}] {title}\n{text.strip()}" for n, (title, text) in enumerate(passages, start=1)]
    return "Sources:\n\n" + "\n\n".join(blocks) + f"\n\n{PASSAGES_INSTRUCTION}\n\nQuestion: {question}"


def encode_text(tokenizer, text: str) -> list[int]:
    """Token ids of a text that starts a sequence (a prompt, an MC context), encoded as lm-evaluation-harness
    encodes it: with the tokenizer's special tokens (BOS, for tokenizers that add one), unless the text already
    starts with BOS because the chat template wrote it. So BOS is there exactly once, whichever adds it, in
    training, generation and scoring alike."""
    bos = tokenizer.bos_token
    starts_with_bos = bool(bos) and text.startswith(bos)
    return tokenizer(text, add_special_tokens=not starts_with_bos)["input_ids"]


def encode_prompt(
    tokenizer, question: str, system_prompt: str | None, history: list[tuple[str, str]] = (),
    style: PromptStyle | None = None,
) -> list[int]:
    return encode_text(tokenizer, build_prompt(tokenizer, question, system_prompt, history, style))


@dataclass
class EncodedExample:
    input_ids: list[int]
    labels: list[int]  # -100 on prompt tokens: loss only on the answer
    truncated: bool = False


def encode_example(
    tokenizer, question: str, answer: str, system_prompt: str | None, max_length: int,
    style: PromptStyle | None = None,
) -> EncodedExample:
    """Prompt + answer token ids with the loss mask. Over-long rows lose the end of the
    *question*, never answer tokens, and say so through `truncated`."""
    completion = tokenizer(
        build_completion(tokenizer, question, answer, system_prompt, style), add_special_tokens=False
    )["input_ids"]
    prompt = encode_prompt(tokenizer, question, system_prompt, style=style)
    truncated = False
    for _ in range(4):  # shorten the question (not the template) until it fits
        overflow = len(prompt) + len(completion) - max_length
        if overflow <= 0:
            break
        truncated = True
        q_ids = tokenizer(question, add_special_tokens=False)["input_ids"]
        question = tokenizer.decode(q_ids[: max(len(q_ids) - overflow - 2, 0)])
        prompt = encode_prompt(tokenizer, question, system_prompt, style=style)
    if len(prompt) + len(completion) > max_length:  # template + answer alone are too long
        completion = completion[: max(max_length - len(prompt), 1)]
        prompt = prompt[-(max_length - len(completion)) :]
    return EncodedExample(prompt + completion, [-100] * len(prompt) + completion, truncated)


# ---------------------------------------------------------------- answers with tools
#
# A tool conversation: system (+ how to use the tool), question, then rounds of (assistant: a fenced Python
# program, tool: what it printed), then the assistant's final answer. It is rendered as a list of pieces
# (text, trainable): training tokenizes each piece and puts the loss on the trainable ones (the model's own
# turns, with their end-of-turn token), never on the tool output or the template; inference builds its
# prompt for round k from exactly the same pieces, so training and evaluation see the same tokens.

TOOL_INSTRUCTIONS = (
    "To calculate, write a Python program in a ```python block that prints the result with its unit; "
    "you will see what it printed. Then state the final answer with its unit."
)
PLAIN_TOOL_OUTPUT = "\nOutput: {output}\nAnswer:"
USER_TOOL_OUTPUT = "The program printed:\n{output}"


@dataclass(frozen=True)
class ToolRound:
    program: str  # the code, without the fence
    output: str  # what the model is shown: the printed text or the error


def tool_system_prompt(system_prompt: str | None) -> str:
    return f"{system_prompt}\n\n{TOOL_INSTRUCTIONS}" if system_prompt else TOOL_INSTRUCTIONS


def fence_program(program: str) -> str:
    return f"```python\n{program.strip()}\n```"


def final_from_output(output: str) -> str:
    """The final answer taught for a program's printed result: 'The answer is 9.82 m/s^2.'"""
    lines = [line.strip() for line in output.strip().splitlines() if line.strip()]
    text = "; ".join(lines) if lines else "no result"
    return f"The answer is {text.rstrip('.')}."


def tool_message(tokenizer, output: str) -> dict[str, str]:
    """The tool turn: the template's own tool role where it renders one, else a user turn that says what it is."""
    return {"role": "tool", "content": output} if has_tool_role(tokenizer) else {
        "role": "user", "content": USER_TOOL_OUTPUT.format(output=output)}


def has_tool_role(tokenizer) -> bool:
    """Whether the chat template renders a `tool` message (Llama 3: ipython, Qwen: <tool_response>, ChatML
    templates: any role); templates that reject unknown roles or drop the message have none."""
    cached = getattr(tokenizer, "_physlora_tool_role", None)
    if cached is not None and cached[0] == tokenizer.chat_template:
        return cached[1]
    marker = "physlora-tool-output-7f3a"
    try:
        text = tokenizer.apply_chat_template(
            [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}, {"role": "tool", "content": marker}],
            tokenize=False,
        )
        result = marker in text
    except Exception:  # jinja raises for roles a template does not allow
        result = False
    try:
        tokenizer._physlora_tool_role = (tokenizer.chat_template, result)
    except AttributeError:
        pass
    return result


def _cut_after_eos(tokenizer, text: str) -> tuple[str, str]:
    eos = tokenizer.eos_token
    if eos and eos in text:
        end = text.index(eos) + len(eos)
        return text[:end], text[end:]
    return text, ""


def tool_pieces(
    tokenizer, question: str, system_prompt: str | None, rounds: list[ToolRound], final: str | None = None
) -> list[tuple[str, bool]]:
    """The conversation as (text, trainable) pieces. With `final`, it ends with the final answer (training);
    without, it ends where the model writes next (inference after len(rounds) tool calls)."""
    if not has_chat_template(tokenizer):
        return _plain_tool_pieces(tokenizer, question, system_prompt, rounds, final)
    render = tokenizer.apply_chat_template
    msgs = _messages(question, tool_system_prompt(system_prompt))
    prefix = render(msgs, tokenize=False, add_generation_prompt=True)
    pieces: list[tuple[str, bool]] = [(prefix, False)]
    turns = [(fence_program(r.program), r) for r in rounds] + ([(final, None)] if final is not None else [])
    for content, rnd in turns:
        msgs = msgs + [{"role": "assistant", "content": content}]
        full = render(msgs, tokenize=False)
        if not full.startswith(prefix):
            raise ValueError("this chat template rewrites earlier turns; tool conversations need a prefix-stable template")
        turn, rest = _cut_after_eos(tokenizer, full[len(prefix) :])
        pieces.append((turn, True))
        prefix += turn
        if rnd is None:
            break
        msgs = msgs + [tool_message(tokenizer, rnd.output)]
        nxt = render(msgs, tokenize=False, add_generation_prompt=True)
        if not nxt.startswith(prefix):
            raise ValueError("this chat template rewrites earlier turns; tool conversations need a prefix-stable template")
        pieces.append((nxt[len(prefix) :], False))
        prefix = nxt
    return pieces


def _plain_tool_pieces(tokenizer, question, system_prompt, rounds, final) -> list[tuple[str, bool]]:
    pieces = [(f"{tool_system_prompt(system_prompt)}\n\n" + PLAIN_PROMPT.format(question=question), False)]
    for r in rounds:
        pieces += [(" " + fence_program(r.program), True), (PLAIN_TOOL_OUTPUT.format(output=r.output), False)]
    if final is not None:
        pieces.append((" " + final + (tokenizer.eos_token or ""), True))
    return pieces


def encode_pieces(tokenizer, pieces: list[tuple[str, bool]]) -> EncodedExample:
    """Each piece tokenized on its own (the first as a sequence start: BOS exactly once, see encode_text)."""
    ids: list[int] = []
    labels: list[int] = []
    for k, (text, trainable) in enumerate(pieces):
        piece = encode_text(tokenizer, text) if k == 0 else tokenizer(text, add_special_tokens=False)["input_ids"]
        ids += piece
        labels += piece if trainable else [-100] * len(piece)
    return EncodedExample(ids, labels)


def encode_tool_prompt(tokenizer, question: str, system_prompt: str | None, rounds: list[ToolRound] = ()) -> list[int]:
    """What generation is given in tools mode after `rounds` tool calls (the model writes next)."""
    return encode_pieces(tokenizer, tool_pieces(tokenizer, question, system_prompt, list(rounds))).input_ids


def encode_tool_example(
    tokenizer, question: str, rounds: list[ToolRound], final: str, system_prompt: str | None, max_length: int
) -> EncodedExample:
    """A whole tool exchange for training, loss on the model's turns only. Over-long rows lose the end of
    the question (as encode_example), never a program, its output or the answer."""
    ex = encode_pieces(tokenizer, tool_pieces(tokenizer, question, system_prompt, rounds, final))
    truncated = False
    for _ in range(4):
        overflow = len(ex.input_ids) - max_length
        if overflow <= 0:
            break
        truncated = True
        q_ids = tokenizer(question, add_special_tokens=False)["input_ids"]
        if len(q_ids) <= 2:
            break
        question = tokenizer.decode(q_ids[: max(len(q_ids) - overflow - 2, 1)])
        ex = encode_pieces(tokenizer, tool_pieces(tokenizer, question, system_prompt, rounds, final))
    if len(ex.input_ids) > max_length:  # the exchange alone does not fit: keep its end
        ex = EncodedExample(ex.input_ids[-max_length:], ex.labels[-max_length:])
    return EncodedExample(ex.input_ids, ex.labels, truncated)
