"""Tests for mappo_lite.figures.theorem1 (chapter 6: Theorem 1, measured gaps, the regret identity)."""

from __future__ import annotations

import io
import math

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from matplotlib.figure import Figure

from mappo_lite import ma_ppo, optimal_value
from mappo_lite.errors import MappoLiteError
from mappo_lite.figures import theorem1 as t1
from mappo_lite.policies.conditional import uniform_tables
from mappo_lite.theory import reward_range_ok, theorem1_rate

SMALL_KS = (10, 30, 100)


@pytest.fixture(scope="module")
def random_game():
    return t1.unit_game(dict(name="random", n_states=4, n_agents=2, n_actions=3, gamma=0.8, seed=3))


@pytest.fixture(scope="module")
def small_sweep(random_game):
    return t1.gap_vs_K([random_game, "climbing"], Ks=SMALL_KS, beta=0.1)


# ------------------------------------------------------------------------------------------------ closed forms
@pytest.mark.parametrize("gamma, A", [(0.0, 2), (0.5, 3), (0.9, 4)])
def test_best_beta_minimizes_the_explicit_constant(gamma, A):
    b = t1.best_beta(gamma, A)
    c_star = float(t1.explicit_constant(gamma, A, b))
    assert c_star == pytest.approx(1 / (math.sqrt(2) * (1 - gamma)), rel=1e-12)
    for f in (0.5, 0.9, 1.1, 2.0):
        assert float(t1.explicit_constant(gamma, A, f * b)) > c_star


@pytest.mark.parametrize("N, gamma, A, K, beta", [(2, 0.9, 3, 100, 0.1), (3, 0.0, 2, 7, 1.5), (1, 0.5, 4, 1000, 0.02)])
def test_explicit_bound_is_constant_times_rate(N, gamma, A, K, beta):
    bound = float(t1.explicit_bound(N, gamma, A, K, beta))
    direct = N / ((1 - gamma) * math.sqrt(K)) * (beta * math.log(A) + 1 / (8 * beta * (1 - gamma) ** 2))
    assert bound == pytest.approx(direct, rel=1e-12)
    assert bound == pytest.approx(
        float(t1.explicit_constant(gamma, A, beta) * theorem1_rate(N, gamma, A, K)), rel=1e-12
    )


def test_explicit_bound_rejects_bad_input():
    with pytest.raises(MappoLiteError):
        t1.explicit_bound(2, 1.0, 3, 10, 0.1)
    with pytest.raises(MappoLiteError):
        t1.explicit_bound(2, 0.5, 3, 10, 0.0)


def test_fit_loglog_recovers_a_power_law():
    x = np.array([10.0, 30.0, 100.0, 1000.0])
    p, C = t1.fit_loglog(x, 2.5 * x**-0.7)
    assert p == pytest.approx(-0.7, abs=1e-12) and C == pytest.approx(2.5, rel=1e-12)
    with pytest.raises(MappoLiteError):
        t1.fit_loglog([1.0, 2.0], [1.0, -1.0])
    with pytest.raises(MappoLiteError):
        t1.fit_loglog([1.0], [1.0])


def test_excess_constant():
    errors = np.array([0.01, 0.04, 1.0])
    gaps = 0.1 + np.array([0.02, 0.1, 0.3])  # excess / sqrt(error) = 0.2, 0.5, 0.3
    assert t1.excess_constant(errors, gaps, 0.1) == pytest.approx(0.5)
    assert (
        t1.excess_constant(errors, np.full(3, 0.05), 0.1) == 0.0
    )  # exact: max(., 0) clips to 0.0; gaps below the exact gap: no excess


# ------------------------------------------------------------------------------------------------ games
def test_unit_game_rescales_climbing_and_keeps_the_optimum_consistent():
    g = t1.unit_game("climbing")
    assert reward_range_ok(g) and g.r.min() == 0.0 and g.r.max() == 1.0  # exact: (r - lo) / (hi - lo) at lo and hi
    assert g.meta["optimum"] == pytest.approx(optimal_value(g).J_star, abs=1e-12)
    assert g.meta["optimum"] == pytest.approx(1.0)


def test_unit_game_leaves_unit_rewards_alone_and_rejects_bad_specs(random_game):
    assert t1.unit_game(random_game) is random_game
    with pytest.raises(MappoLiteError):
        t1.unit_game(3.0)
    with pytest.raises(MappoLiteError):
        t1.unit_game("ratio")  # gamma = 1: outside Theorem 1


def test_default_games_have_unit_rewards_and_gamma_below_one():
    games = t1.default_games()
    assert len(games) == 6
    for g in games:
        assert reward_range_ok(g) and 0 <= g.gamma < 1


# ------------------------------------------------------------------------------------------------ identity [ours]
def test_regret_identity_is_exact_and_H_is_between_zero_and_hoeffding(random_game):
    dec = t1.regret_decomposition(random_game, K=40, beta=0.1)
    assert dec["residual"] < 1e-10
    assert dec["kl_part"] + dec["h_part"] == pytest.approx(dec["average_gap"], abs=1e-10)
    assert np.all(dec["h"] >= -1e-14) and np.all(dec["h"] <= dec["h_cap"] + 1e-14)
    assert dec["J_comparator"] == pytest.approx(optimal_value(random_game).J_star, abs=1e-10)
    # KL(pi* || uniform) = sum_m log|A_m| times the occupancy mass 1/(1-gamma) for a deterministic pi*
    assert dec["kl"][0] == pytest.approx(2 * math.log(3) / (1 - random_game.gamma), rel=1e-10)
    # matches the run of the library
    assert dec["average_gap"] == pytest.approx(ma_ppo(random_game, K=40, beta=0.1).average_gap, abs=1e-12)


