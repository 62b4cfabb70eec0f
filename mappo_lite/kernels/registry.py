r"""The one registry of numba kernels: name → (numba kernel, NumPy twin), and the one switch that runs the twins.

Every kernel of the library is listed in :data:`KERNELS` under one name; :mod:`.reference` holds its plain-NumPy
twin under the same name, with the same arguments and the same results (to rounding). The library calls kernels
through :mod:`mappo_lite.kernels` (``kernels.q_from_v(...)``), whose functions run the numba kernel, or the NumPy
twin inside ``with numpy_twins():``. The benchmark times both sides through this switch, the compile statistics
read :data:`KERNEL_MODULES`, and ``tests/kernels/test_registry.py`` checks every pair on random inputs.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass

from . import core, exact, offline, ratio, reference, sparse

#: The modules that hold numba kernels (the compile statistics look at every jitted function in them).
KERNEL_MODULES = {"core": core, "exact": exact, "sparse": sparse, "offline": offline, "ratio": ratio}


@dataclass(frozen=True)
class Kernel:
    """One registered kernel: its ``name``, the ``numba`` implementation (a jitted function, or the thin Python
    function that allocates the outputs of a jitted ``_…_into`` loop), its ``numpy`` twin, the ``module`` (a key of
    :data:`KERNEL_MODULES`) it lives in, and whether it is ``stochastic`` (a Monte Carlo kernel: numba's and NumPy's
    random streams differ, so the two agree in distribution, not number for number)."""

    name: str
    numba: Callable
    numpy: Callable
    module: str
    stochastic: bool = False


def _registry() -> dict:
    names = {
        "core": (
            "softmax_rows",
            "log_softmax_rows",
            "softmax_score",
            "tabular_softmax_score",
            "joint_policy",
            "policy_transition_reward",
            "q_from_v",
            "level_offsets_for",
            "backward_sweep",
            "mc_localized_q",
            "rollout_steps",
            "projected_sgd",
            "projected_sgd_tabular",
            "stream_read",
        ),
        "exact": ("policy_iteration", "mappo_exact_ideal"),
        "sparse": (
            "sparse_q_from_v",
            "sparse_policy_rows",
            "sparse_policy_csr",
            "mc_localized_q_sparse",
            "rollout_steps_sparse",
        ),
        "offline": ("accumulate_bellman_system",),
        "ratio": ("ratio_sequential", "ratio_independent_pg", "ratio_ablation"),
    }
    stochastic = {"mc_localized_q", "rollout_steps", "mc_localized_q_sparse", "rollout_steps_sparse"}
    return {
        name: Kernel(name, getattr(KERNEL_MODULES[mod], name), getattr(reference, name), mod, name in stochastic)
        for mod, group in names.items()
        for name in group
    }


#: name → :class:`Kernel`, for every numba kernel of the library.
KERNELS: dict[str, Kernel] = _registry()

_state = threading.local()


def numpy_twins_active() -> bool:
    """True inside :func:`numpy_twins` (in this thread)."""
    return getattr(_state, "numpy", False)


@contextlib.contextmanager
def numpy_twins(enabled: bool = True):
    """Within the block, every kernel called through :mod:`mappo_lite.kernels` runs its NumPy twin (``enabled``
    False: the numba kernel, e.g. to undo an outer block). Library code (``evaluate``, ``ma_ppo``) then runs on plain
    NumPy with no other change."""
    before = numpy_twins_active()
    _state.numpy = bool(enabled)
    try:
        yield
    finally:
        _state.numpy = before


def active(name: str) -> Callable:
    """The implementation of kernel ``name`` that runs now (numba, or the twin inside :func:`numpy_twins`)."""
    k = KERNELS[name]
    return k.numpy if numpy_twins_active() else k.numba


def jitted_functions() -> dict:
    """``"module.name"`` → numba dispatcher, for every jitted function in :data:`KERNEL_MODULES` (public kernels and
    the ``_…_into`` loops and helpers they run), each once, under the module that defines it."""
    out = {}
    for mod_name, mod in KERNEL_MODULES.items():
        for name in dir(mod):
            obj = getattr(mod, name)
            defined_here = getattr(getattr(obj, "py_func", None), "__module__", None) == mod.__name__
            if hasattr(obj, "signatures") and getattr(obj, "stats", None) is not None and defined_here:
                out[f"{mod_name}.{name}"] = obj  # a helper imported from another kernel module is counted there
    return out
