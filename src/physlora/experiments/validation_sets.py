"""Which validation sets a run scores during training: the training source's validation split (or
`data.validation`), plus the validation split of every extra/transfer eval set that has one. Never a test
split: a sweep's objective and the best checkpoint are chosen on these."""

from __future__ import annotations

from pathlib import Path

from physlora.config import DataSection
from physlora.data.records import Record
from physlora.data.selection import evenly_spaced, leaked_ids
from physlora.data.sources import BUNDLED, BUNDLED_DIR, load_records
from physlora.training.validation import ValidationSet


def provides_split(source: str, split: str) -> bool:
    """Whether `source` has `split` of its own (a local file never has: it is one set)."""
    if source in BUNDLED:
        return (BUNDLED_DIR / BUNDLED[source] / f"{split}.jsonl").is_file()
    if Path(source).expanduser().exists() or Path(source).suffix:
        return False
    try:
        import datasets

        return split in datasets.get_dataset_split_names(source)
    except Exception:  # offline, unknown id, ...: no validation split we could use
        return False


def set_name(source: str) -> str:
    """A short, key-safe name: the bundled name, or a file's stem."""
    name = source if source in BUNDLED else Path(source).stem if Path(source).suffix else source
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def load_validation_sets(d: DataSection, train_records: list[Record], cap: int | None) -> list[ValidationSet]:
    """The validation sets of a run, each capped at `cap` evenly spaced records; validation questions that
    also occur in the training records are dropped (they would reward memorising)."""
    columns = d.columns or None
    sets: list[ValidationSet] = []
    if d.validation is not None:
        main = load_records(d.validation, d.validation_split, columns=columns, skip_invalid=d.skip_invalid).records
    elif provides_split(d.train, d.validation_split):
        main = load_records(d.train, d.validation_split, columns=columns, skip_invalid=d.skip_invalid).records
    else:
        main = []
    if main:
        sets.append(ValidationSet("", evenly_spaced(_unseen(main, train_records), cap)))
    for source in dict.fromkeys([*d.extra_eval, *d.transfer_eval]):
        if provides_split(source, d.validation_split):
            records = load_records(source, d.validation_split, columns=columns, skip_invalid=d.skip_invalid).records
            sets.append(ValidationSet(set_name(source), evenly_spaced(_unseen(records, train_records), cap)))
    return [s for s in sets if s.records]


def _unseen(records: list[Record], train: list[Record]) -> list[Record]:
    leaked = set(leaked_ids(train, records))
    return [r for r in records if r.id not in leaked]
