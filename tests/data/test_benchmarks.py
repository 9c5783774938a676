"""Benchmarks by name: registry, NAME[@VARIANT][=PATH] specs, native-shape readers, prompt rendering."""

from __future__ import annotations

import json

import pytest

from benchmark_rows import GPQA, MMLU_DEV, MMLU_TEST, THEOREMQA, write_all, write_jsonl
from physlora.data.benchmarks import BENCHMARKS, benchmark_table, parse_spec
from physlora.data.sources import has_split, load_records
from physlora.errors import PhysloraError
from physlora.grading.physics_check import grade

EXPECTED = {"mmlu:college_physics", "mmlu:high_school_physics", "mmlu:conceptual_physics", "gpqa:physics", "scibench",
            "theoremqa:physics", "ugphysics", "olympiadbench:physics", "phybench"}  # fmt: skip


@pytest.fixture(scope="module")
def local(tmp_path_factory) -> dict[str, str]:
    return write_all(tmp_path_factory.mktemp("benchmarks"))


def test_the_registry_has_every_set_the_field_reports():
    assert set(BENCHMARKS) == EXPECTED
    table = benchmark_table()
    for name, b in BENCHMARKS.items():
        assert name in table and b.hub_id in table
        assert b.columns and b.grading and b.comparable


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_entry_loads_its_local_native_file(name, local):
    result = load_records(f"{name}={local[name]}")
    assert result.records and has_split(name, "test")
    for rec in result.records:
        if BENCHMARKS[name].kind == "mc":
            assert rec.is_mc and rec.extra["mc_targets"] and rec.question.rstrip().endswith("Answer:")
        else:
            assert not rec.is_mc and rec.answer_type and "\\boxed" in rec.question
            # each reference is gradable and agrees with itself: the reader produced a well-formed answer
            assert grade(rec.answer, rec.answer, answer_type=rec.answer_type, tolerance=rec.tolerance) == 1.0, rec


def test_mmlu_prompt_is_lm_evals_string(local):
    rec = load_records(f"mmlu:college_physics={local['mmlu:college_physics']}").records[2]
    row = MMLU_TEST[2]
    assert rec.question == (
        "The following are multiple choice questions (with answers) about college physics.\n\n"
        f"{row['question'].strip()}\nA. 25 m/s\nB. 52 m/s\nC. 100 m/s\nD. 0.04 m/s\nAnswer:"
    )
    assert rec.answer == "100 m/s" and rec.extra["mc_targets"] == ["A", "B", "C", "D"] and rec.topic == "college_physics"


def test_the_mmlu_subjects_differ_only_in_lm_evals_description_line(local):
    for subject in ("high_school_physics", "conceptual_physics"):
        rec = load_records(f"mmlu:{subject}={local['mmlu:' + subject]}").records[0]
        assert rec.question.startswith(f"The following are multiple choice questions (with answers) about {subject.replace('_', ' ')}.\n\n")
        assert rec.question.endswith("\nA. 1 m/s^2\nB. 3 m/s^2\nC. 6 m/s^2\nD. 12 m/s^2\nAnswer:")


def test_k_shot_takes_the_first_examples_of_the_dev_split(local):
    rec = load_records(f"mmlu:college_physics@2shot={local['mmlu:college_physics']}").records[0]
    first, second = MMLU_DEV[0], MMLU_DEV[1]
    assert rec.question.startswith("The following are multiple choice questions (with answers) about college physics.\n\n"
                                   f"{first['question']}\nA. 1 N\nB. 2 N\nC. 3 N\nD. 4 N\nAnswer: B\n\n{second['question']}")
    assert rec.question.count("Answer:") == 3


def test_k_shot_from_a_single_file_asks_for_the_dev_split(tmp_path):
    path = write_jsonl(tmp_path / "cp.jsonl", MMLU_TEST)
    with pytest.raises(PhysloraError, match="needs the 'dev' split"):
        load_records(f"mmlu:college_physics@5shot={path}")


