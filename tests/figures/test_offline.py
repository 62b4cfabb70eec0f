"""Chapter 8's experiment and figure functions (mappo_lite.figures.offline): shapes, seeds, the key claims."""

from __future__ import annotations

import math

import numpy as np
import pytest
from matplotlib.figure import Figure

from mappo_lite.figures.offline import (
    EVALUATORS,
    concentrability,
    coverage_sweep,
    example_game,
    fit_loglog_slope,
    n_sweep,
    offline_runs,
    plot_coverage_sweep,
    plot_gap_vs_n,
    plot_offline_run,
    sequential_game,
)
from mappo_lite.offline.core import POOR_COVERAGE


def test_offline_runs_shapes_and_reproducible():
    a = offline_runs(K=8, seeds=range(3))
    b = offline_runs(K=8, seeds=range(3))
    assert a["J_star"] == pytest.approx(1.0)
    for ev in EVALUATORS:
        assert a["J"][ev].shape == (3, 9) and a["J_est"][ev].shape == (3, 8)
        assert a["gap"][ev].shape == (3,) and a["bias"][ev].shape == (3,)
        np.testing.assert_array_equal(a["J"][ev], b["J"][ev])  # exact: the same seeds, the same computation
        np.testing.assert_array_equal(a["J_est"][ev], b["J_est"][ev])  # exact: as above
        np.testing.assert_allclose(a["gap"][ev], a["J_star"] - a["J"][ev][:, -1])
        assert np.all(a["gap"][ev] >= -1e-12)
    assert a["params"]["L"] == POOR_COVERAGE["L"] and a["params"]["n"] == POOR_COVERAGE["n"]
    c = offline_runs(K=8, seeds=[5])
    assert not np.array_equal(c["J"]["plain"][0], a["J"]["plain"][0])


def test_key_claims_on_the_example():
    """The chapter's claims: plain over-estimates its own iterates (winner's curse), pessimism does not, and ends
    closer to J*, averaged over 10 datasets."""
    runs = offline_runs(seeds=range(10))
    plain, pess = runs["gap"]["plain"].mean(), runs["gap"]["pessimistic"].mean()
    print(
        f"gap plain {plain:.4f} pessimistic {pess:.4f}; bias plain {runs['bias']['plain'].mean():+.4f} "
        f"pessimistic {runs['bias']['pessimistic'].mean():+.4f}"
    )
    assert pess < plain - 0.03
    assert runs["bias"]["plain"].mean() > 0.05
    assert runs["bias"]["pessimistic"].mean() < 0.01
    assert runs["bias"]["pessimistic"].mean() < runs["bias"]["plain"].mean()


@pytest.mark.parametrize("c", [0.05, 1.0, 20.0])
def test_concentrability_closed_form_on_the_matrix_game(c):
    """One state, 9 joint actions, mu(a*) = c/(c+8), the others 1/(c+8): C_single = (c+8)/c, C_all = max of 1/mu."""
    C = concentrability(example_game(), c)
    assert C["single"] == pytest.approx((c + 8) / c)
    assert C["all"] == pytest.approx(max((c + 8) / c, c + 8))
    assert C["all"] >= C["single"]


def test_concentrability_multi_state():
    game = sequential_game()
    C1, C2 = concentrability(game, 1.0), concentrability(game, 20.0)
    assert C1["single"] >= 1 and C2["single"] >= 1
    assert C2["single"] < C1["single"] and C2["all"] > C1["all"]


def test_fit_loglog_slope():
    ns = np.array([10, 100, 1000, 10000.0])
    assert fit_loglog_slope(ns, 3 * ns ** (-1 / 3))[0] == pytest.approx(-1 / 3)
    assert fit_loglog_slope(ns, 3 * ns ** (-1 / 3))[1] == 4
    slope, used = fit_loglog_slope(ns, np.array([0.5, 0.05, 1e-6, 1e-7]), floor=1e-4)
    assert used == 2 and slope == pytest.approx(-1.0)
    assert math.isnan(fit_loglog_slope(ns, np.full(4, 1e-9))[0])


def test_sweeps_shapes_and_claims():
    cs = coverage_sweep((0.2, 20.0), seeds=range(4), K=20)
    for ev in EVALUATORS:
        assert cs["gap"][ev].shape == (2, 4) and cs["bias"][ev].shape == (2, 4)
    assert cs["C_single"][0] > cs["C_single"][1]
    sw = n_sweep((30, 3000), seeds=range(4), K=20, label="example")
    assert sw["label"] == "example" and sw["gap"]["plain"].shape == (2, 4)
    for ev in EVALUATORS:
        assert sw["gap"][ev][1].mean() < sw["gap"][ev][0].mean()


def test_figures_are_figures_with_labels():
    figs = [
        plot_offline_run(n_seeds=2, seed=0),
        plot_offline_run(n_seeds=2, seed=7),
        plot_coverage_sweep(coverage_sweep((0.2, 20.0), seeds=range(2), K=5)),
        plot_gap_vs_n([n_sweep((30, 300), seeds=range(2), K=5, label="a")]),
    ]
    for fig in figs:
        assert isinstance(fig, Figure)
        for ax in fig.axes:
            assert ax.get_xlabel() and ax.get_ylabel()
        assert any(ax.get_legend() is not None for ax in fig.axes)


def test_cached_runs_equal_fresh_runs_and_the_plain_runs_ignore_lambda():
    """``cache=True`` (the interactive figure's path) gives the uncached results; the plain evaluator does not read
    λ, so its cached runs are shared across λ while the pessimistic ones are not."""
    from mappo_lite.figures import offline as fo

    kw = dict(K=6, seeds=range(2), n=100, coverage=5.0)
    fresh = offline_runs(lam=0.3, **kw)
    cached = offline_runs(lam=0.3, cache=True, **kw)
    other = offline_runs(lam=3.0, cache=True, **kw)
    other_fresh = offline_runs(lam=3.0, **kw)
    for ev in EVALUATORS:
        np.testing.assert_array_equal(cached["J"][ev], fresh["J"][ev])  # exact: the same seeded computation
        np.testing.assert_array_equal(cached["J_est"][ev], fresh["J_est"][ev])  # exact: as above
        np.testing.assert_array_equal(other["J"][ev], other_fresh["J"][ev])  # exact: as above
    assert cached["J_star"] == fresh["J_star"]  # exact: the same computation
    assert not np.array_equal(other["J"]["pessimistic"], cached["J"]["pessimistic"])
    hits = fo.run_cache_info().hits
    offline_runs(lam=30.0, cache=True, **kw)
    assert fo.run_cache_info().hits == hits + 2  # the two plain runs, reused
    with pytest.raises(Exception, match="lam"):
        offline_runs(lam=-1.0, cache=True, **kw)
