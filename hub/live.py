"""In-process fan-out of live updates to browsers (Server-Sent Events).

Ingestion runs on a worker thread; ``publish_threadsafe`` hands each update to the
event loop, which copies it into every subscriber's bounded queue. A subscriber that
falls more than ``QUEUE_SIZE`` updates behind is dropped and its browser reconnects.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

QUEUE_SIZE = 256


@dataclass(eq=False)
class Subscriber:
    queue: asyncio.Queue[dict[str, Any] | None] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))


class LiveBroadcaster:
    """Fan-out of JSON-ready updates ``{"type": ..., "data": ...}`` to SSE subscribers."""

    def __init__(self) -> None:
        self._subscribers: set[Subscriber] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    def bind_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    def subscribe(self) -> Subscriber:
        subscriber = Subscriber()
        self._subscribers.add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.discard(subscriber)

    def publish(self, update_type: str, data: dict[str, Any]) -> None:
        """Queue an update for every subscriber; call on the event loop's thread."""
        update = {"type": update_type, "data": data}
        for subscriber in list(self._subscribers):
            try:
                subscriber.queue.put_nowait(update)
            except asyncio.QueueFull:
                log.info("Dropping a live-update subscriber that fell %d updates behind", QUEUE_SIZE)
                self._subscribers.discard(subscriber)
                # A None ends the stream. The queue is full, so one update makes room for it.
                subscriber.queue.get_nowait()
                subscriber.queue.put_nowait(None)

    def publish_threadsafe(self, update_type: str, data: dict[str, Any]) -> None:
        """Publish from any thread; dropped when no event loop is bound (unit tests, CLI)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        loop.call_soon_threadsafe(self.publish, update_type, data)


def format_sse(update: dict[str, Any]) -> str:
    """Encode one update as an SSE frame with the update type as event name."""
    return f"event: {update['type']}\ndata: {json.dumps(update['data'], separators=(',', ':'))}\n\n"
