"""A physlora command with every likelihood request scored alone: one forward pass per request, no batching
across questions, no shared prefixes. The reference for "the batched scorer changes no metric" (issue 18):

    physlora run --config configs/demo.yaml --overwrite
    python bench/demo_scored_alone.py run --config configs/demo.yaml name=demo-alone --overwrite
    # then compare runs/demo/metrics.json with runs/demo-alone/metrics.json

Only this process's scorer is replaced (the MC and reference-NLL modules' `score_requests`); training,
generation and every other step are the command's own. Slow: that is the point of the batched scorer.
"""

from __future__ import annotations

import sys

import physlora.scoring.likelihood as likelihood
import physlora.scoring.multiple_choice as multiple_choice
from physlora.cli import main
from physlora.scoring.batched import Score, ScoreRequest, score_requests


def score_alone(model, requests: list[ScoreRequest], *, pad_id: int, progress=None, **_batching) -> list[Score]:
    scores = []
    for request in requests:
        scores.append(score_requests(model, [request], pad_id=pad_id, share_prefixes=False)[0])
        if progress:
            progress(1)
    return scores


if __name__ == "__main__":
    likelihood.score_requests = score_alone
    multiple_choice.score_requests = score_alone
    sys.exit(main(sys.argv[1:]))
