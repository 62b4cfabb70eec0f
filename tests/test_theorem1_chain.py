"""mappo_lite.theory.theorem1_chain / chain_check / sgd_rate: the proof of Theorem 1 with errors, checked on a run."""

import numpy as np
import pytest

from mappo_lite import MappoLiteError, make_game
from mappo_lite.theory import CHAIN_STEPS, chain_check, rescale_rewards, sgd_rate, theorem1_chain


@pytest.fixture(scope="module")
def game():
    return rescale_rewards(make_game("random", n_states=4, n_agents=2, n_actions=3, gamma=0.8, seed=3))


@pytest.fixture(scope="module")
def chain(game):
    return theorem1_chain(game, K=10, beta=1.0, T=200, n_rollouts=3, seed=0)


def test_every_step_of_the_chain_holds_on_an_inexact_run(chain):
    checks = chain_check(chain)
    assert set(checks) == set(CHAIN_STEPS)
    assert all(ok for ok, _ in checks.values()), checks
    assert chain["eps"].min() > 0 and chain["xi"].min() > 0  # both errors are really present
    assert np.all(chain["rho"] >= 1 - 1e-12)  # a ratio of two distributions has max >= 1
    assert chain["average_gap"] <= chain["bound"] and chain["best_bound"] <= chain["bound"] * (1 + 1e-12)


def test_identities_are_exact_and_exact_q_has_no_evaluation_error(game):
    c = theorem1_chain(game, K=5, beta=1.0, T=100, n_rollouts=0, seed=1)
    checks = chain_check(c, rtol=1e-10)
    assert checks["three_point"][1] <= 1e-10 and checks["pdl"][1] <= 1e-10
    assert np.all(c["xi"] <= 1e-12 * c["B"])
    assert c["B"] <= 1 / (1 - game.gamma) * (1 + 1e-12)  # B, the span of Q, is at most 1/(1-gamma)


@pytest.mark.parametrize(
    "ingredient, step", [("phi", "change_of_measure"), ("eps", "triangle"), ("B", "hoeffding"), ("xi", "triangle")]
)
def test_a_wrong_ingredient_is_detected(game, ingredient, step):
    bad = theorem1_chain(game, K=10, beta=1.0, T=200, n_rollouts=3, seed=0, tamper={ingredient: 0.01})
    assert not chain_check(bad)[step][0]


def test_chain_rejects_bad_input(game):
    with pytest.raises(MappoLiteError):
        theorem1_chain(game, K=3, tamper={"nope": 2.0})
    with pytest.raises(MappoLiteError):
        theorem1_chain(make_game("climbing"), K=3)  # rewards outside [0, 1]


def test_sgd_rate_is_under_the_projected_sgd_bound(game):
    r = sgd_rate(game, Ts=(10, 100, 1000), seeds=range(4))
    assert np.all(r["eps2"].mean(axis=1) <= r["bound"])
    assert np.all(np.diff(r["eps"]) < 0)  # more SGD steps, smaller improvement error
    assert r["slope"] < 0 and r["predicted_slope"] == -0.25  # exact: a constant
    # the bound is D G / sqrt(T) (D = R here) up to a factor (1 + 1/sqrt(T))^2 / 2 + 1/2 that tends to 1
    scaled = r["bound"] * np.sqrt(r["Ts"]) / (r["R"] * r["G"])
    assert np.all(scaled >= 1 - 1e-12) and scaled[-1] == pytest.approx(1.0, rel=0.05)
