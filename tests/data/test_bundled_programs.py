"""Every bundled free-form item that asks for a number carries a program; run in the sandbox, each prints
the recomputed value of the data checks within 2%, with the unit the answer states."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from physlora.data.sources import load_records
from physlora.grading.physics_check import Quantity, extract_quantity, quantities_match
from physlora.tools.sandbox import Sandbox
from test_bundled_data import CHECKS

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("write_programs", ROOT / "scripts" / "write_programs.py")
write_programs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(write_programs)

RECORDS = [r for s in ("train", "validation", "test") for r in load_records("physlora-physics", s).records]
WITH_PROGRAM = [r for r in RECORDS if r.program]


def test_numeric_items_have_programs_and_others_do_not():
    checked = {r.id for r in RECORDS if r.id in CHECKS}
    asked = checked - write_programs.NOT_ASKED
    assert {r.id for r in WITH_PROGRAM} == asked
    assert len(asked) >= 180
    assert sum(1 for r in WITH_PROGRAM if r.id in {x.id for x in load_records("physlora-physics", "test").records}) >= 30


def test_source_files_and_bundled_splits_agree():
    src = {}
    for path in (ROOT / "data" / "src" / "freeform").glob("*.jsonl"):
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            src[row["id"]] = row.get("program")
    assert {r.id: r.program for r in RECORDS if r.program} == {k: v.strip() for k, v in src.items() if v}


@pytest.fixture(scope="module")
def outputs() -> dict[str, str]:
    with Sandbox() as box:
        results = {r.id: box.run(r.program) for r in WITH_PROGRAM}
    bad = {k: (v.status, v.stderr) for k, v in results.items() if v.status != "ok"}
    assert not bad, bad
    return {k: v.stdout for k, v in results.items()}


def test_every_program_reproduces_its_answer_within_2_percent_with_its_unit(outputs):
    by_id = {r.id: r for r in RECORDS}
    wrong = []
    for item_id, stdout in outputs.items():
        value, written = CHECKS[item_id]
        printed = extract_quantity(stdout)
        unit = write_programs.reference_unit(by_id[item_id].answer, written)
        reference = Quantity(float(written), "percent" if unit == "%" else unit)
        ok = printed is not None and printed.value == pytest.approx(value, rel=0.02) and (
            printed.unit == reference.unit or quantities_match(printed, reference, rel_tol=0.02))
        if not ok:
            wrong.append((item_id, stdout.strip(), written, unit))
    assert not wrong, wrong


def test_programs_print_one_line(outputs):
    assert all(len(out.strip().splitlines()) == 1 for out in outputs.values())
