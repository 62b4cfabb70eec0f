"""Tests for mappo_lite.figures.experiment: the chapter-7 ablation on the ratio game and its figures."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from matplotlib.figure import Figure

from mappo_lite import independent_npg, independent_pg, ma_ppo, make_game
from mappo_lite.errors import MappoLiteError
from mappo_lite.experiments.ratio import (
    RATIO_R,
    RATIO_S,
    figure1,
    initial_logits,
    iterations_to_reach,
    run_independent_pg,
    run_sequential,
)
from mappo_lite.figures import experiment as ex


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _joint_value(theta, z):
    p = _softmax(theta)[:, None] * _softmax(z)
    return float(np.sum(p * RATIO_R) / np.sum(p * RATIO_S))


def _random_inits(n, seed):
    rng = np.random.default_rng(seed)
    return [(rng.normal(0, 2, 2), rng.normal(0, 2, 2)) for _ in range(n)]


# ----------------------------------------------------------------------------------------- agreement with twins


@pytest.mark.parametrize("method, kernel", [("sequential", run_sequential), ("independent-pg", run_independent_pg)])
def test_batch_loop_matches_the_papers_numba_kernels(method, kernel):
    inits = [initial_logits(name) for name in ("uniform", "near-stationary", "agent2-saturated")]
    inits += _random_inits(3, seed=1)
    etas = [0.05, 0.01, 0.2, 0.05, 0.1, 0.3]
    batch = ex.run_batch(method, etas, 2000, inits)
    assert batch.shape == (6, 2001)
    for row, eta, init in zip(batch, etas, inits):
        # 2000 iterated steps in another order of operations; the ratio game's values are O(5): ~1e5 ulps
        np.testing.assert_allclose(row, kernel(eta, 2000, init), rtol=0, atol=1e-10)


@pytest.mark.parametrize("method", ex.ABLATION_METHODS)
def test_one_run_kernel_matches_the_batch_loop(method):
    """run_method (the numba kernel ratio_ablation, one run) and run_batch (NumPy, a batch) agree on every method."""
    inits = [initial_logits(name) for name in ("uniform", "near-stationary", "agent2-saturated")]
    inits += _random_inits(3, seed=2)
    etas = [0.05, 0.01, 0.2, 0.05, 0.1, 0.3]
    batch = ex.run_batch(method, etas, 2000, inits)
    for row, eta, init in zip(batch, etas, inits):
        # 2000 iterated steps in another order of operations; the ratio game's values are O(5): ~1e5 ulps
        np.testing.assert_allclose(ex.run_method(method, eta, 2000, init), row, rtol=0, atol=1e-10)


@pytest.mark.parametrize("eta", [0.05, 0.3])
def test_markov_q_methods_are_the_library_algorithms(eta):
    game = make_game("ratio")
    K = 150
    beta = 1.0 / (eta * math.sqrt(K))  # beta_k = beta * sqrt(K) = 1 / eta
    pairs = [
        ("ma-ppo", ma_ppo(game, K=K, beta=beta, keep_policies=False).J),
        ("independent-npg-q", independent_npg(game, K=K, beta=beta, keep_policies=False).J),
        ("independent-pg", independent_pg(game, K=K, eta=eta, keep_policies=False).J),
    ]
    for method, library in pairs:
        # 150 iterated steps, closed forms here and linear solves in the library: values are O(5), ~1e5 ulps
        np.testing.assert_allclose(ex.run_method(method, eta, K, "uniform"), library, rtol=0, atol=1e-10)
        np.testing.assert_allclose(
            ex.run_batch(method, [eta], K, [initial_logits("uniform")])[0], library, rtol=0, atol=1e-10
        )


def test_conditional_pg_follows_the_gradient_of_the_joint_value():
    """One tiny step increases V by eta * |grad V|^2 to first order; grad V by central finite differences."""
    eta, h = 1e-5, 1e-6
    for theta, t2 in _random_inits(4, seed=7):
        z = np.array([t2, t2])
        params = np.concatenate([theta, z.ravel()])

        def value(v):
            return _joint_value(v[:2], v[2:].reshape(2, 2))

        grad = np.array([(value(params + h * e) - value(params - h * e)) / (2 * h) for e in np.eye(6)])
        curve = ex.run_batch("conditional-pg", [eta], 1, [(theta, t2)])[0]
        assert abs(curve[0] - value(params)) < 5e-13  # ~100 ulps of the value scale 5
        gain = curve[1] - curve[0]
        assert gain > 0
        assert abs(gain - eta * grad @ grad) <= 1e-3 * eta * grad @ grad


def test_independent_npg_ratio_target_step():
    """theta1[a] += eta V(e_a, y), theta2[b] += eta V(x, e_b): check one step against a direct computation."""
    eta = 0.3
    for t1, t2 in _random_inits(3, seed=3):
        x, y = _softmax(t1), _softmax(t2)
        v1 = (RATIO_R @ y) / (RATIO_S @ y)
        v2 = (x @ RATIO_R) / (x @ RATIO_S)
        n1, n2 = t1 + eta * v1, t2 + eta * v2
        expected = _joint_value(n1, np.array([n2, n2]))
        curve = ex.run_method("independent-npg", eta, 1, (t1, t2))
        assert abs(curve[1] - expected) < 5e-13  # ~100 ulps of the value scale 5


# ----------------------------------------------------------------------------------------- the chapter's claims


@pytest.fixture(scope="module")
def short_ablation():
    return ex.ablation(iterations=5000, stepsizes=(0.01, 0.05), inits=("near-stationary", "uniform"))


def test_ablation_shape_and_read_only(short_ablation):
    assert len(short_ablation) == 2 * 2 * len(ex.ABLATION_METHODS)
    for _key, curve in short_ablation.items():
        assert curve.shape == (5001,) and not curve.flags.writeable
        assert curve.max() <= 1.0 + 1e-12 and curve.min() >= -5.0 - 1e-12


def test_ablation_is_deterministic(short_ablation):
    again = ex.ablation(iterations=5000, stepsizes=(0.05,), inits=("near-stationary",))
    for key, curve in again.items():
        np.testing.assert_array_equal(curve, short_ablation[key])  # exact: the same computation twice


def test_step_form_not_conditioning_buys_the_speed(short_ablation):
    reach = {k: iterations_to_reach(c, 0.99) for k, c in short_ablation.items()}
    for init, eta in [("near-stationary", 0.05), ("uniform", 0.01), ("uniform", 0.05)]:
        mirror = [reach[(init, eta, m)] for m in ex.ABLATION_METHODS if ex.METHOD_DESIGN[m][1] == "mirror"]
        gradient = [reach[(init, eta, m)] for m in ex.ABLATION_METHODS if ex.METHOD_DESIGN[m][1] == "gradient"]
        assert all(n is not None for n in mirror)
        # gradient methods: not done within the horizon, or at least 5x slower than every mirror method
        assert all(n is None or n >= 5 * max(mirror) for n in gradient)
        if eta == 0.05:
            assert all(n is not None for n in gradient)
        for prod, cond in [
            ("independent-pg", "conditional-pg"),
            ("independent-npg", "sequential"),
            ("independent-npg-q", "ma-ppo"),
        ]:
            if reach[(init, eta, prod)] is not None:
                assert 0.85 <= reach[(init, eta, cond)] / reach[(init, eta, prod)] <= 1.2
        assert reach[(init, eta, "independent-npg")] <= 1.05 * reach[(init, eta, "sequential")]
    # near-stationary, eta = 0.01: both gradient methods are still stuck at 5000 iterations, mirror methods are done
    for m in ("independent-pg", "conditional-pg"):
        assert short_ablation[("near-stationary", 0.01, m)].max() < 0.51
    for m in ("independent-npg", "sequential", "independent-npg-q", "ma-ppo"):
        assert reach[("near-stationary", 0.01, m)] is not None


def test_figure1_claims():
    result = figure1()
    reach = result.reach_table(0.99)
    for init in result.inits:
        for eta in result.stepsizes:
            seq = reach[(init, eta, "sequential")]
            ipg = reach[(init, eta, "independent-pg")]
            assert seq is not None and (ipg is None or seq < ipg)
            assert result[(init, eta, "sequential")].max() <= 1.0 + 1e-12


def test_escape_time_is_exp_m_over_eta():
    ms, etas = [4.0, 5.0], [0.05, 0.2]
    esc = ex.escape_iterations(ms, etas, iterations=20000)
    ratio = esc / (np.exp(ms)[:, None] / np.array(etas))
    assert np.all((0.95 < ratio) & (ratio < 1.1))
    # a stall within the horizon is reported as nan
    assert np.isnan(ex.escape_iterations([6.0], [0.01], iterations=20000)).all()


# ----------------------------------------------------------------------------------------- tables and figures


def test_reach_rows_and_result_table(short_ablation):
    rows = ex.reach_rows(short_ablation, 0.99, ex.ABLATION_METHODS)
    assert len(rows) == 4 and all(len(r) == 2 + len(ex.ABLATION_METHODS) for r in rows)
    assert rows[0][:2] == ["near-stationary", 0.01] and rows[0][2] is None
    table = ex.result_table(["init", "eta"] + list(ex.ABLATION_METHODS), rows)
    lines = str(table).splitlines()
    assert len(lines) == 2 + len(rows) and "never" in lines[2] and lines[0].startswith("init")
    html = table._repr_html_()
    assert html.count("<tr>") == 1 + len(rows) and html.count("<th>") == 2 + len(ex.ABLATION_METHODS)
    assert "never" in html and "<td>near-stationary</td>" in html
    assert "&lt;b&gt;" in ex.result_table(["x"], [["<b>"]])._repr_html_()  # cells are escaped
    with pytest.raises(MappoLiteError):
        ex.result_table(["a", "b"], [[1]])


def test_figures_are_pyplot_free_figures():
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    fig = ex.figure1_figure(figure1(iterations=500))
    assert isinstance(fig, Figure) and len(fig.axes) == 6
    assert all(ax.get_xlabel() == "iteration" for ax in fig.axes)
    panel = ex.plot_ratio_panel(eta=0.05, init="uniform", iterations=400, methods=ex.ABLATION_METHODS)
    ax = panel.axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert all(ex.METHOD_LABELS[m] in labels for m in ex.ABLATION_METHODS)
    assert ax.get_xscale() == "log" and "iteration" in ax.get_xlabel()
    lin = ex.plot_ratio_panel(eta=0.05, init="near-stationary", magnitude=3.0, iterations=300, log_x=False)
    assert lin.axes[0].get_xscale() == "linear" and "m = 3" in lin.axes[0].get_title()
    esc = ex.plot_escape_times([3.0, 4.0], [0.05], np.array([[420.0], [1150.0]]))
    assert isinstance(esc, Figure) and esc.axes[0].get_xscale() == "log"
    assert plt.get_fignums() == before  # nothing registered with pyplot


def test_bad_input():
    with pytest.raises(MappoLiteError):
        ex.run_method("no-such-method", 0.1, 10)
    with pytest.raises(MappoLiteError):
        ex.run_batch("conditional-pg", [0.0], 10, [initial_logits("uniform")])
    with pytest.raises(MappoLiteError):
        ex.run_batch("conditional-pg", [0.1, 0.1], 10, [initial_logits("uniform")])
    with pytest.raises(MappoLiteError):
        ex.run_batch("conditional-pg", [0.1], -1, [initial_logits("uniform")])
    with pytest.raises(MappoLiteError):
        ex.run_batch("conditional-pg", [0.1], 10, [(np.zeros(3), np.zeros(2))])
    with pytest.raises(MappoLiteError):
        ex.run_batch("conditional-pg", [0.1], 10, [(np.array([np.nan, 0.0]), np.zeros(2))])
    with pytest.raises(MappoLiteError):
        ex.run_method("independent-npg", 0.1, 10, "no-such-init")
    with pytest.raises(MappoLiteError):
        ex.plot_ratio_panel(init="no-such-init", iterations=10)
    with pytest.raises(MappoLiteError):
        ex.figure1_figure("not a result")
    with pytest.raises(MappoLiteError):
        ex.ablation(iterations=10, methods=())
