import pytest

from physlora.data.records import Record
from physlora.prompting import build_prompt
from physlora.scoring.multiple_choice import (choice_loglikelihoods, encode_pair, letter_logprobs, lettered_question,
                                              score_multiple_choice)

SYSTEM = "You are a physicist. Answer concisely and correctly."


def test_encode_pair_moves_trailing_whitespace_like_lm_eval(tokenizer):
    ctx, cont = encode_pair(tokenizer, "Answer:\n", "Paris")
    assert tokenizer.decode(ctx) == "Answer:" and tokenizer.decode(cont) == "\nParis"


def test_acc_on_a_two_item_set_with_one_forced_choice(small):
    """Item 1: the gold option is fluent text, the others are gibberish -> surely picked.
    Item 2: the gold option is the gibberish -> surely missed. acc must be exactly 0.5."""
    gib = ["qzx vvb kkq", "zzp qqm xxr", "bvv qpz mmq"]
    recs = [
        Record("a", "What falls faster in vacuum, a hammer or a feather?", "They fall at the same rate.",
               choices=[gib[0], "They fall at the same rate.", gib[1], gib[2]]),
        Record("b", "What is the SI unit of force?", gib[0], choices=["The newton.", gib[0], "The newton, N.", "Newtons."]),
    ]
    rows = score_multiple_choice(small.model, small.tokenizer, recs, system_prompt=SYSTEM)
    assert [r["acc"] for r in rows] == [1.0, 0.0]
    assert rows[0]["acc_norm"] == 1.0 and rows[1]["acc_norm"] == 0.0


def test_acc_is_argmax_of_loglik_and_acc_norm_divides_by_length(small, fixtures):
    from physlora.data.sources import load_records

    recs = load_records(str(fixtures / "mini_mc.jsonl")).records
    rows = score_multiple_choice(small.model, small.tokenizer, recs, system_prompt=SYSTEM)
    for rec, row in zip(recs, rows):
        ll = choice_loglikelihoods(small.model, small.tokenizer, build_prompt(small.tokenizer, rec.question, SYSTEM), rec.choices)
        assert row["loglik"] == pytest.approx(ll, abs=1e-3)
        best = max(range(4), key=lambda i: ll[i])
        assert row["acc"] == float(best == rec.answer_index)
        best_norm = max(range(4), key=lambda i: ll[i] / len(rec.choices[i]))
        assert row["acc_norm"] == float(best_norm == rec.answer_index)
        assert row["circular"] <= row["letter"]  # circular needs every rotation right


def test_batched_loglik_equals_one_at_a_time(small):
    ctx = build_prompt(small.tokenizer, "Which colour has the shortest wavelength?", SYSTEM)
    choices = ["Violet", "Red light of a long wavelength", "Green"]
    together = choice_loglikelihoods(small.model, small.tokenizer, ctx, choices)
    alone = [choice_loglikelihoods(small.model, small.tokenizer, ctx, [c])[0] for c in choices]
    assert together == pytest.approx(alone, abs=1e-3)


def test_lettered_rotations_share_the_prompt_prefix_without_changing_the_scores(small):
    """The rotations share their prompt prefix (run once, KV cache reused); each alone runs in full."""
    import torch

    from physlora.scoring.multiple_choice import letter_logprobs, lettered_question

    options = ["It doubles.", "It halves.", "It stays the same.", "It quadruples."]
    rotations = [[options[(j + k) % 4] for j in range(4)] for k in range(4)]
    q = "A spring's extension doubles. What happens to its stored elastic energy?"
    prompts = [build_prompt(small.tokenizer, lettered_question(q, rot), SYSTEM) for rot in rotations]
    together = letter_logprobs(small.model, small.tokenizer, prompts, 4)
    alone = torch.cat([letter_logprobs(small.model, small.tokenizer, [p], 4) for p in prompts])
    torch.testing.assert_close(together, alone, rtol=1e-4, atol=1e-4)


def test_circular_runs_a_rotation_only_for_questions_right_so_far_and_equals_every_rotation(small, monkeypatch):
    """circular = right under every rotation of the options. Rotation k is scored only for the questions right
    under rotations 0..k-1 (one wrong rotation settles it): the scores equal those computed from every rotation,
    and each later round runs exactly the questions still right."""
    import physlora.scoring.multiple_choice as mc
    from physlora.data.sources import load_records

    recs = load_records("physlora-physics-mc", "test").records[:16]
    calls = []  # a spy on the real scorer: how many requests each call scored
    real = mc.score_requests
    monkeypatch.setattr(mc, "score_requests", lambda model, requests, **kw: calls.append(len(requests)) or
                        real(model, requests, **kw))
    rows = score_multiple_choice(small.model, small.tokenizer, recs, system_prompt=SYSTEM, metrics=["letter", "circular"])
    scored = list(calls)  # the calls of score_multiple_choice (the reference below goes through the spy too)
    still_right = [0] * 4  # questions right under rotations 0..k, by every rotation scored
    for rec, row in zip(recs, rows):
        n = len(rec.choices)
        prompts = [build_prompt(small.tokenizer, lettered_question(rec.question, [rec.choices[(j + k) % n] for j in range(n)]),
                                SYSTEM) for k in range(n)]
        picks = letter_logprobs(small.model, small.tokenizer, prompts, n).argmax(-1).tolist()
        right = [(pick + k) % n == rec.answer_index for k, pick in enumerate(picks)]
        assert row["letter"] == float(right[0]) and row["circular"] == float(all(right))
        for k in range(n):
            still_right[k] += all(right[: k + 1])
    assert still_right[0] > 0  # some question reaches the later rounds, or this test would test nothing
    rounds = [r for r in still_right[:-1] if r]
    assert scored == [len(recs)] + rounds  # round k runs the questions right under rotations 0..k-1, no more
