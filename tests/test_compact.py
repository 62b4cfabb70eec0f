"""Compact log-linear policies in MA-PPO: the exact compact ideal step, realizable and non-realizable feature
families, the feature maps themselves, and independent learners with the same features (issue 13)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import GAME_CASES, case_id, make_random_game

from mappo_lite import ArrayFeatures, MappoLiteError, TabularFeatures, evaluate, independent_npg, ma_ppo, make_game
from mappo_lite.compact_step import ball_constrained_lstsq, compact_ideal_step
from mappo_lite.feature_maps import (
    ActionBlockFeatures,
    CallableFeatures,
    aggregated_features,
    all_rows,
    feature_rows,
    gridworld_features,
    lifted_game,
    match_features,
    product_features,
    resolve_features,
)
from mappo_lite.policies import ConditionalLogLinearPolicy, context_counts, project_to_ball
from mappo_lite.sampling import contexts_of, sample_sigma
from mappo_lite.solver import policy_improvement_solver

# Rounding-level agreement of two computations of the same parameters: relative to their scale.
RTOL = 1e-10


def _one_hot_as_compact(game):
    counts = context_counts(game.n_states, game.action_sizes)
    return [ArrayFeatures(TabularFeatures(c, A).dense()) for c, A in zip(counts, game.action_sizes)]


@pytest.mark.parametrize("case", GAME_CASES, ids=case_id)
def test_tabular_via_compact_reproduces_tabular_ideal_step(case):
    game = make_random_game(case)
    tab = ma_ppo(game, K=15, beta=0.1)
    comp = ma_ppo(game, K=15, beta=0.1, features=_one_hot_as_compact(game))
    for a, b in zip(tab.final_thetas, comp.final_thetas):
        np.testing.assert_allclose(b, a, rtol=0, atol=RTOL * max(1.0, np.abs(a).max()))
    scale = float(np.abs(game.r).max()) / (1 - game.gamma)
    np.testing.assert_allclose(comp.J, tab.J, rtol=0, atol=RTOL * scale)
    # the class realizes the mirror step: the residual is rounding of the targets Q / beta_k
    assert comp.eps.max() <= RTOL * scale / tab.params["beta_k"]


def test_compact_step_single_step_against_closed_forms():
    rng = np.random.default_rng(3)
    n = 12
    theta, q, beta = 0.3 * rng.standard_normal(n), 5 * rng.standard_normal(n), 2.0
    w = rng.random(n) + 0.1
    new, eps = compact_ideal_step(np.eye(n), theta, q, beta, w, math.inf)
    np.testing.assert_allclose(new, theta + q / beta, rtol=0, atol=RTOL * np.abs(theta + q / beta).max())
    assert eps <= RTOL * np.abs(q / beta).max()
    # uniform weights, one-hot features: the constrained minimizer is the Euclidean projection
    for R in (3.0, 0.5):
        new, _ = compact_ideal_step(np.eye(n), theta, q, beta, np.ones(n), R)
        np.testing.assert_allclose(new, project_to_ball(theta + q / beta, R), rtol=0, atol=RTOL * R)


@pytest.mark.parametrize("R", [0.05, 0.3, 1.0, 100.0])
def test_ball_constrained_lstsq_satisfies_kkt(R):
    rng = np.random.default_rng(int(R * 100))
    A, b = rng.standard_normal((40, 6)), rng.standard_normal(40)
    x = ball_constrained_lstsq(A, b, R)
    grad = A.T @ (A @ x - b)
    scale = np.abs(A).max() * (np.abs(A).max() * np.abs(x).sum() + np.abs(b).max()) * A.shape[0]
    nx = np.linalg.norm(x)
    assert nx <= R * (1 + 1e-12)
    if nx < R * (1 - 1e-9):  # interior: the unconstrained least-squares solution
        assert np.abs(grad).max() <= 1e-10 * scale
    else:  # boundary: grad = -lambda x with lambda >= 0
        lam = -(grad @ x) / (nx * nx)
        assert lam >= -1e-10 * scale / R
        assert np.abs(grad + lam * x).max() <= 1e-9 * scale
    # no point of the ball does better (random points and the Euclidean projection of lstsq)
    f = lambda t: float(np.sum((A @ t - b) ** 2))  # noqa: E731
    best = f(x)
    for _ in range(200):
        y = rng.standard_normal(6)
        y *= R * rng.random() ** (1 / 6) / np.linalg.norm(y)
        assert f(y) >= best - 1e-12 * max(1.0, best)
    assert f(project_to_ball(np.linalg.lstsq(A, b, rcond=None)[0], R)) >= best - 1e-12 * max(1.0, best)


def test_compact_ideal_step_is_a_lower_bound_for_algorithm3():
    """The ideal step minimizes Algorithm 3's population objective over the ball: no SGD output beats it."""
    game = make_game("random", n_states=4, n_agents=2, n_actions=3, seed=5)
    feats = resolve_features(game, "random:5", seed=1)
    R = 2.0
    pol = ConditionalLogLinearPolicy.for_game(game, feats, radius=R)
    ev = evaluate(game, pol)
    beta_k = 1.0
    for m in (1, 2):
        rows = all_rows(feats[m - 1])
        w = ev.sigma_agent(m).reshape(-1)
        q = ev.q_local[m].reshape(-1)
        theta_k = np.zeros(rows.shape[1])
        best, eps = compact_ideal_step(rows, theta_k, q, beta_k, w, R)
        loss = lambda t: float(np.sum(w * (rows @ (t - theta_k) - q / beta_k) ** 2) / w.sum())  # noqa: E731
        assert eps == pytest.approx(math.sqrt(loss(best)), rel=1e-10)
        rng = np.random.default_rng(m)
        for T in (100, 1000, 10000):
            s, a = sample_sigma(ev.nu, ev.tables, T, rng)
            ctx = contexts_of(s, a, game.action_sizes, m)
            q_at = ev.q_local[m][(s,) + tuple(a[:, i] for i in range(m))]
            sgd = policy_improvement_solver(feats[m - 1], theta_k, ctx, a[:, m - 1], q_at, beta_k, 0.25, R)
            assert loss(sgd) >= loss(best) * (1 - 1e-10)