def test_regret_identity_holds_for_any_comparator(random_game):
    comp = uniform_tables(random_game.n_states, random_game.action_sizes)  # not optimal: gaps may be negative
    dec = t1.regret_decomposition(random_game, K=15, beta=0.3, comparator=comp)
    assert dec["residual"] < 1e-10
    assert dec["gaps"][0] == pytest.approx(0.0, abs=1e-12)  # pi_0 is the uniform comparator itself
    assert np.any(dec["gaps"] < 0)


def test_comparator_weights_have_occupancy_mass(random_game):
    w = t1.comparator_weights(random_game, optimal_value(random_game).policy_tables(random_game))
    assert len(w) == random_game.n_agents
    for wm in w:
        assert wm.sum() == pytest.approx(1 / (1 - random_game.gamma), rel=1e-10)
        assert np.all(wm >= 0)
    assert w[1].shape == (random_game.n_states * 3,)


def test_decomposition_vs_K_slopes():
    dec = t1.decomposition_vs_K(None, Ks=(100, 300, 1000), beta=0.1)
    assert np.all(dec["residual"] < 1e-10)
    p_kl, _ = t1.fit_loglog(dec["Ks"], dec["kl_part"])
    p_h, _ = t1.fit_loglog(dec["Ks"], dec["h_part"])
    assert -0.6 < p_kl < -0.4 and p_h < -0.9
    assert np.all(dec["kl_part"] <= dec["kl_cap"] + 1e-12)


# ------------------------------------------------------------------------------------------------ sweeps
def test_gap_vs_K_shapes_claims_and_reproducibility(small_sweep, random_game):
    d = small_sweep
    assert d["gaps"].shape == d["rates"].shape == d["bounds"].shape == (2, len(SMALL_KS))
    assert d["slopes"].shape == d["factors"].shape == (2,)
    assert np.all(d["gaps"] > 0)
    assert np.all(d["gaps"] <= d["bounds"])
    assert np.all(d["gaps"] <= d["rates"])
    assert np.all(d["slopes"] < -0.4)
    again = t1.gap_vs_K([random_game, "climbing"], Ks=SMALL_KS, beta=0.1)
    np.testing.assert_array_equal(again["gaps"], d["gaps"])  # exact: the same computation twice
    with pytest.raises(MappoLiteError):
        t1.gap_vs_K([random_game], Ks=(10,))


def test_key_claim_default_game_slope_at_most_minus_half():
    d = t1.gap_vs_K(t1.default_games()[:1], beta=t1.DEFAULT_BETA)
    assert d["slopes"][0] <= -0.5
    assert d["max_ratio"][0] < 1


def test_beta_sweep_constant_grows_with_beta_and_stays_under_our_bound(random_game):
    d = t1.beta_sweep([random_game], betas=[0.03, 0.3, 3.0], K=50)
    assert d["ratios"].shape == (1, 3)
    assert np.all(np.diff(d["ratios"][0]) > 0)
    assert np.all(d["ratios"] <= d["ours"])
    assert d["ratios"][0, 0] < 1


def test_gap_vs_factor_linear_in_N():
    d = t1.gap_vs_factor("n_agents", values=(1, 2), K=50, seeds=(0,))
    assert d["gaps"].shape == (2, 1)
    np.testing.assert_allclose(d["factors"], [1, 2] / np.array(0.1) * math.sqrt(math.log(3)))
    assert 0.6 < d["slope"] < 1.4
    with pytest.raises(MappoLiteError):
        t1.gap_vs_factor("n_states")


def test_error_sweep_shapes_and_monotone_errors():
    d = t1.error_sweep(K=15, n_rollouts=(1, 50), Ts=(10, 1000), seeds=(0,))
    assert d["xi"].shape == d["gap_mc"].shape == (2, 1)
    assert d["eps"].shape == d["gap_sgd"].shape == (2, 1)
    assert d["xi"][1, 0] < d["xi"][0, 0] and d["eps"][1, 0] < d["eps"][0, 0]
    assert d["beta_k"] == pytest.approx(0.1 * math.sqrt(15))
    assert 0 < d["exact_gap"] < d["uniform_gap"]
    d2 = t1.error_sweep(K=15, n_rollouts=(1, 50), Ts=(10, 1000), seeds=(0,))
    np.testing.assert_array_equal(d["xi"], d2["xi"])  # exact: the same seeds, the same computation
    np.testing.assert_array_equal(d["gap_sgd"], d2["gap_sgd"])  # exact: as above


# ------------------------------------------------------------------------------------------------ figures
def test_figures_are_pyplot_free(small_sweep, random_game):
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    figs = [
        t1.plot_gap_vs_K(small_sweep),
        t1.plot_decomposition(t1.decomposition_vs_K(random_game, Ks=(10, 30))),
        t1.plot_beta_sweep(t1.beta_sweep([random_game], betas=[0.1, 1.0], K=20)),
        t1.plot_gap_vs_factor([t1.gap_vs_factor("gamma", values=(0.0, 0.5), K=20, seeds=(0,))]),
        t1.plot_error_sweep(t1.error_sweep(K=10, n_rollouts=(1, 3), Ts=(10, 30), seeds=(0,))),
        t1.explore_gap_vs_K(Ks=(10, 20)),
    ]
    for f in figs:
        assert isinstance(f, Figure) and len(f.axes) >= 1
        buf = io.BytesIO()
        f.savefig(buf, format="png", dpi=40)  # renders every label (mathtext errors would raise here)
        assert buf.getvalue()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(figs[0].axes) == 2 and len(figs[4].axes) == 2
    assert plt.get_fignums() == before
