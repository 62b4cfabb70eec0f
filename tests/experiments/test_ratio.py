"""Tests for mappo_lite.experiments.ratio: the paper's Figure 1 on von Neumann's ratio game (App. E; chapter 7)."""

from __future__ import annotations

import math
from fractions import Fraction

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mappo_lite.errors import MappoLiteError
from mappo_lite.experiments import ratio as rx
from mappo_lite.figures.experiment import plot_figure1

E = np.eye(2)
HORIZON = 20000
STEPSIZES = (0.001, 0.01, 0.05)
# The game's values lie in [-5, 1] (scale max|R| / min S = 5, one ulp ~ 9e-16): closed-form values, computed by a
# few products, sums and a division (in numba or NumPy), are checked to ~100 ulps of that scale.
V_TOL = 5e-13

logits = st.lists(st.floats(-4.0, 4.0, allow_nan=False), min_size=2, max_size=2).map(np.array)
probs = st.floats(0.001, 0.999).map(lambda p: np.array([p, 1.0 - p]))
hyp = settings(max_examples=60, deadline=None, derandomize=True)


@pytest.fixture(scope="module")
def fig1():
    return rx.figure1()


# ------------------------------------------------------------------------------------------------ closed forms


def test_constants_are_the_papers_and_read_only():
    np.testing.assert_array_equal(rx.RATIO_R, [[1.0, 0.5], [-0.5, 0.0]])  # exact: constants
    np.testing.assert_array_equal(rx.RATIO_S, [[1.0, 1.0], [0.1, 0.1]])  # exact: constants
    assert rx.RATIO_R.dtype == np.float64 and rx.RATIO_S.dtype == np.float64
    for arr in (rx.RATIO_R, rx.RATIO_S):
        with pytest.raises(ValueError):
            arr[0, 0] = 2.0


@pytest.mark.parametrize("a1, a2, expected", [(0, 0, 1.0), (0, 1, 0.5), (1, 0, -5.0), (1, 1, 0.0)])
def test_pure_profile_values(a1, a2, expected):
    assert rx.ratio_value(E[a1], E[a2]) == pytest.approx(expected, abs=V_TOL)
    assert rx.ratio_value_joint(np.outer(E[a1], E[a2])) == pytest.approx(expected, abs=V_TOL)


def test_uniform_value_is_5_over_11():
    # exact rational arithmetic: (1 + 0.5 - 0.5 + 0)/4 / ((1 + 1 + 0.1 + 0.1)/4) = 5/11
    R = [[Fraction(1), Fraction(1, 2)], [Fraction(-1, 2), Fraction(0)]]
    S = [[Fraction(1), Fraction(1)], [Fraction(1, 10), Fraction(1, 10)]]
    exact = sum(sum(r) for r in R) / sum(sum(s) for s in S)
    assert exact == Fraction(5, 11)
    u = np.array([0.5, 0.5])
    assert rx.ratio_value(u, u) == pytest.approx(5 / 11, abs=V_TOL)
    assert rx.ratio_value_joint(np.full((2, 2), 0.25)) == pytest.approx(5 / 11, abs=V_TOL)
    assert rx.run_sequential(0.01, 0)[0] == pytest.approx(5 / 11, abs=V_TOL)
    assert rx.run_independent_pg(0.01, 0)[0] == pytest.approx(5 / 11, abs=V_TOL)


@hyp
@given(probs, probs)
def test_joint_value_of_a_product_is_the_product_value(x, y):
    assert rx.ratio_value_joint(np.outer(x, y)) == pytest.approx(rx.ratio_value(x, y), abs=1e-13)


@hyp
@given(probs, probs)
def test_closed_form_in_p_q(x, y):
    p, q = x[0], y[0]
    assert rx.ratio_value(x, y) == pytest.approx((p / 2 + p * q - q / 2) / (0.1 + 0.9 * p), abs=1e-12)


