"""mappo_lite.experiments.sweep: serial = threads = joblib = Dask LocalCluster, grid order, seeds from the configuration,
progress off when quiet."""

from __future__ import annotations

import math

import pytest

from mappo_lite.errors import MappoLiteError
from mappo_lite.experiments.sweep import grid, run_sweep, train_summary

pytest.importorskip("joblib")


def _configs():
    return grid(
        game=[dict(name="random", n_states=3, n_agents=2, n_actions=2, gamma=0.8, seed=1), "climbing"],
        K=[3, 6],
        beta=[0.1, 1.0],
        evaluation="mc",
        n_rollouts=2,
        seed=[0, 1],
    )


def _same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        for k in x:
            both_nan = math.isnan(x[k]) and math.isnan(y[k])
            assert both_nan or abs(x[k] - y[k]) <= 1e-12 * max(1.0, abs(x[k])), (k, x, y)


def test_threads_agree_with_serial_and_take_closures():
    from mappo_lite import ma_ppo, make_game
    from mappo_lite.experiments.sweep import available_cpus

    configs = _configs()
    serial = run_sweep(configs, quiet=True)
    _same(serial, run_sweep(configs, backend="threads", n_jobs=2, quiet=True))
    _same(serial[::-1], run_sweep(configs[::-1], backend="threads", quiet=True))  # -1: every core
    assert available_cpus() >= 1
    # Algorithm 3 on Monte Carlo targets: the sampling kernels' random streams, run side by side in two threads
    game = make_game("random", n_states=3, n_agents=2, n_actions=2, gamma=0.8, seed=2)

    def sampled(seed):  # a closure: the thread backend pickles nothing
        r = ma_ppo(game, K=4, beta=0.2, solver="sgd", evaluation="mc", T=200, n_rollouts=3, seed=seed)
        return {"J": float(r.J[-1]), "xi": float(r.xi.sum()), "eps": float(r.eps.sum())}

    seeds = list(range(6))
    alone = [sampled(s) for s in seeds]
    assert alone[0]["J"] != alone[1]["J"]  # exact: different draws, so the equality below is not trivial
    for _ in range(2):
        _same(alone, run_sweep(seeds, sampled, backend="threads", n_jobs=2, quiet=True))
    # inside numpy_twins() (a per-thread switch) the worker threads run the twins as the serial loop does
    from mappo_lite.kernels import numpy_twins, numpy_twins_active

    with numpy_twins():
        seen = run_sweep([0, 1], lambda _: numpy_twins_active(), backend="threads", n_jobs=2, quiet=True)
    assert seen == [True, True]
    assert run_sweep([0, 1], lambda _: numpy_twins_active(), backend="threads", n_jobs=2, quiet=True) == [False] * 2
    # a huge n_jobs is capped (threads beyond the runs or a few per core): it runs, it does not start 10**12 threads
    import threading

    idents = run_sweep(list(range(8)), lambda _: threading.get_ident(), backend="threads", n_jobs=10**12, quiet=True)
    assert len(set(idents)) <= min(8, 4 * available_cpus())


def test_grid_order_is_itertools_product():
    g = grid(seed=[0, 1], beta=[0.1, 1.0], K=5)
    assert [(c["seed"], c["beta"]) for c in g] == [(0, 0.1), (0, 1.0), (1, 0.1), (1, 1.0)]
    assert all(c["K"] == 5 for c in g)  # exact: integers
    with pytest.raises(MappoLiteError):
        grid(seed=[])


def test_serial_joblib_and_dask_agree_in_grid_order(capsys):
    configs = _configs()
    serial = run_sweep(configs, quiet=True)
    _same(serial, [train_summary(c) for c in configs])
    # seeds matter (so equality below is not trivial): the two seeds of one point differ
    assert serial[0]["average_gap"] != serial[1]["average_gap"]  # exact: different Monte Carlo draws
    _same(serial, run_sweep(configs, backend="joblib", n_jobs=2, quiet=True))
    # results in grid order, not completion order: reversed grid gives reversed results
    _same(serial[::-1], run_sweep(configs[::-1], backend="joblib", n_jobs=2, quiet=True))
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cl:
        with distributed.Client(cl) as client:
            _same(serial, run_sweep(configs, backend=client, quiet=True))
    assert capsys.readouterr().err.count("sweep") == 0


def test_progress_bar_unless_quiet(capsys):
    configs = grid(game="climbing", K=[2, 3], beta=0.1)
    run_sweep(configs, quiet=True, desc="quietrun")
    assert "quietrun" not in capsys.readouterr().err
    pytest.importorskip("tqdm")
    run_sweep(configs, quiet=False, desc="loudrun")
    err = capsys.readouterr().err
    assert "loudrun" in err and "2/2" in err


def test_bad_arguments():
    with pytest.raises(MappoLiteError):
        run_sweep([{"game": "climbing"}], backend="processes")
    with pytest.raises(MappoLiteError):
        run_sweep([{"game": "climbing"}], n_jobs=0)
    with pytest.raises(MappoLiteError):
        train_summary({"K": 3})
