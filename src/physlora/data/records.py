"""The native physics Q&A record, and what loading a source gives back.

Native record: {id, question, answer, choices?, explanation?, topic?, difficulty?, answer_type?, tolerance?,
program?}. Multiple choice is a record whose `choices` is a list and whose `answer` is one of them. `answer_type`
tells the physics check how to read the answer (see ANSWER_TYPES; inferred from the answer when absent)
and `tolerance` is its relative tolerance for numbers (the evaluation's default, 5%, when absent).
`program` is Python code that computes the answer (prints it with its unit): tool-format training and
the reference for the program sandbox (physlora.tools).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any


# passage_id / source: the gold passage (an index anchor such as `notes.md#section`) or document of the
# answer, for retrieval recall and citation accuracy (physlora.retrieval)
OPTIONAL_FIELDS = ("id", "choices", "explanation", "topic", "difficulty", "answer_type", "tolerance", "program",
                   "passage_id", "source")

# The answer types the physics check knows (physlora.grading.answer_types reads each), and the names
# benchmarks use for them: UGPhysics NV/EX/EQ/IN/TF/MC, OlympiadBench Numerical/Expression/Equation/
# Interval/Tuple, TheoremQA integer/float/bool/option/'list of ...'.
ANSWER_TYPES = ("numeric", "formula", "equation", "mc", "yesno", "tuple", "set", "plus_minus", "interval")
_ANSWER_TYPE_ALIASES = {
    "number": "numeric", "numerical": "numeric", "nv": "numeric", "integer": "numeric", "float": "numeric",
    "value": "numeric", "quantity": "numeric", "expression": "formula", "ex": "formula", "symbolic": "formula",
    "expr": "formula", "eq": "equation", "multiple_choice": "mc", "option": "mc", "letter": "mc",
    "tf": "yesno", "bool": "yesno", "boolean": "yesno", "true_false": "yesno", "yes_no": "yesno",
    "list": "tuple", "ordered": "tuple", "multi": "tuple", "unordered": "set", "pm": "plus_minus",
    "±": "plus_minus", "in": "interval", "range": "interval",
}  # fmt: skip


def canonical_answer_type(name: object) -> str | None:
    """The answer type `name` means (case and the aliases above tolerated); None for None/''.
    Raises ValueError naming the known types for anything else."""
    if name is None or not str(name).strip():
        return None
    key = str(name).strip().lower().replace("-", "_").replace(" ", "_")
    if key.startswith("list_of") or "," in key:  # TheoremQA 'list of integer', UGPhysics 'NV,NV'
        return "tuple"
    key = _ANSWER_TYPE_ALIASES.get(key, key)
    if key not in ANSWER_TYPES:
        raise ValueError(f"unknown answer_type {name!r} (use one of: {', '.join(ANSWER_TYPES)})")
    return key


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
    passage_id: str | None = None
    source: str | None = None
    answer_type: str | None = None  # one of ANSWER_TYPES; None: inferred from the answer
    tolerance: float | None = None  # relative tolerance for numeric answers; None: the evaluation's default
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