def _lifted(name):
    if name == "climbing":
        return lifted_game(make_game("climbing"), 3, seed=0)
    return lifted_game(make_game("random", n_states=4, n_agents=2, n_actions=3, seed=1), [2, 3, 1, 2], seed=0)


@pytest.mark.parametrize("name, K, beta", [("climbing", 100, 0.1), ("random", 100, 0.02)])
def test_realizable_compact_features_reach_J_star(name, K, beta):
    game, blocks = _lifted(name)
    feats = aggregated_features(game, blocks)
    tab_dims = [c * A for c, A in zip(context_counts(game.n_states, game.action_sizes), game.action_sizes)]
    assert all(f.dim < d for f, d in zip(feats, tab_dims))  # compact: fewer parameters than the table
    res = ma_ppo(game, K=K, beta=beta, features=feats)
    scale = max(1.0, abs(res.J_star))
    assert res.J_star - res.J[-1] <= 1e-6 * scale
    assert np.all(res.gap >= -1e-10 * scale)
    # realizable: the projection residual is rounding of the targets
    q_scale = float(np.abs(game.r).max()) / max(1 - game.gamma, 1e-12) / res.params["beta_k"]
    assert res.eps.max() <= 1e-9 * max(1.0, q_scale)


def test_non_realizable_features_plateau_above_stated_level():
    climb = make_game("climbing")  # optimum 11; product policies are caught at (b,b) = 7 from uniform
    for K in (100, 400):
        res = ma_ppo(climb, K=K, beta=0.1, features="product")
        assert res.J_star - res.J[-1] >= 4.0 * (1 - 1e-9)
        # the class cannot fit Q^{1:2}: a genuine approximation error along the way (sigma-weighted, so it fades
        # once the policy is deterministic and sigma sits on one joint action)
        assert res.eps.max() >= 1.0
    # the same game with one "copy agent 1" feature reaches the optimum although eps > 0
    res = ma_ppo(climb, K=100, beta=0.1, features="match")
    assert res.J_star - res.J[-1] <= 1e-6 * res.J_star
    assert res.eps.max() >= 1.0
    # random features of low dimension on a random game: a floor that more iterations do not remove
    game = make_game("random", n_states=4, n_agents=2, n_actions=3, seed=1)
    gaps = [ma_ppo(game, K=K, beta=0.1, features="random:4", seed=0).gap[-1] for K in (100, 300)]
    assert min(gaps) >= 0.05 * ma_ppo(game, K=2).J_star


def test_sgd_with_measured_approximation_floor():
    game = make_game("random", n_states=3, n_agents=2, n_actions=2, seed=2)
    res = ma_ppo(game, K=5, beta=0.2, solver="sgd", features="random:3", T=400, measure_approx=True, seed=1)
    assert res.eps_approx.shape == (5, 2)
    # Algorithm 3's in-sample fit can go below the population floor only by the sampling error; the floor is > 0
    assert res.eps_approx.min() > 0
    assert np.all(np.isfinite(res.eps))


def test_independent_npg_with_product_features_is_the_tabular_baseline():
    for game in (make_game("climbing"), make_game("random", n_states=4, n_agents=2, n_actions=3, seed=1)):
        # K = 30: before the policies saturate; past that, actions whose sigma_k weight is below RCOND^2 of the
        # largest are left unchanged by the weighted projection (as Algorithm 3 never samples them), while the
        # tabular step still moves them
        a = independent_npg(game, K=30, beta=0.1)
        b = independent_npg(game, K=30, beta=0.1, features="product")
        scale = float(np.abs(game.r).max()) / max(1 - game.gamma, 1e-12)
        np.testing.assert_allclose(b.J, a.J, rtol=0, atol=1e-10 * scale)


def test_independent_npg_refuses_features_that_see_the_prefix():
    with pytest.raises(MappoLiteError, match="ignore the other agents"):
        independent_npg(make_game("climbing"), K=2, features="match")