def test_gpqa_keeps_physics_shuffles_stably_and_cleans_like_lm_eval(local):
    first = load_records(f"gpqa:physics={local['gpqa:physics']}").records
    again = load_records(f"gpqa:physics={local['gpqa:physics']}").records
    assert [r.id for r in first] == ["recOPT1", "recTHM2"]  # the biology row is left out
    assert [r.choices for r in first] == [r.choices for r in again]
    assert "Gay-Lussac's law . note" in first[1].choices  # lm-eval's preprocess, quirks included
    assert first[0].question.startswith("What is the correct answer to this question:A thin lens")
    assert first[0].extra["mc_targets"] == ["(A)", "(B)", "(C)", "(D)"]
    shot = load_records(f"gpqa:physics@1shot={local['gpqa:physics']}").records[0]
    assert shot.question.startswith("Here are some example questions from experts.") and "Question: Which gas law" in shot.question


def test_free_form_sets_filter_to_physics_and_carry_answer_types(local):
    sci = load_records(f"scibench={local['scibench']}").records
    assert [r.topic for r in sci] == ["fund", "class"]  # the chemistry row (atkins) is left out
    assert sci[1].answer == "7.7 \\times 10^3 \\mathrm{m/s}" and grade("7700 m/s", sci[1].answer) == 1.0
    assert "Give the answer in" in sci[0].question
    tqa = load_records(f"theoremqa:physics={local['theoremqa:physics']}").records
    assert [r.answer_type for r in tqa] == ["numeric", "yesno", "tuple"]  # maths and the picture question left out
    assert tqa[1].answer == "True" and tqa[2].answer == "[110, 220]"
    ug = {r.answer_type for r in load_records(f"ugphysics={local['ugphysics']}").records}
    assert ug == {"formula", "numeric", "tuple", "interval"}
    ob = load_records(f"olympiadbench:physics={local['olympiadbench:physics']}").records
    assert ob[1].tolerance == 0.01 and ob[1].question.startswith("Take c = 3.0e8 m/s.")
    cot = load_records(f"phybench@cot={local['phybench']}").records[0]
    zero = load_records(f"phybench@0shot={local['phybench']}").records[0]
    assert "step by step" in cot.question and "step by step" not in zero.question


def test_bad_specs_and_rows_are_one_line_errors(local, tmp_path):
    for spec, message in [("mmlu:college_physics@3cot", "unknown prompt variant"),
                          ("mmlu:college_physics@cot", "free-form sets only"),
                          (f"scibench={tmp_path / 'nope.jsonl'}", "not found")]:  # fmt: skip
        with pytest.raises(PhysloraError, match=message):
            load_records(spec)
    broken = write_jsonl(tmp_path / "broken.jsonl", [{"Question": "x"}])
    with pytest.raises(PhysloraError, match=r"broken.jsonl:1: missing column.*'Correct Answer'"):
        load_records(f"gpqa:physics={broken}")
    no_field = write_jsonl(tmp_path / "tqa.jsonl", [{k: v for k, v in THEOREMQA[0].items() if k not in ("field", "subfield")}])
    with pytest.raises(PhysloraError, match="theoremqa_test.json"):
        load_records(f"theoremqa:physics={no_field}")
    only_biology = write_jsonl(tmp_path / "bio.jsonl", [GPQA[2]])
    with pytest.raises(PhysloraError, match="physics subset"):
        load_records(f"gpqa:physics={only_biology}")
    mixed = write_jsonl(tmp_path / "mixed.jsonl", [GPQA[0], {"Question": "only this"}])
    result = load_records(f"gpqa:physics={mixed}", skip_invalid=True)
    assert len(result.records) == 1 and len(result.skipped) == 1


def test_spec_parsing_defaults_and_variants():
    assert parse_spec("scibench").cot and parse_spec("scibench").shots == 0
    spec = parse_spec("scibench@3shot-cot=/tmp/x")
    assert (spec.shots, spec.cot, str(spec.path)) == (3, True, "/tmp/x")
    assert parse_spec("MMLU:College_Physics").benchmark.name == "mmlu:college_physics"
    assert json.dumps(parse_spec("gpqa:physics@0shot").label) == '"gpqa:physics@0shot"'