def test_joint_value_of_a_correlated_policy():
    # half (0,0), half (1,0): reward 0.5*1 + 0.5*(-0.5) = 0.25 per step, stopping 0.5*1 + 0.5*0.1 = 0.55
    p = np.array([[0.5, 0.0], [0.5, 0.0]])
    assert rx.ratio_value_joint(p) == pytest.approx(0.25 / 0.55, abs=V_TOL)
    # a correlated policy that no product policy equals: (0,0) w.p. 0.5 and (1,1) w.p. 0.5
    p = np.array([[0.5, 0.0], [0.0, 0.5]])
    assert rx.ratio_value_joint(p) == pytest.approx(0.5 / 0.55, abs=V_TOL)


# ------------------------------------------------------------------------------------------------ gradients


def _fd_along(f, point, direction, h=1e-6):
    return (f(point + h * direction) - f(point - h * direction)) / (2 * h)


@hyp
@given(st.floats(0.05, 0.95), st.floats(0.05, 0.95))
def test_ratio_gradient_matches_finite_differences(p, q):
    x, y = np.array([p, 1 - p]), np.array([q, 1 - q])
    gx, gy = rx.ratio_gradient(x, y)
    d = np.array([1.0, -1.0])  # the tangent direction of the simplex
    fd_x = _fd_along(lambda xx: rx.ratio_value(xx, y), x, d)
    fd_y = _fd_along(lambda yy: rx.ratio_value(x, yy), y, d)
    assert gx @ d == pytest.approx(fd_x, rel=1e-6, abs=1e-7)
    assert gy @ d == pytest.approx(fd_y, rel=1e-6, abs=1e-7)
    # homogeneity of degree 0 pins down the remaining component: <x, grad_x V> = 0
    assert x @ gx == pytest.approx(0.0, abs=1e-12)
    assert y @ gy == pytest.approx(0.0, abs=1e-12)
    # the closed forms of the module docstring
    assert gx @ d == pytest.approx((0.05 + 0.55 * q) / (0.1 + 0.9 * p) ** 2, rel=1e-12)
    assert gy @ d == pytest.approx((p - 0.5) / (0.1 + 0.9 * p), abs=1e-12)


def _v_of_logits(t1, t2):
    x = np.exp(t1 - t1.max())
    y = np.exp(t2 - t2.max())
    return rx.ratio_value(x / x.sum(), y / y.sum())


@hyp
@given(logits, logits)
def test_logit_gradient_matches_finite_differences(t1, t2):
    g1, g2 = rx.independent_pg_logit_gradient(t1, t2)
    for i in range(2):
        fd1 = _fd_along(lambda t: _v_of_logits(t, t2), t1, E[i])
        fd2 = _fd_along(lambda t: _v_of_logits(t1, t), t2, E[i])
        assert g1[i] == pytest.approx(fd1, rel=1e-6, abs=1e-8)
        assert g2[i] == pytest.approx(fd2, rel=1e-6, abs=1e-8)
    # shifting all logits of an agent does not change its policy
    assert g1.sum() == pytest.approx(0.0, abs=1e-12) and g2.sum() == pytest.approx(0.0, abs=1e-12)


def test_independent_pg_gradient_is_never_zero_at_finite_logits():
    # d V / d p > 0 everywhere, so agent 1's logit gradient is strictly positive along e0 - e1
    grid = np.linspace(-6, 6, 13)
    for a in grid:
        for b in grid:
            g1, _ = rx.independent_pg_logit_gradient(np.array([a, 0.0]), np.array([b, 0.0]))
            assert g1[0] - g1[1] > 0


# ------------------------------------------------------------------------------------------------ stationary point


def test_near_stationary_init_is_the_documented_point():
    t1, t2 = rx.initial_logits("near-stationary", magnitude=5.0)
    np.testing.assert_array_equal(t1, [5.0, 0.0])  # exact: logits are 0 or the magnitude
    np.testing.assert_array_equal(t2, [0.0, 5.0])  # exact: as above
    assert rx.DEFAULT_MAGNITUDE == 5.0  # exact: a constant
    t1, t2 = rx.initial_logits("near-stationary", magnitude=2.5)
    np.testing.assert_array_equal(t1, [2.5, 0.0])  # exact: as above
    np.testing.assert_array_equal(t2, [0.0, 2.5])  # exact: as above
    u1, u2 = rx.initial_logits("uniform")
    np.testing.assert_array_equal(u1, [0.0, 0.0])  # exact: as above
    np.testing.assert_array_equal(u2, [0.0, 0.0])  # exact: as above
    a1, a2 = rx.initial_logits("agent2-saturated")
    np.testing.assert_array_equal(a1, [0.0, 0.0])  # exact: as above
    np.testing.assert_array_equal(a2, [0.0, 5.0])  # exact: as above
    # profile (0, 1): V close to 0.5
    assert rx.run_independent_pg(0.01, 0, "near-stationary")[0] == pytest.approx(0.5, abs=0.01)


