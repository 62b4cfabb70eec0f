"""The exact compact ideal step (improvement.compact_ideal_step, ball_constrained_lstsq): closed forms, KKT conditions, and no Algorithm 3 output beats it on its own population objective."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mappo_lite import evaluate, make_game
from mappo_lite.improvement import ball_constrained_lstsq, compact_ideal_step, policy_improvement_solver
from mappo_lite.policies import ConditionalLogLinearPolicy, project_to_ball
from mappo_lite.policies.families import (
    resolve_features,
)
from mappo_lite.policies.features import all_rows
from mappo_lite.sampling import contexts_of, sample_sigma

# Rounding-level agreement of two computations of the same parameters: relative to their scale.
RTOL = 1e-10


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
