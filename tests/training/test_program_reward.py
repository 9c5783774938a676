"""The reward for programs that run (tools mode): programs run in physlora's sandbox (physlora.tools), a real
one here, never in the test process."""

from __future__ import annotations

import time

import pytest

from physlora.config import load_config
from physlora.training.rewards import build_rewards, make_reward, rewards_for, total_reward

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

QUESTION = "A stone falls freely from rest for 3.0 s. Taking g = 9.8 m/s^2, how far does it fall?"
REFERENCE = "d = g t^2 / 2 = 9.8 * 3.0^2 / 2 m = 44.1 m."
RUNS = "I compute it:\n```python\ng, t = 9.8, 3.0\nprint(f'{g * t**2 / 2:.3g} m')\n```\nAnswer: 44.1 m"
RAISES = "```python\nprint(9.8 * 3.0 / 0)\n```\nAnswer: 44.1 m"
HOSTILE = "```python\nprint(open('/etc/passwd').read())\n```\nAnswer: 44.1 m"
ESCAPES = "```python\nimport os\nos.system('touch /tmp/physlora-reward-pwned')\n```\nAnswer: 1 m"
SPINS = "```python\nwhile True:\n    pass\n```\nAnswer: 44.1 m"
NO_PROGRAM = "d = 9.8 * 9 / 2 = 44.1 m\nAnswer: 44.1 m"


@pytest.fixture(scope="module")
def reward():
    r = make_reward("program_runs", budget_s=1.5)
    yield r
    r.close()


def test_a_program_that_runs_and_prints_scores_one(reward):
    assert reward([QUESTION], [RUNS], answer=[REFERENCE], question=[QUESTION]) == [1.0]
    assert reward.counters.outcomes["ok"] == 1


@pytest.mark.parametrize("completion, outcome", [
    (RAISES, "runtime_error"), (HOSTILE, "forbidden_operation"), (ESCAPES, "forbidden_import"),
    (NO_PROGRAM, "no_program"),
])
def test_programs_that_fail_are_refused_or_absent_score_zero(reward, completion, outcome):
    before = dict(reward.counters.outcomes or {})
    assert reward.score_one(completion, REFERENCE, QUESTION, "quantity", None) == 0.0
    assert reward.counters.outcomes[outcome] == before.get(outcome, 0) + 1
    assert reward.counters.errors == 0  # a failing program is an outcome, not a reward error


def test_a_program_that_never_ends_scores_zero_within_the_sandbox_limits(reward):
    started = time.perf_counter()
    assert reward.score_one(SPINS, REFERENCE, QUESTION, "quantity", None) == 0.0
    assert time.perf_counter() - started < 15  # wall limit 1.5 s + the client's grace, on a loaded machine
    assert (reward.counters.outcomes.get("timeout", 0) + reward.counters.outcomes.get("cpu_limit", 0)) == 1
    # the worker that was stopped is replaced: the next program runs
    assert reward.score_one(RUNS, REFERENCE, QUESTION, "quantity", None) == 1.0


def test_weighted_with_the_physics_rewards_and_closed_after_use():
    with rewards_for({"correctness": 1.0, "program_runs": 0.1}, budget_s=2.0) as (funcs, weights):
        assert [f.name for f in funcs] == ["correctness", "program_runs"]
        assert total_reward(funcs, weights, RUNS, REFERENCE, QUESTION) == pytest.approx(1.1)
        assert total_reward(funcs, weights, RAISES, REFERENCE, QUESTION) == pytest.approx(1.0)
        sandbox = funcs[1].scorer._sandbox
        assert sandbox is not None
    assert sandbox._closed and funcs[1].scorer._sandbox is None  # its worker processes are stopped


def test_a_given_sandbox_is_used_and_left_open():
    from physlora.tools.sandbox import Sandbox

    with Sandbox() as box:
        funcs, _ = build_rewards({"program_runs": 1.0}, sandbox=box)
        assert funcs[0].score_one(RUNS, REFERENCE, QUESTION, "quantity", None) == 1.0
        funcs[0].close()
        assert not box._closed and box.run("print(1)").ok  # the run's sandbox, shared with tools-mode eval


def test_config_accepts_the_program_reward(tmp_path):
    cfg = load_config(None, ["train.grpo.reward_weights={correctness: 1.0, program_runs: 0.2}"])
    assert cfg.train.grpo.reward_weights["program_runs"] == 0.2


def test_a_sandbox_that_cannot_run_fails_once_then_fast_and_never_raises():
    from physlora.tools.sandbox import Sandbox

    box = Sandbox()
    box.close()  # run() now raises PhysloraError, as when the workers cannot start
    reward = make_reward("program_runs", sandbox=box)
    assert reward.score_one(RUNS, REFERENCE, QUESTION, "quantity", None) == 0.0
    started = time.perf_counter()
    assert reward.score_one(RUNS, REFERENCE, QUESTION, "quantity", None) == 0.0
    assert time.perf_counter() - started < 1.0
    assert reward.counters.errors == 2 and "sandbox" in reward.counters.last_error
