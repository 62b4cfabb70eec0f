"""Algorithm 1 (MA-PPO) and the baselines: the climbing-game separation, relabelling, convergence to J* on random
games, monotone improvement of the exact step, one step against a hand computation, seeds, output format, bad input.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from mappo_lite import (
    MappoLiteError,
    centralized_mirror,
    evaluate,
    independent_npg,
    independent_pg,
    ma_ppo,
    make_game,
    matrix_game,
    optimal_value,
    train,
)
from mappo_lite.games.catalogue import CLIMBING
from tests.fixtures import (
    GAME_CASES,
    brute_joint,
    brute_Q,
    brute_q_local,
    cond_tables,
    iterative_V,
    make_random_game,
    occupancy_series,
    random_features_for,
)

BETAS = [0.05, 0.1, 0.2, 0.5]


# ------------------------------------------------------------------------------------------------------------
# the headline: local optimization finds the global optimum where independent learners miscoordinate
# ------------------------------------------------------------------------------------------------------------


def test_mappo_reaches_global_optimum_of_climbing():
    game = make_game("climbing")
    res = ma_ppo(game, K=200, beta=0.05)
    assert res.J[-1] == pytest.approx(11.0, abs=1e-6)
    assert res.J_star == pytest.approx(11.0, rel=1e-12)  # J* comes out of a (1x1) solve
    assert res.J[0] == pytest.approx(CLIMBING.mean(), abs=1e-12)
    # the final joint policy is (a, a): agent 1 plays row 0, agent 2 plays column 0 after it
    final = res.policies[-1]
    assert final.tables[0][0, 0] > 1 - 1e-6
    assert final.tables[1][0, 0] > 1 - 1e-6


@pytest.mark.parametrize("beta", BETAS)
def test_independent_npg_stuck_at_suboptimal_equilibrium(beta):
    game = make_game("climbing")
    res = independent_npg(game, K=200, beta=beta)
    final = res.J[-1]
    assert min(abs(final - 7.0), abs(final - 6.0)) < 1e-3, final
    assert np.all(res.J < 11.0 - 1.0)  # never 11 along the way either
    # while MA-PPO with the same beta reaches 11
    assert ma_ppo(game, K=200, beta=beta).J[-1] == pytest.approx(11.0, abs=1e-6)


@pytest.mark.parametrize("name, optimum", [("climbing", 11.0), ("penalty", 10.0)])
@pytest.mark.parametrize("order", [(1, 2), (2, 1)])
def test_mappo_optimum_invariant_to_agent_labels(name, optimum, order):
    game = make_game(name).relabel_agents(order)
    res = ma_ppo(game, K=200, beta=0.05)
    assert res.J_star == pytest.approx(optimum, abs=1e-12)
    assert res.J[-1] == pytest.approx(optimum, abs=1e-6)


def test_mappo_climbing_transposed_payoff():
    """The transposed matrix (a different orientation convention) is the same game with agents swapped."""
    res = ma_ppo(matrix_game(CLIMBING.T), K=200, beta=0.05)
    assert res.J[-1] == pytest.approx(11.0, abs=1e-6)


def test_mappo_three_agent_relabelled_random_game_same_limit():
    base = make_random_game((9, 3, (2, 3, 2), 0.8))
    J_star = optimal_value(base).J_star
    for order in [(1, 2, 3), (3, 1, 2), (2, 3, 1)]:
        res = ma_ppo(base.relabel_agents(order), K=200, beta=0.02, keep_policies=False)
        assert res.J_star == pytest.approx(J_star, abs=1e-10)
        assert res.J[-1] == pytest.approx(J_star, abs=1e-3)


# ------------------------------------------------------------------------------------------------------------
# random games: convergence, monotonicity, one step by hand
# ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", GAME_CASES, ids=lambda c: f"seed{c[0]}")
def test_mappo_converges_on_random_games(case):
    game = make_random_game(case)
    J_star = optimal_value(game).J_star
    gaps = {}
    for K in (10, 40, 160):
        res = ma_ppo(game, K=K, beta=0.01, keep_policies=False)
        assert res.J_star == pytest.approx(J_star, abs=1e-12)
        assert np.all(res.J <= J_star + 1e-9)
        assert res.average_gap == pytest.approx(np.mean(J_star - res.J[:-1]), abs=1e-12)
        gaps[K] = (res.average_gap, J_star - res.J[-1])
    assert gaps[10][0] > gaps[40][0] > gaps[160][0]
    assert gaps[160][1] < 1e-3 * max(1.0, abs(J_star))


@pytest.mark.parametrize("case", GAME_CASES, ids=lambda c: f"seed{c[0]}")
def test_exact_mappo_improves_monotonically(case):
    """With exact Q^{1:m}, each agent's PDL term <Q^{1:m}, pi'^m - pi^m> is >= 0, so J never decreases."""
    game = make_random_game(case)
    res = ma_ppo(game, K=30, beta=0.005, keep_policies=False)
    assert np.all(np.diff(res.J) >= -1e-10), np.diff(res.J).min()
    assert res.J[-1] > res.J[0]


def test_one_mappo_step_by_hand():
    """pi_1^m(.|c) is proportional to pi_0^m(.|c) exp(Q^{1:m}_{pi_0}(c, .)/beta_k), with Q^{1:m} brute-forced."""
    game = make_random_game(GAME_CASES[2])  # N = 3
    K, beta = 4, 0.3
    beta_k = beta * math.sqrt(K)
    res = ma_ppo(game, K=K, beta=beta)
    for k in range(K):
        tabs = cond_tables(res.policies[k].tables, game)
        Q = brute_Q(game, iterative_V(game, brute_joint(game, tabs)))
        assert res.J[k] == pytest.approx(float(game.rho @ iterative_V(game, brute_joint(game, tabs))), abs=1e-10)
        nxt = cond_tables(res.policies[k + 1].tables, game)
        for m in range(game.n_agents):
            q = brute_q_local(game, tabs, Q, m + 1)
            expect = tabs[m] * np.exp(q / beta_k)
            expect /= expect.sum(axis=-1, keepdims=True)
            np.testing.assert_allclose(nxt[m], expect, atol=1e-10)


def test_one_independent_npg_step_by_hand():
    game = make_random_game(GAME_CASES[0])
    K, beta = 3, 0.2
    beta_k = beta * math.sqrt(K)
    res = independent_npg(game, K=K, beta=beta)
    for k in range(K):
        tabs = cond_tables(res.policies[k].tables, game)
        Q = brute_Q(game, iterative_V(game, brute_joint(game, tabs)))
        p1, p2 = tabs[0], tabs[1][:, 0, :]  # product policy: agent 2 ignores agent 1's action
        # probabilities: ~450 ulps of 1
        np.testing.assert_allclose(tabs[1], np.repeat(p2[:, None, :], game.action_sizes[0], axis=1), atol=1e-13)
        q1 = np.einsum("sab,sb->sa", Q, p2)  # agent 1's marginal Q
        q2 = np.einsum("sab,sa->sb", Q, p1)
        nxt = cond_tables(res.policies[k + 1].tables, game)
        e1, e2 = p1 * np.exp(q1 / beta_k), p2 * np.exp(q2 / beta_k)
        np.testing.assert_allclose(nxt[0], e1 / e1.sum(1, keepdims=True), atol=1e-10)
        np.testing.assert_allclose(nxt[1][:, 0, :], e2 / e2.sum(1, keepdims=True), atol=1e-10)


def test_independent_pg_first_step_by_hand():
    game = make_random_game(GAME_CASES[1])
    eta = 0.5
    res = independent_pg(game, K=1, eta=eta)
    tabs = cond_tables(res.policies[0].tables, game)
    joint = brute_joint(game, tabs)
    V = iterative_V(game, joint)
    Q = brute_Q(game, V)
    d = occupancy_series(game, joint)
    A1, A2 = game.action_sizes
    p1, p2 = np.full((game.n_states, A1), 1 / A1), np.full((game.n_states, A2), 1 / A2)
    g1 = d[:, None] * p1 * (np.einsum("sab,sb->sa", Q, p2) - V[:, None])
    g2 = d[:, None] * p2 * (np.einsum("sab,sa->sb", Q, p1) - V[:, None])
    nxt = cond_tables(res.policies[1].tables, game)
    np.testing.assert_allclose(nxt[0], np.exp(eta * g1) / np.exp(eta * g1).sum(1, keepdims=True), atol=1e-12)
    np.testing.assert_allclose(nxt[1][:, 0, :], np.exp(eta * g2) / np.exp(eta * g2).sum(1, keepdims=True), atol=1e-12)


def test_centralized_mirror_reaches_optimum():
    for name, opt in (("climbing", 11.0), ("penalty", 10.0), ("two_step", 0.99 * 8)):
        res = centralized_mirror(make_game(name), K=200, beta=0.05, keep_policies=False)
        assert res.J[-1] == pytest.approx(opt, abs=1e-5), name
        assert res.J_star == pytest.approx(opt, abs=1e-12)


def test_mappo_sgd_known_behaviour_on_climbing():
    """Algorithm 3 with on-policy samples: reaches 11 for beta >= 0.2 (README/preamble fact)."""
    res = ma_ppo(make_game("climbing"), K=100, beta=0.2, solver="sgd", T=500, seed=0, keep_policies=False)
    assert res.J[-1] == pytest.approx(11.0, abs=1e-2)
    assert res.eps.shape == (100, 2) and np.all(res.eps >= 0)


# ------------------------------------------------------------------------------------------------------------
# output format, seeds
# ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("algo", ["mappo", "independent-npg", "independent-pg", "centralized"])
def test_result_format(algo):
    game = make_random_game(GAME_CASES[0])
    K = 7
    res = train(game, algo, K=K, seed=3)
    assert res.J.shape == (K + 1,) and res.K == K
    assert res.J[0] == pytest.approx(evaluate(game, "uniform").J, abs=1e-12)
    assert 0 <= res.output_index < K
    assert res.J_output == res.J[res.output_index]  # exact: J_output is read out of J
    assert len(res.policies) == K + 1
    for k in (0, K):
        assert evaluate(game, res.policies[k]).J == pytest.approx(res.J[k], abs=1e-12)
    np.testing.assert_allclose(res.gap, res.J_star - res.J)
    d = res.as_dict()
    assert len(d["J"]) == K + 1 and d["J_star"] == res.J_star and d["J_output"] == res.J_output  # exact: copies
    assert d["output_index"] == res.output_index


def test_output_index_is_uniform_over_iterates():
    game = make_game("climbing")
    K = 5
    idx = [ma_ppo(game, K=K, beta=0.1, seed=s, keep_policies=False).output_index for s in range(300)]
    counts = np.bincount(idx, minlength=K)
    assert len(counts) == K and np.all(counts > 300 / K / 2), counts  # every k in 0..K-1 drawn, never K


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(solver="sgd", evaluation="exact"),
        dict(solver="sgd", evaluation="mc"),
        dict(solver="ideal", evaluation="mc"),
    ],
    ids=["sgd-exact", "sgd-mc", "ideal-mc"],
)
def test_seeds_reproducible_and_different(kwargs):
    game = make_random_game(GAME_CASES[0])
    run = lambda seed: ma_ppo(game, K=5, beta=0.5, T=200, n_rollouts=2, seed=seed, keep_policies=False, **kwargs)  # noqa: E731
    a, b, c = run(1), run(1), run(2)
    np.testing.assert_array_equal(a.J, b.J)  # exact: the same seed, the same computation twice in one process
    np.testing.assert_array_equal(a.xi, b.xi)  # exact: as above
    np.testing.assert_array_equal(a.eps, b.eps)  # exact: as above
    for t1, t2 in zip(a.final_thetas, b.final_thetas):
        np.testing.assert_array_equal(t1, t2)  # exact: as above
    assert a.output_index == b.output_index
    assert not np.array_equal(a.J[1:], c.J[1:])
    assert a.J[0] == c.J[0]  # exact: pi_0 is uniform whatever the seed, the same computation on the same machine
    if kwargs["evaluation"] == "mc":
        assert np.all(a.xi > 0)  # Monte Carlo estimates are noisy: xi measured and positive
    else:
        assert np.all(a.xi == 0)  # exact: xi stays np.zeros without Monte Carlo


def test_seed_accepts_generator():
    game = make_random_game(GAME_CASES[0])
    a = ma_ppo(game, K=3, solver="sgd", T=100, seed=np.random.default_rng(4), keep_policies=False)
    b = ma_ppo(game, K=3, solver="sgd", T=100, seed=np.random.default_rng(4), keep_policies=False)
    np.testing.assert_array_equal(a.J, b.J)  # exact: the same computation twice in one process


def test_mappo_compact_features_with_sgd():
    game = make_random_game(GAME_CASES[0])
    feats = random_features_for(game, d=4, seed=0)
    res = ma_ppo(game, K=20, beta=0.5, solver="sgd", features=feats, T=300, radius=5.0, seed=0)
    assert all(np.linalg.norm(t) <= 5.0 * (1 + 1e-12) for t in res.final_thetas)
    assert all(t.shape == (4,) for t in res.final_thetas)
    assert np.all(res.J <= res.J_star + 1e-9)


# ------------------------------------------------------------------------------------------------------------
# bad input
# ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("algo", ["mappo", "independent-npg", "independent-pg", "centralized"])
@pytest.mark.parametrize("K", [0, -3, 1.5, True, float("nan"), float("inf")])
def test_bad_K(algo, K):
    with pytest.raises(MappoLiteError, match="K"):
        train(make_game("climbing"), algo, K=K)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(K="ten"),
        dict(K=None),
        dict(T="many", solver="sgd"),
        dict(T=None, solver="sgd"),
        dict(T=1.5, solver="sgd"),
        dict(n_rollouts="x", evaluation="mc"),
    ],
    ids=["K-str", "K-None", "T-str", "T-None", "T-float", "n_rollouts-str"],
)
def test_non_numeric_counts_raise_mappo_lite_error(kwargs):
    name = next(iter(kwargs))
    with pytest.raises(MappoLiteError, match=name):
        ma_ppo(make_game("climbing"), **{"K": 3, **kwargs})


@pytest.mark.parametrize(
    "algo, key", [("mappo", "beta"), ("independent-npg", "beta"), ("centralized", "beta"), ("independent-pg", "eta")]
)
@pytest.mark.parametrize("value", [0.0, -1.0, float("nan"), float("inf"), "big"])
def test_bad_beta_eta(algo, key, value):
    with pytest.raises(MappoLiteError, match=key):
        train(make_game("climbing"), algo, K=5, **{key: value})


def test_bad_mappo_options():
    game = make_game("climbing")
    with pytest.raises(MappoLiteError, match="unknown solver"):
        ma_ppo(game, K=5, solver="adam")
    with pytest.raises(MappoLiteError, match="unknown evaluation"):
        ma_ppo(game, K=5, evaluation="td")
    with pytest.raises(MappoLiteError, match="T"):
        ma_ppo(game, K=5, solver="sgd", T=0)
    with pytest.raises(MappoLiteError, match="eta"):
        ma_ppo(game, K=5, solver="sgd", eta=-1.0)
    with pytest.raises(MappoLiteError, match="init .* must be one of"):
        ma_ppo(game, K=5, solver="sgd", sgd_init="random")
    with pytest.raises(MappoLiteError, match="unknown features"):
        ma_ppo(game, K=5, solver="ideal", features="nonsense")
    with pytest.raises(MappoLiteError, match="unknown algorithm"):
        train(game, "qmix", K=5)
    with pytest.raises(MappoLiteError, match="CooperativeMarkovGame"):
        ma_ppo("climbing", K=5)


@pytest.mark.parametrize(
    "kw, expected",
    [
        (dict(), "once"),  # exact ideal tabular step on a dense game: the fused run, one report at its end
        (dict(fused=False), "each"),
        (dict(evaluation="mc", n_rollouts=2), "each"),
        (dict(solver="sgd", evaluation="mc", T=20, n_rollouts=1), "each"),
    ],
)
def test_ma_ppo_callback_reports_the_evaluated_iterates(kw, expected):
    game = matrix_game(CLIMBING)
    K = 4
    seen = []
    res = ma_ppo(game, K=K, beta=0.5, seed=2, callback=seen.append, **kw)
    assert seen == ([K] if expected == "once" else list(range(K + 1)))
    # the callback observes, it does not change the run
    np.testing.assert_array_equal(res.J, ma_ppo(game, K=K, beta=0.5, seed=2, **kw).J)


def test_ma_ppo_refuses_a_callback_that_is_not_a_function():
    with pytest.raises(MappoLiteError, match="callback"):
        ma_ppo(matrix_game(CLIMBING), K=2, callback=5)