@pytest.mark.parametrize("target", rx.AGENT1_TARGETS)
def test_pg_gradient_vanishes_at_the_stationary_point_but_sequential_direction_does_not(target):
    m = 30.0  # a deep saturation: the product policy is (0, 1) up to e^-30
    t1, t2 = rx.initial_logits("near-stationary", magnitude=m)
    g1, g2 = rx.independent_pg_logit_gradient(t1, t2)
    assert np.max(np.abs(g1)) < 1e-12 and np.max(np.abs(g2)) < 1e-12
    d_theta, d_z = rx.sequential_direction(t1, np.array([t2, t2]), target)
    # agent 2 given a1 = 0 moves its gap toward action 0 by eta/2 per step, whatever the policy
    assert d_z[0, 0] - d_z[0, 1] == pytest.approx(0.5, abs=V_TOL)
    # agent 1 keeps preferring action 0 by at least 1/2
    assert d_theta[0] - d_theta[1] >= 0.5
    # and the value actually moves: the gap of -30 closes after 30 / (0.05 / 2) = 1200 sequential steps;
    # 3000 steps of either method from there
    seq = rx.run_sequential(0.05, 3000, "near-stationary", target, magnitude=m)
    pg = rx.run_independent_pg(0.05, 3000, "near-stationary", magnitude=m)
    assert abs(seq[0] - 0.5) < 1e-9 and abs(pg[0] - 0.5) < 1e-9
    assert np.ptp(pg) < 1e-9
    assert seq[-1] > 0.99


def test_independent_pg_escape_time_scales_like_exp_m_over_eta():
    # the module docstring: escape (first V >= 0.6) after about e^m / eta iterations
    for m, eta in [(4.0, 0.05), (5.0, 0.05), (5.0, 0.01)]:
        k = rx.iterations_to_reach(rx.run_independent_pg(eta, 30000, "near-stationary", magnitude=m), 0.6)
        assert k is not None
        assert 0.9 * math.exp(m) / eta < k < 1.2 * math.exp(m) / eta


@pytest.mark.parametrize("target", rx.AGENT1_TARGETS)
def test_sequential_direction_is_the_documented_rule(target):
    rng = np.random.default_rng(1)
    theta, z = rng.normal(size=2), rng.normal(size=(2, 2))
    d_theta, d_z = rx.sequential_direction(theta, z, target)
    np.testing.assert_allclose(d_z, [[1.0, 0.5], [-5.0, 0.0]], rtol=0, atol=V_TOL)
    x = np.exp(theta) / np.exp(theta).sum()
    cond = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    if target == "marginal":
        expected = [rx.ratio_value(E[a], x @ cond) for a in range(2)]
    else:
        expected = [rx.ratio_value(E[a], cond[a]) for a in range(2)]
    np.testing.assert_allclose(d_theta, expected, rtol=1e-13)


def test_marginal_and_conditional_targets_differ_when_agent2_is_correlated():
    theta = np.array([0.0, 0.0])
    z = np.array([[3.0, 0.0], [-3.0, 0.0]])
    dm, _ = rx.sequential_direction(theta, z, "marginal")
    dc, _ = rx.sequential_direction(theta, z, "conditional")
    assert abs(dm[1] - dc[1]) > 0.5  # agent 2 given a1 = 1 mostly plays 1 (value 0), its marginal does not


# ------------------------------------------------------------------------------------------------ kernels


