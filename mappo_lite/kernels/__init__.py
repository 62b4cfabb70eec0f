"""Every numba kernel of the library, called through one switch.

The functions here (``softmax_rows``, ``q_from_v``, …: every name of :data:`KERNELS`) run the numba kernel of that
name, or its plain-NumPy twin (:mod:`.reference`) inside ``with numpy_twins():``. The kernels live in :mod:`.core`
(policies, evaluation, sampling, Algorithm 3), :mod:`.sparse` (the sparse game form), :mod:`.offline` (the
offline evaluators) and :mod:`.ratio` (the ratio-game experiment); :mod:`.registry` lists them.
"""

from __future__ import annotations

import functools

from .registry import KERNEL_MODULES, KERNELS, Kernel, active, jitted_functions, numpy_twins, numpy_twins_active


def _dispatcher(kernel: Kernel):
    numba_fn, numpy_fn = kernel.numba, kernel.numpy

    @functools.wraps(numba_fn)
    def run(*args, **kwargs):
        return (numpy_fn if numpy_twins_active() else numba_fn)(*args, **kwargs)

    run.kernel = kernel
    return run


globals().update({name: _dispatcher(k) for name, k in KERNELS.items()})

__all__ = [
    "KERNELS",
    "KERNEL_MODULES",
    "Kernel",
    "active",
    "jitted_functions",
    "numpy_twins",
    "numpy_twins_active",
    *KERNELS,
]
