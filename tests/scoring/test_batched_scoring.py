"""scoring.batched: many questions' requests in few forward passes, with the numbers of one request at a time."""

import importlib.util
from pathlib import Path

import pytest
import torch

from physlora.scoring.batched import ScoreRequest, score_requests

ROOT = Path(__file__).resolve().parents[2]
SYSTEM = "You are a physicist. Answer concisely and correctly."


def _random_requests(vocab: int, seed: int = 0) -> list[ScoreRequest]:
    """The shapes of physlora's requests, in random tokens: a header every prompt starts with, five questions of
    different lengths (so cached prefixes are right-padded against each other), options that share a template end
    and are scored from there (or later), lettered rotations that share a few tokens and read candidates, a
    duplicate, and rows that share nothing."""
    g = torch.Generator().manual_seed(seed)
    rand = lambda n: torch.randint(5, vocab, (n,), generator=g).tolist()  # noqa: E731
    header, template_end, letters = rand(12), rand(5), rand(3)
    requests = []
    for prompt_len in [9, 23, 5, 14, 31]:
        prompt = header + rand(prompt_len) + template_end
        for k in range(3):
            requests.append(ScoreRequest(prompt + rand(1 + 2 * k), score_from=len(prompt)))
        requests.append(ScoreRequest(prompt + rand(6), score_from=len(prompt) + 4))
        lettered = header + rand(prompt_len) + letters
        for _ in range(3):
            requests.append(ScoreRequest(lettered + rand(7), score_from=len(lettered) + 7, candidates=[7, 9, 11]))
    requests.append(requests[0])  # the same request twice
    requests.append(ScoreRequest(rand(12), score_from=0))  # first token can never be scored
    requests.append(ScoreRequest(rand(4), score_from=2, candidates=[5, 6]))
    return requests


def _alone(model, requests):
    return [score_requests(model, [r], pad_id=0)[0] for r in requests]


def _assert_same(a, b, atol=1e-4):
    for x, y in zip(a, b, strict=True):
        assert x.n_scored == y.n_scored
        assert x.logprob == pytest.approx(y.logprob, abs=atol)
        assert x.candidate_logprobs == pytest.approx(y.candidate_logprobs, abs=atol)


@pytest.fixture(scope="module")
def tiny_llama(tiny_llama_dir):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(tiny_llama_dir).eval()


@pytest.mark.parametrize("tokens_per_batch,held_batches", [(40, 8), (40, 1), (4096, 8)])
def test_a_prefix_tree_over_many_questions_gives_the_scores_of_each_request_alone(tiny_llama, tokens_per_batch,
                                                                                   held_batches, monkeypatch):
    """Whatever the batches and however many waves of held prefix caches (40 tokens, 1 batch held: the children
    of each node batch run before the next node batch; 8 held: of several together; 4096: of all at once)."""
    import physlora.scoring.batched as batched

    monkeypatch.setattr(batched, "HELD_BATCHES", held_batches)
    requests = _random_requests(tiny_llama.config.vocab_size)
    alone = _alone(tiny_llama, requests)
    together = score_requests(tiny_llama, requests, pad_id=0, tokens_per_batch=tokens_per_batch)
    _assert_same(together, alone)
    assert alone[-2].n_scored == 11 and [s.n_scored for s in alone[:3]] == [1, 3, 5]  # ids[1:]; the options
    assert len(together[-1].candidate_logprobs) == 2


def test_shared_prefixes_run_once(tiny_llama):
    """Token positions the model runs: with prefix sharing, under half of what scoring each request in full takes."""
    requests = _random_requests(tiny_llama.config.vocab_size)
    seen = []
    hook = tiny_llama.get_input_embeddings().register_forward_hook(lambda m, args, out: seen.append(args[0].numel()))
    try:
        score_requests(tiny_llama, requests, pad_id=0, tokens_per_batch=100_000)
        shared, seen[:] = sum(seen), []
        score_requests(tiny_llama, requests, pad_id=0, tokens_per_batch=100_000, share_prefixes=False, max_rows=1)
        full = sum(seen)
    finally:
        hook.remove()
    # in full, a request runs all its tokens but the last one, which only candidates read
    assert full == sum(len(r.ids) - (0 if r.candidates else 1) for r in requests)
    assert shared < 0.5 * full, (shared, full)


def test_scores_do_not_depend_on_batching_or_order(tiny_llama):
    requests = _random_requests(tiny_llama.config.vocab_size, seed=1)
    big = score_requests(tiny_llama, requests, pad_id=0, tokens_per_batch=100_000)
    rows_capped = score_requests(tiny_llama, requests, pad_id=0, tokens_per_batch=100_000, max_rows=3)
    reversed_ = score_requests(tiny_llama, requests[::-1], pad_id=0, tokens_per_batch=64)[::-1]
    _assert_same(big, rows_capped, atol=1e-5)
    _assert_same(big, reversed_, atol=1e-5)


