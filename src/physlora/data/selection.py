"""Which records a run trains and evaluates on, from the data section of the config.

One function decides it, and every process of a multi-process run calls it with the same config, so all
ranks train on exactly the rows rank 0 trains on and none of them on an evaluation row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from physlora.config import DataSection
from physlora.data.records import Record
from physlora.data.sources import LoadResult, load_records, load_train_eval


@dataclass
class RunData:
    train: list[Record]
    train_source: str
    eval_sets: dict[str, list[Record]]  # source name -> records, in the order they are evaluated
    notes: list[str] = field(default_factory=list)  # what was skipped or looks wrong, to tell the user
    # eval set -> "in-distribution" (the eval split of the training data, data.extra_eval) or "transfer"
    # (data.transfer_eval: another origin or answer style)
    origins: dict[str, str] = field(default_factory=dict)

    def manifest(self) -> dict:
        """The ids of every set: kept in the run folder so anyone can check what was trained and evaluated on."""
        return {
            "train": {"source": self.train_source, "ids": [r.id for r in self.train]},
            "eval": {name: [r.id for r in records] for name, records in self.eval_sets.items()},
        }


def evenly_spaced(records: list[Record], n: int | None) -> list[Record]:
    """At most n records, evenly spaced over the set, so a capped eval still spans every topic of a file sorted
    by topic (a plain head would keep only the first few topics)."""
    if not n or n >= len(records):
        return records
    return [records[i * len(records) // n] for i in range(n)]


def _question_key(question: str) -> str:
    """A question up to case, punctuation and spacing: the same question copied into two files matches."""
    return " ".join(re.sub(r"[^\w\s]", " ", question.lower()).split())


def leaked_ids(train: list[Record], test: list[Record]) -> list[str]:
    """Ids of `test` records whose question also appears in `train` (up to case, punctuation and spacing)."""
    seen = {_question_key(r.question) for r in train}
    return [r.id for r in test if _question_key(r.question) in seen]


def _skip_notes(*results: LoadResult) -> list[str]:
    return [r.skip_summary() for r in results if r.skipped]


def select_run_data(d: DataSection, seed: int) -> RunData:
    """Train records and evaluation sets of `physlora run`: the eval source, or the train source's test split,
    or a deterministic hold-out of a train file; then the extra eval sets; caps applied."""
    columns = d.columns or None
    train_set, eval_set = load_train_eval(
        d.train, d.eval, train_split=d.train_split, eval_split=d.eval_split, columns=columns,
        test_size=d.test_size, seed=seed, skip_invalid=d.skip_invalid,
    )
    extra = [load_records(name, d.eval_split, columns=columns, skip_invalid=d.skip_invalid) for name in d.extra_eval]
    transfer = [load_records(name, d.eval_split, columns=columns, skip_invalid=d.skip_invalid) for name in d.transfer_eval]
    data = RunData(
        train=evenly_spaced(train_set.records, d.max_train_examples),
        train_source=train_set.source,
        eval_sets={s.source: evenly_spaced(s.records, d.max_eval_examples) for s in [eval_set, *extra, *transfer]},
        notes=_skip_notes(train_set, eval_set, *extra, *transfer),
        origins={s.source: "in-distribution" for s in [eval_set, *extra]} | {s.source: "transfer" for s in transfer},
    )
    for name, records in data.eval_sets.items():
        leaked = leaked_ids(data.train, records)
        if leaked:
            data.notes.append(f"warning: {len(leaked)} questions of {name} also appear in the training data "
                              f"(e.g. {leaked[0]}); scores will be inflated")
    return data


def select_train_data(d: DataSection) -> RunData:
    """Train records of `physlora train`: the whole train split (a file is used whole), capped."""
    train_set = load_records(d.train, d.train_split, columns=d.columns or None, skip_invalid=d.skip_invalid)
    return RunData(train=evenly_spaced(train_set.records, d.max_train_examples), train_source=train_set.source,
                   eval_sets={}, notes=_skip_notes(train_set))
