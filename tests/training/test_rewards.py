"""The GRPO rewards on hand-made completions: each reward's value, the anti-copy property of the partial
credit, the time budget and the never-raise contract."""

from __future__ import annotations

import time

import pytest

from physlora.training.rewards import (
    DEFAULT_WEIGHTS,
    RewardFunction,
    build_rewards,
    call_with_budget,
    final_answer_line,
    is_copied,
    make_reward,
    mc_choice,
    question_quantities,
    reference_kind,
    total_reward,
    RewardTimeout,
    warm_up,
)
from physlora.grading.physics_check import Quantity

# A quantitative item in the bundled style (our own words): P = m g h / t = 245 W
QUESTION = "A winch raises a 50 kg load by 2.0 m in 4.0 s at constant speed. Taking g = 9.8 m/s^2, what power does it deliver?"
REFERENCE = "The work is m g h = 50 * 9.8 * 2.0 J = 980 J, so the power is P = W / t = 980 J / 4.0 s = 245 W."


def scores(completion: str, reference: str = REFERENCE, question: str = QUESTION, **kw) -> dict[str, float]:
    warm_up()
    return {name: make_reward(name).score_one(completion, reference, question, kw.get("kind"), kw.get("choices"))
            for name in ("correctness", "partial", "answer_format")}


@pytest.mark.parametrize(
    "completion, expected",
    [
        # right, with the requested final line (the unit converts: 0.245 kW == 245 W)
        ("P = m g h / t = 50*9.8*2.0/4.0 = 245 W\nAnswer: 245 W", (1.0, 1.0, 1.0)),
        ("Answer: 0.245 kW", (1.0, 1.0, 1.0)),
        # right number without a final line: correct, full partial credit, no format credit
        ("The power is about 245 W.", (1.0, 1.0, 0.0)),
        # honest wrong: right dimension, right order of magnitude (122.5 / 245 = 0.5)
        ("P = m g / t = 122.5 W\nAnswer: 122.5 W", (0.0, 1.0, 1.0)),
        # wrong by 100x: right dimension only
        ("Answer: 24500 W", (0.0, 0.5, 1.0)),
        # wrong dimension (energy for power): no partial credit at all
        ("Answer: 980 J", (0.0, 0.0, 1.0)),
        # a number without the unit the reference has: magnitude only, and the format asks for a unit
        ("Answer: 200", (0.0, 0.5, 0.5)),
        # a formula where a number is asked: not a computed value
        ("Answer: P = W / t", (0.0, 0.0, 0.5)),
        # copies a number given in the question: nothing but the format credit
        ("Answer: 50 W", (0.0, 0.0, 1.0)),
        ("Answer: 9.8 W", (0.0, 0.0, 1.0)),
        # no answer at all
        ("I am not sure how to do this.", (0.0, 0.0, 0.0)),
        ("", (0.0, 0.0, 0.0)),
    ],
)
def test_each_reward_on_hand_made_completions(completion, expected):
    got = scores(completion)
    assert (got["correctness"], got["partial"], got["answer_format"]) == expected


def test_copying_a_number_from_the_question_never_beats_an_honest_wrong_answer():
    funcs, weights = build_rewards(DEFAULT_WEIGHTS)

    def total(c: str) -> float:
        return total_reward(funcs, weights, c, REFERENCE, QUESTION)

    copies = ["Answer: 50 W", "Answer: 4.0 W", "Answer: 2.0 W", "Answer: 9.8 W", "Answer: 0.05 kW",
              "The power is 50 W.", "P = 50 W\nAnswer: 50 W"]
    honest = ["Answer: 122.5 W", "P = 50*9.8/4.0 = 122.5 W\nAnswer: 122.5 W", "Answer: 490 W", "Answer: 24500 W",
              "Answer: 1960 W"]
    assert max(total(c) for c in copies) <= min(total(h) for h in honest)
    # and the honest wrong answers still score below the right one
    assert max(total(h) for h in honest) < total("Answer: 245 W")


def test_copy_detection_reads_units_and_notations():
    q = "A 2.0 km track is run in 3.0e2 s by a runner of mass 6.0 x 10^1 kg."
    assert [(x.value, x.unit) for x in question_quantities(q)] == [(2.0, "km"), (300.0, "s"), (60.0, "kg")]
    assert is_copied(Quantity(2000.0, "m"), q, 0.05)  # 2 km converted
    assert is_copied(Quantity(2.0, "m/s"), q, 0.05)  # the bare number 2 with another unit attached
    assert not is_copied(Quantity(6.7, "m/s"), q, 0.05)  # 2000 m / 300 s, computed


def test_reference_kinds():
    assert reference_kind(REFERENCE) == "quantity"
    assert reference_kind("The ground-state energy is E_0 = hbar omega / 2.") == "formula"
    assert reference_kind("Because the electrons set the chemistry.") is None
    assert reference_kind("B", ["A", "B", "C"]) == "mc"
    assert reference_kind("D", ["A", "B", "C"]) is None


