"""Teacher-forced scores of many token sequences at once: every likelihood physlora computes (multiple-choice
options, lettered rotations, reference answers) is a `ScoreRequest`, and `score_requests` packs the requests
of many questions into few forward passes.

* Shared prefixes run once. The requests form a prefix tree of their token ids (a radix tree): the system
  prompt and chat header that every prompt starts with, then each question, then the part its options share
  (the end of the template) or its lettered rotations share. Each node of the tree runs once, on the KV cache of
  its parent, and every request runs only its own tail. Nodes and tails of many questions share one forward
  pass: their parents' caches are right-padded to the longest, so positions are given explicitly (parent
  length + offset) and the attention mask hides the padding between parent and tail.
* Batches are cut within a token budget (rows x padded width, the cached part included), after sorting by the
  tokens each row runs, at the cuts that cost least: a pass's fixed cost (on a CPU, reading every weight once)
  against the padding a bigger batch carries. The caches of many questions' prefixes are held together (a few
  batches' worth), so their tails are sorted and batched as one pool, not a handful at a time.
* Logits only where a score is read: the positions that predict a scored token, the last position of a
  request that asks for next-token candidates, a node's last position when a tail's first token is scored.

Prefix sharing needs a plain full-attention KV cache (`DynamicLayer`s) and a model that takes `position_ids`;
any other model scores every request in full, with the same results.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch.nn.utils.rnn import pad_sequence

from physlora.batching import pad, pad_batch, token_budget_batches
from physlora.models.forward import cache_of, logits_at, supports_logits_mask, supports_position_ids, with_cache

# A prefix runs on its own only if that saves at least this many token computations ((members - 1) x its
# length): below it, the extra pass and the KV copies cost about what they save.
MIN_SAVED_TOKENS = 8
# The KV caches of prefixes (question nodes) are held until they hold about this many batches' worth of tokens, and
# then all their children are scored together: the memory of a few forward passes' KV buys batches of tails from
# many questions, sorted by length, instead of the tails of one batch of nodes.
HELD_BATCHES = 8
# What one forward pass costs beyond its tokens, in tokens (batching.token_budget_batches cuts batches to minimise
# passes x this + padded tokens). On a CPU a pass streams every weight from memory once: SmolLM2-135M, 2 cores,
# one token after a 60-token prefix takes 64 ms, as long as 47 tokens in a large batch (740 tokens/s); the ratio
# (2 x FLOP/s over memory bandwidth) hardly depends on the model. On a GPU a pass is kernel launches, worth
# thousands of tokens: there the budget, not the padding, ends a batch.
PASS_COST_TOKENS = {"cpu": 48}
GPU_PASS_COST_TOKENS = 1024


@dataclass(frozen=True)
class ScoreRequest:
    ids: Sequence[int]
    score_from: int  # ids[score_from:] are scored; ids[0] never is (no position predicts it)
    candidates: Sequence[int] = ()  # token ids whose log-probs as the next token after `ids` are returned


@dataclass
class Score:
    logprob: float  # summed log p(token | tokens before it) over the scored tokens
    n_scored: int
    candidate_logprobs: list[float] = field(default_factory=list)


@dataclass(eq=False)
class _Node:
    """A prefix shared by several requests: ids[start:end] of any of its members, run on its parent's cache."""

    start: int
    end: int
    owner: int  # a member request, whose ids hold the node's tokens
    nodes: list[_Node] = field(default_factory=list)  # children that share more
    leaves: list[int] = field(default_factory=list)  # requests whose own tail starts at `end`
    kv: list[tuple[torch.Tensor, torch.Tensor]] | None = None  # per layer [heads, end, dim], once run
    head: torch.Tensor | None = None  # log-probs [vocab] of the token at `end`, when a tail needs them


@torch.inference_mode()
def score_requests(
    model,
    requests: Sequence[ScoreRequest],
    *,
    pad_id: int,
    tokens_per_batch: int = 1024,
    max_rows: int | None = None,
    share_prefixes: bool = True,
    progress: Callable[[int], None] | None = None,
) -> list[Score]:
    """Scores of `requests`, in their order. `tokens_per_batch` bounds rows x padded width of each forward pass
    (about: cached prefixes count with their own length); `progress(n)` is called as n more requests are done."""
    if any(len(r.ids) == 0 for r in requests):
        raise ValueError("a score request has no tokens")
    run = _Run(model, requests, pad_id, tokens_per_batch, max_rows, progress)
    if share_prefixes and len(requests) > 1 and _can_share(model):
        root = _Node(0, 0, owner=-1)
        root.nodes, root.leaves = _split(requests, list(range(len(requests))), 0)
    else:
        root = _Node(0, 0, owner=-1, leaves=list(range(len(requests))))
    run.children_of([root])
    return run.out  # type: ignore[return-value]


def _limit(r: ScoreRequest) -> int:
    """How far a shared prefix may reach into r: never over a scored token, and r keeps one token of its own."""
    return min(max(r.score_from, 1), len(r.ids) - 1)


