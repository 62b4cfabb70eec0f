"""Cooperative Markov games: one interface (:class:`MarkovGameBase`), two forms (dense :class:`CooperativeMarkovGame`,
sparse :class:`SparseCooperativeMarkovGame`), ``.npz`` files (:func:`load_game`) and the built-in catalogue.

Modules: :mod:`.base` (the interface both forms implement), :mod:`.dense`, :mod:`.sparse`, :mod:`.io` (``.npz``
files of both forms), :mod:`.catalogue` (climbing, penalty, ratio, two_step, random, gridworld; :data:`GAMES`),
:mod:`.gridworld` (the gridworld's geometry).
"""

from .._validate import PROB_ATOL, check_distribution, check_gamma
from .base import MarkovGameBase
from .dense import CooperativeMarkovGame
from .io import NPZ_KEYS, SPARSE_NPZ_KEYS, load_game
from .sparse import SparseCooperativeMarkovGame, sparse_from_dense

__all__ = [
    "NPZ_KEYS",
    "PROB_ATOL",
    "SPARSE_NPZ_KEYS",
    "CooperativeMarkovGame",
    "MarkovGameBase",
    "SparseCooperativeMarkovGame",
    "check_distribution",
    "check_gamma",
    "load_game",
    "sparse_from_dense",
]
