"""Tools mode through the one prompt builder: the loss mask of a tool exchange, the identity of training and
inference prompts, the fallbacks for templates without a tool role, and a real round trip with the embedded
model (its program runs in the sandbox, the output reaches the model, the final answer is recorded)."""

from __future__ import annotations

import copy

import pytest

from physlora.prompting import (
    ToolRound, encode_tool_example, encode_tool_prompt, fence_program, has_tool_role, tool_pieces,
)
from physlora.tools.programs import extract_program

SYSTEM = "You are a physicist. Answer concisely and correctly."
Q = "How much kinetic energy does a 1000 kg car have when travelling at 20 m/s?"
ROUNDS = [ToolRound("answer = 0.5 * 1000 * 20**2\nprint(f\"{answer:.3g} J\")", "2e+05 J")]
FINAL = "The answer is 2e+05 J."


def test_loss_is_on_the_model_turns_only(tokenizer):
    ex = encode_tool_example(tokenizer, Q, ROUNDS, FINAL, SYSTEM, max_length=512)
    trained = tokenizer.decode([t for t in ex.labels if t != -100])
    eos = tokenizer.eos_token
    assert trained == fence_program(ROUNDS[0].program) + eos + FINAL + eos
    untrained = tokenizer.decode([t for t, label in zip(ex.input_ids, ex.labels) if label == -100])
    assert "2e+05 J" in untrained and Q in untrained  # the tool output and the question carry no loss
    assert all(label in (-100, t) for t, label in zip(ex.input_ids, ex.labels))


def test_training_prompt_equals_inference_prompt_at_every_round(tokenizer):
    ex = encode_tool_example(tokenizer, Q, ROUNDS, FINAL, SYSTEM, max_length=512)
    first = encode_tool_prompt(tokenizer, Q, SYSTEM, [])  # round 1: before any program
    second = encode_tool_prompt(tokenizer, Q, SYSTEM, ROUNDS)  # round 2: after the tool output
    assert ex.input_ids[: len(first)] == first and ex.input_ids[: len(second)] == second
    assert all(label == -100 for label in ex.labels[: len(first)])
    assert tokenizer.decode(ex.input_ids[len(second) :]) == FINAL + tokenizer.eos_token


def test_tool_role_of_the_template_is_used(tokenizer):
    assert has_tool_role(tokenizer)
    pieces = tool_pieces(tokenizer, Q, SYSTEM, ROUNDS)
    assert "<|im_start|>tool\n2e+05 J<|im_end|>" in pieces[2][0] and not pieces[2][1]


def test_template_without_tool_role_shows_the_output_as_a_user_turn(tokenizer):
    strict = copy.deepcopy(tokenizer)
    strict.chat_template = (
        "{% for m in messages %}{% if m['role'] not in ['system', 'user', 'assistant'] %}"
        "{{ raise_exception('roles must be system/user/assistant') }}{% endif %}"
        "{{ '<|im_start|>' + m['role'] + '\n' + m['content'] + '<|im_end|>\n' }}{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
    )
    assert not has_tool_role(strict)
    pieces = tool_pieces(strict, Q, SYSTEM, ROUNDS, FINAL)
    assert "<|im_start|>user\nThe program printed:\n2e+05 J<|im_end|>" in pieces[2][0]
    ex = encode_tool_example(strict, Q, ROUNDS, FINAL, SYSTEM, 512)
    assert ex.input_ids[: len(encode_tool_prompt(strict, Q, SYSTEM, ROUNDS))] == encode_tool_prompt(strict, Q, SYSTEM, ROUNDS)


def test_plain_format_without_chat_template(tokenizer):
    plain = copy.deepcopy(tokenizer)
    plain.chat_template = None
    text = "".join(t for t, _ in tool_pieces(plain, Q, None, ROUNDS, FINAL))
    assert text.endswith(f"Question: {Q}\nAnswer: {fence_program(ROUNDS[0].program)}\nOutput: 2e+05 J\nAnswer: {FINAL}"
                         + plain.eos_token)


def test_long_question_is_shortened_never_the_program_or_answer(tokenizer):
    ex = encode_tool_example(tokenizer, "Consider this carefully. " * 150 + Q, ROUNDS, FINAL, SYSTEM, max_length=200)
    assert ex.truncated and len(ex.input_ids) <= 200
    assert tokenizer.decode([t for t in ex.labels if t != -100]).endswith(FINAL + tokenizer.eos_token)
    assert "2e+05 J" in tokenizer.decode(ex.input_ids)


@pytest.mark.parametrize("text,code", [
    ("```python\nprint(1)\n```", "print(1)"),
    ("Let me compute.\n```py\nx = 2\nprint(x)\n```\nDone.", "x = 2\nprint(x)"),
    ("```\nprint(3)\n```", "print(3)"),
    ("```python\nprint(1)", None),  # never closed
    ("No code here, 9.8 m/s^2.", None),
])
def test_extract_program(text, code):
    assert extract_program(text) == code


@pytest.mark.slow
def test_round_trip_with_the_embedded_model(small, monkeypatch):
    """A prompt the base model answers with a program: it runs, its output is in the next prompt, and the
    final answer is recorded; the prompt of round 2 is the training encoding of the same exchange."""
    from physlora.inference import tools as tool_loop
    from physlora.tools.sandbox import Sandbox

    seen: list[list[list[int]]] = []
    real = tool_loop.generate_ids

    def recording(model, tokenizer, prompts, **kw):
        seen.append(prompts)
        return real(model, tokenizer, prompts, **kw)

    monkeypatch.setattr(tool_loop, "generate_ids", recording)
    question = "Write a Python program that prints the product of 6.67e-11 and 5.97e24."
    with Sandbox() as box:
        (answer,) = tool_loop.answer_with_tools(small.model, small.tokenizer, [question], system_prompt=SYSTEM,
                                                sandbox=box, max_rounds=1, max_new_tokens=96, batch_size=1)
    assert answer.rounds == 1 and answer.calls[0].status == "ok", answer
    assert "6.67e-11" in answer.calls[0].program and answer.calls[0].stdout.strip()
    assert answer.final and answer.generation_seconds > 0 and answer.sandbox_seconds > 0
    round2 = small.tokenizer.decode(seen[1][0])
    assert answer.calls[0].shown in round2  # the output reached the model
    rounds = [ToolRound(c.program, c.shown) for c in answer.calls]
    assert seen[1][0] == encode_tool_prompt(small.tokenizer, question, SYSTEM, rounds)
    trained = encode_tool_example(small.tokenizer, question, rounds, answer.final, SYSTEM, 1024)
    assert trained.input_ids[: len(seen[1][0])] == seen[1][0]
