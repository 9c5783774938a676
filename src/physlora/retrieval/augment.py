"""Records with retrieved passages in their prompts, for evaluation and for retrieval-aware training.

The passages go into the question text through `prompting.with_passages`, so training, evaluation, `ask` and
`serve` build the same prompt from the same pieces. For training (`data.retrieval`):

* `retrieved`: the top-k passages for the question, as at inference;
* `gold`: the record's gold passage (its `passage_id` / `source`) at a random position among k-1 distractors
  (the best-ranked passages that are not gold: hard negatives), so the model learns to find the relevant one;
  records that name no gold passage (or one the index lacks) get the retrieved passages;
* `mixed`: per record, a quarter with no passages, half gold + distractors, a quarter distractors only, so the
  model also learns to answer without context and to ignore context that does not help.

With `retrieval.cite_in_training`, an answer whose prompt holds the gold passage ends with its " [n]".
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace

from physlora.config import RetrievalSection
from physlora.data.records import Record
from physlora.prompting import with_passages
from physlora.retrieval.context import GoldIndex, Passage, budget_passages, gold_match, retrieval_scores
from physlora.retrieval.search import Hit, Retriever

SEARCH_DEPTH = 20  # hits kept per question: MRR is computed over these, the prompt takes the first k
PROMPT_MARGIN = 64  # tokens left for the chat template and the instruction line


@dataclass
class Context:
    """What retrieval did for one record."""

    kind: str  # retrieved | gold | distractors | none
    hits: list[Hit] = field(default_factory=list)
    passages: list[Passage] = field(default_factory=list)
    scores: dict[str, float] | None = None  # recall@k / MRR, where the record's gold is in the index
    gold_in_prompt: int | None = None  # [n] of the gold passage in the prompt

    def to_dict(self) -> dict:
        return {"kind": self.kind, "passages": [p.to_dict() for p in self.passages],
                "gold_in_prompt": self.gold_in_prompt, **(self.scores or {})}


def search(retriever: Retriever, records: list[Record], cfg: RetrievalSection) -> list[list[Hit]]:
    return retriever.search_many([r.question for r in records], k=max(cfg.k, SEARCH_DEPTH), mode=cfg.mode)


def _with(record: Record, passages: list[Passage], answer: str | None = None) -> Record:
    question = with_passages(record.question, [(p.title, p.text) for p in passages])
    return replace(record, question=question, answer=answer if answer is not None else record.answer)


def _gold_position(passages: list[Passage], record: Record) -> int | None:
    for p in passages:
        if gold_match(p.chunk, record.passage_id, record.source):
            return p.n
    return None


def for_evaluation(records: list[Record], retriever: Retriever, tokenizer, cfg: RetrievalSection) -> tuple[list[Record], list[Context]]:
    """Each record's question with its top-k passages (within the token budget), and what was retrieved."""
    gold = GoldIndex(retriever.chunks)
    out, contexts = [], []
    for record, hits in zip(records, search(retriever, records, cfg)):
        passages = budget_passages(hits[: cfg.k], tokenizer, cfg.max_context_tokens)
        scores = retrieval_scores(hits, record.passage_id, record.source, cfg.k) \
            if gold.knows(record.passage_id, record.source) else None
        contexts.append(Context("retrieved", hits[: cfg.k], passages, scores, _gold_position(passages, record)))
        out.append(_with(record, passages))
    return out, contexts


def prompt_with_sources(question: str, retriever: Retriever, tokenizer, cfg: RetrievalSection) -> tuple[str, list[Passage]]:
    """One question (`ask`, the chat, `serve`): its text with the top-k passages, and the passages."""
    hits = retriever.search(question, cfg.k, cfg.mode)
    passages = budget_passages(hits, tokenizer, cfg.max_context_tokens)
    return with_passages(question, [(p.title, p.text) for p in passages]), passages


def passage_view(p: Passage, retriever: Retriever) -> dict:
    """What a page shows for a passage: where it is (file, heading, lines/page, path on disk) and its text."""
    from pathlib import Path

    source = retriever.manifest.get("source")
    root = Path(source) if source else None
    path = root / p.chunk.doc if root is not None and root.is_dir() else root
    return {**p.to_dict(), "text": p.text, "path": str(path) if path else p.chunk.doc}


def _budget(tokenizer, record: Record, cfg: RetrievalSection, max_length: int) -> int:
    used = len(tokenizer(record.question + " " + record.answer, add_special_tokens=False)["input_ids"])
    return min(cfg.max_context_tokens, max_length - used - PROMPT_MARGIN)


def _gold_hit(record: Record, hits: list[Hit], retriever: Retriever) -> Hit | None:
    for h in hits:
        if gold_match(h.chunk, record.passage_id, record.source):
            return h
    for c in retriever.chunks:  # gold but not retrieved: it still goes into the training prompt
        if gold_match(c, record.passage_id, record.source):
            return Hit(c, 0.0, 0)
    return None


def for_training(records: list[Record], retriever: Retriever, tokenizer, cfg: RetrievalSection, mode: str,
                 max_length: int, seed: int) -> tuple[list[Record], dict[str, int]]:
    """Training records with passages as `data.retrieval` asks (see the module docstring), and counts of
    each kind of prompt built."""
    if mode == "none":
        return records, {"none": len(records)}
    counts: dict[str, int] = {}
    out = []
    for record, hits in zip(records, search(retriever, records, cfg)):
        rng = random.Random(f"{seed}:{record.id}")
        gold = _gold_hit(record, hits, retriever) if mode in ("gold", "mixed") else None
        others = [h for h in hits if gold is None or h.chunk.id != gold.chunk.id]
        kind = "retrieved"
        chosen = hits[: cfg.k]
        if mode == "mixed":
            roll = rng.random()
            kind = "none" if roll < 0.25 else ("distractors" if roll >= 0.75 else ("gold" if gold else "retrieved"))
        elif mode == "gold" and gold is not None:
            kind = "gold"
        if kind == "gold":
            chosen = others[: cfg.k - 1]
            chosen.insert(rng.randrange(len(chosen) + 1), gold)
        elif kind == "distractors":
            chosen = [h for h in hits if not gold_match(h.chunk, record.passage_id, record.source)][: cfg.k]
        elif kind == "none":
            chosen = []
        passages = budget_passages(chosen, tokenizer, _budget(tokenizer, record, cfg, max_length)) if chosen else []
        n = _gold_position(passages, record)
        answer = f"{record.answer} [{n}]" if n and cfg.cite_in_training else record.answer
        counts[kind] = counts.get(kind, 0) + 1
        out.append(_with(record, passages, answer))
    return out, counts
