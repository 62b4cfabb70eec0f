"""Command line: ``python -m mappo_lite {games,evaluate,solve,train,offline,sweep,bench,assignments} …``.

``bench``, ``assignments`` and ``sweep`` are added by :mod:`mappo_lite.bench.run`, :mod:`mappo_lite.course.commands`
and :mod:`mappo_lite.sweep_cli` through ``PLUGIN_SUBCOMMANDS``.

Every error in the input (bad game file, unknown name, out-of-range number) prints one line
``mappo_lite: error: …`` on stderr and exits with status 2; nothing is written. Strict number parsing, output checks
and divergence messages are in :mod:`mappo_lite.cli_guard`, the memory and horizon limits in :mod:`mappo_lite.limits`,
safe ``.npz`` reading in :mod:`mappo_lite.safe_npz`.
"""

from __future__ import annotations

import argparse
import importlib
import math
import os
import sys
import warnings

import numpy as np

from . import cli_guard as guard
from . import limits
from .errors import MappoLiteError

EXIT_USAGE = 2
EXIT_INTERNAL = 1

#: Modules that add their own subcommand: each defines ``add_parser(subparsers)``, which must be cheap (import heavy
#: things inside the command function) and register a parser with ``set_defaults(func=...)``.
PLUGIN_SUBCOMMANDS = ("mappo_lite.bench.run", "mappo_lite.course.commands", "mappo_lite.sweep_cli")


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (exit status 2)."""

    def error(self, message):
        raise MappoLiteError(message)


def _game_from(args):
    from .games.catalogue import get_game

    params = guard.game_params(args.game, args.param)
    estimate = limits.builtin_game_bytes(args.game, params)
    if estimate is not None:
        limits.check_bytes(f"building the game {args.game!r} with {params}", estimate)
    game = get_game(args.game, **params)
    limits.check_horizon(game)
    limits.check_value_scale(game)
    return game


def _print(obj, as_json: bool, text: str):
    guard.emit(obj, as_json, text)


def cmd_games(args):
    from .games.catalogue import GAMES, game_parameters, make_game

    rows = []
    for name in GAMES:
        g = make_game(name)
        rows.append(
            {
                "name": name,
                "n_states": g.n_states,
                "n_agents": g.n_agents,
                "action_sizes": list(g.action_sizes),
                "gamma": g.gamma,
                "optimum": g.meta.get("optimum"),
                "citation": g.meta.get("citation", g.meta.get("description", "")),
                "parameters": {
                    k: v for k, v in game_parameters(name).items() if not isinstance(v, np.random.Generator)
                },
            }
        )
    text = "\n".join(
        f"{r['name']:<10} S={r['n_states']:<5} N={r['n_agents']} A={'x'.join(map(str, r['action_sizes'])):<7} "
        f"gamma={r['gamma']:<5g} J*={r['optimum']:.6g}  {r['citation']}"
        for r in rows
    )
    _print({"games": rows}, args.json, text)


def cmd_evaluate(args):
    from .evaluation import evaluate

    game = _game_from(args)
    limits.check_bytes("evaluating the game", limits.evaluation_bytes(*limits.game_size(game)))
    ev = evaluate(game, "uniform")
    out = {"game": game.name, "policy": "uniform", "J": ev.J, "V": ev.V.tolist(), "nu": ev.nu.tolist()}
    _print(
        out,
        args.json,
        f"{game.describe()}\nuniform joint policy: J = {ev.J:.10g}\nV = {np.array2string(ev.V, precision=6)}",
    )


def cmd_solve(args):
    from .evaluation import optimal_value

    game = _game_from(args)
    limits.check_bytes("solving the game", limits.evaluation_bytes(*limits.game_size(game)))
    sol = optimal_value(game, method=args.method)
    out = {
        "game": game.name,
        "J_star": sol.J_star,
        "V_star": sol.V_star.tolist(),
        "greedy": sol.greedy.tolist(),
        "method": sol.method,
        "iterations": sol.iterations,
    }
    _print(
        out, args.json, f"{game.describe()}\nJ* = {sol.J_star:.10g} ({sol.method} iteration, {sol.iterations} steps)"
    )


def _features(spec: str, game, seed):
    from .policies.conditional import context_counts
    from .policies.features import random_features

    if spec == "tabular":
        return "tabular"
    if spec.startswith("random:"):
        d = guard.feature_dim(spec)
        rng = np.random.default_rng(seed)
        return [
            random_features(c, A, d, rng)
            for c, A in zip(context_counts(game.n_states, game.action_sizes), game.action_sizes)
        ]
    from .policies.families import FAMILIES, resolve_features

    if spec in FAMILIES:
        return resolve_features(game, spec)
    raise MappoLiteError(f"unknown --features {spec!r}: use {', '.join(FAMILIES)}")


#: ``train`` options → the algorithms' keyword parameters (an option is passed only to algorithms that take it,
#: and only when given: otherwise the function's own default applies, see mappo_lite.algorithms.registry).
_TRAIN_OPTIONS = (
    "K",
    "beta",
    "solver",
    "evaluation",
    "T",
    "eta",
    "n_rollouts",
    "sgd_init",
    "radius",
    "features",
    "seed",
)


def cmd_train(args):
    from .algorithms import defaults, train

    dim = guard.feature_dim(args.features or "tabular") if args.algo == "mappo" else None
    game = _game_from(args)
    if args.algo == "centralized":
        guard.require_dense(game, "--algo centralized")
    accepted = defaults(args.algo)
    given = {name: getattr(args, name) for name in _TRAIN_OPTIONS if getattr(args, name) is not None}
    # what will run (the options given, else the algorithm's own defaults), for the estimate and the messages
    option_defaults = {k: v for k, v in {**defaults("mappo"), **accepted}.items() if k in _TRAIN_OPTIONS}
    run = argparse.Namespace(**{**vars(args), **option_defaults, **given})
    limits.check_bytes(
        f"training ({args.algo}, K={run.K})",
        limits.train_bytes(game, run.K, args.algo, run.solver, run.evaluation, run.T, run.n_rollouts, dim),
    )
    kw = {"keep_policies": False}
    for name, value in given.items():
        if name in accepted:
            kw[name] = _features(value, game, run.seed) if name == "features" else value
    try:
        res = train(game, args.algo, **kw)
    except MappoLiteError as exc:
        raise guard.diverged(exc, run) or exc from None
    out = res.as_dict()
    out["game"] = game.name
    if res.eps is not None:
        out["eps_mean"] = float(np.mean(res.eps))
        out["xi_mean"] = float(np.mean(res.xi))
    text = (
        f"{game.describe()}\n{args.algo}: J(pi_0) = {res.J[0]:.6g}, J(pi_K) = {res.J[-1]:.6g}, "
        f"J(output, k={res.output_index}) = {res.J_output:.6g}, J* = {res.J_star:.6g}, "
        f"average gap = {res.average_gap:.4g}"
    )
    _print(out, args.json, text)


def cmd_offline(args):
    from .offline.core import collect_dataset, load_dataset, offline_ma_ppo
    from .theory import rescale_rewards

    game = _game_from(args)
    guard.require_dense(game, "offline")
    if args.unit_rewards:
        game = rescale_rewards(game)
    if args.dataset:
        data = load_dataset(args.dataset)
        if (data.n_states, data.action_sizes) != (game.n_states, game.action_sizes):
            raise MappoLiteError(
                f"dataset file {args.dataset!r} does not match the game {game.name!r}: it has S={data.n_states}, "
                f"action sizes {data.action_sizes}; the game has S={game.n_states}, action sizes {game.action_sizes}"
            )
        limits.check_dataset_scale(data, game, args.dataset)
    limits.check_bytes(
        f"offline MA-PPO (K={args.K}, critic {args.critic})",
        limits.offline_bytes(
            game,
            None if args.dataset else args.n,
            args.K,
            args.critic,
            args.critic_dim,
            data.n if args.dataset else None,
        ),
    )
    if not args.dataset:
        data = collect_dataset(
            game,
            args.n,
            coverage=args.coverage,
            state_fraction=args.state_fraction,
            reward_noise=args.reward_noise,
            seed=args.seed,
        )
    try:
        res = offline_ma_ppo(
            game,
            data,
            args.K,
            args.beta,
            evaluator=args.evaluator,
            lam=args.lam,
            L=args.L,
            ridge=args.ridge,
            critic=args.critic,
            critic_dim=args.critic_dim,
            seed=args.seed,
        )
    except MappoLiteError as exc:
        raise guard.diverged(exc, args) or exc from None
    out = res.as_dict()
    out.update(
        game=game.name,
        n=data.n,
        evaluator=args.evaluator,
        J_estimated=[float(x) for x in res.J_estimated],
        J_true=[float(x) for x in res.J[:-1]],
        gap_final=float(res.J_star - res.J[-1]),
    )
    text = (
        f"{game.describe()}\noffline MA-PPO ({args.evaluator}, n={data.n}): J(pi_K) = {res.J[-1]:.6g}, "
        f"J* = {res.J_star:.6g}, gap = {res.J_star - res.J[-1]:.4g}; estimated J(pi_(K-1)) = {res.J_estimated[-1]:.6g} "
        f"vs true {res.J[-2]:.6g}"
    )
    _print(out, args.json, text)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="python -m mappo_lite",
        description="Multi-agent PPO with conditional log-linear policies "
        "(Zhao, Yang, Wang, Lee, ICML 2023) on cooperative Markov games.",
    )
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    g = sub.add_parser("games", help="list the built-in games with their size and known optimum")
    g.add_argument("--json", action="store_true", help="print one JSON object")
    g.set_defaults(func=cmd_games)

    def game_args(sp):
        sp.add_argument("game", metavar="GAME", help="a built-in game name (see 'games') or a path to a .npz game file")
        sp.add_argument(
            "--param",
            action="append",
            type=guard.parse_param,
            metavar="NAME=VALUE",
            help="a parameter of a built-in game, e.g. --param k=-50 for penalty (repeatable)",
        )
        sp.add_argument("--json", action="store_true", help="print one JSON object on stdout")
        guard.add_max_memory(sp)

    e = sub.add_parser("evaluate", help="exact J and V of the uniform joint policy")
    game_args(e)
    e.set_defaults(func=cmd_evaluate)

    s = sub.add_parser("solve", help="the optimal value J* on the joint-action MDP")
    game_args(s)
    s.add_argument(
        "--method",
        choices=["policy", "value"],
        default="policy",
        help="policy iteration (exact, default) or value iteration",
    )
    s.set_defaults(func=cmd_solve)

    from .algorithms import ALGORITHMS, DESCRIPTIONS, defaults
    from .algorithms.mappo import EVALUATIONS, SGD_INITS, SOLVERS

    mappo, ipg = defaults("mappo"), defaults("independent-pg")
    t = sub.add_parser("train", help="run MA-PPO (Algorithm 1) or a baseline; prints J(pi_0..pi_K)")
    game_args(t)
    t.add_argument(
        "--algo",
        choices=list(ALGORITHMS),
        default="mappo",
        help="; ".join(f"{name}: {text}" for name, text in DESCRIPTIONS.items()),
    )
    t.add_argument("--K", type=guard.count("K"), default=None, help=f"number of iterations K (default {mappo['K']})")
    t.add_argument(
        "--beta",
        type=guard.real("beta", 0, low_open=True),
        default=None,
        help=f"penalty beta; beta_k = beta*sqrt(K) (default {mappo['beta']})",
    )
    t.add_argument(
        "--solver",
        choices=list(SOLVERS),
        default=None,
        help=f"mappo: exact tabular mirror step (ideal) or Algorithm 3, projected SGD (sgd) "
        f"(default {mappo['solver']})",
    )
    t.add_argument(
        "--evaluation",
        choices=list(EVALUATIONS),
        default=None,
        help=f"mappo: exact Q^{{1:m}} or Monte Carlo estimates (mc) (default {mappo['evaluation']})",
    )
    t.add_argument(
        "--T",
        type=guard.count("T"),
        default=None,
        help=f"mappo/sgd: samples (SGD steps) per agent and iteration (default {mappo['T']})",
    )
    t.add_argument(
        "--eta",
        type=guard.real("eta", 0, low_open=True),
        default=None,
        help=f"mappo/sgd: SGD stepsize (default {mappo['eta']}); independent-pg: gradient stepsize "
        f"(default {ipg['eta']})",
    )
    t.add_argument(
        "--n-rollouts",
        type=guard.count("n-rollouts"),
        default=None,
        help=f"mappo/mc: rollouts per estimate (default {mappo['n_rollouts']})",
    )
    t.add_argument(
        "--sgd-init",
        choices=list(SGD_INITS),
        default=None,
        help=f"mappo/sgd: Algorithm 3 starts from theta(0)=0 (paper) or from theta_k (default {mappo['sgd_init']})",
    )
    t.add_argument(
        "--features",
        default=None,
        help="mappo: 'tabular' (default), 'random:D' (unit-norm random features of dimension D), or a family of "
        "mappo_lite.policies.families: 'product', 'match', 'pairwise', 'gridworld', 'gridworld-noprefix'",
    )
    t.add_argument(
        "--radius",
        type=guard.real("radius", 0, low_open=True, allow_inf=True),
        default=None,
        help=f"mappo: radius R of the parameter ball (default {mappo['radius']})",
    )
    t.add_argument(
        "--seed",
        type=guard.seed(),
        default=None,
        help=f"random seed (sampling, Monte Carlo, output index; default {mappo['seed']})",
    )
    t.set_defaults(func=cmd_train)

    o = sub.add_parser("offline", help="off-policy MA-PPO from a fixed dataset with plain or pessimistic evaluation")
    game_args(o)
    o.add_argument("--n", type=guard.count("n"), default=1000, help="transitions to collect (default 1000)")
    o.add_argument("--dataset", default=None, help="read transitions from this .npz instead of collecting them")
    o.add_argument(
        "--coverage",
        type=guard.real("coverage", 0, low_open=True),
        default=1.0,
        help="relative weight of the optimal joint action in the behaviour policy (1 = uniform; "
        "<1 rarely shows the optimum; >1 concentrates on it and covers the rest thinly)",
    )
    o.add_argument(
        "--state-fraction",
        type=guard.real("state-fraction", 0, 1, low_open=True),
        default=1.0,
        help="fraction of states that appear in the data (default 1)",
    )
    o.add_argument(
        "--reward-noise",
        type=guard.real("reward-noise", 0),
        default=0.0,
        help="standard deviation of Gaussian noise added to observed rewards",
    )
    o.add_argument("--unit-rewards", action="store_true", help="rescale the game's rewards to [0, 1] first")
    o.add_argument(
        "--evaluator",
        choices=["plain", "pessimistic"],
        default="pessimistic",
        help="plain LSTD or the pessimistic (regularized Bellman-consistent) evaluator",
    )
    o.add_argument(
        "--lam",
        type=guard.real("lam", 0, low_open=True, allow_inf=True),
        default=1.0,
        help="pessimism weight lambda (inf = plain)",
    )
    o.add_argument(
        "--L",
        type=guard.real("L", 0, low_open=True, allow_inf=True),
        default=math.inf,
        help="norm bound L of the critic weights (default inf)",
    )
    o.add_argument(
        "--ridge", type=guard.real("ridge", 0, low_open=True), default=1e-3, help="ridge alpha of the critic regression"
    )
    o.add_argument("--critic", choices=["tabular", "random"], default="tabular", help="critic features")
    o.add_argument(
        "--critic-dim", type=guard.count("critic-dim"), default=None, help="dimension of random critic features"
    )
    o.add_argument("--K", type=guard.count("K"), default=50, help="MA-PPO iterations (default 50)")
    o.add_argument(
        "--beta", type=guard.real("beta", 0, low_open=True), default=0.05, help="penalty beta (default 0.05)"
    )
    o.add_argument("--seed", type=guard.seed(), default=0, help="random seed (data collection, output index)")
    o.set_defaults(func=cmd_offline)

    for module_name in PLUGIN_SUBCOMMANDS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name is None or not (module_name + ".").startswith(exc.name + "."):
                raise  # a plugin that exists but fails to import is a real error
            continue
        module.add_parser(sub)
    return p


def main(argv=None) -> int:
    parser = build_parser()
    caught = []
    try:
        with warnings.catch_warnings(record=True) as caught:  # the usual filters; shown only when the command succeeds
            args = parser.parse_args(argv)
            limits.set_max_bytes(getattr(args, "max_memory", None))
            args.func(args)
    except (MappoLiteError, OSError, np.linalg.LinAlgError, MemoryError) as exc:
        message = " ".join(str(exc).split()) or type(exc).__name__
        if isinstance(exc, MemoryError):
            message = f"out of memory ({message}); lower the request or the memory limit (--max-memory)"
        print(f"mappo_lite: error: {message}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bug, not bad input: still one line (MAPPO_LITE_DEBUG=1 shows the traceback)
        if os.environ.get("MAPPO_LITE_DEBUG"):
            raise
        print(
            f"mappo_lite: error: internal error ({type(exc).__name__}: {' '.join(str(exc).split())}); please "
            "report it (MAPPO_LITE_DEBUG=1 shows the traceback)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL
    finally:
        limits.set_max_bytes(None)
    shown = set()
    for w in caught:  # each distinct warning once
        if (str(w.message), w.category, w.filename, w.lineno) not in shown:
            shown.add((str(w.message), w.category, w.filename, w.lineno))
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    return 0
