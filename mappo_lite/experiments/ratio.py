r"""The paper's experiment (the paper's App. E, Figure 1; chapter 7 of the book): von Neumann's ratio game, exact values, no sampling.

The game [paper]
----------------
Two agents, two actions each, fully cooperative, one state. Each step the agents play :math:`(a^1, a^2)`, earn
:math:`R[a^1, a^2]` and the game stops with probability :math:`S[a^1, a^2]` (rows = agent 1's action)::

    R = [[ 1.0, 0.5],        S = [[1.0, 1.0],
         [-0.5, 0.0]]             [0.1, 0.1]]

For product policies :math:`x = \pi^1`, :math:`y = \pi^2` the expected total reward is the ratio

.. math::  V(x, y) = \frac{x^\top R y}{x^\top S y},

and for any joint (possibly correlated) distribution :math:`p(a^1, a^2)` it is
:math:`V(p) = \sum_{a} p(a) R(a) / \sum_a p(a) S(a)` (:func:`ratio_value_joint`): one state, so the number of
steps is geometric with mean :math:`1/\sum_a p(a)S(a)` whatever the correlation. Pure profiles give
:math:`V = R/S = [[1, 0.5], [-5, 0]]`, uniform policies :math:`5/11`, the optimum is :math:`V^\star = 1` at
:math:`(0, 0)`. Since :math:`R \le S` entrywise, :math:`V \le 1` for every joint distribution: a larger value is a
bug, and the tests assert it.

With :math:`p = x(0)`, :math:`q = y(0)`: :math:`V = (p/2 + pq - q/2)/(0.1 + 0.9p)`, so

.. math::  \partial_p V = \frac{0.05 + 0.55 q}{(0.1 + 0.9 p)^2} > 0, \qquad
           \partial_q V = \frac{p - 1/2}{0.1 + 0.9 p}.

Action 0 is strictly dominant for agent 1, and agent 2 prefers action 0 exactly when :math:`p > 1/2`.

The two compared methods
------------------------
**(a) Sequential conditional update** (:func:`run_sequential`). Agent 1 has logits :math:`\theta \in \mathbb R^2`,
:math:`\pi^1 = \mathrm{softmax}(\theta)`; agent 2 has one logit vector per action of agent 1,
:math:`z_{a^1} \in \mathbb R^2`, :math:`\pi^2(\cdot \mid a^1) = \mathrm{softmax}(z_{a^1})` (the conditional,
autoregressive policy of chapter 4 with tabular features). One iteration :math:`k`:

.. math::
   \theta_{k+1}[a] = \theta_k[a] + \eta\, Q^1_k(a), \qquad
   z_{a^1, k+1}[a^2] = z_{a^1, k}[a^2] + \eta\, V(e_{a^1}, e_{a^2}) = z_{a^1, k}[a^2] + \eta\, R[a^1, a^2]/S[a^1, a^2].

Two choices of agent 1's target :math:`Q^1_k`, selected by ``agent1_target``:

* ``"marginal"`` (default) — **[paper]**, our reading of the authors' code:
  :math:`Q^1_k(a) = V(e_a, \bar\pi^2_k)` with
  :math:`\bar\pi^2_k = \sum_{a^1} \pi^1_k(a^1)\,\pi^2_k(\cdot \mid a^1)` agent 2's *marginal* policy.
* ``"conditional"`` — **[ours]**: :math:`Q^1_k(a) = V(e_a, \pi^2_k(\cdot \mid a))`, agent 2's conditional policy given
  :math:`a`; this is the localized action value :math:`Q^{1:1}_{\pi_k}(a)` of the MA-PPO theory (chapters 3 and 5).

Agent 2's target is :math:`V(e_{a^1}, e_{a^2}) = R[a^1,a^2]/S[a^1,a^2]`, the value of committing to the pure profile
forever; it does not depend on the policy. It is *not* the Markov game's action value: there
:math:`Q^{1:2}_\pi(a^1,a^2) = Q_\pi(a^1,a^2) = R[a^1,a^2] + (1-S[a^1,a^2])\,V_\pi`, which depends on π (chapter 7
compares the two; the paper's experiment uses the profile values).
All updates of iteration :math:`k` use the iteration-:math:`k` quantities (simultaneous; chapter 5: "every agent's
:math:`\hat Q` belongs to the iteration-k joint policy"; the authors' code computes :math:`\bar\pi^2_k` before
updating). Both rules are the tabular mirror-descent / Q-NPG step of chapter 5,
:math:`\pi_{k+1} \propto \pi_k \exp(\eta Q)`, with :math:`\eta = \beta^{-1}`. The policy's performance is the value of
the *joint* distribution :math:`p_k(a^1, a^2) = \pi^1_k(a^1)\,\pi^2_k(a^2 \mid a^1)`, i.e. :func:`ratio_value_joint`
(**[ours]**: the authors' code plots :math:`V(\pi^1_k, \bar\pi^2_k)`, the product of agent 1's policy with agent 2's
marginal; on this game both give the same iterations-to-0.99 to within one iteration).

**(b) Independent policy gradient** (:func:`run_independent_pg`) [paper]. Product policies
:math:`x = \mathrm{softmax}(\theta^1)`, :math:`y = \mathrm{softmax}(\theta^2)`, simultaneous exact gradient ascent
:math:`\theta^m_{k+1} = \theta^m_k + \eta \nabla_{\theta^m} V(x_k, y_k)`. With :math:`D = x^\top S y`:

.. math::
   \nabla_x V = \frac{R y - V\, S y}{D}, \qquad \nabla_y V = \frac{R^\top x - V\, S^\top x}{D},

   \nabla_{\theta^1} V = (\mathrm{diag}(x) - x x^\top) \nabla_x V = x \odot (\nabla_x V - \langle x, \nabla_x V\rangle
   \mathbf 1) = x \odot \nabla_x V, \qquad \nabla_{\theta^2} V = y \odot \nabla_y V

(:func:`ratio_gradient` and :func:`independent_pg_logit_gradient`); the last equalities hold because :math:`V` is
homogeneous of degree 0 in :math:`x` and in :math:`y`, so
:math:`\langle x, \nabla_x V\rangle = (x^\top R y - V x^\top S y)/D = 0`. For agent 1 this is
:math:`\nabla_{\theta^1} V = p(1-p)\,\partial_p V\,(e_0 - e_1)`: because :math:`\partial_p V > 0` the
independent-PG gradient has **no zero at finite logits**; it only vanishes in the limit of a pure profile.

Initializations [ours]
----------------------
The "near the stationary point" initialization is not specified in the material we have (our choice below). :func:`initial_logits`:

* ``"uniform"``: all logits 0 (:math:`V = 5/11`).
* ``"near-stationary"`` (default magnitude :math:`m = 5`): :math:`\theta^1 = (m, 0)`, :math:`\theta^2 = (0, m)`, i.e.
  both agents concentrated (probability :math:`1/(1+e^{-m}) \approx 0.9933`) on the profile :math:`(a^1, a^2) = (0, 1)`,
  :math:`V \approx 0.5`. Why this profile: the stationary points of independent PG are the four pure profiles
  reached at infinite logits; :math:`(0, 0)` is the optimum (a sink), :math:`(1, 0)` repels both agents (a source),
  :math:`(1, 1)` and :math:`(0, 1)` are saddles (one agent attracted, one repelled). Near :math:`(0, 1)` agent 1 is
  pulled further in and agent 2's escape rate is the slowest of all,
  :math:`\nabla_{\theta^2} \approx \tfrac12 q\,(e_0 - e_1)` with :math:`q = y(0) \approx e^{-m}`, and independent-PG
  trajectories starting at :math:`(1, 1)` end up there too. The magnitude 5 is the logit gap the authors' public
  code gives agent 2 (``theta_2 = [0, 5]`` in ``zhaoyl18/ratio_game/train_softmax.py``). Agent 2's logit gap
  grows by :math:`2\eta\, q(1-q)\,\partial_q V \approx \eta q` per step, so the escape takes about
  :math:`e^{m} / \eta` iterations (2968 for :math:`m = 5`, :math:`\eta = 0.05`).
* ``"agent2-saturated"``: :math:`\theta^1 = (0, 0)`, :math:`\theta^2 = (0, m)`, exactly the authors' code's
  initialization for :math:`m = 5`: at :math:`p = 1/2` agent 2's gradient is exactly 0 (:math:`\partial_q V = 0`),
  agent 1's is small but not 0.

The sequential method starts from the *same* joint policy: :math:`\theta = \theta^1` and every
:math:`z_{a^1} = \theta^2`.

What reproduces (``figure1()``; iterations to reach :math:`V \ge 0.99`, default settings)
-----------------------------------------------------------------------------------------

==================  ======  ==========  ==============
init                η       sequential  independent PG
==================  ======  ==========  ==============
near-stationary     0.001   17784       never (stays ≈ 0.503)
near-stationary     0.01    1779        never (escapes late: 0.983 at 20000)
near-stationary     0.05    356         4651
uniform             0.001   7784        never (0.930 at 20000)
uniform             0.01    779         10985
uniform             0.05    156         2196
==================  ======  ==========  ==============

The sequential method is faster in every panel, as in the paper. From near-stationary, independent PG stalls at
:math:`V \approx 0.5` for η = 0.001 and escapes for η = 0.05: it first reaches :math:`V \ge 0.6` at iteration 3063,
matching the paper's "escapes after about 3000 iterations". What does *not* match: for η = 0.01 it also escapes
inside the horizon (:math:`V \ge 0.6` at iteration 15305, 0.983 at 20000), where the paper reports a stall.
Because the escape time scales as :math:`1/\eta` (about :math:`e^m/\eta`), no magnitude gives both "escape after
~3000 iterations with η = 0.05" and "no escape within 20000 with η = 0.01" (that needs the escape time to grow by
more than 20000/3000 ≈ 6.7 for a 5× smaller η); :math:`m = 4` gives 3011 / 15051 iterations to 0.99 (η = 0.05 /
0.01), :math:`m = 6` gives 9602 / never.

A caveat for the reader [ours]: the sequential step is a mirror-descent (natural-gradient) step, independent PG a
vanilla gradient step whose logit gradient carries the factor :math:`\pi(a)` that vanishes at a saturated
policy. An *independent* natural-gradient step on product policies (:math:`\theta^1[a] \mathrel{+}= \eta V(e_a, y)`,
:math:`\theta^2[b] \mathrel{+}= \eta V(x, e_b)`) reaches 0.99 from near-stationary after 1780 / 356 iterations
(η = 0.01 / 0.05) and from uniform after 811 / 163: on this game the speed-up comes mostly from the mirror-descent
form, not from the conditioning. (Conditioning matters for *where* a method can converge — correlated joint
policies — which this game, with a pure optimum, does not test.)

Speed: both loops run as numba kernels (:func:`mappo_lite.kernels.ratio.ratio_sequential`, ``ratio_independent_pg``);
their plain-NumPy twins :func:`sequential_reference` and :func:`independent_pg_reference` exist for the tests.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field

import numpy as np

from .._validate import (
    as_float_array,
    check_choice,
    check_nonnegative,
    check_nonnegative_int,
    check_positive,
    check_probability_array,
)
from ..errors import MappoLiteError
from ..games.catalogue import RATIO_R, RATIO_S
from ..kernels import ratio_independent_pg, ratio_sequential
from ..kernels.softmax import softmax

__all__ = [
    "RATIO_R",
    "RATIO_S",
    "INITS",
    "AGENT1_TARGETS",
    "METHODS",
    "DEFAULT_MAGNITUDE",
    "ratio_value",
    "ratio_value_joint",
    "ratio_gradient",
    "independent_pg_logit_gradient",
    "sequential_direction",
    "initial_logits",
    "run_sequential",
    "run_independent_pg",
    "sequential_reference",
    "independent_pg_reference",
    "Figure1Result",
    "figure1",
    "iterations_to_reach",
]

#: Valid initialization names for :func:`initial_logits`.
INITS = ("uniform", "near-stationary", "agent2-saturated")

#: Valid values of ``agent1_target`` for :func:`run_sequential`: our [paper] reading first.
AGENT1_TARGETS = ("marginal", "conditional")

#: Method keys used by :func:`figure1`.
METHODS = ("sequential", "independent-pg")

#: Default logit magnitude :math:`m` of the saturated initializations (the authors' code uses 5).
DEFAULT_MAGNITUDE = 5.0

_Q_PURE = np.asarray(RATIO_R / RATIO_S)  # V(e_a1, e_a2): [[1, 0.5], [-5, 0]]
_Q_PURE.flags.writeable = False


# --------------------------------------------------------------------------------------------------- validation


def _check_target(agent1_target) -> str:
    return check_choice(agent1_target, "agent1_target", AGENT1_TARGETS)


# --------------------------------------------------------------------------------------------------- the game


def _value_product(x: np.ndarray, y: np.ndarray) -> float:
    return float((x @ RATIO_R @ y) / (x @ RATIO_S @ y))


def _value_joint(p: np.ndarray) -> float:
    return float(np.sum(p * RATIO_R) / np.sum(p * RATIO_S))


def _gradient(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    d = x @ RATIO_S @ y
    v = (x @ RATIO_R @ y) / d
    gx = (RATIO_R @ y - v * (RATIO_S @ y)) / d
    gy = (RATIO_R.T @ x - v * (RATIO_S.T @ x)) / d
    return gx, gy


def ratio_value(x, y) -> float:
    r"""Value :math:`V(x, y) = x^\top R y / x^\top S y` of the product policy :math:`(\pi^1, \pi^2) = (x, y)`.

    ``x`` and ``y`` are probability vectors of shape ``(2,)`` (agent 1's and agent 2's policy).
    Pure profiles give ``[[1, 0.5], [-5, 0]]``, uniform policies ``5/11``.
    """
    return _value_product(check_probability_array(x, "x", (2,)), check_probability_array(y, "y", (2,)))


def ratio_value_joint(p) -> float:
    r"""Value of a joint, possibly correlated, distribution :math:`p(a^1, a^2)` (shape ``(2, 2)``, rows = :math:`a^1`).

    :math:`V(p) = \sum_a p(a) R(a) / \sum_a p(a) S(a)`: in the one-state game the per-step reward has mean
    :math:`\sum p R` and the episode length is geometric with mean :math:`1/\sum p S`. For a product
    :math:`p = x y^\top` this is :func:`ratio_value`.
    """
    return _value_joint(check_probability_array(p, "p", (2, 2)))


def ratio_gradient(x, y) -> tuple[np.ndarray, np.ndarray]:
    r"""Gradient of :math:`V(x, y) = x^\top R y / x^\top S y` with respect to ``x`` and ``y``.

    Returns :math:`(\nabla_x V, \nabla_y V) = \big((Ry - V Sy)/D,\ (R^\top x - V S^\top x)/D\big)`,
    :math:`D = x^\top S y`: the Euclidean gradient of the ratio as a function on :math:`\mathbb R^2 \times \mathbb R^2`,
    evaluated at the probability vectors ``x``, ``y``. :math:`V` is homogeneous of degree 0 in each argument, so
    :math:`\langle x, \nabla_x V \rangle = \langle y, \nabla_y V \rangle = 0`; the derivative along the simplex is
    the component along :math:`e_0 - e_1`.
    """
    return _gradient(check_probability_array(x, "x", (2,)), check_probability_array(y, "y", (2,)))


def independent_pg_logit_gradient(theta1, theta2) -> tuple[np.ndarray, np.ndarray]:
    r"""Exact independent-PG direction :math:`(\nabla_{\theta^1} V, \nabla_{\theta^2} V)` at ``x = softmax(theta1)``,
    ``y = softmax(theta2)``.

    Chain rule through the softmax Jacobian :math:`\mathrm{diag}(x) - x x^\top`:
    :math:`\nabla_{\theta^1} V = x \odot (\nabla_x V - \langle x, \nabla_x V\rangle \mathbf 1)` and the same for
    agent 2 (the inner product is 0 here, see :func:`ratio_gradient`).
    """
    t1 = as_float_array(theta1, "theta1", (2,))
    t2 = as_float_array(theta2, "theta2", (2,))
    x, y = softmax(t1), softmax(t2)
    gx, gy = _gradient(x, y)
    return x * (gx - x @ gx), y * (gy - y @ gy)


def sequential_direction(theta, z, agent1_target: str = "marginal") -> tuple[np.ndarray, np.ndarray]:
    r"""Per-unit-:math:`\eta` update of the sequential method at logits ``theta`` (shape ``(2,)``) and ``z``
    (shape ``(2, 2)``, row :math:`a^1` = agent 2's logits given :math:`a^1`).

    Returns ``(d_theta, d_z)``: ``theta + eta * d_theta``, ``z + eta * d_z`` is one iteration.
    ``agent1_target="marginal"`` [paper]: ``d_theta[a]`` :math:`= V(e_a, \bar\pi^2)`;
    ``"conditional"`` [ours]: :math:`V(e_a, \pi^2(\cdot\mid a))`. ``d_z[a1, a2]`` :math:`= R/S`, the value of the pure
    profile (not the Markov :math:`Q^{1:2}_\pi = R + (1-S)V_\pi`).
    """
    th = as_float_array(theta, "theta", (2,))
    zz = as_float_array(z, "z", (2, 2))
    return _sequential_direction(th, zz, _check_target(agent1_target))


def _sequential_direction(theta: np.ndarray, z: np.ndarray, agent1_target: str) -> tuple[np.ndarray, np.ndarray]:
    x = softmax(theta)
    cond = softmax(z)  # row a1: pi^2(. | a1)
    eye = np.eye(2)
    if agent1_target == "marginal":
        marginal = x @ cond
        q1 = np.array([_value_product(eye[a], marginal) for a in range(2)])
    else:
        q1 = np.array([_value_product(eye[a], cond[a]) for a in range(2)])
    return q1, _Q_PURE.copy()


# --------------------------------------------------------------------------------------------------- inits


def initial_logits(init: str, magnitude: float = DEFAULT_MAGNITUDE) -> tuple[np.ndarray, np.ndarray]:
    r"""Initial logits :math:`(\theta^1, \theta^2)` of the product policy both methods start from.

    * ``"uniform"``: :math:`\theta^1 = \theta^2 = 0` (``magnitude`` is ignored).
    * ``"near-stationary"``: :math:`\theta^1 = (m, 0)`, :math:`\theta^2 = (0, m)`, :math:`m` = ``magnitude``: both
      agents concentrated on the profile :math:`(0, 1)` (:math:`V \approx 0.5`), the saddle of the independent-PG
      flow with the slowest escape (see the module docstring).
    * ``"agent2-saturated"``: :math:`\theta^1 = 0`, :math:`\theta^2 = (0, m)`: the authors' code's initialization
      (:math:`m = 5`), where agent 2's gradient is exactly 0.

    The sequential method uses :math:`\theta = \theta^1` and :math:`z_{a^1} = \theta^2` for every :math:`a^1`.
    """
    if not isinstance(init, str) or init not in INITS:
        raise MappoLiteError(f"init must be one of {INITS}, got {init!r}")
    m = check_nonnegative(magnitude, "magnitude")
    if init == "uniform":
        return np.zeros(2), np.zeros(2)
    if init == "near-stationary":
        return np.array([m, 0.0]), np.array([0.0, m])
    return np.zeros(2), np.array([0.0, m])


def _resolve_init(init, magnitude) -> tuple[np.ndarray, np.ndarray]:
    """``init`` is a name from :data:`INITS` or a pair of logit arrays ``(theta1, theta2)``."""
    if isinstance(init, str):
        return initial_logits(init, magnitude)
    try:
        theta1, theta2 = init
    except (TypeError, ValueError):
        raise MappoLiteError(
            f"init must be one of {INITS} or a pair (theta1, theta2) of logits, got {init!r}"
        ) from None
    t1 = as_float_array(theta1, "init[0] (theta1)", (2,))
    try:
        shape = (2, 2) if np.ndim(theta2) == 2 else (2,)
    except (TypeError, ValueError):
        shape = (2,)
    return t1, as_float_array(theta2, "init[1] (theta2)", shape)


# --------------------------------------------------------------------------------------------------- NumPy twins


def sequential_reference(theta, z, eta: float, iterations: int, agent1_target: str = "marginal") -> np.ndarray:
    """Plain-NumPy twin of the sequential kernel (used by the tests; slow: ~50 µs per iteration).

    ``theta`` shape ``(2,)``, ``z`` shape ``(2, 2)``. Returns :math:`V(p_k)` for :math:`k = 0..` ``iterations``.
    """
    th = as_float_array(theta, "theta", (2,))
    zz = as_float_array(z, "z", (2, 2))
    eta = check_positive(eta, "eta")
    iterations = check_nonnegative_int(iterations, "iterations")
    agent1_target = _check_target(agent1_target)
    out = np.empty(iterations + 1)
    for k in range(iterations + 1):
        joint = softmax(th)[:, None] * softmax(zz)
        out[k] = _value_joint(joint)
        if k < iterations:
            d_th, d_z = _sequential_direction(th, zz, agent1_target)  # both from iteration-k logits
            th = th + eta * d_th
            zz = zz + eta * d_z
    return out


def independent_pg_reference(theta1, theta2, eta: float, iterations: int) -> np.ndarray:
    """Plain-NumPy twin of the independent-PG kernel (used by the tests). Returns :math:`V(x_k, y_k)`."""
    t1 = as_float_array(theta1, "theta1", (2,))
    t2 = as_float_array(theta2, "theta2", (2,))
    eta = check_positive(eta, "eta")
    iterations = check_nonnegative_int(iterations, "iterations")
    out = np.empty(iterations + 1)
    for k in range(iterations + 1):
        out[k] = _value_product(softmax(t1), softmax(t2))
        if k < iterations:
            g1, g2 = independent_pg_logit_gradient(t1, t2)  # simultaneous: both from iteration-k logits
            t1 = t1 + eta * g1
            t2 = t2 + eta * g2
    return out


# --------------------------------------------------------------------------------------------------- runs


def run_sequential(
    eta: float,
    iterations: int,
    init="uniform",
    agent1_target: str = "marginal",
    magnitude: float = DEFAULT_MAGNITUDE,
) -> np.ndarray:
    r"""Run the sequential conditional update (method (a) of the module docstring) with exact values.

    Parameters
    ----------
    eta : stepsize :math:`\eta > 0`.
    iterations : number of updates :math:`K \ge 0`.
    init : a name from :data:`INITS` (see :func:`initial_logits`) or a pair ``(theta1, theta2)`` of logits;
        ``theta2`` of shape ``(2,)`` is copied to every :math:`z_{a^1}`, shape ``(2, 2)`` gives them row by row.
    agent1_target : ``"marginal"`` ([paper] reading, default) or ``"conditional"`` ([ours], the localized
        :math:`Q^{1:1}`).
    magnitude : logit magnitude :math:`m` of the named saturated initializations.

    Returns
    -------
    ``float64`` array of length ``iterations + 1``: the value :math:`V(p_k)` of the joint policy
    :math:`p_k(a^1, a^2) = \pi^1_k(a^1)\pi^2_k(a^2 \mid a^1)`, initial policy first.
    """
    eta = check_positive(eta, "eta")
    iterations = check_nonnegative_int(iterations, "iterations")
    agent1_target = _check_target(agent1_target)
    theta1, theta2 = _resolve_init(init, magnitude)
    z = np.ascontiguousarray(np.broadcast_to(theta2, (2, 2)), dtype=np.float64)
    return ratio_sequential(
        np.ascontiguousarray(theta1),
        z,
        eta,
        np.int64(iterations),
        agent1_target == "conditional",
        np.ascontiguousarray(RATIO_R),
        np.ascontiguousarray(RATIO_S),
    )


def run_independent_pg(eta: float, iterations: int, init="uniform", magnitude: float = DEFAULT_MAGNITUDE) -> np.ndarray:
    r"""Run independent policy gradient (method (b)): simultaneous exact gradient ascent on :math:`V(x, y)` over
    both agents' softmax logits.

    ``init`` is a name from :data:`INITS` or a pair ``(theta1, theta2)`` of shape-``(2,)`` logits. Returns the
    ``float64`` array :math:`V(x_k, y_k)`, :math:`k = 0..` ``iterations``.
    """
    eta = check_positive(eta, "eta")
    iterations = check_nonnegative_int(iterations, "iterations")
    theta1, theta2 = _resolve_init(init, magnitude)
    if theta2.shape != (2,):
        raise MappoLiteError(f"init[1] (theta2) must have shape (2,) for independent PG, got {theta2.shape}")
    return ratio_independent_pg(
        np.ascontiguousarray(theta1),
        np.ascontiguousarray(theta2),
        eta,
        np.int64(iterations),
        np.ascontiguousarray(RATIO_R),
        np.ascontiguousarray(RATIO_S),
    )


# --------------------------------------------------------------------------------------------------- Figure 1


def iterations_to_reach(curve, level: float = 0.99):
    """First index ``k`` with ``curve[k] >= level``, or ``None`` if the curve never reaches it."""
    c = np.asarray(curve, dtype=np.float64)
    if c.ndim != 1:
        raise MappoLiteError(f"curve must be one-dimensional, got shape {c.shape}")
    if isinstance(level, bool) or not isinstance(level, numbers.Real) or not math.isfinite(level):
        raise MappoLiteError(f"level must be a finite number, got {level!r}")
    hits = np.flatnonzero(c >= level)
    return int(hits[0]) if hits.size else None


@dataclass(frozen=True)
class Figure1Result:
    """All curves of Figure 1: ``curves[(init, eta, method)]`` is a read-only array of length ``iterations + 1``.

    ``method`` is ``"sequential"`` or ``"independent-pg"``. ``result[key]`` is ``result.curves[key]``.
    """

    iterations: int
    stepsizes: tuple
    inits: tuple
    magnitude: float
    agent1_target: str
    curves: dict = field(repr=False)

    def __getitem__(self, key):
        return self.curves[key]

    def reach_table(self, level: float = 0.99) -> dict:
        """``{(init, eta, method): iterations_to_reach(curve, level)}`` for every curve."""
        return {key: iterations_to_reach(curve, level) for key, curve in self.curves.items()}


def figure1(
    iterations: int = 20000,
    stepsizes=(0.001, 0.01, 0.05),
    inits=("near-stationary", "uniform"),
    *,
    magnitude: float = DEFAULT_MAGNITUDE,
    agent1_target: str = "marginal",
) -> Figure1Result:
    """Compute the curves of the paper's Figure 1: every init × stepsize × method (12 runs by default, < 0.1 s
    once the kernels are compiled)."""
    iterations = check_nonnegative_int(iterations, "iterations")
    try:
        stepsizes = tuple(stepsizes)
        inits = tuple(inits)
    except TypeError:
        raise MappoLiteError("stepsizes and inits must be sequences") from None
    if not stepsizes:
        raise MappoLiteError("stepsizes must not be empty")
    if not inits:
        raise MappoLiteError("inits must not be empty")
    stepsizes = tuple(check_positive(e, "eta") for e in stepsizes)
    for init in inits:
        initial_logits(init, magnitude)  # validates the name and the magnitude
    agent1_target = _check_target(agent1_target)
    curves = {}
    for init in inits:
        for eta in stepsizes:
            seq = run_sequential(eta, iterations, init, agent1_target, magnitude)
            ipg = run_independent_pg(eta, iterations, init, magnitude)
            for method, curve in zip(METHODS, (seq, ipg)):
                curve.flags.writeable = False
                curves[(init, eta, method)] = curve
    return Figure1Result(iterations, stepsizes, inits, float(magnitude), agent1_target, curves)
