"""Live-update fan-out: every subscriber gets each update, and a stalled one is dropped."""

from __future__ import annotations

import asyncio

from hub.ingest.service import live_listener
from hub.ingest.store import StoreResult
from hub.live import QUEUE_SIZE, LiveBroadcaster


async def test_broadcast_reaches_all_subscribers() -> None:
    live = LiveBroadcaster()
    first, second = live.subscribe(), live.subscribe()
    live.publish("event", {"id": "e1"})
    assert first.queue.get_nowait() == {"type": "event", "data": {"id": "e1"}}
    assert second.queue.get_nowait() == {"type": "event", "data": {"id": "e1"}}


async def test_stalled_subscriber_dropped() -> None:
    live = LiveBroadcaster()
    stalled = live.subscribe()
    for index in range(QUEUE_SIZE + 1):
        live.publish("stats", {"n": index})
    assert live.subscriber_count == 0
    items = [stalled.queue.get_nowait() for _ in range(stalled.queue.qsize())]
    assert items[-1] is None, "the stream must be told to end"


async def test_listener_forwards_from_thread() -> None:
    live = LiveBroadcaster()
    live.bind_loop(asyncio.get_running_loop())
    subscriber = live.subscribe()
    forward = live_listener(live)
    await asyncio.to_thread(forward, StoreResult("event", "cam-1", True, {"id": "e2"}))
    await asyncio.to_thread(forward, StoreResult("event", "cam-1", False, {"id": "duplicate"}))
    update = await asyncio.wait_for(subscriber.queue.get(), timeout=2)
    assert update == {"type": "event", "data": {"camera_id": "cam-1", "id": "e2"}}
    await asyncio.sleep(0.05)
    assert subscriber.queue.empty(), "an unchanged result must not reach browsers"


async def test_listener_builds_no_payload_without_browsers() -> None:
    live = LiveBroadcaster()
    live.bind_loop(asyncio.get_running_loop())
    built: list[str] = []

    def detail() -> dict[str, str]:
        built.append("built")
        return {"id": "e3"}

    await asyncio.to_thread(live_listener(live), StoreResult("event", "cam-1", True, detail))
    assert built == [], "with no browser connected the live payload must not be built"
    subscriber = live.subscribe()
    await asyncio.to_thread(live_listener(live), StoreResult("event", "cam-1", True, detail))
    update = await asyncio.wait_for(subscriber.queue.get(), timeout=2)
    assert update == {"type": "event", "data": {"camera_id": "cam-1", "id": "e3"}}
    assert built == ["built"]
