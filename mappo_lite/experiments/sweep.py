r"""Sweeps: a grid of training configurations run serially, in parallel with joblib, or on a Dask cluster.

The book's studies (chapter 6's gap against K, β, N, γ, |A| and the error sweeps) run one training per point of a
grid *seeds × β × K × game*. :func:`run_sweep` runs such a grid and returns the results **in grid order**, whatever
the backend:

* ``backend="serial"``: one after the other in this process;
* ``backend="joblib"``: ``joblib.Parallel`` on ``n_jobs`` worker processes of this machine (``-1``: every core);
* ``backend="threads"``: ``n_jobs`` threads of this process (``-1``: every core this process may use). The
  evaluation, sampling and Algorithm 3 kernels release the GIL (``nogil=True``), so runs whose time is in them
  (Monte Carlo rollouts, Algorithm 3 on many samples) overlap on the cores, with nothing pickled and nothing imported
  again: ``fn`` may be a closure. Runs whose time is Python bookkeeping (small exact games) gain nothing. numba's
  random state is per thread and each sampling kernel seeds it at the start of its call, so the results are the
  serial ones; inside :func:`mappo_lite.kernels.numpy_twins` (a per-thread switch) the workers run the twins too;
* ``backend=client``, a ``distributed.Client``: every configuration is a task on the Dask cluster behind it
  (a ``distributed.LocalCluster`` on this machine, or a remote cluster).

Deterministic per configuration **[ours]**: a run takes its seed from its configuration (the ``seed`` key), never
from the worker, the backend or the order in which runs finish, so the backends return the same results
(``tests/experiments/test_sweep.py`` checks serial = threads = joblib = Dask ``LocalCluster``).

Progress: a ``tqdm.auto`` bar (a widget in a notebook, text in a terminal) counts finished runs, unless
``quiet=True`` (what ``--quiet`` and ``--json`` mean on the command line).

:func:`grid` builds the configurations (a Cartesian product, the last axis fastest); :func:`train_summary` is the
usual run function: one :func:`mappo_lite.algorithms.train` call and the scalars the book plots.

joblib, dask/distributed and tqdm are the ``sweeps`` extra (the serial and thread backends need none of them with
``quiet=True``) (``pip install mappo_lite[sweeps]``); they are imported
inside the functions that need them, so the rest of the library imports without them.
"""

from __future__ import annotations

import itertools
import numbers
import os

import numpy as np

from .._validate import check_choice, check_int
from ..algorithms import train
from ..errors import MappoLiteError
from ..games.base import MarkovGameBase
from ..games.catalogue import make_game
from ..kernels import numpy_twins, numpy_twins_active

#: The backends named by a string (a ``distributed.Client`` is the other kind).
BACKENDS = ("serial", "threads", "joblib")


def grid(**axes) -> list[dict]:
    """The Cartesian product of ``axes`` as a list of configuration dicts, in ``itertools.product`` order (the last
    keyword varies fastest): ``grid(seed=[0, 1], beta=[0.1, 1.0])`` gives ``[{seed: 0, beta: 0.1}, {seed: 0,
    beta: 1.0}, {seed: 1, beta: 0.1}, {seed: 1, beta: 1.0}]``. A value that is not a list or tuple is one
    fixed value."""
    names = list(axes)
    values = [v if isinstance(v, list | tuple) else [v] for v in axes.values()]
    for name, v in zip(names, values):
        if len(v) == 0:
            raise MappoLiteError(f"grid axis {name!r} is empty")
    return [dict(zip(names, combo)) for combo in itertools.product(*values)]


def resolve_game(spec) -> MarkovGameBase:
    """A game from a configuration's ``game`` entry: a game, a built-in name, or ``{"name": ..., **params}``."""
    if isinstance(spec, MarkovGameBase):
        return spec
    if isinstance(spec, str):
        return make_game(spec)
    if isinstance(spec, dict) and "name" in spec:
        params = dict(spec)
        return make_game(params.pop("name"), **params)
    raise MappoLiteError(f"a configuration's game is a game, a name or a dict with 'name', got {spec!r}")


