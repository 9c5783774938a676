"""Where the final answer of a model's text is, in the order the best benchmark graders look for it.

1. ``\\boxed{...}`` (braces counted; several boxes are the parts of a multi-part answer; the last box
   is the answer to a single-part question) -- what MATH, OlympiadBench and SciBench prompts ask for;
2. an explicit marker, the last one in the text: "The answer is ...", "Final answer: ...", "Answer: ...",
   "Therefore/Thus/Hence/So ... = / is ...";
3. an answer stated first and then explained: a first sentence that states a result, followed by a
   sentence that opens like a justification ("This is because ...", "Since ...", "Using ...");
4. the whole text, read from its end by the type's own fallback (the last value, with a value after
   '=' / '≈' / 'about' in the last sentence preferred: 'v ≈ 14 m/s (after 2 s)' answers 14 m/s).

`answer_spans` returns these candidates in that order; the readers of each answer type
(`answer_types`) take the first span that holds an answer of their type. A small model's text is
often a mix of these styles, which is why they are candidates rather than a single choice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from physlora.grading.normalize import boxed_contents, normalize

__all__ = ["Span", "answer_spans", "sentences"]


@dataclass(frozen=True)
class Span:
    text: str  # normalised text of the candidate answer
    how: str  # 'boxed' | 'marker' | 'first' | 'whole'
    parts: tuple[str, ...] = ()  # every box, normalised, for multi-part answers
    marker: str = ""  # for how='marker': the marker itself ('The answer is', 'Thus v =')

    @property
    def explicit(self) -> bool:
        """A box or a marker that names the answer ('answer is', 'final answer:'), not a 'so ... is'."""
        return self.how == "boxed" or (self.how == "marker" and "answer" in self.marker.lower())


# Markers of a final answer; the last match in the text wins. 'so'/'thus' need a verb or '=' soon after,
# and a marker must not be inside a word ('also', 'reason').
_MARKERS = re.compile(
    r"(?:\bfinal\s+answer\b(?:\s+is\b)?\s*[:=]?"
    r"|\b(?:the\s+)?(?:correct\s+|right\s+|best\s+)?answer\s+(?:is|would\s+be|should\s+be|will\s+be)\b\s*:?"
    r"|\banswer\s*[:=]"
    r"|\b(?:therefore|thus|hence|consequently|finally|in\s+conclusion|in\s+summary|so)\b,?"
    r"[^.\n!?]{0,80}?(?:(?<![<>=!])=(?!=)|≈|\b(?:is|are|equals|comes\s+to|works\s+out\s+to|will\s+be|becomes)\b))",
    re.IGNORECASE,
)
# A sentence ends at . ! ? followed by a space or the end (not inside 3.5 or e.g. 2.), or at a line break.
_SENTENCE_END = re.compile(r"(?<=[.!?])(?=\s|$)|\n+")
_EXPLANATION_OPENERS = re.compile(
    r"^\s*(?:this\s+(?:is|comes|follows|holds|works|means|happens|results)|that\s+is\s+because|because|since"
    r"|explanation|reason(?:ing)?\b|the\s+reason|here'?s?\s+(?:is\s+)?why|to\s+see\s+(?:this|why)|why\s*:"
    r"|justification|derivation|proof|using|by\s+(?:using|applying|the|conservation)|from\s+(?:the|conservation)"
    r"|we\s+(?:used|use|get|got|find|found|obtain|have|can|start|apply)|i\s+(?:used|got|found)|note\b"
    r"|indeed|check\s*:|details\s*:|working\s*:|solution\s*:|step\s*1|first\s*,|it\s+follows|applying|recall)",
    re.IGNORECASE,
)
# A first sentence that is already working, not a result: 'First, ...', 'Let v be ...', 'We know ...'.
_WORKING_OPENERS = re.compile(
    r"^\s*(?:first|step|let|we|to\s|using|given|start|begin|recall|the\s+formula|from|since|because|if|when"
    r"|consider|suppose|assume|in\s+order|for\s+this|i\s+will|i'll|okay|ok\b|alright|hmm)",
    re.IGNORECASE,
)
_HAS_RESULT = re.compile(
    r"\d|\b(?:yes|no|true|false|zero|one|two|three|four|five|six|seven|eight|nine|ten)\b|\([A-J]\)|=|\bsqrt\b|\bpi\b",
    re.IGNORECASE)


@lru_cache(maxsize=8192)
def sentences(t: str) -> tuple[tuple[int, int], ...]:
    """(start, end) of each sentence of normalised text (empty ones dropped). Cached: every reader asks."""
    bounds = [0, *(m.end() for m in _SENTENCE_END.finditer(t)), len(t)]
    return tuple((a, b) for a, b in zip(bounds, bounds[1:]) if t[a:b].strip())


_WEAK_MARKER = re.compile(r"\W*(?:therefore|thus|hence|consequently|finally|in\s+conclusion|in\s+summary|so)\b", re.I)


def _marker_span(t: str) -> tuple[str, str] | None:
    """The text after the last answer marker, to the end of its sentence (or of the next line when
    the marker ends its line: 'Final answer:\\n12 m/s'). A 'so'/'thus' marker counts only in the last
    two sentences: 'Okay, so the lens has f = 10 cm ...' opens the working, it does not conclude it."""
    bounds = sentences(t)
    late = bounds[-2][0] if len(bounds) >= 2 else 0
    last = None
    for m in _MARKERS.finditer(t):
        if _WEAK_MARKER.match(m.group()) and m.start() < late:
            continue
        last = m
    if last is None:
        return None
    rest = t[last.end() :]
    head = re.match(r"[ \t]*\n+", rest)
    if head:  # the answer is on the next line
        rest = rest[head.end() :]
    ends = sentences(rest)
    if not ends:
        return None
    span = rest[ends[0][0] : ends[0][1]].strip()
    return (span, last.group()) if span else None


def _first_stated(t: str) -> str | None:
    """The first sentence, when it states a result and the second one opens like a justification."""
    spans = sentences(t)
    if len(spans) < 2:
        return None
    first, second = (t[a:b] for a, b in spans[:2])
    if _WORKING_OPENERS.match(first) or not _HAS_RESULT.search(first):
        return None
    return first.strip() if _EXPLANATION_OPENERS.match(second) else None


@lru_cache(maxsize=4096)
def answer_spans(raw: str) -> tuple[Span, ...]:
    """Candidate final-answer spans of `raw` (a model's text or a reference), most explicit first;
    the last candidate is always the whole normalised text."""
    out: list[Span] = []
    boxes = tuple(normalize(b).strip() for b in boxed_contents(raw))
    boxes = tuple(b for b in boxes if b)
    if boxes:
        out.append(Span(boxes[-1], "boxed", boxes))
    t = normalize(raw)
    unboxed = re.sub(r"boxed\(", "(", t)
    marker = _marker_span(unboxed)
    if marker:
        out.append(Span(marker[0], "marker", marker=marker[1]))
    first = _first_stated(unboxed)
    if first:
        out.append(Span(first, "first"))
    out.append(Span(unboxed, "whole"))
    return tuple(out)
