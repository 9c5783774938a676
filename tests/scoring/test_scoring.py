import pytest

from physlora.data.records import Record
from physlora.prompting import build_prompt
from physlora.scoring.multiple_choice import choice_loglikelihoods, encode_pair, score_multiple_choice

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