def train_summary(config: dict) -> dict:
    r"""One training run of a configuration: ``config["game"]`` (see :func:`resolve_game`), ``config.get("algo",
    "mappo")``, and every other key a keyword of the algorithm (``K``, ``beta``, ``seed``, ``evaluation``, ``T``,
    ...; the seed comes from the configuration, default 0). Returns the scalars the book's sweeps plot:
    ``average_gap`` :math:`\frac1K\sum_{k<K}(J^\star-J(\pi_k))`, ``J_final``, ``J_star``, ``gap0``
    :math:`J^\star-J(\pi_0)`, and ``xi_mean``/``eps_mean`` (means of the measured errors, 0 for exact steps;
    ``nan`` for algorithms that do not measure them)."""
    if not isinstance(config, dict) or "game" not in config:
        raise MappoLiteError(f"a training configuration is a dict with a 'game' key, got {config!r}")
    kwargs = dict(config)
    game = resolve_game(kwargs.pop("game"))
    algo = kwargs.pop("algo", "mappo")
    kwargs.setdefault("seed", 0)
    kwargs.setdefault("keep_policies", False)
    res = train(game, algo, **kwargs)
    return {
        "average_gap": res.average_gap,
        "J_final": float(res.J[-1]),
        "J_star": float(res.J_star),
        "gap0": float(res.gap[0]),
        "xi_mean": float(np.mean(res.xi)) if res.xi is not None else float("nan"),
        "eps_mean": float(np.mean(res.eps)) if res.eps is not None else float("nan"),
    }


def _is_dask_client(backend) -> bool:
    return type(backend).__name__ == "Client" and hasattr(backend, "map") and hasattr(backend, "gather")


class _NoProgress:
    """The progress bar of ``quiet=True``: does nothing, and needs no tqdm (so serial quiet sweeps run without the
    ``sweeps`` extra)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def update(self, n: int = 1) -> None:
        pass


def available_cpus() -> int:
    """The number of cores this process may run on (its CPU affinity where the OS reports one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return max(1, os.cpu_count() or 1)


def _progress(total: int, desc: str, quiet: bool):
    if quiet:
        return _NoProgress()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc)


def run_sweep(
    configs,
    fn=train_summary,
    *,
    backend="serial",
    n_jobs: int = -1,
    quiet: bool = False,
    desc: str = "sweep",
) -> list:
    """``[fn(c) for c in configs]``, in the order of ``configs``, on ``backend`` (see the module docstring).

    ``fn`` must be a module-level function of one configuration (so that joblib's and Dask's workers can import
    it; with ``backend="threads"`` any callable) and take every random seed from the configuration. ``n_jobs`` is
    the number of joblib's workers or of threads (``-1``: every core; threads are also capped at the number of
    runs and at 4 per core; ignored by the other backends). ``quiet=True`` hides the ``tqdm.auto`` progress bar."""
    configs = list(configs)
    if not callable(fn):
        raise MappoLiteError(f"fn must be callable, got {fn!r}")
    if not isinstance(quiet, bool):
        raise MappoLiteError(f"quiet must be True or False, got {quiet!r}")
    if not _is_dask_client(backend):
        if not isinstance(backend, str):
            raise MappoLiteError(
                f"backend must be 'serial', 'threads', 'joblib' or a distributed.Client, got {backend!r}"
            )
        check_choice(backend, "backend", BACKENDS)
    if isinstance(n_jobs, numbers.Integral) and not isinstance(n_jobs, bool) and int(n_jobs) == -1:
        n_jobs = -1
    else:
        n_jobs = check_int(n_jobs, "n_jobs", 1)
    if not configs:
        return []
    with _progress(len(configs), desc, quiet) as bar:
        if backend == "serial":
            out = []
            for c in configs:
                out.append(fn(c))
                bar.update(1)
            return out
        if backend == "threads":
            from concurrent.futures import ThreadPoolExecutor

            twins = numpy_twins_active()  # a per-thread switch: carried into the workers

            def call(config):
                with numpy_twins(twins):
                    return fn(config)

            out = []
            # more threads than runs, or than a few per core, only cost memory (an n_jobs of 10**12 is not 10**12 threads)
            workers = min(len(configs), 4 * available_cpus(), available_cpus() if n_jobs == -1 else n_jobs)
            with ThreadPoolExecutor(max_workers=workers) as pool:
                for r in pool.map(call, configs):  # in the order of the configurations
                    out.append(r)
                    bar.update(1)
            return out
        if backend == "joblib":
            from joblib import Parallel, delayed

            out = []
            # return_as="generator" yields the results in the order of the configurations as they arrive
            for r in Parallel(n_jobs=n_jobs, return_as="generator")(delayed(fn)(c) for c in configs):
                out.append(r)
                bar.update(1)
            return out
        from distributed import as_completed

        futures = backend.map(fn, configs, pure=False)
        for _ in as_completed(futures):
            bar.update(1)
        return backend.gather(futures)


__all__ = ["BACKENDS", "available_cpus", "grid", "resolve_game", "run_sweep", "train_summary"]
