"""Tests of mappo_lite.algorithms.happo: the tabular exact HAPPO update, checked against naive enumeration.

The reference computations below enumerate joint actions with itertools and evaluate policies with the
fixed-point helpers of conftest (no call to the library's evaluation code).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from mappo_lite import MappoLiteError, TrainingResult, ma_ppo, make_game, optimal_value
from mappo_lite.algorithms.happo import happo, happo_iteration, happo_target
from tests.fixtures import brute_joint, brute_Q, iterative_V, product_to_conditional


def softmax_rows(L):
    z = np.exp(L - L.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def naive_values(game, probs):
    """V (S,) and Q (S, A_1..A_N) of the product policy with per-agent tables ``probs`` by fixed-point iteration."""
    tabs = product_to_conditional(game, probs)
    joint = brute_joint(game, tabs)
    V = iterative_V(game, joint)
    return V, brute_Q(game, V)


def naive_ratio_target(game, A, old, new, agent, pred):
    """M(s, a^i) = sum over a^{-i} of prod_{j != i} pi_old^j * prod_{l in pred} (pi_new^l / pi_old^l) * A(s, a)."""
    S, sizes = game.n_states, game.action_sizes
    M = np.zeros((S, sizes[agent]))
    for s in range(S):
        for a in itertools.product(*[range(n) for n in sizes]):
            w = 1.0
            for j in range(len(sizes)):
                if j == agent:
                    continue
                w *= old[j][s, a[j]]
                if j in pred:
                    w *= new[j][s, a[j]] / old[j][s, a[j]]
            M[s, a[agent]] += w * A[(s,) + a]
    return M


def naive_iteration(game, logits, beta_k, order, recompute):
    """One HAPPO iteration written out with the naive helpers."""
    N = game.n_agents
    old = [softmax_rows(L) for L in logits]
    V, Q = naive_values(game, old)
    A = Q - V.reshape((-1,) + (1,) * N)
    new_logits = [np.array(L, dtype=float) for L in logits]
    new = list(old)
    for j, i in enumerate(order):
        if recompute and j > 0:
            Vp, Qp = naive_values(game, new)
            Ap = Qp - Vp.reshape((-1,) + (1,) * N)
            # expectation of the partial policy's advantage over the other agents' (partially updated) actions
            M = naive_ratio_target(game, Ap, new, new, i, [])
        else:
            M = naive_ratio_target(game, A, old, new, i, list(order[:j]))
        new_logits[i] = new_logits[i] + M / beta_k
        new[i] = softmax_rows(new_logits[i])
    return new_logits


GAMES = {
    "climbing": lambda: make_game("climbing"),
    "penalty": lambda: make_game("penalty"),
    "two_step": lambda: make_game("two_step"),
    "random3": lambda: make_game("random", n_states=3, n_agents=3, n_actions=[2, 3, 2], gamma=0.8, seed=4),
    "random2": lambda: make_game("random", n_states=4, n_agents=2, n_actions=3, gamma=0.9, seed=1),
}


# ------------------------------------------------------------------------------------------------------------
# what it reaches
# ------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("beta", [0.05, 0.1, 0.5])
@pytest.mark.parametrize("recompute", [False, True])
def test_climbing_from_uniform_reaches_the_b_b_equilibrium(beta, recompute):
    g = make_game("climbing")
    for seed in range(3):
        res = happo(g, K=200, beta=beta, recompute=recompute, seed=seed)
        # HAPPO (product policies) ends at the pure equilibrium (b, b) = 7, not at the optimum 11
        assert abs(res.J[-1] - 7.0) < 1e-6
        pol = res.policies[-1]
        assert pol.marginal(1)[0, 1] > 0.999 and pol.marginal(2)[0, 1] > 0.999
    # MA-PPO from the same start reaches the optimum
    assert abs(ma_ppo(g, K=200, beta=beta).J[-1] - 11.0) < 1e-6


def test_penalty_from_uniform_reaches_b_b():
    res = happo(make_game("penalty"), K=200, beta=0.05, seed=0)
    assert abs(res.J[-1] - 2.0) < 1e-6
    assert abs(ma_ppo(make_game("penalty"), K=200, beta=0.05).J[-1] - 10.0) < 1e-6


def test_two_step_reaches_optimum():
    res = happo(make_game("two_step"), K=100, beta=0.05, seed=0)
    assert abs(res.J[-1] - 0.99 * 8) < 1e-8


# ------------------------------------------------------------------------------------------------------------
# invariants
# ------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(GAMES))
@pytest.mark.parametrize("recompute", [False, True])
def test_J_below_optimum_and_monotone(name, recompute):
    g = GAMES[name]()
    J_star = optimal_value(g).J_star
    res = happo(g, K=40, beta=0.1, recompute=recompute, seed=3)
    assert isinstance(res, TrainingResult)
    assert res.J.shape == (41,) and res.K == 40
    assert abs(res.J_star - J_star) < 1e-12
    assert np.all(res.J <= J_star + 1e-9 * (1 + abs(J_star)))
    # each agent's mirror step has a nonnegative surrogate gain and the gains telescope: J never decreases
    assert np.all(np.diff(res.J) >= -1e-9)
    assert 0 <= res.output_index < 40
    assert len(res.policies) == 41
    for t in res.policies:
        for tab in t.tables:
            assert np.allclose(tab.sum(axis=1), 1.0)


def test_determinism_by_seed():
    g = GAMES["random3"]()
    a = happo(g, K=15, beta=0.2, seed=7)
    b = happo(g, K=15, beta=0.2, seed=7)
    c = happo(g, K=15, beta=0.2, seed=8)
    assert np.array_equal(a.J, b.J)  # exact: the same seed, the same computation in one process
    assert a.params["orders"] == b.params["orders"]
    assert a.output_index == b.output_index
    assert a.params["orders"] != c.params["orders"]
    assert not np.array_equal(a.J, c.J)  # the order matters in a 3-agent Markov game
    rng_run = happo(g, K=15, beta=0.2, seed=np.random.default_rng(7))
    assert np.array_equal(rng_run.J, a.J)  # exact: as above


def test_fresh_random_orders_and_fixed_order():
    g = GAMES["random3"]()
    res = happo(g, K=30, beta=0.2, seed=0)
    orders = res.params["orders"]
    assert len(orders) == 30
    assert all(sorted(o) == [1, 2, 3] for o in orders)  # agents are numbered 1..N
    assert len({tuple(o) for o in orders}) > 1
    fixed = happo(g, K=5, beta=0.2, order=[3, 1, 2])
    assert fixed.params["orders"] == [[3, 1, 2]] * 5


def test_single_agent_equals_mappo():
    g = make_game("random", n_states=4, n_agents=1, n_actions=3, gamma=0.9, seed=2)
    a = happo(g, K=20, beta=0.1)
    b = ma_ppo(g, K=20, beta=0.1)
    assert np.max(np.abs(a.J - b.J)) < 1e-10


# ------------------------------------------------------------------------------------------------------------
# the update against naive enumeration
# ------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["random3", "random2", "two_step"])
def test_target_matches_enumeration(name):
    g = GAMES[name]()
    rng = np.random.default_rng(0)
    N = g.n_agents
    old_logits = [rng.standard_normal((g.n_states, A)) for A in g.action_sizes]
    new_logits = [L + rng.standard_normal(L.shape) for L in old_logits]
    old = [softmax_rows(L) for L in old_logits]
    new = [softmax_rows(L) for L in new_logits]
    V, Q = naive_values(g, old)
    A = Q - V.reshape((-1,) + (1,) * N)
    for agent in range(N):
        others = [j for j in range(N) if j != agent]
        for r in range(len(others) + 1):
            for pred in itertools.combinations(others, r):
                # happo_target numbers agents 1..N; the naive helper works with list positions 0..N-1
                got = happo_target(
                    A, [np.log(p) for p in old], [np.log(p) for p in new], agent + 1, [p + 1 for p in pred]
                )
                want = naive_ratio_target(g, A, old, new, agent, list(pred))
                assert np.max(np.abs(got - want)) < 1e-10


@pytest.mark.parametrize("name", ["random3", "two_step", "climbing"])
@pytest.mark.parametrize("recompute", [False, True])
def test_iteration_matches_naive(name, recompute):
    g = GAMES[name]()
    rng = np.random.default_rng(1)
    logits = [rng.standard_normal((g.n_states, A)) for A in g.action_sizes]
    for order in itertools.permutations(range(g.n_agents)):
        got = happo_iteration(g, logits, 0.7, [i + 1 for i in order], recompute)  # agents 1..N
        want = naive_iteration(g, logits, 0.7, order, recompute)
        for x, y in zip(got, want):
            assert np.max(np.abs(softmax_rows(x) - softmax_rows(y))) < 1e-9


def test_recompute_is_identical_in_matrix_games_and_differs_in_markov_games():
    for name in ("climbing", "penalty"):
        g = GAMES[name]()
        a = happo(g, K=30, beta=0.2, seed=1)
        b = happo(g, K=30, beta=0.2, seed=1, recompute=True)
        # identical in exact arithmetic, two orders of operations here. J is bounded by max|r| = 30 (1e-10 ~ 1e4 ulps);
        # after 30 steps the logits reach ~ K max|r| / beta ~ 4500, whose relative rounding moves p by ~1e-11
        assert np.max(np.abs(a.J - b.J)) < 1e-10
        for ta, tb in zip(a.policies, b.policies):
            assert max(np.max(np.abs(x - y)) for x, y in zip(ta.tables, tb.tables)) < 1e-10
    g = GAMES["random3"]()
    a = happo(g, K=30, beta=0.2, seed=1)
    b = happo(g, K=30, beta=0.2, seed=1, recompute=True)
    assert np.max(np.abs(a.J - b.J)) > 1e-4


# ------------------------------------------------------------------------------------------------------------
# bad input
# ------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs",
    [
        dict(K=0),
        dict(K=2.5),
        dict(K=True),
        dict(beta=0.0),
        dict(beta=-1.0),
        dict(beta=float("nan")),
        dict(beta="x"),
        dict(order="sorted"),
        dict(order=[0, 0]),
        dict(order=[0, 1, 2]),
        dict(order=[0, 1]),  # a 0-based permutation: agents are numbered 1..N
        dict(order=[1, 1]),
        dict(order=[True, 2]),
        dict(order=[1]),
        dict(order=["a", "b"]),
        dict(recompute="yes"),
        dict(recompute=1),
    ],
)
def test_bad_input(kwargs):
    with pytest.raises(MappoLiteError):
        happo(make_game("climbing"), **{"K": 5, **kwargs})


def test_bad_game_and_helpers():
    with pytest.raises(MappoLiteError):
        happo("climbing", K=5)
    g = make_game("climbing")
    A = np.zeros((1, 3, 3))
    lp = [np.log(np.full((1, 3), 1 / 3))] * 2
    for agent, pred in [(3, []), (0, []), (-1, []), (1, [1]), (1, [2, 2]), (2, [0]), (2, [3])]:
        with pytest.raises(MappoLiteError):
            happo_target(A, lp, lp, agent, pred)
    for order in ([0, 0], [0, 1], [1, 1], [2]):
        with pytest.raises(MappoLiteError):
            happo_iteration(g, [np.zeros((1, 3))] * 2, 1.0, order)
    # agent 2 of N = 2 is valid (0-based code would have read it as out of range)
    np.testing.assert_allclose(happo_target(A, lp, lp, 2, [1]), 0.0, atol=0)  # exact: A = 0