@pytest.mark.parametrize("target", rx.AGENT1_TARGETS)
def test_sequential_kernel_matches_numpy_reference(target):
    rng = np.random.default_rng(2023)
    for _ in range(5):
        theta, z = rng.uniform(-4, 4, size=2), rng.uniform(-4, 4, size=(2, 2))
        eta = float(rng.choice([0.001, 0.01, 0.05, 0.3]))
        ref = rx.sequential_reference(theta, z, eta, 400, target)
        fast = rx.run_sequential(eta, 400, (theta, z), target)
        assert fast.shape == (401,) and fast.dtype == np.float64
        # 400 iterated steps in another order of operations: ~1e5 ulps of the value scale 5
        np.testing.assert_allclose(fast, ref, rtol=0, atol=1e-10)


def test_independent_pg_kernel_matches_numpy_reference():
    rng = np.random.default_rng(2024)
    for _ in range(5):
        t1, t2 = rng.uniform(-4, 4, size=2), rng.uniform(-4, 4, size=2)
        eta = float(rng.choice([0.001, 0.01, 0.05, 0.3]))
        ref = rx.independent_pg_reference(t1, t2, eta, 400)
        fast = rx.run_independent_pg(eta, 400, (t1, t2))
        assert fast.shape == (401,) and fast.dtype == np.float64
        # 400 iterated steps in another order of operations: ~1e5 ulps of the value scale 5
        np.testing.assert_allclose(fast, ref, rtol=0, atol=1e-10)


def test_named_init_equals_explicit_logits_and_sequential_copies_theta2_to_every_row():
    t1, t2 = rx.initial_logits("near-stationary")
    np.testing.assert_array_equal(
        rx.run_independent_pg(0.05, 50, "near-stationary"),  # exact: identical inputs to the same kernel
        rx.run_independent_pg(0.05, 50, (t1, t2)),
    )
    np.testing.assert_array_equal(
        rx.run_sequential(0.05, 50, "near-stationary"),  # exact: identical inputs to the same kernel
        rx.run_sequential(0.05, 50, (t1, np.array([t2, t2]))),
    )
    # both methods start from the same joint policy
    assert rx.run_sequential(0.05, 0, "near-stationary")[0] == pytest.approx(
        rx.run_independent_pg(0.05, 0, "near-stationary")[0], abs=V_TOL
    )


def test_runs_are_deterministic_and_inputs_untouched():
    t1, t2 = np.array([1.0, -1.0]), np.array([0.5, 2.0])
    a = rx.run_independent_pg(0.05, 100, (t1, t2))
    b = rx.run_independent_pg(0.05, 100, (t1, t2))
    np.testing.assert_array_equal(a, b)  # exact: the same computation twice
    np.testing.assert_array_equal(t1, [1.0, -1.0])  # exact: inputs untouched
    np.testing.assert_array_equal(t2, [0.5, 2.0])  # exact: inputs untouched


# ------------------------------------------------------------------------------------------------ Figure 1


def test_figure1_has_all_twelve_curves(fig1):
    assert len(fig1.curves) == 12
    for init in ("near-stationary", "uniform"):
        for eta in STEPSIZES:
            for method in rx.METHODS:
                curve = fig1[(init, eta, method)]
                assert curve.shape == (HORIZON + 1,) and curve.dtype == np.float64
                assert not curve.flags.writeable


def test_values_never_exceed_the_optimum(fig1):
    # R <= S entrywise, so V <= 1 for every joint policy; a larger value is a bug
    for curve in fig1.curves.values():
        assert np.all(np.isfinite(curve))
        assert curve.max() <= 1.0 + 1e-12
    for target in rx.AGENT1_TARGETS:
        assert rx.run_sequential(0.3, 3000, "uniform", target).max() <= 1.0 + 1e-12


def test_sequential_reaches_099_from_uniform_for_every_stepsize(fig1):
    for eta in STEPSIZES:
        k = rx.iterations_to_reach(fig1[("uniform", eta, "sequential")])
        assert k is not None and k <= HORIZON


def test_sequential_is_never_slower_than_independent_pg(fig1):
    # What our runs show (module docstring table): the sequential method reaches 0.99 first in all six panels;
    # independent PG never reaches it in three of them (near-stationary 0.001 and 0.01, uniform 0.001).
    table = fig1.reach_table()
    for init in ("near-stationary", "uniform"):
        for eta in STEPSIZES:
            k_seq = table[(init, eta, "sequential")]
            k_pg = table[(init, eta, "independent-pg")]
            assert k_seq is not None
            assert k_pg is None or k_seq <= k_pg
    # and strictly so, by a factor > 5, wherever both reach it
    for key_seq, k_seq in table.items():
        if key_seq[2] == "sequential":
            k_pg = table[(key_seq[0], key_seq[1], "independent-pg")]
            assert k_pg is None or k_pg > 5 * k_seq


