"""pytest setup shared by every test folder. Helpers live in :mod:`tests.fixtures` (imported, not ``conftest``)."""

import os
from pathlib import Path

# the numba on-disk cache goes where the Makefile puts it, also when pytest is run by hand
os.environ.setdefault("NUMBA_CACHE_DIR", str(Path(__file__).resolve().parents[1] / ".numba_cache"))
