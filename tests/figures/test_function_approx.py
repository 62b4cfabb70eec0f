"""The function-approximation chapter's experiments and the measured Theorem 1 bound, at small sizes: each returns
what the chapter reads, and the invariants hold (J <= J*, the measured bound above the measured gap)."""

from __future__ import annotations

import math

import numpy as np
from matplotlib.figure import Figure

from mappo_lite.figures import function_approx as fa


def test_realizability_and_plot():
    data = fa.realizability(K=30)
    agg = data["runs"]["aggregation (realizable)"]
    tab = data["runs"]["tabular"]
    scale = data["J_star"]
    np.testing.assert_allclose(agg.J, tab.J, rtol=0, atol=1e-10 * scale)  # the realizable class is the table
    assert data["dims"]["aggregation"] == [12, 36]
    assert isinstance(fa.plot_realizability(data), Figure)


def test_floors_and_plot():
    d = fa.floor_vs_dim(dims=(2, 36), K=40, seeds=(0,))
    r = fa.floor_vs_radius(radii=(1, 4096), K=40)
    assert d["gaps"][0, 0] > d["gaps"][0, 1]
    assert r["tabular"][0] > r["tabular"][1]
    assert isinstance(fa.plot_floors(d, r), Figure)


def test_approx_vs_statistical_small():
    data = fa.approx_vs_statistical(Ts=(50, 200), K=5, seeds=(0,))
    key = next(k for k in data if k.startswith("random"))
    assert data[key].shape == (1, 2) and data["tabular"].shape == (1, 2)
    assert data["floor"] > 0
    assert isinstance(fa.plot_approx_vs_statistical(data), Figure)


def test_climbing_and_order():
    climb = fa.climbing_classes(K=100)
    assert climb["match"]["dims"] == [3, 4]
    assert abs(climb["product"]["result"].J[-1] - 7.0) <= 1e-6 * 11
    assert isinstance(fa.plot_climbing_classes(climb), Figure)
    order = fa.order_sensitivity(K=20, seeds=range(1), families=("tabular", "pairwise"))
    assert order["J"]["pairwise"].shape == (1, 2)
    assert np.all(order["J"]["tabular"] <= order["J_star"][:, None] * (1 + 1e-9))


def test_measured_bound_holds():
    for label, (game, feats, ev) in fa.bound_configs().items():
        for K in (3, 12):
            r = fa.measured_bound(game, feats, K, 1.0, evaluation=ev, n_rollouts=5)
            assert r["bound"] >= r["average_gap"] >= -1e-10 / (1 - game.gamma), label
            assert r["C"].shape == (K, game.n_agents) and np.all(r["C"] >= 0)
    data = fa.measured_bound_vs_K(Ks=(3, 6), n_rollouts=5)
    assert isinstance(fa.plot_measured_bound(data), Figure)
    exact = next(iter(data["runs"].values()))
    assert np.all(exact["error_part"] <= 1e-9 * exact["bound"])
    assert math.isfinite(float(exact["bound"][-1]))
