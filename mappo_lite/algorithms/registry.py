"""The algorithms by name: :data:`ALGORITHMS` and :func:`train`. The command line reads its ``--algo`` choices, their
descriptions and every default from here (:func:`defaults`), so a default lives in one place: the function's
signature.
"""

from __future__ import annotations

import inspect

from ..errors import MappoLiteError
from ..games.base import MarkovGameBase
from .baselines import centralized_mirror, independent_npg, independent_pg
from .loop import TrainingResult
from .mappo import ma_ppo

#: Algorithm name (as on the command line) → function.
ALGORITHMS = {
    "mappo": ma_ppo,
    "independent-npg": independent_npg,
    "independent-pg": independent_pg,
    "centralized": centralized_mirror,
}


def train(game: MarkovGameBase, algo: str = "mappo", **kwargs) -> TrainingResult:
    """Run the named algorithm (``mappo``, ``independent-npg``, ``independent-pg``, ``centralized``)."""
    try:
        fn = ALGORITHMS[algo]
    except KeyError:
        raise MappoLiteError(f"unknown algorithm {algo!r}; choose from {', '.join(ALGORITHMS)}") from None
    return fn(game, **kwargs)


#: Algorithm name → one-line description (the CLI's help).
DESCRIPTIONS = {
    "mappo": "Algorithm 1 (MA-PPO): conditional policies, each agent's mirror step on its localized Q^{1:m}",
    "independent-npg": "product policies, mirror step on each agent's marginal Q",
    "independent-pg": "product softmax, exact gradient ascent",
    "centralized": "joint-action mirror step",
}


def defaults(algo: str) -> dict:
    """The keyword parameters of the named algorithm with their defaults (from its signature)."""
    try:
        fn = ALGORITHMS[algo]
    except KeyError:
        raise MappoLiteError(f"unknown algorithm {algo!r}; choose from {', '.join(ALGORITHMS)}") from None
    return {
        k: p.default for k, p in inspect.signature(fn).parameters.items() if p.default is not inspect.Parameter.empty
    }
