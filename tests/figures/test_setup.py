"""Tests for mappo_lite.figures.setup (chapter "Setup")."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from matplotlib.figure import Figure

from mappo_lite import evaluate, make_game
from mappo_lite.errors import MappoLiteError
from mappo_lite.figures import setup as su

# ------------------------------------------------------------------------------------------------ visitation


def test_stationary_distribution():
    rng = np.random.default_rng(0)
    P = rng.dirichlet(np.ones(5), size=5)
    mu = su.stationary_distribution(P)
    assert mu.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(mu @ P, mu, atol=1e-12)
    assert np.all(mu > 0)
    # a chain that alternates between two states: uniform
    np.testing.assert_allclose(su.stationary_distribution([[0.0, 1.0], [1.0, 0.0]]), [0.5, 0.5], atol=1e-12)
    with pytest.raises(MappoLiteError):
        su.stationary_distribution([[0.5, 0.4], [0.5, 0.5]])


def test_visitation_game_depends_on_seed_not_gamma():
    a, b = su.visitation_game(0.1, 4, 3), su.visitation_game(0.95, 4, 3)
    np.testing.assert_array_equal(a.P, b.P)  # exact: P and r are drawn from the seed, gamma is not used
    np.testing.assert_array_equal(a.r, b.r)  # exact: as above
    np.testing.assert_array_equal(a.rho, [1.0, 0.0, 0.0, 0.0])  # exact: set by construction
    assert not np.array_equal(su.visitation_game(0.1, 4, 4).P, a.P)


@pytest.mark.parametrize("gamma", [0.0, 0.3, 0.9, 0.99])
def test_visitation_data_identities(gamma):
    d = su.visitation_data(gamma)
    game = d["game"]
    assert d["nu"].sum() == pytest.approx(1.0, abs=1e-12)
    # nu^T = (1 - gamma) rho^T (I - gamma P_pi)^{-1}, computed here from the definition
    P_pi = game.P.mean(axis=(1, 2))  # uniform policy on 2 x 2 actions
    r_pi = game.r.mean(axis=(1, 2))
    nu = (1 - gamma) * np.linalg.solve((np.eye(game.n_states) - gamma * P_pi).T, game.rho)
    np.testing.assert_allclose(d["nu"], nu, atol=1e-12)
    np.testing.assert_allclose(d["r_pi"], r_pi, atol=1e-12)
    # J = nu . r_pi / (1 - gamma) and scaled_V = (1 - gamma) V
    assert d["J"] == pytest.approx(float(d["nu"] @ r_pi) / (1 - gamma), rel=1e-12)
    np.testing.assert_allclose(d["scaled_V"], (1 - gamma) * d["V"], atol=1e-12)
    assert d["average_reward"] == pytest.approx(float(d["mu"] @ r_pi))


def test_visitation_limits():
    d0 = su.visitation_data(0.0)
    np.testing.assert_allclose(d0["nu"], d0["rho"], atol=1e-12)
    np.testing.assert_allclose(d0["scaled_V"], d0["r_pi"], atol=1e-12)
    d1 = su.visitation_data(0.9999)
    assert np.abs(d1["nu"] - d1["mu"]).sum() < 1e-3
    assert np.max(np.abs(d1["scaled_V"] - d1["average_reward"])) < 1e-3
    # closer to the limit as gamma grows
    dists = [np.abs(su.visitation_data(g)["nu"] - d1["mu"]).sum() for g in (0.5, 0.9, 0.99)]
    assert dists == sorted(dists, reverse=True)


def test_visitation_data_rejects_bad_gamma():
    for gamma in (1.0, -0.1):
        with pytest.raises(MappoLiteError):
            su.visitation_data(gamma)


def test_visitation_figure():
    fig = su.visitation_figure(0.5, n_states=4, seed=1)
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    assert len(fig.axes[0].patches) == 3 * 4  # rho, nu, mu bars
    assert all(ax.get_xlabel() and ax.get_ylabel() for ax in fig.axes)


# ------------------------------------------------------------------------------------------------ two-step game


def _closed_form(p, q, u, gamma=0.99):
    return gamma * ((1 - p) * 7 + p * (u * (1 - q) + (1 - u) * q + 8 * u * q))


def test_two_step_policy_matches_closed_form():
    game = make_game("two_step")
    rng = np.random.default_rng(0)
    for _ in range(20):
        p, q, u = rng.random(3)
        assert evaluate(game, su.two_step_policy(p, q, u)).J == pytest.approx(_closed_form(p, q, u), abs=1e-12)
    with pytest.raises(MappoLiteError):
        su.two_step_policy(1.2, 0.5, 0.5)


@pytest.mark.parametrize("u", [1.0, 0.95, 0.5])
def test_two_step_grid(u):
    d = su.two_step_grid(u=u, n=11)
    assert d["J"].shape == (11, 11)
    P_, Q_ = np.meshgrid(d["p"], d["q"])
    np.testing.assert_allclose(d["J"], _closed_form(P_, Q_, u), atol=1e-12)
    assert d["safe"] == pytest.approx(7 * 0.99) and d["J_star"] == pytest.approx(8 * 0.99)
    assert np.all(d["J"] <= d["J_star"] + 1e-12)
    # 2B beats 2A exactly above the threshold (for p > 0)
    q_star = su.two_step_threshold(u)
    better = d["J"][:, 1:] > d["safe"] + 1e-12
    expected = np.broadcast_to((d["q"] > q_star + 1e-12)[:, None], better.shape)
    np.testing.assert_array_equal(better, expected)
    if u < 6 / 7:
        assert q_star > 1 and not better.any()


def test_two_step_threshold_values():
    assert su.two_step_threshold(1.0) == pytest.approx(6 / 7)
    assert su.two_step_threshold(6 / 7) == pytest.approx(1.0)


def test_two_step_figure():
    fig = su.two_step_figure(u=1.0, n=5)
    assert isinstance(fig, Figure) and len(fig.axes) == 2  # heatmap + colorbar
    assert len(fig.axes[0].get_lines()) == 2  # threshold line + optimum marker
    fig = su.two_step_figure(u=0.5, n=5)
    assert len(fig.axes[0].get_lines()) == 1  # no threshold when 2B cannot beat 2A
    with pytest.raises(MappoLiteError):
        su.two_step_grid(n=1)
