"""The compiled exact solvers (mappo_lite.kernels.exact) against the general code paths they replace.

``ma_ppo(..., fused=True)`` (the default for the ideal tabular step with exact evaluation on a dense game) must give
what the general loop gives (``fused=False``): J(pi_k), every kept iterate, the final parameters, the output index;
with and without a radius, on games of 1 to 3 agents, and it must really take the compiled path. ``optimal_value``
on a dense game (compiled policy iteration) must agree with the same game in sparse form (the Python loop over the
game's sparse operations). Tolerances are relative to the scale of the values, 1/(1 - gamma) * max|r|.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mappo_lite import kernels, ma_ppo, make_game, optimal_value
from mappo_lite.games.sparse import sparse_from_dense
from tests.fixtures import GAME_CASES, make_random_game


def _scale(game) -> float:
    return float(np.max(np.abs(game.r))) / (1.0 - game.gamma) + 1.0


def _assert_same_run(a, b, game):
    tol = 1e-10 * _scale(game)
    np.testing.assert_allclose(a.J, b.J, rtol=0, atol=tol)
    assert a.J_star == pytest.approx(b.J_star, abs=tol)
    assert a.output_index == b.output_index
    assert (a.policies is None) == (b.policies is None)
    if a.policies is not None:
        assert len(a.policies) == len(b.policies)
        for pa, pb in zip(a.policies, b.policies):
            assert pa.n_states == pb.n_states and tuple(pa.action_sizes) == tuple(pb.action_sizes)
            for ta, tb in zip(pa.tables, pb.tables):
                assert ta.shape == tb.shape
                np.testing.assert_allclose(ta, tb, rtol=0, atol=1e-9)
    for ta, tb in zip(a.final_thetas, b.final_thetas):
        np.testing.assert_allclose(ta, tb, rtol=1e-9, atol=1e-9 * (1 + np.max(np.abs(tb))))
    np.testing.assert_array_equal(a.eps, b.eps)
    np.testing.assert_array_equal(a.xi, b.xi)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    case=st.sampled_from(GAME_CASES),
    K=st.integers(1, 25),
    beta=st.sampled_from([0.01, 0.1, 1.0]),
    radius=st.sampled_from([math.inf, 5.0, 0.5]),
    keep=st.booleans(),
    seed=st.integers(0, 2**31 - 1),
)
def test_fused_run_equals_the_general_loop(case, K, beta, radius, keep, seed):
    game = make_random_game(case)
    kw = dict(K=K, beta=beta, radius=radius, keep_policies=keep, seed=seed, J_star=0.0)
    _assert_same_run(ma_ppo(game, fused=True, **kw), ma_ppo(game, fused=False, **kw), game)


@pytest.mark.parametrize("name", ["climbing", "two_step", "penalty"])
def test_fused_run_equals_the_general_loop_on_the_books_games(name):
    game = make_game(name)
    a, b = ma_ppo(game, K=100, beta=0.1), ma_ppo(game, K=100, beta=0.1, fused=False)
    _assert_same_run(a, b, game)
    assert a.J[-1] > a.J[0]


def test_fused_path_is_taken_exactly_where_it_applies(monkeypatch):
    calls = []
    real = kernels.mappo_exact_ideal

    def spy(*args):
        calls.append(args[7])  # K
        return real(*args)

    monkeypatch.setattr(kernels, "mappo_exact_ideal", spy)
    game = make_game("climbing")
    ma_ppo(game, K=7)
    assert calls == [7]
    ma_ppo(game, K=3, fused=False)
    ma_ppo(game, K=3, solver="sgd", T=20)
    ma_ppo(game, K=3, evaluation="mc", n_rollouts=2)
    ma_ppo(game, K=3, features="product")
    ma_ppo(sparse_from_dense(game), K=3, solver="sgd", evaluation="mc", T=20, n_rollouts=2)
    assert calls == [7]


def test_fused_run_matches_under_the_numpy_twins():
    game = make_random_game(GAME_CASES[2])
    a = ma_ppo(game, K=12, beta=0.05, radius=2.0)
    with kernels.numpy_twins():
        b = ma_ppo(game, K=12, beta=0.05, radius=2.0)
    _assert_same_run(a, b, game)


def test_fused_policies_are_independent_of_each_other():
    """The kept iterates are views of one array: each is still the table of its own iterate."""
    game = make_game("climbing")
    res = ma_ppo(game, K=5, beta=0.1)
    first = [t.copy() for t in res.policies[0].tables]
    for t in first:
        np.testing.assert_allclose(t, 1.0 / t.shape[1], rtol=1e-12)  # pi_0 is uniform
    assert not np.allclose(res.policies[-1].tables[0], first[0])


@pytest.mark.parametrize("case", GAME_CASES, ids=lambda c: f"seed{c[0]}")
@pytest.mark.parametrize("gamma", [None, 0.99])
def test_compiled_policy_iteration_equals_the_sparse_loop(case, gamma):
    game = make_random_game(case if gamma is None else (*case[:3], gamma))
    dense, sparse = optimal_value(game), optimal_value(sparse_from_dense(game))
    tol = 1e-10 * _scale(game)
    np.testing.assert_allclose(dense.V_star, sparse.V_star, rtol=0, atol=tol)
    assert dense.J_star == pytest.approx(sparse.J_star, abs=tol)
    # both greedy joint actions are optimal (ties may pick different ones): their Q* equals V* within tolerance
    for sol in (dense, sparse):
        flat = np.ravel_multi_index(tuple(sol.greedy.T), game.action_sizes)
        q = dense.Q_star.reshape(game.n_states, -1)[np.arange(game.n_states), flat]
        np.testing.assert_allclose(q, dense.V_star, rtol=0, atol=tol)
    # V* is the fixed point of the Bellman optimality operator
    Q = game.r_flat + game.gamma * game.P_flat @ dense.V_star
    np.testing.assert_allclose(Q.max(axis=1), dense.V_star, rtol=0, atol=tol)


def test_compiled_policy_iteration_reports_non_convergence():
    from mappo_lite import MappoLiteError
    from mappo_lite.games.catalogue import gridworld

    game = gridworld(width=3, height=3, n_agents=2)  # dense: the compiled path; needs several evaluations
    sol = optimal_value(game)
    assert sol.iterations >= 2
    assert sol.J_star == pytest.approx(optimal_value(sparse_from_dense(game)).J_star, abs=1e-10 * _scale(game))
    with pytest.raises(MappoLiteError, match="did not converge in 1 iterations"):
        optimal_value(game, max_iter=1)


@pytest.mark.parametrize("name", ["climbing", "two_step"])
def test_fused_run_reports_divergence_as_the_general_loop_does(name):
    """A penalty so small that Q/beta_k overflows: both paths raise the same error (no LinAlgError from NaN)."""
    from mappo_lite import MappoLiteError

    game = make_game(name)
    messages = []
    for fused in (True, False):
        with pytest.raises(MappoLiteError, match="NaN or infinite") as info, np.errstate(over="ignore"):
            ma_ppo(game, K=3, beta=5e-324, fused=fused)
        messages.append(str(info.value))
    assert messages[0] == messages[1]
