"""Tests of mappo_lite.figures.algorithms (chapter 5): data shapes, seeds, and the chapter's key claims."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

from mappo_lite import MappoLiteError, evaluate, make_game, optimal_value, uniform_tables
from mappo_lite.figures import algorithms as fa


def test_mirror_step_is_the_maximizer():
    for seed in range(3):
        d = fa.mirror_step_check(seed=seed, n_candidates=4000)
        assert abs(d["value_closed"] - d["log_partition"]) < 1e-12
        assert d["best_candidate"] <= d["value_closed"] + 1e-12
        assert d["value_closed"] - d["best_candidate"] < 0.5  # the candidates do come close
        assert d["library_diff"] < 1e-12
        assert abs(d["p_star"].sum() - 1) < 1e-12


def test_run_games_shapes_seeds_and_claims():
    kw = dict(names=("climbing", "penalty"), K=20, T=200, n_rollouts=2)
    a = fa.run_games(**kw, seed=3)
    b = fa.run_games(**kw, seed=3)
    assert set(a["results"]) == {"climbing", "penalty"}
    for name in a["results"]:
        assert list(a["results"][name]) == list(fa.VARIANTS)
        for v in fa.VARIANTS:
            ra, rb = a["results"][name][v], b["results"][name][v]
            assert ra.J.shape == (21,)
            assert np.array_equal(ra.J, rb.J)  # exact: seeded, the same computation twice
            assert np.all(ra.J <= ra.J_star + 1e-9)
    gaps = fa.final_gaps(a)
    assert gaps["climbing"]["exact $Q$, ideal step"] < 1e-9
    assert gaps["penalty"]["exact $Q$, ideal step"] < 1e-9
    c = fa.run_games(**kw, seed=4)
    mc = r"Monte Carlo $\hat Q$, ideal step"
    assert not np.array_equal(c["results"]["climbing"][mc].J, a["results"]["climbing"][mc].J)


def test_run_games_reverse_agents_and_bad_names():
    d = fa.run_games(names="two_step", K=30, reverse_agents=True, variants=("exact $Q$, ideal step",))
    r = d["results"]["two_step"]["exact $Q$, ideal step"]
    assert abs(r.J_star - 7.92) < 1e-12 and r.J_star - r.J[-1] < 1e-6
    with pytest.raises(MappoLiteError):
        fa.run_games(names=("nonsense",), K=5)
    with pytest.raises(MappoLiteError):
        fa.run_games(names=("climbing",), K=5, variants=("nonsense",))


def test_gridworld_is_skipped_cleanly(monkeypatch):
    real = fa.chapter_game

    def broken(name, **params):
        if name == "gridworld":
            raise NotImplementedError("not finished")
        return real(name, **params)

    monkeypatch.setattr(fa, "chapter_game", broken)
    games, skipped = fa.available_games(("climbing", "gridworld"))
    assert list(games) == ["climbing"] and len(skipped) == 1 and "gridworld" in skipped[0]


def test_plot_games_returns_figure():
    fig = fa.plot_games(names=("climbing", "penalty", "two_step", "random"), K=5, T=50, n_rollouts=1)
    assert isinstance(fig, Figure)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == 4
    assert all(ax.get_xlabel() and ax.get_ylabel() for ax in visible)


def test_solver_grid_eps_falls_with_T_and_previous_start():
    d = fa.solver_grid(Ts=(100, 1000), etas=(0.25,), seeds=(0,), K=10)
    assert d["eps"].shape == (2, 2, 1)
    zero, prev = d["eps"][0, :, 0], d["eps"][1, :, 0]
    assert zero[1] < zero[0] and prev[1] < prev[0]
    assert np.all(prev < zero)
    assert isinstance(fa.plot_solver_grid(d), Figure)


def test_statistical_regime_xi_falls_with_rollouts():
    d = fa.statistical_regime(n_rollouts=(1, 16), K=10)
    assert d["xi"].shape == (2, 10) and d["J"].shape == (2, 11)
    assert d["xi_mean"][1] < 0.5 * d["xi_mean"][0]
    assert isinstance(fa.plot_statistical_regime(d), Figure)


def test_concentrability_values():
    g = make_game("climbing")
    star = optimal_value(g).policy_tables(g)
    assert fa.concentrability(g, star, 1) == pytest.approx(1.0)
    assert fa.concentrability(g, star, 2) == pytest.approx(1.0)
    uni = uniform_tables(1, (3, 3))
    assert fa.concentrability(g, uni, 1) == pytest.approx(3.0)
    assert fa.concentrability(g, uni, 2) == pytest.approx(9.0)
    zero_a = evaluate(g, [np.array([[0.0, 0.5, 0.5]]), np.full((3, 3), 1 / 3)]).tables
    assert fa.concentrability(g, zero_a, 2) == np.inf  # exact: a division by a zero probability


def test_pitfall_claim():
    d = fa.pitfall(betas=(0.05, 0.2), K=200)
    small, large = d["runs"][0.05], d["runs"][0.2]
    assert small["J"][-1] == pytest.approx(5.0, abs=1e-9)
    assert large["J"][-1] == pytest.approx(11.0, abs=1e-6)
    # the ideal step reaches 11 for both
    assert small["J_ideal"][-1] == pytest.approx(11.0, abs=1e-6)
    # agent 1 abandons a; agent 2's response to a stays uniform; the concentrability blows up
    assert small["p1a"][-1] < 1e-12 and small["samples_a"][-1] < 1e-9
    assert small["p2aa"][-1] == pytest.approx(1 / 3, abs=1e-9)
    assert small["phi2"][-1] > 1e12
    assert large["p2aa"][-1] > 0.999 and large["phi2"][-1] < 1.01
    assert isinstance(fa.plot_pitfall(d), Figure)
    out = fa.pitfall_outcomes(betas=(0.05, 0.2), seeds=range(3), K=100)
    assert np.allclose(out[0], 5.0) and np.allclose(out[1], 11.0)


def test_compare_methods_on_climbing():
    d = fa.compare_methods(names=("climbing",), K=100)
    ((name, J_star, finals),) = fa.comparison_table(d)
    assert name == "climbing" and J_star == pytest.approx(11.0, rel=1e-12)  # J* comes out of a (1x1) solve
    assert finals["MA-PPO"] == pytest.approx(11.0, abs=1e-6)
    assert finals["centralized"] == pytest.approx(11.0, abs=1e-6)
    for m in ("HAPPO", "HAPPO (recompute)", "independent NPG"):
        assert finals[m] == pytest.approx(7.0, abs=1e-4)
    assert finals["independent PG"] < 7.0
    assert isinstance(fa.plot_comparison(d), Figure)


def test_recompute_difference_and_decomposition():
    diff = fa.recompute_difference(names=("climbing", "penalty", "two_step", "random"))
    # equal in exact arithmetic in matrix games; logits reach ~ max|r| / beta_k = 30, whose rounding moves p by ~1e-13
    assert diff["climbing"] < 1e-11 and diff["penalty"] < 1e-11
    assert diff["two_step"] > 1e-3 and diff["random"] > 1e-4
    for game in ("random", "two_step", "climbing"):
        for seed in range(3):
            c = fa.happo_decomposition_check(game, seed=seed)
            # sums of advantages bounded by max|r| = 30 (climbing): 1e-11 is ~1500 ulps of that scale
            assert c["violation"] < 1e-11
            assert c["min_term"] >= -1e-11
            assert c["J_improvement"] >= -1e-11


def test_mirror_gap_slopes_and_hoeffding_bound():
    from mappo_lite.figures.algorithms import mirror_gap_vs_beta, plot_mirror_gap

    d = mirror_gap_vs_beta(betas=(1.0, 2.0, 4.0, 8.0, 16.0))
    assert abs(d["slope_gap"] + 1) < 0.05
    assert abs(d["slope_kl"] + 4) < 0.2
    assert np.all(d["target_gap"][:, :-1] <= d["hoeffding"][:, :-1] * (1 + 1e-12))
    assert np.all(d["target_gap"][:, -1] <= 1e-12 * np.max(d["target_gap"]))
    assert plot_mirror_gap(d).axes


def test_two_step_visitation_numbers():
    from mappo_lite.figures.algorithms import two_step_visitation

    v = two_step_visitation()
    g = v["gamma"]
    np.testing.assert_allclose(v["uniform"], [1 - g, (1 - g) * g / 2, (1 - g) * g / 2, g * g], rtol=1e-12)
    np.testing.assert_allclose(v["optimal"], [1 - g, 0, (1 - g) * g, g * g], rtol=1e-12, atol=1e-15)
