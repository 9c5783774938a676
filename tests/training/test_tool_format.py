"""Training data in the tool format: programs run in the sandbox, the exchange is encoded with the loss on
the model's turns, a program that fails trains as plain, and any data set with a `program` column works."""

from __future__ import annotations

import json

from physlora.data.sources import load_records
from physlora.prompting import encode_example, encode_tool_prompt
from physlora.tools.sandbox import Sandbox
from physlora.training.tool_format import encode_records

SYSTEM = "You are a physicist. Answer concisely and correctly."


def test_formats_from_a_user_file_with_a_program_column(tokenizer, tmp_path):
    rows = [
        {"id": "a", "question": "What is the weight of a 2.0 kg mass (g = 9.8 m/s^2)?", "answer": "About 19.6 N.",
         "program": "```python\nprint(f'{2.0 * 9.8:.3g} N')\n```"},
        {"id": "b", "question": "Why is the sky blue?", "answer": "Rayleigh scattering."},
        {"id": "c", "question": "What is 1/0?", "answer": "Undefined.", "program": "print(1 / 0)"},
    ]
    path = tmp_path / "with_programs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    records = load_records(str(path)).records
    assert records[0].program and records[1].program is None
    with Sandbox() as box:
        plain = encode_records(tokenizer, records, SYSTEM, 512, "plain")
        mixed = encode_records(tokenizer, records, SYSTEM, 512, "mixed", sandbox=box)
        tools = encode_records(tokenizer, records, SYSTEM, 512, "tools", sandbox=box)
    assert len(plain.examples) == 3 and plain.examples[0].input_ids == encode_example(
        tokenizer, rows[0]["question"], rows[0]["answer"], SYSTEM, 512).input_ids
    assert len(mixed.examples) == 4 and mixed.tool_examples == 1 and mixed.failed_programs == {"runtime_error": 1}
    assert len(tools.examples) == 3 and tools.tool_examples == 1

    exchange = tools.examples[0]
    trained = tokenizer.decode([t for t in exchange.labels if t != -100])
    assert trained == ("```python\nprint(f'{2.0 * 9.8:.3g} N')\n```" + tokenizer.eos_token
                       + "The answer is 19.6 N." + tokenizer.eos_token)
    untrained = tokenizer.decode([t for t, lab in zip(exchange.input_ids, exchange.labels) if lab == -100])
    assert "<|im_start|>tool\n19.6 N<|im_end|>" in untrained  # the sandbox's output, without loss
    # the conceptual row, under the tool instructions, is answered directly; the failed program trains as plain
    direct = tools.examples[1]
    prompt = encode_tool_prompt(tokenizer, rows[1]["question"], SYSTEM)
    assert direct.input_ids[: len(prompt)] == prompt
    assert tokenizer.decode([t for t in direct.labels if t != -100]) == "Rayleigh scattering." + tokenizer.eos_token
    assert tools.examples[2].input_ids == encode_example(tokenizer, rows[2]["question"], rows[2]["answer"], SYSTEM, 512).input_ids