def test_multiple_choice_letter_and_text():
    choices = ["+1/3", "+2/3", "-1/3", "+1"]
    assert mc_choice("Up quarks carry two thirds.\nAnswer: B", choices) == 1
    assert mc_choice("Answer: (B)", choices) == 1
    assert mc_choice("Answer: +2/3", choices) == 1
    assert mc_choice("Answer: B or C", choices) == 1  # the letter comes first
    assert mc_choice("no idea", choices) is None
    s = scores("Answer: B", reference="+2/3", question="Charge of an up quark?", kind="mc", choices=choices)
    assert s == {"correctness": 1.0, "partial": 0.0, "answer_format": 1.0}
    s = scores("Answer: A", reference="+2/3", question="Charge of an up quark?", kind="mc", choices=choices)
    assert s == {"correctness": 0.0, "partial": 0.0, "answer_format": 1.0}


def test_formula_reference():
    ref = "The ground-state energy is E_0 = hbar omega / 2."
    assert scores("Answer: E_0 = omega hbar / 2", reference=ref, question="")["correctness"] == 1.0
    assert scores("Answer: hbar*omega/2", reference=ref, question="")["correctness"] == 1.0
    assert scores("Answer: hbar omega", reference=ref, question="") == {"correctness": 0.0, "partial": 0.0,
                                                                          "answer_format": 1.0}


def test_final_answer_line_forms():
    assert final_answer_line("work...\nAnswer: 12 N") == "12 N"
    assert final_answer_line("work...\n**Final answer:** 12 N.") == "12 N"
    assert final_answer_line("The answer is: 12 N") == "12 N"
    assert final_answer_line("Answer: 12 N\nand then more text") is None  # not the last line


def test_trl_signature_and_conversational_completions():
    reward = make_reward("correctness")
    out = reward(prompts=["p", "p"], completions=["Answer: 245 W", [{"role": "assistant", "content": "Answer: 1 W"}]],
                 answer=[REFERENCE, REFERENCE], question=[QUESTION, QUESTION], answer_kind=["quantity", "quantity"],
                 choices=[[], []], trainer_state=None)
    assert out == [1.0, 0.0]
    assert reward.__name__ == "correctness" and reward.counters.calls == 2


def test_a_reward_that_raises_scores_zero_and_is_counted():
    def broken(completion, reference, question, **kw):
        raise ZeroDivisionError("inside the scorer")

    logged = {}
    reward = make_reward("broken", scorer=broken)
    out = reward(prompts=["p"] * 2, completions=["Answer: 1 W", "Answer: 2 W"], answer=[REFERENCE] * 2,
                 log_metric=lambda k, v: logged.setdefault(k, v))
    assert out == [0.0, 0.0]
    assert reward.counters.errors == 2 and "ZeroDivisionError" in reward.counters.last_error
    assert logged["rewards/broken/errors"] == 1.0
    # completions that are not text at all (a broken rollout) are errors too, never an exception
    healthy = make_reward("correctness")
    assert healthy(prompts=["p"] * 2, completions=[12345, None], answer=[REFERENCE] * 2) == [0.0, 0.0]
    assert healthy.counters.errors == 2 and "TypeError" in healthy.counters.last_error


def test_a_reward_past_its_time_budget_scores_zero_and_is_counted():
    def slow(completion, reference, question, **kw):
        time.sleep(5)
        return 1.0

    reward = make_reward("slow", scorer=slow, budget_s=0.2)
    started = time.perf_counter()
    assert reward(prompts=["p"], completions=["Answer: 1 W"], answer=[REFERENCE]) == [0.0]
    assert time.perf_counter() - started < 2.0
    assert reward.counters.timeouts == 1


def test_budget_outside_the_main_thread_still_returns_on_time():
    import threading

    result = {}

    def worker():
        started = time.perf_counter()
        try:
            call_with_budget(lambda: time.sleep(3) or 1.0, 0.2)
        except RewardTimeout:
            result["seconds"] = time.perf_counter() - started

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert result["seconds"] < 1.5


def test_pathological_completions_are_fast_and_safe():
    funcs, weights = build_rewards(DEFAULT_WEIGHTS, budget_s=1.0)
    evil = ["9" * 5000 + " W", "Answer: " + "(" * 3000, "Answer: x = 9^9^9^9", "Answer: " + "1e999999 W",
            "Answer: " + " ".join(["2 m"] * 3000), "\x00\udcff Answer: 3 W"]
    started = time.perf_counter()
    for c in evil:
        total = total_reward(funcs, weights, c, REFERENCE, QUESTION)
        assert 0.0 <= total <= sum(weights)
    assert time.perf_counter() - started < 10
    assert all(isinstance(f, RewardFunction) and f.counters.errors == 0 for f in funcs)
