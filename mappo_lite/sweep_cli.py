"""``python -m mappo_lite sweep``: a grid of training runs (seeds × β × K × game) from the command line.

The command line of :func:`mappo_lite.experiments.sweep.run_sweep` (chapter 6's studies): it builds the grid
``grid(seed=SEEDS, beta=BETAS, K=KS, game=GAMES)`` (the last axis fastest), runs :func:`~mappo_lite.experiments.sweep.
train_summary` on every point, serially (``--jobs 1``, the default), on ``--jobs N`` joblib worker processes, or on the
Dask cluster whose scheduler is at ``--scheduler ADDRESS``, and prints one line per run (or one JSON document with
``--json -``, or writes it to ``--json FILE``). A ``tqdm`` progress bar counts finished runs on stderr, unless
``--quiet`` or ``--json -`` (stdout is then the data).

Like every subcommand (:mod:`mappo_lite.cli`), a bad command line ends in one ``mappo_lite: error: …`` line with exit
status 2 and nothing written: every value is checked (:mod:`mappo_lite.cli_guard`), the grid is at most
:data:`mappo_lite.limits.MAX_SWEEP_RUNS` runs, and the memory of the runs that execute at once is estimated before any
starts (:mod:`mappo_lite.limits`). The command is a plug-in of :mod:`mappo_lite.cli` (``PLUGIN_SUBCOMMANDS``) so that
the core command line never imports the ``sweeps`` extra (joblib, dask, distributed, tqdm).
"""

from __future__ import annotations

import json
import math
import os

from . import cli_guard as guard
from . import limits
from .errors import MappoLiteError

#: The algorithms a sweep runs: those with a penalty β (the grid's β axis).
SWEEP_ALGORITHMS = ("mappo", "independent-npg", "centralized")
#: Seconds to wait for a Dask scheduler given by ``--scheduler``.
CONNECT_TIMEOUT = 5


def add_parser(subparsers) -> None:
    """Register ``sweep`` (cheap: the library and the ``sweeps`` extra are imported when the command runs)."""
    w = subparsers.add_parser(
        "sweep",
        help="train on a grid seeds x betas x Ks x games (serially, with joblib or on a Dask cluster)",
        description="Train on every point of the grid SEEDS x BETAS x KS x GAMES (the last axis fastest) and print "
        "each run's average gap, J(pi_K) and J*; the results are those of mappo_lite.experiments.sweep.run_sweep.",
    )
    w.add_argument(
        "--games", nargs="+", default=["climbing"], metavar="GAME", help="built-in game names (default climbing)"
    )
    w.add_argument(
        "--seeds", nargs="+", type=guard.seed("seeds"), default=[0], metavar="SEED", help="random seeds (default 0)"
    )
    w.add_argument(
        "--betas",
        nargs="+",
        type=guard.real("betas", 0, low_open=True),
        default=[0.1],
        metavar="BETA",
        help="penalties beta; beta_k = beta*sqrt(K) (default 0.1)",
    )
    w.add_argument(
        "--Ks", nargs="+", type=guard.count("Ks"), default=[100], metavar="K", help="iteration counts K (default 100)"
    )
    w.add_argument("--algo", choices=list(SWEEP_ALGORITHMS), default="mappo", help="the algorithm (default mappo)")
    w.add_argument(
        "--evaluation",
        choices=["exact", "mc"],
        default=None,
        help="mappo, independent-npg: exact Q or Monte Carlo estimates (mc; then the seeds matter)",
    )
    w.add_argument(
        "--jobs",
        type=guard.count("jobs", limits.MAX_SWEEP_JOBS),
        default=1,
        metavar="N",
        help=f"joblib worker processes (default 1: serial in this process; at most {limits.MAX_SWEEP_JOBS})",
    )
    w.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="run on the Dask cluster whose scheduler is at ADDRESS (e.g. tcp://127.0.0.1:8786) instead of joblib",
    )
    w.add_argument(
        "--json",
        default=None,
        metavar="FILE",
        help="write the results as one JSON document to FILE ('-': to stdout, which turns the progress bar off)",
    )
    w.add_argument("--quiet", action="store_true", help="no progress bar on stderr")
    guard.add_max_memory(w, "sweeps")
    w.set_defaults(func=cmd_sweep)


def _need(module: str, what: str) -> None:
    import importlib

    try:
        importlib.import_module(module)
    except ModuleNotFoundError:
        raise MappoLiteError(
            f"{what} needs the package {module!r} of the 'sweeps' extra: pip install 'mappo_lite[sweeps]'"
        ) from None


def _check_output(path: str) -> None:
    """Refuse a --json FILE that cannot be written, before any run starts."""
    if path is None or path == "-":
        return
    if path == "" or "\0" in path:
        raise MappoLiteError(f"--json needs a file name or '-', got {path!r}")
    if os.path.isdir(path):
        raise MappoLiteError(f"--json {path!r} is a directory; give a file name")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise MappoLiteError(f"--json {path!r}: the folder {folder!r} does not exist")
    if not os.access(folder, os.W_OK):
        raise MappoLiteError(f"--json {path!r}: the folder {folder!r} is not writable")


