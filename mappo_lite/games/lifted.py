r"""Exact lifts of dense games (:func:`lifted_game`): copies of states that no policy constant on the copies can
tell apart, the test bed of realizable compact features (the aggregation features of
:func:`mappo_lite.policies.families.aggregated_features`)."""

from __future__ import annotations

import numpy as np

from ..errors import MappoLiteError
from .dense import CooperativeMarkovGame


def lifted_game(game, copies, seed=0):
    r"""An exact lift of a dense game: base state b becomes ``copies[b]`` states (an int: the same for every b)
    with the rewards of b; from any copy of b, :math:`P(s'|s,\mathbf a)` spreads the base probability of reaching
    b' over the copies of b' with seeded random positive weights; ρ likewise. Returns ``(lifted game, blocks)``,
    ``blocks[s]`` = the base state of s. Policies constant on blocks have the same :math:`Q^{1:m}` as in the base
    game on every copy, and :math:`J^\star` is the base game's."""
    S = game.n_states
    cp = np.full(S, int(copies)) if np.ndim(copies) == 0 else np.asarray(copies, dtype=np.int64)
    if cp.shape != (S,) or cp.min() < 1:
        raise MappoLiteError(f"copies must be a positive int or one positive int per state ({S})")
    rng = np.random.default_rng(seed)
    blocks = np.repeat(np.arange(S), cp)
    n = blocks.shape[0]
    split = rng.random(n) + 0.5  # weights of the copies within a block
    split /= np.bincount(blocks, weights=split)[blocks]
    P = game.P_flat[blocks][:, :, blocks] * split[None, None, :]  # (n, |A|, n)
    r = game.r_flat[blocks]
    rho = game.rho[blocks] * split
    shape = game.action_sizes
    lifted = CooperativeMarkovGame(
        P.reshape((n,) + shape + (n,)),
        r.reshape((n,) + shape),
        game.gamma,
        rho,
        name=f"{game.name}[lifted x{n}/{S}]",
        meta={"base": game.name},
    )
    return lifted, blocks