def test_the_papers_stall_and_escape_pattern(fig1):
    # From near-stationary, independent PG stalls at ~0.5 with the small step and escapes with the large one
    # after ~3000 iterations (the paper's Figure 1). Our deviation: with eta = 0.01 it escapes late (after ~15000).
    small = fig1[("near-stationary", 0.001, "independent-pg")]
    assert np.ptp(small) < 0.01 and abs(small[-1] - 0.5) < 0.01
    large = fig1[("near-stationary", 0.05, "independent-pg")]
    assert 2500 < rx.iterations_to_reach(large, 0.6) < 3500
    mid = fig1[("near-stationary", 0.01, "independent-pg")]
    assert 14000 < rx.iterations_to_reach(mid, 0.6) < 17000
    assert rx.iterations_to_reach(mid, 0.99) is None


def test_documented_reach_table(fig1):
    table = fig1.reach_table()
    expected = {
        ("near-stationary", 0.001): (17784, None),
        ("near-stationary", 0.01): (1779, None),
        ("near-stationary", 0.05): (356, 4651),
        ("uniform", 0.001): (7784, None),
        ("uniform", 0.01): (779, 10985),
        ("uniform", 0.05): (156, 2196),
    }
    for (init, eta), (k_seq, k_pg) in expected.items():
        assert table[(init, eta, "sequential")] == pytest.approx(k_seq, abs=2)
        got = table[(init, eta, "independent-pg")]
        assert (got is None) if k_pg is None else got == pytest.approx(k_pg, abs=2)


def test_conditional_target_also_beats_independent_pg():
    res = rx.figure1(iterations=5000, stepsizes=(0.01, 0.05), agent1_target="conditional")
    assert res.agent1_target == "conditional"
    table = res.reach_table()
    for init in res.inits:
        for eta in res.stepsizes:
            k_seq, k_pg = table[(init, eta, "sequential")], table[(init, eta, "independent-pg")]
            assert k_seq is not None and (k_pg is None or k_seq < k_pg)


def test_iterations_to_reach():
    assert rx.iterations_to_reach(np.array([0.1, 0.5, 0.995, 0.98, 1.0])) == 2
    assert rx.iterations_to_reach(np.array([0.1, 0.5]), level=0.5) == 1
    assert rx.iterations_to_reach(np.array([0.1, 0.5])) is None
    assert rx.iterations_to_reach(np.array([])) is None
    with pytest.raises(MappoLiteError, match="curve"):
        rx.iterations_to_reach(np.zeros((2, 2)))
    with pytest.raises(MappoLiteError, match="level"):
        rx.iterations_to_reach(np.zeros(3), level=float("nan"))


def test_plot_figure1(fig1):
    from matplotlib.figure import Figure

    fig = plot_figure1(fig1)
    assert isinstance(fig, Figure)
    axes = fig.get_axes()
    assert len(axes) == 6
    titles = [ax.get_title() for ax in axes]
    assert any("near-stationary" in t and "0.001" in t for t in titles)
    assert any("uniform" in t and "0.05" in t for t in titles)
    for ax in axes:
        assert ax.get_xlabel() == "iteration" and ax.get_ylabel() == "V"
        labels = [t.get_text() for t in ax.get_legend().get_texts()]
        assert "sequential conditional update" in labels and "independent PG" in labels
        assert len(ax.get_lines()) == 3
    import matplotlib.pyplot as plt

    plt.close(fig)

    # caller-provided axes, no pyplot
    own = Figure()
    grid = own.subplots(2, 3, squeeze=False)
    assert plot_figure1(fig1, ax_grid=grid) is own
    with pytest.raises(MappoLiteError, match="ax_grid"):
        plot_figure1(fig1, ax_grid=grid[:, :2])
    with pytest.raises(MappoLiteError, match="result"):
        plot_figure1({"not": "a result"})


