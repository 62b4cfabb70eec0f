"""Tests for mappo_lite.figures.coordination (chapter "Why multi-agent policy optimization is hard")."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from matplotlib.figure import Figure

from mappo_lite import make_game
from mappo_lite.errors import MappoLiteError
from mappo_lite.figures import coordination as co
from mappo_lite.games.catalogue import CLIMBING

K = 200


@pytest.fixture(scope="module")
def climb():
    return co.run_climbing_comparison(K=K, beta=0.05, eta=0.5, seed=0)


# ------------------------------------------------------------------------------------------------ sizes


def test_joint_action_growth_matches_the_formulas():
    S, A, N_max = 3, 4, 4
    d = co.joint_action_growth(n_states=S, n_actions=A, N_max=N_max)
    N = np.arange(1, N_max + 1)
    np.testing.assert_array_equal(d["N"], N)
    np.testing.assert_array_equal(d["joint_actions"], A**N)
    np.testing.assert_array_equal(d["P_bytes"], S * A**N * S * 8)
    np.testing.assert_array_equal(d["joint_policy"], S * A**N)
    np.testing.assert_array_equal(d["product_policy"], S * N * A)
    np.testing.assert_array_equal(d["conditional_policy"], S * A * (A**N - 1) // (A - 1))
    # the conditional tables are never smaller than the joint table
    assert np.all(d["conditional_policy"] >= d["joint_policy"])


def test_joint_action_growth_refuses_huge_games():
    with pytest.raises(MappoLiteError):
        co.joint_action_growth(n_states=100, n_actions=10, N_max=6)
    with pytest.raises(MappoLiteError):
        co.joint_action_growth(N_max=0)


def test_plot_joint_action_growth():
    fig = co.plot_joint_action_growth(co.joint_action_growth(n_states=2, n_actions=3, N_max=3))
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    assert len(fig.axes[0].get_lines()) == 4
    assert fig.axes[0].get_yscale() == "log" and fig.axes[1].get_yscale() == "log"


# ------------------------------------------------------------------------------------------------ climbing


def test_climbing_comparison_shapes_and_claims(climb):
    assert set(climb["J"]) == set(co.LEARNERS)
    for name in co.LEARNERS:
        assert climb["J"][name].shape == (K + 1,)
        assert climb["J"][name][0] == pytest.approx(np.mean(CLIMBING))  # every learner starts uniform
        assert np.all(climb["J"][name] <= 11.0 + 1e-9)  # J* - J >= 0
    assert climb["J_star"] == pytest.approx(11.0)
    assert climb["J"]["MA-PPO"][-1] == pytest.approx(11.0, abs=1e-6)
    assert climb["J"]["independent NPG"][-1] == pytest.approx(7.0, abs=1e-6)
    assert 5.9 < climb["J"]["independent PG"][-1] < 6.0 + 1e-9
    assert climb["references"] == {
        "optimum (a,a) = 11": 11.0,
        "equilibrium (b,b) = 7": 7.0,
        "(b,c) = 6, not an equilibrium": 6.0,
    }


def test_climbing_comparison_is_reproducible(climb):
    again = co.run_climbing_comparison(K=K, beta=0.05, eta=0.5, seed=0)
    for name in co.LEARNERS:
        np.testing.assert_array_equal(again["J"][name], climb["J"][name])  # exact: the same computation twice


def test_independent_npg_passes_the_plateaus_5_6_7(climb):
    J = climb["J"]["independent NPG"]
    for level in (5.0, 6.0, 7.0):
        assert np.any(np.abs(J - level) < 1e-3), level
    # in this order
    first = [int(np.argmax(np.abs(J - level) < 1e-3)) for level in (5.0, 6.0, 7.0)]
    assert first == sorted(first)


def test_relabelling_agents_leaves_the_independent_learners_unchanged(climb):
    swapped = co.run_comparison(make_game("climbing").relabel_agents([2, 1]), K=K, beta=0.05, eta=0.5)
    # the same iterations with the sums over the other axis: J is bounded by max|r| = 30, 1e-10 is ~1.5e4 ulps of it
    np.testing.assert_allclose(swapped["J"]["independent NPG"], climb["J"]["independent NPG"], atol=1e-10)
    np.testing.assert_allclose(swapped["J"]["independent PG"], climb["J"]["independent PG"], atol=1e-10)
    assert swapped["J"]["MA-PPO"][-1] == pytest.approx(11.0, abs=1e-4)


def test_agent1_action_values(climb):
    av = co.agent1_action_values(climb)
    uniform_marginal = CLIMBING.mean(axis=1)  # (-19/3, -17/3, 5/3)
    for name in ("independent NPG", "MA-PPO"):
        assert av["values"][name].shape == (K + 1, 3)
        np.testing.assert_allclose(av["values"][name][0], uniform_marginal, atol=1e-12)
        np.testing.assert_allclose(av["probs"][name].sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(av["values"]["MA-PPO"][-1], [11.0, 7.0, 5.0], atol=1e-6)
    np.testing.assert_allclose(av["values"]["independent NPG"][-1], [-30.0, 7.0, 0.0], atol=1e-6)
    assert np.argmax(av["probs"]["MA-PPO"][-1]) == 0 and np.argmax(av["probs"]["independent NPG"][-1]) == 1
    # J(pi_k) = sum_a pi^1(a) Q^{1:1}(a) for MA-PPO
    J_rebuilt = (av["probs"]["MA-PPO"] * av["values"]["MA-PPO"]).sum(axis=1)
    np.testing.assert_allclose(J_rebuilt, climb["J"]["MA-PPO"], atol=1e-9)


def test_agent1_action_values_refuses_other_games():
    data = co.run_comparison(make_game("two_step"), K=2)
    with pytest.raises(MappoLiteError):
        co.agent1_action_values(data)


def test_plots(climb):
    fig = co.plot_learning_curves(climb)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    # three learners + three reference lines
    assert len(ax.get_lines()) == 6
    assert ax.get_xlabel() and ax.get_ylabel() and ax.get_legend() is not None
    fig2 = co.plot_agent1_action_values(co.agent1_action_values(climb))
    assert len(fig2.axes) == 2 and all(len(a.get_lines()) == 3 for a in fig2.axes)


# ------------------------------------------------------------------------------------------------ penalty


@pytest.mark.parametrize("k, expected", [(-4.0, 3.0), (0.0, 5.0), (-10.0, 2.0), (-20.0, 2.0)])
def test_penalty_game(k, expected):
    data = co.run_penalty_comparison(k=k)
    assert data["J"]["MA-PPO"][-1] == pytest.approx(10.0, abs=1e-6)
    assert data["J"]["independent NPG"][-1] == pytest.approx(expected, abs=1e-3)
    assert max(data["J"]["independent PG"][-1], data["J"]["independent NPG"][-1]) < 9.0
    assert ("a/c half-half: 5 + k/2 = " + f"{5 + k / 2:g}" in data["references"]) == (k > -8)


def test_comparison_figure():
    assert isinstance(co.comparison_figure("penalty", k=-3.0, K=20), Figure)
    assert isinstance(co.comparison_figure("climbing", K=20), Figure)
    with pytest.raises(MappoLiteError):
        co.comparison_figure("ratio")
