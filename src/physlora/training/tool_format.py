"""Training examples in the tool format: the model's turn with the program, the tool's turn with what the
program printed (run in the sandbox, so the output is exactly what evaluation would show), and the
model's final answer. The loss is on the model's turns only (physlora.prompting.tool_pieces).

    data.format = plain   every record as question -> answer (the default)
                  tools   every record under the tool instructions: records with a `program` as the
                          whole exchange, the others answered directly (the model learns when not to compute)
                  mixed   every record as plain, and records with a `program` also as the tool exchange
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

from physlora.data.records import Record
from physlora.prompting import (
    EncodedExample, PromptStyle, ToolRound, encode_example, encode_tool_example, final_from_output,
)

DataFormat = Literal["plain", "tools", "mixed"]


@dataclass
class ToolTarget:
    rounds: list[ToolRound]
    final: str


@dataclass
class EncodedSet:
    examples: list[EncodedExample]
    tool_examples: int = 0
    failed_programs: Counter = field(default_factory=Counter)  # status -> count; those rows train as plain

    def summary(self) -> str:
        failed = sum(self.failed_programs.values())
        text = f"{len(self.examples)} training examples, {self.tool_examples} of them in the tool format"
        if failed:
            text += f"; {failed} programs did not print a result ({dict(self.failed_programs)}), trained as plain"
        return text


def program_code(program: str) -> str:
    """A record's program without a surrounding ```python fence, if the data has one."""
    from physlora.tools.programs import extract_program

    return extract_program(program) or program.strip()


def tool_targets(records: list[Record], sandbox=None) -> tuple[dict[str, ToolTarget], Counter]:
    """Run each record's program in the sandbox; a program that prints a result becomes a tool target."""
    from physlora.tools.sandbox import Sandbox

    with_program = [r for r in records if r.program]
    if not with_program:
        return {}, Counter()
    own = sandbox is None
    box = sandbox or Sandbox()
    try:
        codes = [program_code(r.program) for r in with_program]
        results = box.run_many(codes)
    finally:
        if own:
            box.close()
    targets, failed = {}, Counter()
    for rec, code, result in zip(with_program, codes, results):
        if result.ok:
            shown = result.as_tool_output()
            targets[rec.id] = ToolTarget([ToolRound(code, shown)], final_from_output(shown))
        else:
            failed[result.status] += 1
    return targets, failed


def encode_records(
    tokenizer, records: list[Record], system_prompt: str | None, max_length: int, data_format: DataFormat = "plain",
    sandbox=None, style: PromptStyle | None = None,
) -> EncodedSet:
    """The training examples of `records` in `data_format` (see the module docstring); plain ones in `style`'s
    prompt format (the tool exchange is always a chat: experiments.common.check_prompt_format)."""
    if data_format == "plain":
        return EncodedSet([encode_example(tokenizer, r.question, r.answer, system_prompt, max_length, style)
                           for r in records])
    targets, failed = tool_targets(records, sandbox)
    examples: list[EncodedExample] = []
    for r in records:
        target = targets.get(r.id)
        if data_format == "mixed" or target is None and data_format == "tools" and r.program:
            examples.append(encode_example(tokenizer, r.question, r.answer, system_prompt, max_length))
        if target is not None:
            examples.append(encode_tool_example(tokenizer, r.question, target.rounds, target.final, system_prompt, max_length))
        elif data_format == "tools" and not r.program:
            examples.append(encode_tool_example(tokenizer, r.question, [], r.answer, system_prompt, max_length))
    return EncodedSet(examples, len(targets), failed)
