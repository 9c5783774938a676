"""Retrieved passages as prompt context, and the scores of retrieval itself.

* `budget_passages`: the hits that fit in `max_context_tokens` of the answering model's tokenizer, in rank
  order; a passage that does not fit whole is cut at a sentence boundary (or dropped if little would remain).
* `citations`: the `[n]` markers an answer contains, mapped to the passages (file, heading, chunk id).
* `gold_match` / `retrieval_scores`: whether a chunk is a record's gold passage (its `passage_id`, an index
  anchor like `optics.md#plane-mirrors` or a chunk id) or gold document (`source`: path, file name or stem),
  and recall@k / reciprocal rank of the first gold hit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath

from physlora.retrieval.chunking import Chunk, split_sentences

MIN_PARTIAL_TOKENS = 32  # a cut passage shorter than this is more noise than help: drop it instead
_CITATION = re.compile(r"\[(\d{1,2}(?:\s*[,;]\s*\d{1,2})*)\]")


@dataclass
class Passage:
    n: int  # 1-based number the prompt shows, [n]
    chunk: Chunk
    text: str  # possibly cut to the budget
    score: float

    @property
    def title(self) -> str:
        return self.chunk.title

    def to_dict(self) -> dict:
        c = self.chunk
        return {"n": self.n, "chunk_id": c.id, "doc": c.doc, "heading": " > ".join(c.heading_path),
                "passage_id": c.passage_id, "span": c.span(), "score": round(self.score, 6),
                "cut": len(self.text) < len(c.text)}


def budget_passages(hits, tokenizer, max_tokens: int) -> list[Passage]:
    """As many hits as fit in `max_tokens` (title line + text), best first."""
    out, used = [], 0
    for hit in hits:
        title_cost = len(tokenizer(hit.chunk.title + "\n", add_special_tokens=False)["input_ids"]) + 4
        text = hit.chunk.text
        cost = title_cost + len(tokenizer(text, add_special_tokens=False)["input_ids"])
        if used + cost > max_tokens:
            text = _cut_to(text, tokenizer, max_tokens - used - title_cost)
            if text is None:
                break
            cost = max_tokens - used
        out.append(Passage(len(out) + 1, hit.chunk, text, hit.score))
        used += cost
    return out


def _cut_to(text: str, tokenizer, budget: int) -> str | None:
    """The longest run of whole sentences from the start of `text` within `budget` tokens."""
    if budget < MIN_PARTIAL_TOKENS:
        return None
    kept = ""
    for start, end in split_sentences(text):
        candidate = text[:end]
        if len(tokenizer(candidate, add_special_tokens=False)["input_ids"]) > budget:
            break
        kept = candidate
    kept = kept.strip()
    if not kept or len(tokenizer(kept, add_special_tokens=False)["input_ids"]) < MIN_PARTIAL_TOKENS:
        return None
    return kept + " ..."


def citations(answer: str, passages: list[Passage]) -> list[dict]:
    """The passages an answer cites as [n] (or [n, m]), in order of first mention; out-of-range numbers
    are reported with `valid: false`."""
    seen, out = set(), []
    for m in _CITATION.finditer(answer):
        for part in re.split(r"[,;]", m.group(1)):
            n = int(part)
            if n in seen:
                continue
            seen.add(n)
            if 1 <= n <= len(passages):
                p = passages[n - 1]
                out.append({"n": n, "valid": True, "chunk_id": p.chunk.id, "doc": p.chunk.doc,
                            "heading": " > ".join(p.chunk.heading_path)})
            else:
                out.append({"n": n, "valid": False})
    return out


def strip_citations(answer: str) -> str:
    """The answer without [n] markers, so text metrics compare words, not citation marks."""
    return re.sub(r"\s+([.,;:!?])", r"\1", _CITATION.sub("", answer)).strip()


# ---------------------------------------------------------------- gold passages


def _doc_names(doc: str) -> set[str]:
    p = PurePosixPath(doc)
    return {doc, p.name, p.stem}


def gold_match(chunk: Chunk, passage_id: str | None, source: str | None) -> bool:
    if passage_id:
        if passage_id in chunk.anchors or passage_id == chunk.id:
            return True
        if "#" not in passage_id and "::" not in passage_id and passage_id in _doc_names(chunk.doc):
            return True
    if source and not passage_id:
        return source in _doc_names(chunk.doc)
    return False


class GoldIndex:
    """Which gold labels an index can answer at all (a label naming a document the index lacks is reported
    as missing and left out of recall, instead of counting as a retrieval failure)."""

    def __init__(self, chunks: list[Chunk]):
        self.anchors = {a for c in chunks for a in c.anchors} | {c.id for c in chunks}
        self.docs = {n for c in chunks for n in _doc_names(c.doc)}

    def knows(self, passage_id: str | None, source: str | None) -> bool:
        if passage_id:
            return passage_id in self.anchors or passage_id in self.docs
        return bool(source) and source in self.docs


def retrieval_scores(hits, passage_id: str | None, source: str | None, k: int) -> dict[str, float]:
    """recall@k (1 if a gold chunk is among the first k hits) and reciprocal rank of the first gold hit
    (0 if none among the hits searched)."""
    ranks = [h.rank for h in hits if gold_match(h.chunk, passage_id, source)]
    first = min(ranks) if ranks else None
    return {"retrieval_recall": float(first is not None and first <= k),
            "retrieval_mrr": 1.0 / first if first else 0.0}
