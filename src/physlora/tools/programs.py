"""Finding the program in a model's turn: the first complete fenced Python block."""

from __future__ import annotations

import re

# ```python / ```py / ``` then a newline, the code, and the closing fence
PROGRAM_RE = re.compile(r"```[ \t]*(?:python3?|py)?[ \t]*\n(?P<code>.*?)```", re.DOTALL | re.IGNORECASE)


def extract_program(text: str) -> str | None:
    """The code of the first complete fenced block in `text` (None if there is none, or it is empty)."""
    m = PROGRAM_RE.search(text)
    if m is None:
        return None
    code = m.group("code").strip("\n")
    return code if code.strip() else None
