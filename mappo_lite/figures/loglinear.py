r"""Chapter 4 (log-linear parametrization): score checks, why conditioning matters, compact features, counts.

* :func:`score_check`: the library's score :math:`\phi-\mathbb E_\pi\phi` against central finite differences of
  the log-probabilities, and :math:`\sum_a\pi(a|c)\nabla\log\pi(a|c)=0`.
* :func:`coordinated_tables`, :func:`penalty_values`, :func:`best_product_kl`, :func:`plot_penalty_coordination`:
  the penalty game's "(a, a) or (c, c)" policy, exact in the conditional class, out of reach of product policies.
* :func:`scaled_coordination_policy`, :func:`plot_conditional_heatmap`: the same policy approached by a log-linear
  policy :math:`\theta = t\,\theta_{\rm dir}` as the scale t grows (the limit of the class; finite θ never reaches
  probability 0).
* :func:`compact_fit`, :func:`plot_compact_fit`: with compact random features (dimension d), the best KL fit of a
  target conditional policy, and the rank of the score map, against d.
* :func:`parameter_counts`: product vs tabular conditional vs joint parameter counts as N grows.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from scipy.optimize import minimize

from ..evaluation import evaluate
from ..games.catalogue import make_game
from ..kernels.softmax import log_softmax, softmax
from ..policies.conditional import ConditionalLogLinearPolicy, ConditionalTables, context_counts
from ..policies.features import random_features

ACTION_NAMES = ("a", "b", "c")


# ----------------------------------------------------------------------------------------------------------------
# score
# ----------------------------------------------------------------------------------------------------------------
def score_check(
    seed: int = 0, features: str = "random", action_sizes=(3, 2, 4), n_states: int = 2, dim: int = 5, h: float = 1e-5
) -> dict:
    r"""Compare :meth:`ConditionalLogLinearPolicy.score` with central finite differences of
    :meth:`~ConditionalLogLinearPolicy.log_probs`, for every agent, context, action and coordinate of θ.

    ``features="random"`` (random features of dimension ``dim``) or ``"tabular"`` (the library returns only the
    nonzero block; it is embedded back into the full gradient, and the zeros outside the block are checked too).
    Returns ``max_fd_error`` (largest absolute difference) and ``max_mean_score`` (largest
    :math:`|\sum_a\pi(a|c)\nabla\log\pi(a|c)|`).
    """
    rng = np.random.default_rng(seed)
    counts = context_counts(n_states, action_sizes)
    if features == "random":
        fmaps = [random_features(c, A, dim, seed=int(rng.integers(2**31))) for c, A in zip(counts, action_sizes)]
    elif features == "tabular":
        fmaps = "tabular"
    else:
        raise ValueError(f"features must be 'random' or 'tabular', got {features!r}")
    pol = ConditionalLogLinearPolicy(n_states, action_sizes, fmaps)
    pol = pol.with_thetas([rng.standard_normal(f.dim) for f in pol.features])
    fd_err = mean_err = 0.0
    for m, (c, A) in enumerate(zip(counts, action_sizes)):
        d = pol.features[m].dim
        score = pol.score(m + 1)
        if pol.features[m].tabular:  # embed the (c, a, b) block into the full gradient (c, a, c'·A + b)
            full = np.zeros((c, A, d))
            for ctx in range(c):
                full[ctx, :, ctx * A : (ctx + 1) * A] = score[ctx]
            score = full
        fd = np.empty((c, A, d))
        for k in range(d):
            e = np.zeros(d)
            e[k] = h
            plus = [th + e if i == m else th for i, th in enumerate(pol.thetas)]
            minus = [th - e if i == m else th for i, th in enumerate(pol.thetas)]
            fd[:, :, k] = (pol.with_thetas(plus).log_probs(m + 1) - pol.with_thetas(minus).log_probs(m + 1)) / (2 * h)
        fd_err = max(fd_err, float(np.max(np.abs(fd - score))))
        mean = (pol.probs(m + 1)[:, :, None] * score).sum(axis=1)
        mean_err = max(mean_err, float(np.max(np.abs(mean))))
    return {"max_fd_error": fd_err, "max_mean_score": mean_err}


# ----------------------------------------------------------------------------------------------------------------
# the penalty game: conditioning vs product
# ----------------------------------------------------------------------------------------------------------------
def coordinated_tables(p: float = 0.5) -> ConditionalTables:
    r"""The penalty game policy "agent 1 plays a with probability p and c with probability 1−p; agent 2 copies it":
    :math:`\pi^1 = (p, 0, 1-p)`, :math:`\pi^2(\cdot|a^1) = e_{a^1}` (uniform after b, a context of probability 0)."""
    t1 = np.array([[p, 0.0, 1.0 - p]])
    t2 = np.array([[1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3], [0.0, 0.0, 1.0]])
    return ConditionalTables((t1, t2), 1, (3, 3))


def product_of_marginals(joint: np.ndarray) -> np.ndarray:
    """The product of the marginals of a joint distribution of any number of agents (same shape)."""
    joint = np.asarray(joint, dtype=float)
    out = np.ones_like(joint)
    for m in range(joint.ndim):
        marg = joint.sum(axis=tuple(i for i in range(joint.ndim) if i != m))
        shape = [1] * joint.ndim
        shape[m] = -1
        out = out * marg.reshape(shape)
    return out


def penalty_values(k: float = -10.0, p: float = 0.5) -> dict:
    r"""Values on the penalty game (rows = agent 1) of:

    ``conditional``: the coordinated policy (:func:`coordinated_tables`), evaluated with :func:`mappo_lite.evaluate`;
    ``product_of_marginals``: the product of its two marginals, :math:`10p^2+10(1-p)^2+2kp(1-p)`;
    ``best_product_given_agent1``: the best product policy in which agent 1 keeps its marginal (p, 0, 1−p) and
    agent 2 plays its best (pure) response; ``best_product``: the best product policy overall (deterministic,
    10); ``uniform``: both agents uniform. Also the joint distributions.
    """
    game = make_game("penalty", k=k)
    payoff = game.r[0]
    ct = coordinated_tables(p)
    joint = ct.joint().reshape(3, 3)
    prod = product_of_marginals(joint)
    x = np.array([p, 0.0, 1.0 - p])
    return {
        "conditional": evaluate(game, ct).J,
        "product_of_marginals": float((prod * payoff).sum()),
        "best_product_given_agent1": float(np.max(x @ payoff)),
        "best_product": float(payoff.max()),
        "uniform": evaluate(game, "uniform").J,
        "joint": joint,
        "product_joint": prod,
        "payoff": payoff,
    }


def mutual_information(joint: np.ndarray) -> float:
    """KL(joint ‖ product of its marginals) in nats (0·log 0 = 0)."""
    joint = np.asarray(joint, dtype=float)
    prod = product_of_marginals(joint)
    mask = joint > 0
    return float((joint[mask] * np.log(joint[mask] / prod[mask])).sum())


def best_product_kl(joint, n_starts: int = 5, seed: int = 0) -> dict:
    r"""Minimize :math:`\mathrm{KL}(\pi\,\|\,q^1\otimes\cdots\otimes q^N)` over product distributions numerically
    (BFGS on the softmax logits of the :math:`q^m`, from ``n_starts`` random starts).

    Returns ``kl`` (the smallest value found), ``marginals`` (the minimizer's factors), and for comparison
    ``mutual_information`` (the KL of the product of the marginals, the closed-form minimizer).
    """
    joint = np.asarray(joint, dtype=float)
    sizes = joint.shape
    splits = np.cumsum(sizes)[:-1]
    mask = joint > 0
    ent = float((joint[mask] * np.log(joint[mask])).sum())

    def fun(z):
        logs = [log_softmax(part) for part in np.split(z, splits)]
        logq = np.zeros(sizes)
        for m, lg in enumerate(logs):
            shape = [1] * len(sizes)
            shape[m] = -1
            logq = logq + lg.reshape(shape)
        val = ent - float((joint[mask] * logq[mask]).sum())
        grad = []
        for m, lg in enumerate(logs):
            marg = joint.sum(axis=tuple(i for i in range(len(sizes)) if i != m))
            grad.append(np.exp(lg) * marg.sum() - marg)
        return val, np.concatenate(grad)

    rng = np.random.default_rng(seed)
    best = None
    for _ in range(n_starts):
        res = minimize(fun, rng.standard_normal(sum(sizes)), jac=True, method="BFGS", options={"gtol": 1e-12})
        if best is None or res.fun < best.fun:
            best = res
    factors = [softmax(part) for part in np.split(best.x, splits)]
    return {"kl": float(best.fun), "marginals": factors, "mutual_information": mutual_information(joint)}


def _heat(ax, mat, payoff, title, vmax=None):
    im = ax.imshow(mat, cmap="Blues", vmin=0.0, vmax=vmax if vmax is not None else max(mat.max(), 1e-12))
    for i in range(mat.shape[0]):
        for j in range(mat.shape[1]):
            col = "white" if mat[i, j] > 0.6 * (vmax or mat.max()) else "black"
            txt = f"{mat[i, j]:.2f}" if payoff is None else f"{mat[i, j]:.2f}\n(r={payoff[i, j]:g})"
            ax.text(j, i, txt, ha="center", va="center", fontsize=8, color=col)
    ax.set_xticks(range(mat.shape[1]), ACTION_NAMES[: mat.shape[1]])
    ax.set_yticks(range(mat.shape[0]), ACTION_NAMES[: mat.shape[0]])
    ax.set_title(title, fontsize=9)
    return im


def plot_penalty_coordination(k: float = -10.0, p: float = 0.5) -> Figure:
    r"""Left and middle: the joint distribution of the coordinated conditional policy and of the product of its
    marginals on the penalty game (cells annotated with the payoff). Right: values against agent 1's probability p
    of playing a, for the conditional policy, the product of marginals and the best product policy with agent 1's
    marginal fixed; the vertical line marks ``p``."""
    v = penalty_values(k, p)
    fig = Figure(figsize=(11.5, 3.7), layout="constrained")
    a1, a2, a3 = fig.subplots(1, 3, width_ratios=[1, 1, 1.4])
    _heat(a1, v["joint"], v["payoff"], f"conditional: value {v['conditional']:.2f}", vmax=1.0)
    _heat(a2, v["product_joint"], v["payoff"], f"product of marginals: value {v['product_of_marginals']:.2f}", vmax=1.0)
    for ax in (a1, a2):
        ax.set_xlabel("agent 2's action $a^2$")
        ax.set_ylabel("agent 1's action $a^1$")
    ps = np.linspace(0, 1, 101)
    vals = [penalty_values(k, q) for q in ps]
    a3.plot(ps, [w["conditional"] for w in vals], lw=2, label="conditional (agent 2 copies)")
    a3.plot(ps, [w["product_of_marginals"] for w in vals], lw=2, label="product of its marginals")
    a3.plot(
        ps,
        [w["best_product_given_agent1"] for w in vals],
        lw=2,
        ls="--",
        label="best product, agent 1's marginal fixed",
    )
    a3.axhline(v["uniform"], color="0.6", ls=":", label="uniform product")
    a3.axvline(p, color="0.4", lw=1)
    a3.set_xlabel(r"$p=\pi^1(a)$ (agent 1 plays a w.p. $p$, c w.p. $1-p$)")
    a3.set_ylabel(r"value $J(\pi)$")
    a3.set_title(f"penalty game, k = {k:g}", fontsize=9)
    a3.legend(fontsize=7.5, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2)
    return fig


# ----------------------------------------------------------------------------------------------------------------
# the log-linear policy approaching the coordinated policy
# ----------------------------------------------------------------------------------------------------------------
def scaled_coordination_policy(t: float) -> ConditionalLogLinearPolicy:
    r"""Tabular log-linear policy on the penalty game with :math:`\theta = t\,\theta_{\rm dir}`: agent 1's logits
    :math:`t\cdot(0,-1,0)` (a and c equally likely, b suppressed), agent 2's logits :math:`t\,e_{a^1}` in context
    :math:`a^1` (copy agent 1). As :math:`t\to\infty` it tends to :func:`coordinated_tables` with p = 1/2."""
    th1 = t * np.array([0.0, -1.0, 0.0])
    th2 = t * np.eye(3).ravel()
    return ConditionalLogLinearPolicy(1, (3, 3), "tabular", [th1, th2])


def scaled_coordination_values(ts, k: float = -10.0) -> dict:
    """J of :func:`scaled_coordination_policy` and of the product of its marginals, for each t in ``ts``; also
    ``theta_norm`` (‖θ^2‖ = t√3) and the gap to the optimum 10."""
    game = make_game("penalty", k=k)
    payoff = game.r[0]
    J, Jp = [], []
    for t in ts:
        joint = scaled_coordination_policy(t).tables().joint().reshape(3, 3)
        J.append(float((joint * payoff).sum()))
        Jp.append(float((product_of_marginals(joint) * payoff).sum()))
    J = np.array(J)
    return {
        "t": np.asarray(ts, float),
        "J": J,
        "J_product": np.array(Jp),
        "gap": 10.0 - J,
        "theta_norm": np.sqrt(3.0) * np.asarray(ts, float),
    }


def plot_conditional_heatmap(t: float = 3.0, k: float = -10.0, t_max: float = 10.0) -> Figure:
    r"""Left: agent 2's conditional policy :math:`\pi^2(a^2|a^1)` of :func:`scaled_coordination_policy` at scale t.
    Middle: the joint distribution. Right: the value of the policy and of the product of its marginals against t."""
    pol = scaled_coordination_policy(t)
    tab = pol.tables()
    game = make_game("penalty", k=k)
    fig = Figure(figsize=(11.5, 3.7), layout="constrained")
    a1, a2, a3 = fig.subplots(1, 3, width_ratios=[1, 1, 1.4])
    _heat(a1, tab.tables[1], None, rf"$\pi^2(a^2\mid a^1)$ at $t={t:g}$", vmax=1.0)
    a1.set_xlabel("agent 2's action $a^2$")
    a1.set_ylabel("context: agent 1's action $a^1$")
    _heat(a2, tab.joint().reshape(3, 3), game.r[0], f"joint, value {evaluate(game, tab).J:.3f}", vmax=1.0)
    a2.set_xlabel("agent 2's action $a^2$")
    a2.set_ylabel("agent 1's action $a^1$")
    ts = np.linspace(0, t_max, 101)
    sv = scaled_coordination_values(ts, k)
    a3.plot(ts, sv["J"], lw=2, label=r"conditional $\pi_{t\theta_{\rm dir}}$")
    a3.plot(ts, sv["J_product"], lw=2, label="product of its marginals")
    a3.axhline(10.0, color="k", ls=":", label=r"$J^\star=10$")
    a3.axvline(t, color="0.4", lw=1)
    a3.set_xlabel(r"scale $t$ (so $\|\theta^2\|_2=\sqrt{3}\,t$)")
    a3.set_ylabel(r"value $J$")
    a3.set_title(f"penalty game, k = {k:g}", fontsize=9)
    a3.legend(fontsize=8)
    return fig


# ----------------------------------------------------------------------------------------------------------------
# compact features
# ----------------------------------------------------------------------------------------------------------------
def sum_mod_target(action_sizes=(3, 3, 3), prob: float = 0.8) -> np.ndarray:
    r"""A target conditional table for the last agent (one state): play :math:`(\sum_{i<N}a^i)\bmod A_N` with
    probability ``prob``, the other actions uniformly. Shape ``(n_ctx, A_N)``."""
    *prefix, A = action_sizes
    n_ctx = int(np.prod(prefix)) if prefix else 1
    target = np.full((n_ctx, A), (1.0 - prob) / (A - 1))
    for c, pre in enumerate(np.ndindex(*prefix) if prefix else [()]):
        target[c, sum(pre) % A] = prob
    return target


def compact_fit(target: np.ndarray, dims, seed: int = 0) -> dict:
    r"""For each d in ``dims``: take the first d coordinates of one draw of random unit-norm features
    (n_ctx, A, max(dims)) (:func:`~mappo_lite.random_features`; nested classes, rows of norm at most 1) and
    minimize :math:`\frac1{n_{ctx}}\sum_c\mathrm{KL}(\text{target}(\cdot|c)\,\|\,\pi_\theta(\cdot|c))` over θ (a convex
    problem; a trust-region Newton method with the exact gradient
    :math:`\frac1{n_{ctx}}\sum_c\Phi_c^\top(\pi_\theta-\text{target})` and Hessian, the feature covariance under
    :math:`\pi_\theta`).

    Also returns the rank of the score map (the Jacobian of θ ↦ log π(·|c), stacked over contexts), which is the
    dimension of the set of representable policies: :math:`\min(d, n_{ctx}(A-1))` for generic features.
    Keys: ``dims``, ``kl``, ``rank``, ``full_dim`` (= n_ctx(A−1)).
    """
    target = np.asarray(target, float)
    n_ctx, A = target.shape
    ent = float((target * np.log(target)).sum()) / n_ctx
    kls, ranks = [], []
    dims = [int(d) for d in dims]
    phi_all = random_features(n_ctx, A, max(dims), seed=seed).phi
    for d in dims:
        phi = np.ascontiguousarray(phi_all[:, :, :d])

        def fun(theta, phi=phi):
            logits = phi @ theta
            lp = log_softmax(logits, axis=1)
            val = ent - float((target * lp).sum()) / n_ctx
            grad = np.einsum("ca,cad->d", np.exp(lp) - target, phi) / n_ctx
            return val, grad

        def hess(theta, phi=phi):
            p = softmax(phi @ theta, axis=1)
            mean = np.einsum("ca,cad->cd", p, phi)
            second = np.einsum("ca,cad,cae->de", p, phi, phi)
            return (second - mean.T @ mean) / n_ctx

        res = minimize(
            fun, np.zeros(int(d)), jac=True, hess=hess, method="trust-exact", options={"gtol": 1e-12, "maxiter": 500}
        )
        kls.append(max(float(res.fun), 0.0))
        probs = softmax(phi @ res.x, axis=1)
        centered = phi - np.einsum("ca,cad->cd", probs, phi)[:, None, :]
        ranks.append(int(np.linalg.matrix_rank(centered.reshape(-1, int(d)), tol=1e-9)))
    return {"dims": np.asarray(dims), "kl": np.array(kls), "rank": np.array(ranks), "full_dim": n_ctx * (A - 1)}


def plot_compact_fit(fit: dict) -> Figure:
    """The best KL fit and the rank of the score map against the feature dimension d (output of
    :func:`compact_fit`; KL values below 1e-16 are drawn at 1e-16)."""
    fig = Figure(figsize=(10, 3.6), layout="constrained")
    a1, a2 = fig.subplots(1, 2)
    dims, full = fit["dims"], fit["full_dim"]
    a1.semilogy(dims, np.maximum(fit["kl"], 1e-16), "o-")
    a1.axvline(full, color="r", ls="--", label=rf"$n_{{ctx}}(A-1)={full}$")
    a1.set_xlabel("feature dimension $d$")
    a1.set_ylabel("best mean KL(target $\\|$ $\\pi_\\theta$)")
    a1.legend(fontsize=8)
    a2.plot(dims, fit["rank"], "o-", label="rank of the score map")
    a2.plot(dims, np.minimum(dims, full), "k:", label=r"$\min(d, n_{ctx}(A-1))$")
    a2.set_xlabel("feature dimension $d$")
    a2.set_ylabel("dimension of the policy class")
    a2.yaxis.get_major_locator().set_params(integer=True)
    a2.legend(fontsize=8)
    return fig


# ----------------------------------------------------------------------------------------------------------------
# parameter counts
# ----------------------------------------------------------------------------------------------------------------
def parameter_counts(n_agents=range(1, 9), n_actions: int = 3, n_states: int = 1) -> dict:
    r"""Parameters of three tabular policy classes (every agent with A actions, S states), for each N:

    ``product``: :math:`SNA` logits; ``conditional``: :math:`\sum_m S A^{m-1}A = SA(A^N-1)/(A-1)` logits (tabular
    features, the paper's class); ``joint``: :math:`SA^N` (one softmax over joint actions). Free parameters (one
    per distribution fewer, the rest being fixed by normalization): ``product_free`` :math:`SN(A-1)`,
    ``conditional_free`` :math:`\sum_m SA^{m-1}(A-1) = S(A^N-1)` and ``joint_free`` :math:`S(A^N-1)`: equal.
    """
    Ns = np.asarray(list(n_agents), dtype=np.int64)
    S, A = int(n_states), int(n_actions)
    cond = np.array([sum(S * A ** (m - 1) * A for m in range(1, N + 1)) for N in Ns])
    cond_free = np.array([sum(S * A ** (m - 1) * (A - 1) for m in range(1, N + 1)) for N in Ns])
    return {
        "N": Ns,
        "product": S * Ns * A,
        "conditional": cond,
        "joint": S * A**Ns,
        "product_free": S * Ns * (A - 1),
        "conditional_free": cond_free,
        "joint_free": S * (A**Ns - 1),
    }
