"""The native physics Q&A record, and what loading a source gives back.

Native record: {id, question, answer, choices?, explanation?, topic?, difficulty?, program?}.
`program` is Python code that computes the answer (prints it with its unit): tool-format training and
the reference for the program sandbox (physlora.tools).
Multiple choice is a record whose `choices` is a list and whose `answer` is one of them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any


OPTIONAL_FIELDS = ("id", "choices", "explanation", "topic", "difficulty", "program")


LETTERS = "ABCDEFGHIJ"


@dataclass
class Record:
    id: str
    question: str
    answer: str
    choices: list[str] | None = None
    explanation: str | None = None
    topic: str | None = None
    difficulty: str | None = None
    program: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def is_mc(self) -> bool:
        return bool(self.choices)

    @property
    def answer_index(self) -> int:
        assert self.choices is not None
        return self.choices.index(self.answer)

    def to_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in asdict(self).items() if v is not None and k != "extra"}
        return d


@dataclass
class Skipped:
    where: str
    reason: str


@dataclass
class LoadResult:
    records: list[Record]
    skipped: list[Skipped] = field(default_factory=list)
    source: str = ""

    def skip_summary(self) -> str:
        if not self.skipped:
            return ""
        reasons = Counter(s.reason.split(":")[0] for s in self.skipped)
        parts = ", ".join(f"{n} {r}" for r, n in reasons.most_common())
        return f"skipped {len(self.skipped)} invalid rows of {self.source} ({parts})"
