"""Answering with tools: the model may write a fenced Python program, physlora runs it in the sandbox and
shows the model what it printed, for up to `max_rounds` programs, then the model writes its final answer.

All questions go through each round together (batched generation); those that wrote a program go on to
the next round. A model that never writes code is not an error: its first answer is its final answer
("no_tool_call") and is graded like a plain answer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

import torch
from pydantic import BaseModel
from transformers import StoppingCriteria

from physlora.inference.generate import generate_ids
from physlora.prompting import ToolRound, encode_tool_prompt
from physlora.tools.programs import PROGRAM_RE, extract_program
from physlora.tools.sandbox import ProgramResult, Sandbox

TOOL_OUTPUT_CHARS = 500  # what the model is shown of a program's output
STDIO_CHARS = 2000  # what a prediction records of stdout/stderr


class ToolCall(BaseModel):
    program: str
    status: str
    stdout: str = ""
    stderr: str = ""
    shown: str = ""  # what the model saw as the tool's answer
    seconds: float = 0.0  # wall time in the sandbox


class ToolAnswer(BaseModel):
    final: str  # the final answer, graded like any prediction
    calls: list[ToolCall] = []
    stop: Literal["answered", "no_tool_call", "rounds_exhausted"] = "answered"
    generation_seconds: float = 0.0
    sandbox_seconds: float = 0.0

    @property
    def rounds(self) -> int:
        return len(self.calls)


class ClosedFenceStop(StoppingCriteria):
    """Stops a row once its new text holds a complete ```python ...``` block: the program is all this
    turn needs (a base model would ramble on after it)."""

    def __init__(self, tokenizer, width: int):
        self.tokenizer, self.width = tokenizer, width

    def __call__(self, input_ids: torch.Tensor, scores, **kwargs) -> torch.Tensor:
        done = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        if input_ids.shape[1] <= self.width:
            return done
        for row in range(input_ids.shape[0]):
            if "`" not in self.tokenizer.decode(input_ids[row, -2:]):
                continue  # cheap test first: only a backtick can close a fence
            if PROGRAM_RE.search(self.tokenizer.decode(input_ids[row, self.width :])):
                done[row] = True
        return done


def _call(program: str, result: ProgramResult) -> ToolCall:
    return ToolCall(program=program, status=result.status, stdout=result.stdout[:STDIO_CHARS],
                    stderr=result.stderr[:STDIO_CHARS], shown=result.as_tool_output(TOOL_OUTPUT_CHARS),
                    seconds=result.seconds)


def answer_with_tools(
    model,
    tokenizer,
    questions: list[str],
    *,
    system_prompt: str | None,
    sandbox: Sandbox,
    max_rounds: int = 2,
    max_new_tokens: int = 128,
    batch_size: int = 16,
    on_done: Callable[[int, ToolAnswer], None] | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[ToolAnswer]:
    """One ToolAnswer per question, in order. `on_done(index, answer)` sees each answer as it is final."""
    rounds: list[list[ToolRound]] = [[] for _ in questions]
    calls: list[list[ToolCall]] = [[] for _ in questions]
    gen_seconds = [0.0] * len(questions)
    answers: list[ToolAnswer | None] = [None] * len(questions)
    active = list(range(len(questions)))
    for round_no in range(max_rounds + 1):
        prompts = [encode_tool_prompt(tokenizer, questions[i], system_prompt, rounds[i]) for i in active]
        started = time.perf_counter()
        new = generate_ids(model, tokenizer, prompts, max_new_tokens=max_new_tokens, batch_size=batch_size,
                           stopping_criteria=lambda width: ClosedFenceStop(tokenizer, width))
        per_row = (time.perf_counter() - started) / max(len(active), 1)
        programs: dict[int, str] = {}
        for i, ids in zip(active, new):
            gen_seconds[i] += per_row
            text = tokenizer.decode(ids, skip_special_tokens=True).strip()
            program = extract_program(text)
            if program is None or round_no == max_rounds:
                stop = "no_tool_call" if round_no == 0 and program is None else (
                    "rounds_exhausted" if program is not None else "answered")
                answers[i] = ToolAnswer(final=text, calls=calls[i], stop=stop, generation_seconds=gen_seconds[i],
                                        sandbox_seconds=sum(c.seconds for c in calls[i]))
                if on_done:
                    on_done(i, answers[i])
                if progress:
                    progress(1)
            else:
                programs[i] = program
        if not programs:
            break
        results = sandbox.run_many(list(programs.values()))
        for (i, program), result in zip(programs.items(), results):
            call = _call(program, result)
            calls[i].append(call)
            rounds[i].append(ToolRound(program, call.shown))
        active = list(programs)
    return [a for a in answers if a is not None]