def test_token_logprobs_are_those_of_a_plain_forward_pass(tiny_llama):
    """Independent of scoring.batched: sum of log_softmax(logits)[t, ids[t+1]] over the scored tokens."""
    requests = _random_requests(tiny_llama.config.vocab_size, seed=2)
    scores = score_requests(tiny_llama, requests, pad_id=0, tokens_per_batch=64)
    for req, score in zip(requests, scores):
        with torch.no_grad():
            logp = torch.log_softmax(tiny_llama(torch.tensor([list(req.ids)])).logits[0].float(), -1)
        start = max(req.score_from, 1)
        expected = sum(logp[t - 1, req.ids[t]].item() for t in range(start, len(req.ids)))
        assert score.logprob == pytest.approx(expected, abs=1e-4)
        assert score.candidate_logprobs == pytest.approx([logp[-1, c].item() for c in req.candidates], abs=1e-4)


def test_a_sliding_window_cache_falls_back_to_full_sequences(tmp_path, tokenizer):
    """Mistral's sliding-window layers keep only a window of the cache: no prefix sharing, the same scores."""
    from transformers import MistralConfig, MistralForCausalLM

    torch.manual_seed(0)
    cfg = MistralConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                        num_attention_heads=4, num_key_value_heads=2, sliding_window=16, max_position_embeddings=256)
    model = MistralForCausalLM(cfg).eval()
    requests = _random_requests(cfg.vocab_size, seed=3)
    _assert_same(score_requests(model, requests, pad_id=0, tokens_per_batch=256), _alone(model, requests))


def _baseline():
    """physlora's scoring before batching across questions (bench/baseline_scoring.py)."""
    spec = importlib.util.spec_from_file_location("baseline_scoring", ROOT / "bench" / "baseline_scoring.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_mc_and_reference_nll_equal_the_per_question_scoring_of_before(small):
    """The demo's model on bundled MC and free-form questions: the same log-likelihoods as before to 1e-4,
    the same picks for every metric."""
    from physlora.data.sources import load_records
    from physlora.scoring.likelihood import reference_nll
    from physlora.scoring.multiple_choice import score_multiple_choice

    old = _baseline()
    mc = load_records("physlora-physics-mc", "test").records[::16]
    new_rows = score_multiple_choice(small.model, small.tokenizer, mc, system_prompt=SYSTEM, tokens_per_batch=1024)
    old_rows = old.score_multiple_choice(small.model, small.tokenizer, mc, system_prompt=SYSTEM)
    for n, o in zip(new_rows, old_rows, strict=True):
        assert n["loglik"] == pytest.approx(o["loglik"], abs=1e-4)
        assert {k: n[k] for k in ("prediction", "acc", "acc_norm", "letter", "circular")} == \
            {k: o[k] for k in ("prediction", "acc", "acc_norm", "letter", "circular")}
    ff = load_records("physlora-physics", "test").records[::32]
    new_nll = reference_nll(small.model, small.tokenizer, ff, system_prompt=SYSTEM, tokens_per_batch=512)
    assert new_nll == pytest.approx(old.reference_nll(small.model, small.tokenizer, ff, system_prompt=SYSTEM), abs=1e-4)


def test_only_the_asked_mc_metrics_are_computed_and_they_agree_with_all_four(small, fixtures):
    from physlora.data.sources import load_records
    from physlora.errors import PhysloraError
    from physlora.scoring.multiple_choice import score_multiple_choice

    recs = load_records(str(fixtures / "mini_mc.jsonl")).records[:2]
    kw = dict(system_prompt=SYSTEM, tokens_per_batch=2048)
    every = score_multiple_choice(small.model, small.tokenizer, recs, **kw)
    only_letter = score_multiple_choice(small.model, small.tokenizer, recs, metrics=["letter"], **kw)
    only_acc_norm = score_multiple_choice(small.model, small.tokenizer, recs, metrics=["acc_norm"], **kw)
    for a, b, c in zip(every, only_letter, only_acc_norm):
        assert set(b) == {"prediction", "letter"} and b["letter"] == a["letter"]
        assert set(c) == {"prediction", "acc_norm", "loglik"} and c["acc_norm"] == a["acc_norm"]
        assert c["loglik"] == pytest.approx(a["loglik"], abs=1e-4) and c["prediction"] == a["prediction"]
    with pytest.raises(PhysloraError, match="mc_metrics"):
        score_multiple_choice(small.model, small.tokenizer, recs, metrics=["accuracy"], **kw)