def _split(requests: Sequence[ScoreRequest], members: list[int], start: int) -> tuple[list[_Node], list[int]]:
    """The subtree of `members` (which share ids[:start]): child nodes that share more, and leaves."""
    nodes, leaves, by_token = [], [], {}
    for i in members:
        if _limit(requests[i]) <= start:
            leaves.append(i)
        else:
            by_token.setdefault(requests[i].ids[start], []).append(i)
    for part in by_token.values():
        if len(part) == 1:
            leaves.extend(part)
            continue
        end = min(_common_prefix_end(requests, part, start), min(_limit(requests[i]) for i in part))
        child_nodes, child_leaves = _split(requests, part, end)
        if (len(part) - 1) * (end - start) >= MIN_SAVED_TOKENS:
            nodes.append(_Node(start, end, owner=part[0], nodes=child_nodes, leaves=child_leaves))
        else:  # not worth a pass of its own: its children start here
            nodes += [_Node(start, n.end, n.owner, n.nodes, n.leaves) for n in child_nodes]
            leaves += child_leaves
    return nodes, leaves


def _common_prefix_end(requests, members: list[int], start: int) -> int:
    seqs = [requests[i].ids for i in members]
    first, end = seqs[0], min(len(s) for s in seqs)
    for t in range(start, end):
        if any(s[t] != first[t] for s in seqs):
            return t
    return end


def _can_share(model) -> bool:
    """A model that takes position ids and whose KV cache is a plain per-layer full-attention cache."""
    from transformers.cache_utils import DynamicLayer

    if not supports_position_ids(model):
        return False
    device = next(model.parameters()).device
    layers = getattr(cache_of(model(input_ids=torch.zeros(1, 2, dtype=torch.long, device=device), use_cache=True)),
                     "layers", None)
    return bool(layers) and all(type(layer) is DynamicLayer and layer.keys is not None for layer in layers)


@dataclass
class _Segment:
    """One row of a forward pass: ids[start:end] of request `owner`, continuing the cache of `parent`."""

    owner: int
    start: int
    end: int
    parent: _Node


