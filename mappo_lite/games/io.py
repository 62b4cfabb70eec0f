"""Game ``.npz`` files, both forms: the dense keys ``P``, ``r``, ``gamma`` [, ``rho``] and the sparse keys
``next_states``, ``probs``, ``r``, ``gamma`` [, ``rho``] (:func:`load_game`; the games' ``save`` methods write them).
"""

from __future__ import annotations

import os

import numpy as np

from .._validate import check_gamma
from ..errors import MappoLiteError
from ..safe_npz import read_npz
from .dense import CooperativeMarkovGame
from .sparse import SparseCooperativeMarkovGame

#: Keys allowed in a game ``.npz`` file (dense form).
NPZ_KEYS = ("P", "r", "gamma", "rho")
#: Keys of the sparse form (:mod:`mappo_lite.games.sparse`): successor lists instead of P.
SPARSE_NPZ_KEYS = ("next_states", "probs", "r", "gamma", "rho")


def load_game(path, name: str | None = None) -> CooperativeMarkovGame:
    """Read a game from an ``.npz`` file with keys ``P``, ``r``, ``gamma`` and optionally ``rho`` (or, for the sparse
    form, ``next_states`` and ``probs`` instead of ``P``; see :mod:`mappo_lite.games.sparse`).

    Every problem (missing file, not an npz archive, missing or unknown keys, bad arrays) raises
    :class:`~mappo_lite.errors.MappoLiteError` naming the file.
    """
    path = os.fspath(path)
    arrays = read_npz(path, "game file", kinds={"next_states": "iuf"})
    keys = set(arrays)
    sparse = "P" not in keys and {"next_states", "probs"} <= keys
    allowed = set(SPARSE_NPZ_KEYS if sparse else NPZ_KEYS)
    missing = ({"r", "gamma"} | ({"next_states", "probs"} if sparse else {"P"})) - keys
    if missing:
        raise MappoLiteError(
            f"game file {path!r} lacks the key(s) {sorted(missing)} (needs P, r, gamma[, rho], or the sparse "
            "next_states, probs, r, gamma[, rho])"
        )
    unknown = keys - allowed
    if unknown:
        raise MappoLiteError(
            f"game file {path!r} has unknown key(s) {sorted(unknown)} (allowed: {', '.join(sorted(allowed))})"
        )
    gamma = arrays["gamma"]
    if np.ndim(gamma) != 0:
        raise MappoLiteError(f"game file {path!r}: gamma must be a scalar, got shape {np.shape(gamma)}")
    try:
        gamma = check_gamma(np.asarray(gamma)[()])
    except MappoLiteError as exc:
        raise MappoLiteError(f"game file {path!r}: {exc}") from None
    try:
        if sparse:
            return SparseCooperativeMarkovGame(
                arrays["next_states"],
                arrays["probs"],
                arrays["r"],
                float(gamma),
                arrays.get("rho"),
                name=name or os.path.splitext(os.path.basename(path))[0],
                meta={"source": path},
            )
        return CooperativeMarkovGame(
            arrays["P"],
            arrays["r"],
            float(gamma),
            arrays.get("rho"),
            name=name or os.path.splitext(os.path.basename(path))[0],
            meta={"source": path},
        )
    except MappoLiteError as exc:
        raise MappoLiteError(f"game file {path!r}: {exc}") from None
