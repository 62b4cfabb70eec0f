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
