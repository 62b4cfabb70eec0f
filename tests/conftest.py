"""pytest setup shared by every test folder. Helpers live in :mod:`tests.fixtures` (imported, not ``conftest``)."""

import os
from pathlib import Path

import pytest

from mappo_lite.course.kernel_wakeup import install as slice_kernel_polls

# the numba on-disk cache goes where the Makefile puts it, also when pytest is run by hand
os.environ.setdefault("NUMBA_CACHE_DIR", str(Path(__file__).resolve().parents[1] / ".numba_cache"))

# every kernel the tests drive through nbclient (the chapters, the downloaded notebooks) is polled in slices of a
# second, as in the book's build: a missed zmq wake-up cost a chapter test 300 s (mappo_lite/course/kernel_wakeup.py)
slice_kernel_polls()

_crashed_workers: list[str] = []


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    """pytest-xdist: a worker that went down with an error (a crash, not the normal shutdown)."""
    if error is not None:
        _crashed_workers.append(str(getattr(node.gateway, "id", node)))


def pytest_sessionfinish(session, exitstatus):
    """A run whose workers crashed, or that collected nothing, fails. pytest-xdist reports 'no tests ran' with exit
    status 0 when every worker aborts during collection (seen with a corrupted numba cache), which would turn CI
    green with no test executed."""
    if _crashed_workers:
        session.exitstatus = pytest.ExitCode.INTERNAL_ERROR
        print(f"\nmappo-lite: pytest-xdist worker(s) crashed: {', '.join(_crashed_workers)}; the run fails")
    elif session.testscollected == 0 and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.NO_TESTS_COLLECTED
