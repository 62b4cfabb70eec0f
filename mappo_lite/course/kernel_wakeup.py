"""Bounded waits on a kernel's replies: a missed wake-up costs a second, not the whole cell timeout.

Seen here (nbclient 0.11, jupyter_client 8, pyzmq 27, libzmq 4.3.5), about once per few hundred cells while other
kernels ran beside it: a chapter cell finished (its ``status: idle`` arrived on IOPub) but nbclient's
``await shell_channel.get_msg(timeout=300)`` was not woken by the ``execute_reply`` already queued on the socket. The
asyncio poll waits on libzmq's edge-triggered file descriptor; when the edge is missed, only the poll's own timeout
looks at the socket again (``zmq.asyncio.Poller.poll`` ends with a ``poll(0)``), so the cell "took" 300 s and then
passed. The chapter tests took 303 s instead of 3 s; a book build, or a graded notebook (whose cells nbclient runs
with the cell's time limit), would wait the same way. nbclient waits for each reply with the cell's whole timeout
(its ``shell_timeout_interval`` applies only to the kernel-info request); upstream reports: jupyter/nbclient#312
(widget cells that block until a timeout), zeromq/pyzmq#2173 (missed wake-ups).

:func:`sliced` makes an async ``get_msg(timeout=T)`` poll in slices of :data:`SLICE_S` seconds until T has passed:
the same result and the same ``queue.Empty`` at the deadline, but a reply whose wake-up was missed is picked up by
the next slice. Two ways to apply it:

* :func:`slice_channels` on one kernel client (its shell and IOPub channels): the grader does this for the student's
  kernel (:mod:`mappo_lite.course.grade`), so grading never changes ``jupyter_client`` for the rest of the process;
* :func:`install` on ``jupyter_client.channels.AsyncZMQSocketChannel`` itself, for code that creates its clients
  out of reach: the book's Sphinx build (``book/_ext/kernel_wakeup.py``, listed in ``_config.yml``) and the tests
  (``tests/conftest.py``).
"""

from __future__ import annotations

import functools
import time
from queue import Empty

#: Longest single poll of a kernel channel (seconds): the most a missed wake-up can cost.
SLICE_S = 1.0
_MARK = "_mappo_lite_sliced"


def sliced(get_msg):
    """``get_msg`` (an async ``get_msg(self, timeout=None)``) polling in slices of at most :data:`SLICE_S` seconds."""
    if getattr(get_msg, _MARK, False):
        return get_msg

    @functools.wraps(get_msg)
    async def get_msg_sliced(self, timeout: float | None = None):
        if timeout is not None and timeout < 0:  # zmq polls a negative timeout for ever, as it does None
            timeout = None
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = SLICE_S if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                return await get_msg(self, timeout=min(SLICE_S, left))
            except Empty:
                if deadline is not None and time.monotonic() >= deadline:
                    raise

    setattr(get_msg_sliced, _MARK, True)
    return get_msg_sliced


def slice_channels(kc) -> None:
    """Make the shell and IOPub ``get_msg`` of the kernel client ``kc`` (an ``AsyncKernelClient``) poll in slices
    (instance attributes: other clients are not affected)."""
    import types

    for channel in (kc.shell_channel, kc.iopub_channel):
        method = getattr(channel, "get_msg", None)
        if method is not None and not getattr(method, _MARK, False):
            channel.get_msg = types.MethodType(sliced(type(channel).get_msg), channel)


def install() -> None:
    """Patch ``jupyter_client.channels.AsyncZMQSocketChannel.get_msg`` (once; calling again does nothing)."""
    from jupyter_client.channels import AsyncZMQSocketChannel

    AsyncZMQSocketChannel.get_msg = sliced(AsyncZMQSocketChannel.get_msg)


def installed() -> bool:
    from jupyter_client.channels import AsyncZMQSocketChannel

    return bool(getattr(AsyncZMQSocketChannel.get_msg, _MARK, False))
