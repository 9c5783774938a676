import json

import pandas as pd
import pytest

from physlora.data.mapping import detect_mapping
from physlora.data.sources import holdout_split, load_records, load_train_eval
from physlora.errors import PhysloraError


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_native_jsonl(fixtures):
    res = load_records(str(fixtures / "mini.jsonl"))
    assert len(res.records) == 12 and res.records[0].id == "t1" and res.records[0].topic == "mechanics"
    assert not res.records[0].is_mc


def test_multiple_choice_answer_as_text_letter_or_index(tmp_path):
    p = write_jsonl(tmp_path / "mc.jsonl", [
        {"question": "q1", "choices": ["a", "b", "c", "d"], "answer": "c"},
        {"question": "q2", "choices": ["a", "b", "c", "d"], "answer": "B"},
        {"question": "q3", "choices": ["a", "b", "c", "d"], "answer": 3},
    ])
    recs = load_records(str(p)).records
    assert [r.answer for r in recs] == ["c", "b", "d"] and recs[1].answer_index == 1


def test_reference_shape_instruction_input_output(tmp_path):
    p = write_jsonl(tmp_path / "ref.jsonl", [
        {"instruction": "Answer the physics question.", "input": "What is inertia?", "output": "Resistance to changes in motion."},
        {"instruction": "What is a joule?", "input": "", "output": "The SI unit of energy, 1 N m."},
    ])
    recs = load_records(str(p)).records
    assert recs[0].question == "What is inertia?" and recs[0].answer.startswith("Resistance")
    assert recs[1].question == "What is a joule?"  # empty input -> the instruction is the question


def test_csv_and_parquet_with_column_mapping(tmp_path):
    df = pd.DataFrame({"Q": ["What is work?", "What is power?"], "A": ["Force times distance.", "Work per time."],
                       "area": ["mechanics", "mechanics"]})
    df.to_csv(tmp_path / "d.csv", index=False)
    df.to_parquet(tmp_path / "d.parquet")
    for name in ("d.csv", "d.parquet"):
        recs = load_records(str(tmp_path / name), columns={"question": "Q", "answer": "A", "topic": "area"}).records
        assert [r.question for r in recs] == ["What is work?", "What is power?"] and recs[0].topic == "mechanics"


def test_lettered_columns_become_choices():
    m = detect_mapping(["question", "A", "B", "C", "D", "answer"])
    assert m["choices"] == ["A", "B", "C", "D"]


def test_bad_json_line_is_named(tmp_path):
    p = tmp_path / "bad.jsonl"
    p.write_text('{"question": "a", "answer": "b"}\n{"question": "c", "answer": \n', encoding="utf-8")
    with pytest.raises(PhysloraError, match=r"bad\.jsonl:2: bad JSON"):
        load_records(str(p))


@pytest.mark.parametrize("row, problem", [
    ({"question": "q", "answer": ""}, "empty answer"),
    ({"question": "  ", "answer": "a"}, "empty question"),
    ({"question": "q", "answer": ["a"]}, "wrong type"),
    ({"question": "q", "answer": "e", "choices": ["a", "b"]}, "not one of the choices"),
])
def test_invalid_rows_name_file_line_and_problem(tmp_path, row, problem):
    p = write_jsonl(tmp_path / "d.jsonl", [{"question": "ok", "answer": "fine"}, row])
    with pytest.raises(PhysloraError) as e:
        load_records(str(p))
    assert "d.jsonl:2" in str(e.value) and problem in str(e.value) and "\n" not in str(e.value)


def test_missing_column_lists_the_columns(tmp_path):
    p = write_jsonl(tmp_path / "d.jsonl", [{"prompt_text": "q", "target": "a"}])
    with pytest.raises(PhysloraError, match="prompt_text, target"):
        load_records(str(p))


def test_skip_invalid_reports_what_it_dropped(tmp_path):
    p = tmp_path / "d.jsonl"
    p.write_bytes(b'{"question": "a", "answer": "b"}\n{"question": "c", "answer": ""}\nnot json\n'
                  b'{"question": "\xff", "answer": "x"}\n{"question": "d", "answer": "e"}\n')
    res = load_records(str(p), skip_invalid=True)
    assert len(res.records) == 2 and len(res.skipped) == 3
    assert "skipped 3 invalid rows" in res.skip_summary()


def test_non_utf8_and_empty_and_missing_files(tmp_path):
    p = tmp_path / "latin.jsonl"
    p.write_bytes('{"question": "caf\xe9", "answer": "x"}\n'.encode("latin-1"))
    with pytest.raises(PhysloraError, match="UTF-8"):
        load_records(str(p))
    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(PhysloraError, match="empty"):
        load_records(str(tmp_path / "empty.jsonl"))
    with pytest.raises(PhysloraError, match="not found"):
        load_records(str(tmp_path / "missing.jsonl"))
    with pytest.raises(PhysloraError, match="unknown file type"):
        (tmp_path / "d.txt").write_text("x")
        load_records(str(tmp_path / "d.txt"))


def test_duplicate_ids_are_errors(tmp_path):
    p = write_jsonl(tmp_path / "d.jsonl", [{"id": "x", "question": "a", "answer": "b"}, {"id": "x", "question": "c", "answer": "d"}])
    with pytest.raises(PhysloraError, match="duplicate id"):
        load_records(str(p))


def test_holdout_is_deterministic_disjoint_and_stable(fixtures):
    recs = load_records(str(fixtures / "mini.jsonl")).records
    tr1, te1 = holdout_split(recs, 0.25, seed=1)
    tr2, te2 = holdout_split(list(reversed(recs)), 0.25, seed=1)
    assert {r.id for r in te1} == {r.id for r in te2}
    assert not {r.id for r in tr1} & {r.id for r in te1} and len(tr1) + len(te1) == len(recs)


def test_single_file_source_is_split_for_run(fixtures):
    train, test = load_train_eval(str(fixtures / "mini.jsonl"), None, test_size=0.3, seed=3)
    assert {r.id for r in train.records}.isdisjoint({r.id for r in test.records})
    assert "held-out" in test.source


def test_unknown_hub_dataset_offline_is_one_line(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(PhysloraError) as e:
        load_records("nobody/no-such-physics-set", "train")
    assert "cannot load data" in str(e.value) and "\n" not in str(e.value)
