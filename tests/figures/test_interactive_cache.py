"""The memoized runs behind chapter 5's interactive figure equal fresh uncached runs (issue 15)."""

import numpy as np

from mappo_lite.figures.algorithms import VARIANTS, run_games


def test_cached_runs_equal_fresh_runs():
    kw = dict(K=6, beta=0.3, T=60, eta=0.25, n_rollouts=2, sgd_init="zero", seed=3)
    names = ("climbing", "two_step")
    fresh = run_games(names, **kw, cache=False)
    cached = run_games(names, **kw)
    again = run_games(names, **{**kw, "T": 80})  # moving T: the exact and MC-ideal runs come from the cache
    for name in names:
        for label in VARIANTS:
            a, b = fresh["results"][name][label], cached["results"][name][label]
            np.testing.assert_allclose(b.J, a.J, rtol=1e-12, atol=1e-12 * max(1.0, abs(a.J_star)))
            np.testing.assert_allclose(b.J_star, a.J_star, rtol=1e-12)
        for label, v in VARIANTS.items():
            same = again["results"][name][label] is cached["results"][name][label]
            assert same == (v["solver"] != "sgd"), (name, label)


def test_reversed_agents_cached_equal_fresh():
    kw = dict(K=4, beta=0.2, T=40, eta=0.25, n_rollouts=2, reverse_agents=True, seed=1)
    fresh = run_games(("penalty",), **kw, cache=False)["results"]["penalty"]
    cached = run_games(("penalty",), **kw)["results"]["penalty"]
    for label in VARIANTS:
        np.testing.assert_allclose(cached[label].J, fresh[label].J, rtol=1e-12, atol=1e-12)


class _Bar:
    """A stand-in for the ipywidgets progress bar: records every value and description set."""

    def __init__(self, total, description="runs"):
        self.max, self.values, self.descriptions, self.closed = total, [], [description], False

    @property
    def value(self):
        return self.values[-1] if self.values else 0

    @value.setter
    def value(self, v):
        self.values.append(v)

    @property
    def description(self):
        return self.descriptions[-1]

    @description.setter
    def description(self, d):
        self.descriptions.append(d)

    def close(self):
        self.closed = True


def test_progress_bar_moves_with_the_iterations_of_every_run(monkeypatch):
    import mappo_lite.figures.algorithms as fa

    bars = []
    monkeypatch.setattr(fa, "progress_bar", lambda total, description="runs": bars.append(_Bar(total)) or bars[-1])
    monkeypatch.setattr(fa.time, "monotonic", iter(range(0, 10**6, 1)).__next__)  # 1 s per call: never throttled
    K, names = 5, ("climbing", "two_step")
    fa.run_games(names, K=K, beta=0.3, T=30, n_rollouts=1, seed=11, progress=True, cache=False)
    (bar,) = bars
    n_runs = len(names) * len(VARIANTS)
    assert bar.max == n_runs * (K + 1) and bar.closed
    assert bar.values == sorted(bar.values) and bar.values[-1] == bar.max
    # the general loop reports every iterate of the Monte Carlo runs: values inside a run, not only at its end
    inner = [v for v in bar.values if v % (K + 1)]
    assert len(inner) >= (n_runs - len(names)) * K
    assert set(bar.descriptions[1:]) == set(names)


def test_progress_callback_is_throttled():
    import mappo_lite.figures.algorithms as fa

    assert fa.progress_callback(None, 0) is None
    bar = _Bar(100)
    cb = fa.progress_callback(bar, 10, every_s=3600.0)
    for k in range(5):
        cb(k)
    assert bar.values == [10]  # the first report, then nothing within the hour
    bar = _Bar(100)
    cb = fa.progress_callback(bar, 10, every_s=0.0)
    for k in range(5):
        cb(k)
    assert bar.values == [10, 11, 12, 13, 14]
