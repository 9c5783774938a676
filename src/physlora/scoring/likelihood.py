"""The reference answer's NLL per token given its prompt, by teacher forcing, with exactly the tokens and loss
mask training uses; batched across questions by scoring.batched."""

from __future__ import annotations

from collections.abc import Callable

from physlora.data.records import Record
from physlora.prompting import PromptStyle, encode_example
from physlora.registry import declare_metric
from physlora.scoring.batched import ScoreRequest, score_requests

declare_metric("ref_nll", label="Reference NLL (nats/token)", higher_is_better=False, unit="nats/token")

DEFAULT_TOKENS_PER_BATCH = 1024


def _first_scored(labels: list[int]) -> int:
    return next((t for t, x in enumerate(labels) if x != -100), len(labels))


def reference_nll(
    model,
    tokenizer,
    records: list[Record],
    *,
    system_prompt: str | None,
    max_length: int = 1024,
    tokens_per_batch: int = DEFAULT_TOKENS_PER_BATCH,
    batch_size: int | None = None,
    progress: Callable[[int], None] | None = None,
    style: PromptStyle | None = None,
) -> list[float]:
    """Mean negative log-likelihood per answer token of each reference answer given its prompt.
    Forward passes hold up to `tokens_per_batch` padded tokens (and at most `batch_size` rows, if given);
    the prompt prefix every question shares (system prompt, template header) runs once."""
    examples = [encode_example(tokenizer, r.question, r.answer, system_prompt, max_length, style) for r in records]
    requests = [ScoreRequest(e.input_ids, _first_scored(e.labels)) for e in examples]
    scores = score_requests(model, requests, pad_id=tokenizer.pad_token_id or 0, tokens_per_batch=tokens_per_batch,
                            max_rows=batch_size, progress=progress)
    return [-s.logprob / max(s.n_scored, 1) for s in scores]
