"""prompt.format: chat | plain. Plain is lm-evaluation-harness's prompt: no chat template, no system prompt,
'Question: ...\\nAnswer:', few-shot turns as 'prompt answer\\n\\n', the answer after one space."""

from __future__ import annotations

import pytest

from physlora.config import load_config
from physlora.errors import PhysloraError
from physlora.prompting import PLAIN_PROMPT, PromptStyle, build_completion, build_prompt, encode_example, encode_text

PLAIN = PromptStyle("plain")
SYSTEM = "You are a physicist."


def test_plain_is_lm_evals_question_answer_prompt_even_with_a_chat_template(tokenizer):
    assert tokenizer.chat_template  # SmolLM2-Instruct has one: plain must not use it
    assert build_prompt(tokenizer, "Why is the sky blue?", SYSTEM, style=PLAIN) == "Question: Why is the sky blue?\nAnswer:"
    chat = build_prompt(tokenizer, "Why is the sky blue?", SYSTEM)
    assert SYSTEM in chat and chat.startswith("<|im_start|>")


def test_plain_history_is_lm_evals_few_shot_format(tokenizer):
    text = build_prompt(tokenizer, "q3", SYSTEM, [("q1", "a1"), ("q2", "a2")], style=PLAIN)
    assert text == "Question: q1\nAnswer: a1\n\nQuestion: q2\nAnswer: a2\n\nQuestion: q3\nAnswer:"
    rendered = PromptStyle("plain", "{question}")  # a benchmark that renders its whole prompt
    assert build_prompt(tokenizer, "Described.\n\nQ?\nA. x\nAnswer:", SYSTEM, style=rendered) == "Described.\n\nQ?\nA. x\nAnswer:"


def test_plain_training_example_is_the_prompt_then_space_answer_eos(tokenizer):
    assert build_completion(tokenizer, "q", "42 m", SYSTEM, style=PLAIN) == " 42 m" + tokenizer.eos_token
    ex = encode_example(tokenizer, "What is g?", "9.8 m/s^2", SYSTEM, 128, style=PLAIN)
    prompt = encode_text(tokenizer, PLAIN_PROMPT.format(question="What is g?"))
    assert ex.input_ids[: len(prompt)] == prompt and ex.labels[: len(prompt)] == [-100] * len(prompt)
    assert tokenizer.decode([t for t in ex.labels if t != -100]).strip().startswith("9.8 m/s^2")


def test_prompt_format_is_a_config_key_for_every_command():
    assert load_config(None, ["prompt.format=plain"]).prompt.format == "plain"
    assert load_config(None, []).prompt.format == "chat"
    with pytest.raises(PhysloraError, match="prompt.format"):
        load_config(None, ["prompt.format=jinja"])


def test_plain_generation_stops_where_the_next_question_would_start(small):
    from physlora.inference.generate import generate_answers

    answers = generate_answers(small.model, small.tokenizer, ["What is the unit of force?", "Name a noble gas."],
                               system_prompt=SYSTEM, max_new_tokens=40, batch_size=2, style=PLAIN)
    assert all(a and "Question:" not in a for a in answers)


def test_in_training_validation_scores_with_the_runs_prompt_format(small, fixtures):
    """A run trained on plain prompts is validated (reference NLL, MC options) on plain prompts too."""
    from physlora.data.sources import load_records
    from physlora.scoring.likelihood import reference_nll
    from physlora.training.validation import PhysicsValidator, ValidationSet

    records = load_records(str(fixtures / "mini.jsonl")).records[:2]
    sets = [ValidationSet("", records)]
    plain = PhysicsValidator(sets, small.tokenizer, system_prompt=SYSTEM, style=PLAIN).score(small.model)
    chat = PhysicsValidator(sets, small.tokenizer, system_prompt=SYSTEM).score(small.model)
    want = reference_nll(small.model, small.tokenizer, records, system_prompt=SYSTEM, style=PLAIN)
    assert plain["eval_ref_nll"] == pytest.approx(sum(want) / len(want), rel=1e-4)
    assert plain["eval_ref_nll"] != pytest.approx(chat["eval_ref_nll"], rel=1e-3)


@pytest.mark.parametrize("override", ["data.format=tools", "data.format=mixed", "eval.mode=tools", "eval.mode=both"])
def test_plain_prompts_and_tool_exchanges_are_one_clear_error(override):
    """A tool exchange is a chat of model/tool/model turns: there is no lm-eval plain form to give it."""
    from physlora.experiments.common import check_prompt_format, prompt_style

    cfg = load_config(None, ["prompt.format=plain", override])
    with pytest.raises(PhysloraError, match="prompt.format=plain needs data.format=plain and eval.mode=plain"):
        check_prompt_format(cfg)
    with pytest.raises(PhysloraError):
        prompt_style(cfg)
    check_prompt_format(load_config(None, [override]))  # chat prompts: fine


def test_ask_with_tools_in_plain_format_fails_before_loading_a_model(capsys):
    from physlora.cli import main

    assert main(["ask", "--tools", "--model", "no/such-model", "What is 2+2?", "prompt.format=plain"]) == 2
    assert "ask --tools needs prompt.format=chat" in capsys.readouterr().err