# ------------------------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize("eta", [0.0, -0.1, float("nan"), float("inf"), "0.1", None, True])
def test_bad_eta(eta):
    with pytest.raises(MappoLiteError, match="eta"):
        rx.run_sequential(eta, 10)
    with pytest.raises(MappoLiteError, match="eta"):
        rx.run_independent_pg(eta, 10)


@pytest.mark.parametrize("iterations", [-1, 2.5, 10.0, "10", None, True])
def test_bad_iterations(iterations):
    with pytest.raises(MappoLiteError, match="iterations"):
        rx.run_sequential(0.1, iterations)
    with pytest.raises(MappoLiteError, match="iterations"):
        rx.run_independent_pg(0.1, iterations)
    with pytest.raises(MappoLiteError, match="iterations"):
        rx.figure1(iterations=iterations)


def test_numpy_integer_iterations_are_accepted():
    assert rx.run_sequential(np.float64(0.1), np.int64(3)).shape == (4,)


def test_bad_init_names_the_valid_choices():
    with pytest.raises(MappoLiteError, match="near-stationary") as info:
        rx.initial_logits("saddle")
    assert "uniform" in str(info.value) and "saddle" in str(info.value)
    assert isinstance(info.value, ValueError)
    with pytest.raises(MappoLiteError, match="init"):
        rx.run_sequential(0.1, 10, init="random")
    with pytest.raises(MappoLiteError, match="init"):
        rx.run_independent_pg(0.1, 10, init=3)
    with pytest.raises(MappoLiteError, match="init"):
        rx.figure1(iterations=10, inits=("uniform", "bogus"))
    with pytest.raises(MappoLiteError, match="theta2"):
        rx.run_independent_pg(0.1, 10, init=(np.zeros(2), np.zeros((2, 2))))
    with pytest.raises(MappoLiteError, match="theta1"):
        rx.run_sequential(0.1, 10, init=(np.zeros(3), np.zeros(2)))
    with pytest.raises(MappoLiteError, match="theta2"):
        rx.run_sequential(0.1, 10, init=(np.zeros(2), [np.nan, 0.0]))


@pytest.mark.parametrize("magnitude", [-1.0, float("nan"), float("inf"), "5", None])
def test_bad_magnitude(magnitude):
    with pytest.raises(MappoLiteError, match="magnitude"):
        rx.initial_logits("near-stationary", magnitude)
    with pytest.raises(MappoLiteError, match="magnitude"):
        rx.run_independent_pg(0.1, 10, "near-stationary", magnitude=magnitude)


def test_bad_agent1_target():
    with pytest.raises(MappoLiteError, match="agent1_target"):
        rx.run_sequential(0.1, 10, agent1_target="joint")
    with pytest.raises(MappoLiteError, match="agent1_target"):
        rx.sequential_direction(np.zeros(2), np.zeros((2, 2)), "product")


def test_bad_stepsizes_in_figure1():
    with pytest.raises(MappoLiteError, match="eta"):
        rx.figure1(iterations=10, stepsizes=(0.01, -1.0))
    with pytest.raises(MappoLiteError, match="stepsizes"):
        rx.figure1(iterations=10, stepsizes=())


@pytest.mark.parametrize(
    "x, y, name",
    [
        ([0.5, 0.6], [0.5, 0.5], "x"),
        ([0.5, 0.5], [1.2, -0.2], "y"),
        ([0.5, 0.5, 0.0], [0.5, 0.5], "x"),
        ([0.5, np.nan], [0.5, 0.5], "x"),
        ("ab", [0.5, 0.5], "x"),
    ],
)
def test_bad_probability_vectors(x, y, name):
    with pytest.raises(MappoLiteError, match=name):
        rx.ratio_value(x, y)
    with pytest.raises(MappoLiteError, match=name):
        rx.ratio_gradient(x, y)


def test_bad_joint_distribution():
    with pytest.raises(MappoLiteError, match="p"):
        rx.ratio_value_joint(np.full((2, 2), 0.3))
    with pytest.raises(MappoLiteError, match="shape"):
        rx.ratio_value_joint(np.full(4, 0.25))
    with pytest.raises(MappoLiteError, match="theta1"):
        rx.independent_pg_logit_gradient([0.0, np.inf], [0.0, 0.0])