class _Run:
    def __init__(self, model, requests, pad_id, tokens_per_batch, max_rows, progress):
        self.model, self.requests, self.pad_id = model, requests, pad_id
        self.budget, self.max_rows, self.progress = tokens_per_batch, max_rows, progress
        self.held_tokens = HELD_BATCHES * tokens_per_batch  # cached prefix tokens held at once, about
        self.device = next(model.parameters()).device
        self.pass_cost = PASS_COST_TOKENS.get(self.device.type, GPU_PASS_COST_TOKENS)
        self.out: list[Score | None] = [None] * len(requests)

    def children_of(self, parents: list[_Node]) -> None:
        """Runs the leaves and child nodes of `parents` (whose caches are ready), then, depth first by batch,
        the children of those nodes; a node's cache is dropped once its subtree is done."""
        # a tail's last token is input only when candidates are read after it (its own log-prob comes from the
        # position before); a one-token tail may thus need no pass at all, its parent's last position scores it
        leaves, head_only = [], 0
        for p in parents:
            for i in p.leaves:
                r = self.requests[i]
                end = len(r.ids) if r.candidates else len(r.ids) - 1
                if end > p.end:
                    leaves.append(_Segment(i, p.end, end, p))
                else:
                    self.out[i], head_only = Score(_head_logprob(r, p.end, p), _n_scored(r)), head_only + 1
        if head_only and self.progress:
            self.progress(head_only)
        for batch in self._batches(leaves):
            for i, score in zip(batch, self._score([leaves[i] for i in batch])):
                self.out[leaves[i].owner] = score
            if self.progress:
                self.progress(len(batch))
        nodes = [(n, _Segment(n.owner, n.start, n.end, p)) for p in parents for n in p.nodes]
        wave: list[_Node] = []
        held = 0  # cached tokens the wave holds
        for batch in self._batches([seg for _, seg in nodes]):
            ran = [nodes[i][0] for i in batch]
            self._run_nodes(ran, [nodes[i][1] for i in batch])
            wave += ran
            held += sum(n.end for n in ran)
            if held >= self.held_tokens:
                self._descend(wave)
                wave, held = [], 0
        if wave:
            self._descend(wave)

    def _descend(self, wave: list[_Node]) -> None:
        """The subtrees of a wave of nodes whose caches are held: their children of all the wave's nodes batch
        together (a batch of short tails from few parents would be mostly padding and per-pass overhead)."""
        self.children_of(wave)
        for n in wave:
            n.kv = n.head = None

    def _batches(self, segments: list[_Segment]) -> list[list[int]]:
        return list(token_budget_batches([s.end - s.start for s in segments], self.budget,
                                         prefixes=[s.parent.end for s in segments], max_rows=self.max_rows,
                                         pass_cost=self.pass_cost))

    def _inputs(self, batch: list[_Segment]) -> dict:
        """Padded segment ids; with parents, their caches (right-padded), the mask over both, explicit positions."""
        seqs = [list(self.requests[s.owner].ids[s.start : s.end]) for s in batch]
        inputs = {k: v.to(self.device) for k, v in pad_batch(seqs, self.pad_id).items()}
        widths = [s.parent.end for s in batch]
        if max(widths) == 0:
            return inputs
        cache_mask = pad_batch([[1] * w for w in widths], 0)["attention_mask"].to(self.device)
        inputs["attention_mask"] = torch.cat([cache_mask, inputs["attention_mask"]], dim=1)
        offsets = torch.tensor(widths, device=self.device)[:, None]
        inputs["position_ids"] = offsets + torch.arange(inputs["input_ids"].shape[1], device=self.device)
        inputs.update(with_cache(self.model, _padded_cache([s.parent for s in batch])))
        return inputs

    def _run_nodes(self, nodes: list[_Node], batch: list[_Segment]) -> None:
        """Runs each node's tokens; keeps its own KV (without padding) and, if a tail needs it, the log-probs
        of the token after it."""
        inputs = self._inputs(batch)
        keep = torch.zeros_like(inputs["input_ids"], dtype=torch.bool)
        needs_head = [any(_first_scored(self.requests[i]) <= n.end for i in n.leaves) for n in nodes]
        for row, (n, need) in enumerate(zip(nodes, needs_head)):
            keep[row, n.end - n.start - 1] = need
        if supports_logits_mask(self.model):
            out = self.model(**inputs, use_cache=True, logits_to_keep=keep)
            head_logits = out.logits
        else:
            out = self.model(**inputs, use_cache=True)
            head_logits = out.logits[keep]
        heads = iter(F.log_softmax(head_logits.float(), dim=-1))
        cache, width = cache_of(out), max(s.parent.end for s in batch)
        for row, (n, need) in enumerate(zip(nodes, needs_head)):
            n.head = next(heads) if need else None
            own = slice(width, width + n.end - n.start)  # this row's new tokens, after the padded parent part
            n.kv = [(torch.cat([layer.keys[row, :, : n.start], layer.keys[row, :, own]], dim=1),
                     torch.cat([layer.values[row, :, : n.start], layer.values[row, :, own]], dim=1))
                    for layer in cache.layers]

    def _score(self, batch: list[_Segment]) -> list[Score]:
        """One forward pass over request tails; logits only at the positions that are read."""
        reqs = [self.requests[s.owner] for s in batch]
        inputs = self._inputs(batch)
        width = inputs["input_ids"].shape[1]
        col = torch.arange(width, device=self.device)[None, :]
        column = lambda xs: torch.tensor(xs, device=self.device)[:, None]  # noqa: E731
        starts, n_in = column([s.start for s in batch]), column([s.end - s.start for s in batch])
        predicted = starts + col + 1  # the token that position t of a row predicts
        predicts = (col < n_in) & (predicted < column([len(r.ids) for r in reqs])) & \
            (predicted >= column([_first_scored(r) for r in reqs]))
        wants = column([bool(r.candidates) for r in reqs])
        keep = predicts | ((col == n_in - 1) & wants)
        logp = F.log_softmax(logits_at(self.model, keep, **inputs).float(), dim=-1)
        kept_index = keep.flatten().cumsum(0).view(keep.shape) - 1  # row of `logp` for each kept position
        following = pad([list(r.ids[s.start + 1 :]) for s, r in zip(batch, reqs)], 0)[:, :width].to(self.device)
        following = F.pad(following, (0, width - following.shape[1]))
        r, t = predicts.nonzero(as_tuple=True)
        sums = torch.zeros(len(batch), device=self.device).index_add_(0, r, logp[kept_index[r, t], following[r, t]])
        results = []
        for row, (seg, req) in enumerate(zip(batch, reqs)):
            cands = logp[kept_index[row, seg.end - seg.start - 1], list(req.candidates)].tolist() if req.candidates else []
            results.append(Score(sums[row].item() + _head_logprob(req, seg.start, seg.parent), _n_scored(req), cands))
        return results


def _first_scored(r: ScoreRequest) -> int:
    return max(r.score_from, 1)


def _n_scored(r: ScoreRequest) -> int:
    return max(0, len(r.ids) - _first_scored(r))


def _head_logprob(r: ScoreRequest, start: int, parent: _Node) -> float:
    """The log-prob of a tail's first token, read at its parent's last position, if that token is scored."""
    if parent.head is None or start < _first_scored(r) or start >= len(r.ids):
        return 0.0
    return parent.head[r.ids[start]].item()


def _padded_cache(parents: list[_Node]):
    """A KV cache holding each parent's own KV, right-padded to the longest (the mask hides the padding)."""
    from transformers import DynamicCache

    layers = []
    for layer in range(len(parents[0].kv)):
        # [heads, len, dim] -> [len, heads, dim] for pad_sequence, back to [batch, heads, width, dim]
        keys = pad_sequence([p.kv[layer][0].transpose(0, 1) for p in parents], batch_first=True)
        values = pad_sequence([p.kv[layer][1].transpose(0, 1) for p in parents], batch_first=True)
        layers.append((keys.transpose(1, 2), values.transpose(1, 2)))
    return DynamicCache(layers)