def _write(path: str, text: str) -> None:
    """Write ``text`` to ``path`` atomically (a temporary file in the same folder, then a rename)."""
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text + "\n")
        os.replace(tmp, path)
    except OSError as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise MappoLiteError(f"cannot write --json {path!r}: {exc.strerror or exc}") from None


def _finite_or_none(x: float):
    return x if math.isfinite(x) else None


def _connect(address: str):
    _need("distributed", "--scheduler")
    import logging

    from distributed import Client

    if not address.strip() or any(c.isspace() for c in address):
        raise MappoLiteError(f"--scheduler needs an address such as tcp://127.0.0.1:8786, got {address!r}")
    logging.getLogger("distributed").setLevel(logging.CRITICAL)  # its connection retries are not our error line
    try:
        return Client(address, timeout=CONNECT_TIMEOUT)
    except (OSError, ValueError, TypeError) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise MappoLiteError(f"cannot connect to the Dask scheduler --scheduler {address!r}: {reason}") from None


def cmd_sweep(args) -> None:
    from .algorithms import defaults
    from .games.catalogue import GAMES, make_game

    for name in args.games:
        if name not in GAMES:
            raise MappoLiteError(f"unknown game {name!r} in --games: choose from {', '.join(GAMES)}")
    accepted = defaults(args.algo)
    if args.evaluation is not None and "evaluation" not in accepted:
        raise MappoLiteError(f"--evaluation does not apply to --algo {args.algo}")
    if args.scheduler is not None and args.jobs != 1:
        raise MappoLiteError("--jobs is for joblib; with --scheduler the Dask cluster's workers run the sweep")
    n_runs = len(args.seeds) * len(args.betas) * len(args.Ks) * len(args.games)
    limits.check_sweep_size(n_runs)
    _check_output(args.json)

    # every game once: built, checked, and its runs' memory estimated before any run starts
    at_once = 1 if args.scheduler is not None else min(args.jobs, n_runs)
    K_max = max(args.Ks)
    evaluation = args.evaluation or "exact"
    worst = 0
    for name in dict.fromkeys(args.games):
        game = make_game(name)
        limits.check_horizon(game)
        limits.check_value_scale(game)
        if args.algo == "centralized":
            guard.require_dense(game, "--algo centralized")
        need = limits.train_bytes(game, K_max, args.algo, "ideal", evaluation, 1, accepted.get("n_rollouts", 1))
        worst = max(worst, need)
    limits.check_bytes(
        f"the sweep ({n_runs} runs, {at_once} at once, K up to {K_max})", at_once * worst + n_runs * 2048
    )

    quiet = args.quiet or args.json == "-"
    if not quiet:
        _need("tqdm", "the progress bar (or --quiet)")
    from .experiments.sweep import grid, run_sweep

    fixed = {"algo": args.algo}
    if args.evaluation is not None:
        fixed["evaluation"] = args.evaluation
    configs = grid(seed=args.seeds, beta=args.betas, K=args.Ks, game=args.games, **fixed)
    if args.scheduler is not None:
        backend, label = _connect(args.scheduler), "dask"
    elif args.jobs > 1:
        _need("joblib", "--jobs")
        backend, label = "joblib", "joblib"
    else:
        backend, label = "serial", "serial"
    try:
        results = run_sweep(configs, backend=backend, n_jobs=args.jobs, quiet=quiet, desc="sweep")
    except MappoLiteError as exc:
        if "NaN or infinite" in str(exc):
            raise MappoLiteError(
                f"a run of the sweep diverged: the parameters became NaN or infinite ({exc}); a penalty in --betas "
                f"{' '.join(f'{b:g}' for b in args.betas)} is too small for the size of the rewards (the step is "
                "Q/beta_k with beta_k = beta*sqrt(K): try larger --betas)"
            ) from None
        raise
    finally:
        if label == "dask":
            backend.close()
    runs = []
    for c, r in zip(configs, results):
        run = {"game": c["game"], "seed": c["seed"], "beta": c["beta"], "K": c["K"]}
        run.update({k: _finite_or_none(float(v)) for k, v in r.items()})
        runs.append(run)
    out = {
        "algo": args.algo,
        "evaluation": evaluation,
        "backend": label,
        "axes": {"seed": args.seeds, "beta": args.betas, "K": args.Ks, "game": args.games},
        "runs": runs,
    }
    text = "\n".join(
        f"{r['game']:<10} seed={r['seed']:<4} beta={r['beta']:<8g} K={r['K']:<6} average gap={r['average_gap']:.6g}  "
        f"J(pi_K)={r['J_final']:.6g}  J*={r['J_star']:.6g}"
        for r in runs
    )
    if args.json == "-":
        guard.emit(out, True, text)
        return
    if args.json is not None:
        guard.check_finite(out)
        _write(args.json, json.dumps(out, allow_nan=False))
    guard.emit(out, False, text)


__all__ = ["CONNECT_TIMEOUT", "SWEEP_ALGORITHMS", "add_parser", "cmd_sweep"]