def test_feature_families_dimensions_and_norms():
    climb = make_game("climbing")
    assert [f.dim for f in product_features(climb)] == [3, 3]
    assert [f.dim for f in match_features(climb)] == [3, 4]
    for f in match_features(climb) + product_features(climb):
        assert np.linalg.norm(f.dense(), axis=-1).max() <= 1 + 1e-12
    grid = make_game("gridworld", width=3, height=3, n_agents=2)
    feats = gridworld_features(grid)
    assert [f.dim for f in feats] == [5 * (1 + 4 + 16), 5 * (1 + 4 + 16 + 5)]
    for f in feats:
        phi = f.dense()
        assert np.linalg.norm(phi, axis=-1).max() <= 1 + 1e-12
        # the fast block logits equal the generic rows times theta
        theta = np.random.default_rng(0).standard_normal(f.dim)
        np.testing.assert_allclose(f.logits(theta), phi @ theta, rtol=0, atol=1e-12 * np.abs(theta).sum())
    blind = gridworld_features(grid, prefix=False)
    assert blind[1].dim == 5 * 21


def test_callable_features_check_or_normalize_norms():
    game = make_game("climbing")
    big = lambda s, prefix, a: np.stack([2.0 + 0 * a, 1.0 * a], axis=1)  # noqa: E731
    with pytest.raises(MappoLiteError, match="norm at most 1"):
        CallableFeatures(big, game.n_states, game.action_sizes, 1, 2)
    f = CallableFeatures(big, game.n_states, game.action_sizes, 1, 2, normalize=True)
    assert np.linalg.norm(f.dense(), axis=-1).max() == pytest.approx(1.0, rel=1e-12)
    bad = lambda s, prefix, a: np.zeros((s.shape[0], 3))  # noqa: E731
    with pytest.raises(MappoLiteError, match="shape"):
        CallableFeatures(bad, game.n_states, game.action_sizes, 1, 2)
    with pytest.raises(MappoLiteError, match="unknown features"):
        resolve_features(game, "nonsense")
    # rows agree with the dense array for every family
    for f in match_features(game):
        ctx = np.arange(f.n_contexts).repeat(f.n_actions)
        act = np.tile(np.arange(f.n_actions), f.n_contexts)
        np.testing.assert_array_equal(feature_rows(f, ctx, act), f.dense().reshape(-1, f.dim))  # exact: same rows


def test_block_features_psi_norm_checked():
    game = make_game("climbing")
    with pytest.raises(MappoLiteError, match="norm at most 1"):
        ActionBlockFeatures(lambda s, p: np.full((s.shape[0], 2), 1.0), 1, game.action_sizes, 1, 2)


def test_lifted_game_has_the_base_optimum():
    for name in ("climbing", "random"):
        game, blocks = _lifted(name)
        base = make_game("climbing") if name == "climbing" else make_game("random", n_states=4, n_agents=2,
                                                                          n_actions=3, seed=1)
        from mappo_lite import optimal_value

        assert optimal_value(game).J_star == pytest.approx(optimal_value(base).J_star, rel=1e-10, abs=1e-10)
        assert blocks.shape == (game.n_states,)


def test_happo_with_product_features_is_tabular_happo():
    from mappo_lite.happo import happo

    for game in (make_game("climbing"), make_game("random", n_states=3, n_agents=3, n_actions=2, seed=2)):
        a = happo(game, K=25, beta=0.1, seed=3)
        b = happo(game, K=25, beta=0.1, seed=3, features="product")
        assert a.params["orders"] == b.params["orders"]  # exact: the same seeded permutations
        scale = float(np.abs(game.r).max()) / max(1 - game.gamma, 1e-12)
        np.testing.assert_allclose(b.J, a.J, rtol=0, atol=1e-10 * scale)
    with pytest.raises(MappoLiteError, match="ignore the other agents"):
        happo(make_game("climbing"), K=2, features="match")
    with pytest.raises(MappoLiteError, match="recompute"):
        happo(make_game("climbing"), K=2, features="product", recompute=True)


def test_happo_with_compact_random_features_runs_below_J_star():
    from mappo_lite.happo import happo

    game = make_game("random", n_states=4, n_agents=2, n_actions=3, seed=1)
    rng = np.random.default_rng(0)
    mix = []
    for m, A in enumerate(game.action_sizes, start=1):
        M = rng.standard_normal((game.n_states * A, 4))
        M /= np.linalg.norm(M, axis=1, keepdims=True)  # 4 random features of (s, a^m), blind to the prefix
        mix.append(CallableFeatures(lambda s, p, a, M=M, A=A: M[s * A + a], game.n_states, game.action_sizes, m, 4))
    res = happo(game, K=30, beta=0.1, features=mix, seed=0)
    assert np.all(res.gap >= -1e-10 * res.J_star) and res.eps.max() > 0


def test_cli_train_accepts_feature_families(capsys):
    import json

    from mappo_lite.cli import main

    main(["train", "climbing", "--K", "40", "--features", "match", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert out["J_final"] == pytest.approx(11.0, rel=1e-6)
    assert main(["train", "climbing", "--K", "4", "--features", "nonsense"]) != 0
    assert "unknown --features" in capsys.readouterr().err
