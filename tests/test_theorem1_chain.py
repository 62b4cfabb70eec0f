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


def test_clipping_moves_the_estimates_towards_the_truth(game):
    # same seed: iteration 0 draws the same Monte Carlo table, so clipping can only lower xi there
    raw = theorem1_chain(game, K=2, beta=1.0, T=50, n_rollouts=1, seed=4)
    clipped = theorem1_chain(game, K=2, beta=1.0, T=50, n_rollouts=1, seed=4, clip=True)
    assert np.all(clipped["xi"][0] <= raw["xi"][0] * (1 + 1e-12))
    assert clipped["B"] <= 1 / (1 - game.gamma) * (1 + 1e-12)
    assert raw["B"] > 1 / (1 - game.gamma)  # one rollout over a geometric horizon leaves [0, 1/(1-gamma)]


def test_ingredients_of_the_inexact_step(chain, game):
    # tabular features, SGD from theta_k with eta <= 1/2, Q-hat >= 0: the fitted increment lies in [0, max Q-hat/beta_k]
    assert np.all(chain["f_span"] <= chain["q_hat_max"] * (1 + 1e-12))
    assert np.all(chain["rho"] <= np.exp(chain["f_span"]) * (1 + 1e-12))
    # our Delta is the paper's over sqrt(2); our delta is the paper's times (1 + rho) / 2 >= 1
    phi, eps, xi = chain["phi"], chain["eps"], chain["xi"]
    np.testing.assert_allclose(chain["delta"], (phi[:, 1:] + phi[:, :-1]) * (eps + xi / chain["beta_k"]), rtol=1e-12)
    assert np.all(chain["small_delta"] >= 2 * phi[:, :-1] * eps * (1 - 1e-12))
    # the balancing beta minimizes the final bound at the run's X and B
    X, B, N, K = chain["X"], chain["B"], chain["N"], chain["K"]
    at = lambda b: (b * X + N * B**2 / (8 * b)) / ((1 - game.gamma) * np.sqrt(K))
    assert at(chain["best_beta"]) == pytest.approx(chain["best_bound"], rel=1e-12)
    assert at(chain["best_beta"]) <= min(at(0.5 * chain["best_beta"]), at(2 * chain["best_beta"]))


def test_identity_scale_is_the_size_of_the_terms(chain):
    for name in ("three_point", "pdl"):
        side = chain["steps"][name]
        assert np.all(side["scale"] >= np.maximum(np.abs(side["lhs"]), np.abs(side["rhs"])) * (1 - 1e-12))
    # a tampered likelihood ratio is detected by its own step
    assert not chain_check({"steps": {"likelihood_ratio": {"lhs": np.array([3.0]), "rhs": np.array([2.0])}}})[
        "likelihood_ratio"
    ][0]
