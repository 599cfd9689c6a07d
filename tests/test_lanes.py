"""Lanes: one per key, a bounded number at once, finished work counted, stopped in time."""

from __future__ import annotations

import asyncio

import pytest

from bot.workers.lanes import Lanes
from tests.support.polling import eventually


async def test_one_lane_per_key_and_no_more_than_the_width_at_once() -> None:
    release = asyncio.Event()
    running: set[str] = set()
    most = 0
    woken: list[str] = []

    def work(key: str) -> asyncio.Future[int]:
        async def run() -> int:
            nonlocal most
            running.add(key)
            most = max(most, len(running))
            await release.wait()
            running.discard(key)
            return 2

        return asyncio.ensure_future(run())

    lanes = Lanes(2, on_done=lambda: woken.append("wake"))
    for key in "abc":
        lanes.start(key, lambda key=key: work(key))
    assert lanes.busy("a") and lanes.busy("c")
    with pytest.raises(RuntimeError, match="already running"):
        lanes.start("a", lambda: work("a"))
    await eventually(lambda: _true(len(running) == 2), what="two lanes running")
    assert most == 2  # the third waits for a free place
    release.set()
    await eventually(lambda: _true(not lanes.busy("c")), what="every lane ended")
    assert most == 2
    assert lanes.take_finished() == 6
    assert lanes.take_finished() == 0
    assert woken == ["wake"] * 3  # each ended lane asks for another pass


async def test_a_failing_lane_is_logged_and_frees_its_key() -> None:
    async def broken() -> int:
        raise RuntimeError("database is having a moment")

    lanes = Lanes(4)
    lanes.start("a", broken)
    await eventually(lambda: _true(not lanes.busy("a")), what="the failed lane to end")
    assert lanes.take_finished() == 0
    lanes.start("a", broken)  # the key can run again
    await lanes.stop(1.0)


async def test_stop_cancels_a_lane_still_running_after_the_grace() -> None:
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def stuck() -> int:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return 0

    lanes = Lanes(1)
    lanes.start("a", stuck)
    await asyncio.wait_for(started.wait(), timeout=5)
    await lanes.stop(0.01)
    assert cancelled.is_set()
    assert not lanes.busy("a")


async def _true(value: bool) -> bool:
    return value
