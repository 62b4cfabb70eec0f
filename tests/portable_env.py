"""Run a command under another floating-point path than this machine's default (``make test-portable``).

The book and the tests must not depend on one machine's rounding. This script proves it by running them with:

* **numba** compiling for a generic CPU (``NUMBA_CPU_NAME=generic``: no AVX/FMA code, other instruction selection),
  with its own on-disk cache;
* **NumPy** restricted to its baseline SIMD (every dispatch target this machine would use, e.g. ``X86_V3``/
  ``X86_V4``/``AVX512_*`` on x86-64, is named in ``NPY_DISABLE_CPU_FEATURES``);
* **OpenBLAS** forced to another kernel than the one it picks here (``OPENBLAS_CORETYPE``: ``Sandybridge``, AVX without
  FMA, where the CPU has AVX and that is not already the default; else ``Haswell`` or ``Prescott``; ``ARMV8`` on
  arm64).

Each setting is *checked* in a child process before the command runs (NumPy reports the disabled targets as off,
OpenBLAS reports the forced core, numba reports the generic CPU); if one does not take effect the script stops
with exit 2 instead of silently testing the default path again.

Usage::

    python tests/portable_env.py --show              # print the settings and what they change, run nothing
    python tests/portable_env.py -- CMD [ARGS...]     # run CMD with them (exit status of CMD)
"""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_PROBE = r"""
import json, os
import numpy as np
try:
    from numpy._core import _multiarray_umath as mu
except ImportError:  # numpy < 2
    from numpy.core import _multiarray_umath as mu
np.linalg.solve(np.eye(3) + 1.0, np.ones(3))  # make OpenBLAS load (and report its core)
import numba
from numba.core import config
print("@@" + json.dumps({
    "dispatch": list(mu.__cpu_dispatch__),
    "features": {k: bool(v) for k, v in mu.__cpu_features__.items()},
    "baseline": list(mu.__cpu_baseline__),
    "numba_cpu": config.CPU_NAME or "host",
}))
"""


def _probe(env: dict) -> tuple[dict, str | None]:
    """(NumPy/numba facts, OpenBLAS core name) in a child process with ``env``."""
    out = subprocess.run(
        [sys.executable, "-c", _PROBE],
        env={**env, "OPENBLAS_VERBOSE": "2"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    if out.returncode != 0:
        raise SystemExit(f"portable_env: the probe failed under the portable settings:\n{out.stderr.strip()}")
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("@@"))
    core = re.search(r"Core:\s*(\S+)", out.stdout + out.stderr)
    return json.loads(line[2:]), (core.group(1) if core else None)


def _alternative_core(default: str | None) -> str | None:
    machine = platform.machine().lower()
    if machine in ("aarch64", "arm64"):
        return "ARMV8" if default != "ARMV8" else "NEOVERSEN1"
    if machine not in ("x86_64", "amd64"):
        return None
    flags = ""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        pass
    # Sandybridge first: AVX without FMA, the most different rounding from today's AVX2/AVX-512 kernels
    for core, needs in (("Sandybridge", " avx"), ("Haswell", " avx2"), ("Prescott", "")):
        if core.lower() != (default or "").lower() and (needs in flags or not needs):
            return core
    return None


def portable_environment() -> tuple[dict, list[str]]:
    """The environment for the portable pass and a description of what it changes (checked)."""
    base = dict(os.environ)
    for key in ("NUMBA_CPU_NAME", "NUMBA_CPU_FEATURES", "NPY_DISABLE_CPU_FEATURES", "OPENBLAS_CORETYPE"):
        base.pop(key, None)
    default, default_core = _probe(base)
    used = [t for t in default["dispatch"] if default["features"].get(t)]
    env = dict(base)
    env["NUMBA_CPU_NAME"] = "generic"
    env["NUMBA_CACHE_DIR"] = str(ROOT / ".numba_cache_portable")
    if used:
        env["NPY_DISABLE_CPU_FEATURES"] = " ".join(used)
    core = _alternative_core(default_core)
    if core:
        env["OPENBLAS_CORETYPE"] = core
    facts, new_core = _probe(env)
    notes = [f"numba: CPU {default['numba_cpu']} -> {facts['numba_cpu']}"]
    if facts["numba_cpu"] != "generic":
        raise SystemExit("portable_env: NUMBA_CPU_NAME=generic did not take effect")
    still_on = [t for t in used if facts["features"].get(t)]
    if still_on:
        raise SystemExit(f"portable_env: NumPy still dispatches to {still_on} with NPY_DISABLE_CPU_FEATURES set")
    notes.append(f"numpy: SIMD dispatch {used or 'none'} -> baseline only {facts['baseline']}")
    if core and new_core and new_core.lower() != (default_core or "").lower():
        notes.append(f"OpenBLAS: kernel {default_core} -> {new_core}")
    elif core:
        raise SystemExit(
            f"portable_env: OPENBLAS_CORETYPE={core} did not change the OpenBLAS kernel ({default_core} -> {new_core})"
        )
    else:
        notes.append(f"OpenBLAS: no alternative kernel known for {platform.machine()} (kept {default_core})")
    return env, notes


def main(argv: list[str]) -> int:
    if argv[:1] == ["--show"]:
        env, notes = portable_environment()
        for key in ("NUMBA_CPU_NAME", "NPY_DISABLE_CPU_FEATURES", "OPENBLAS_CORETYPE", "NUMBA_CACHE_DIR"):
            print(f"{key}={env.get(key, '')}")
        print("\n".join(notes))
        return 0
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        print(__doc__.strip().splitlines()[-2].strip(), file=sys.stderr)
        return 2
    env, notes = portable_environment()
    print("portable pass: " + "; ".join(notes), flush=True)
    return subprocess.call(argv, env=env)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
