"""mappo_lite/course/kernel_wakeup.py: a kernel reply whose zmq wake-up was missed is picked up by the next slice of
the poll, not when the cell's whole timeout has passed; the deadline and ``queue.Empty`` stay as they were. Applied
by the book's build, the tests and (per kernel client) the grader."""

from __future__ import annotations

import asyncio
import time
from queue import Empty

import yaml

from mappo_lite.course import kernel_wakeup as kw
from tests.fixtures import ROOT, book_extension


class MissedWakeup:
    """A channel whose poll is never woken by a message that arrives while it waits: like the asyncio poll of a
    zmq socket that missed its edge, it only looks again when its own timeout ends."""

    def __init__(self, arrives_after: float | None):
        self.arrival = None if arrives_after is None else time.monotonic() + arrives_after
        self.calls = []

    def arrived(self) -> bool:
        return self.arrival is not None and time.monotonic() >= self.arrival

    async def get_msg(self, timeout=None):
        self.calls.append(timeout)
        if not self.arrived():  # asleep until the timeout, whatever arrives meanwhile
            await asyncio.sleep(3600 if timeout is None else timeout)
        if self.arrived():
            return {"msg_type": "execute_reply"}
        raise Empty


def _run(channel, get_msg, timeout):
    t0 = time.monotonic()
    try:
        out = asyncio.run(get_msg(channel, timeout=timeout))
    except Empty:
        out = Empty
    return out, time.monotonic() - t0


def test_a_missed_wakeup_costs_one_slice_not_the_timeout(monkeypatch):
    monkeypatch.setattr(kw, "SLICE_S", 0.1)
    # the model: without slices the reply waits for the end of the timeout
    out, took = _run(MissedWakeup(0.05), MissedWakeup.get_msg, timeout=1.5)
    assert out == {"msg_type": "execute_reply"} and took >= 1.5
    # sliced: the next slice finds it
    ch = MissedWakeup(0.25)
    out, took = _run(ch, kw.sliced(MissedWakeup.get_msg), timeout=1.5)
    assert out == {"msg_type": "execute_reply"} and 0.25 <= took < 0.8, took
    assert all(t <= 0.1 for t in ch.calls) and len(ch.calls) >= 3
    # no timeout (wait for ever, as nbclient does on IOPub): slices too
    ch = MissedWakeup(0.25)
    out, took = _run(ch, kw.sliced(MissedWakeup.get_msg), timeout=None)
    assert out == {"msg_type": "execute_reply"} and took < 0.8 and all(t == 0.1 for t in ch.calls)
    # a negative timeout is zmq's "for ever" too: waits (in slices), never a premature Empty
    ch = MissedWakeup(0.25)
    out, took = _run(ch, kw.sliced(MissedWakeup.get_msg), timeout=-1)
    assert out == {"msg_type": "execute_reply"} and 0.25 <= took < 0.8 and all(t == 0.1 for t in ch.calls)


def test_the_deadline_and_empty_are_kept(monkeypatch):
    monkeypatch.setattr(kw, "SLICE_S", 0.1)
    ch = MissedWakeup(None)  # nothing ever arrives
    out, took = _run(ch, kw.sliced(MissedWakeup.get_msg), timeout=0.45)
    assert out is Empty and 0.45 <= took < 0.8, took
    assert sum(ch.calls) <= 0.45 + 1e-9 and max(ch.calls) <= 0.1  # never polls past the deadline
    ch = MissedWakeup(None)
    out, took = _run(ch, kw.sliced(MissedWakeup.get_msg), timeout=0)
    assert out is Empty and ch.calls == [0] and took < 0.5  # one poll of 0 s, no wait (the bound: a loaded machine)
    ch = MissedWakeup(0.0)  # already there: returned by the first poll
    out, _ = _run(ch, kw.sliced(MissedWakeup.get_msg), timeout=300)
    assert out == {"msg_type": "execute_reply"} and ch.calls == [kw.SLICE_S]


def test_installed_for_the_tests_and_the_book_build():
    from jupyter_client.channels import AsyncZMQSocketChannel

    assert kw.installed()  # tests/conftest.py
    patched = AsyncZMQSocketChannel.get_msg
    kw.install()
    assert AsyncZMQSocketChannel.get_msg is patched  # once: not wrapped twice
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert config["sphinx"]["local_extensions"]["kernel_wakeup"] == "book/_ext"
    assert book_extension("kernel_wakeup").install is kw.install


class _Channel:
    def __init__(self, arrives_after):
        self.model = MissedWakeup(arrives_after)

    async def get_msg(self, timeout=None):
        return await self.model.get_msg(timeout)


class _Client:
    def __init__(self):
        self.shell_channel, self.iopub_channel = _Channel(0.25), _Channel(None)


def test_one_clients_channels_are_sliced_and_no_other(monkeypatch):
    monkeypatch.setattr(kw, "SLICE_S", 0.1)
    kc, other = _Client(), _Client()
    kw.slice_channels(kc)
    kw.slice_channels(kc)  # once
    out, took = _run(kc.shell_channel, lambda ch, timeout: ch.get_msg(timeout=timeout), timeout=30)
    assert out == {"msg_type": "execute_reply"} and took < 0.8 and kc.shell_channel.model.calls[0] == 0.1
    out, took = _run(kc.iopub_channel, lambda ch, timeout: ch.get_msg(timeout=timeout), timeout=0.3)
    assert out is Empty and max(kc.iopub_channel.model.calls) <= 0.1
    assert "get_msg" not in vars(other.shell_channel) and "get_msg" not in vars(other.iopub_channel)
