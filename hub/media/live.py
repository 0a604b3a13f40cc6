"""Live-view relay: frames pushed by agents fan out to the browsers watching each camera.

The relay counts watchers per camera. The first watcher makes it publish ``live_start``
with a lease, renewed while anyone watches. When the last watcher leaves, the relay
waits a short grace period, so a page reload keeps the stream, and then publishes
``live_stop``. If that message is lost, the agent's lease lapses on its own.

NOTE: the relay lives in the memory of one hub process. With several hub workers,
an agent's frame POST and a viewer's MJPEG GET must reach the same worker (sticky
routing by camera id), or the viewer sees no frames.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from metro_common.messages import CommandMessage, CommandName

log = logging.getLogger(__name__)

CommandPublisher = Callable[[CommandMessage], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class LiveFrame:
    """One JPEG frame; ``captured_at`` is the agent's wall-clock capture time, epoch seconds."""

    jpeg: bytes
    seq: int
    captured_at: float | None
    received_at: float


@dataclass(slots=True)
class _Feed:
    camera_id: str
    condition: asyncio.Condition = field(default_factory=asyncio.Condition)
    latest: LiveFrame | None = None
    seq: int = 0
    watchers: int = 0
    renew_task: asyncio.Task[None] | None = None
    stop_task: asyncio.Task[None] | None = None


def live_command(camera_id: str, name: CommandName, lease_s: float, now: datetime) -> CommandMessage:
    """Build a live_start (lease ``lease_s``) or live_stop command for ``camera_id``."""
    args: dict[str, str | int | float | bool] = {"lease_s": lease_s} if name is CommandName.LIVE_START else {}
    return CommandMessage(
        camera_id=camera_id,
        command_id=uuid.uuid4(),
        name=name,
        issued_at=now,
        expires_at=now + timedelta(seconds=lease_s),
        args=args,
    )


class LiveRelay:
    """Per-camera latest frame, watcher counts and the live_start / live_stop lease protocol."""

    def __init__(
        self,
        publish: CommandPublisher | None,
        *,
        lease_s: float = 30.0,
        renew_every_s: float = 10.0,
        stop_grace_s: float = 2.0,
        frame_wait_s: float = 15.0,
    ) -> None:
        if renew_every_s >= lease_s:
            raise ValueError(f"renew_every_s {renew_every_s} must be shorter than lease_s {lease_s}")
        self.publish = publish
        self.lease_s = lease_s
        self.renew_every_s = renew_every_s
        self.stop_grace_s = stop_grace_s
        self.frame_wait_s = frame_wait_s
        self._feeds: dict[str, _Feed] = {}
        self.frames_received = 0
        self.frames_without_watchers = 0

    def watchers(self, camera_id: str) -> int:
        feed = self._feeds.get(camera_id)
        return feed.watchers if feed else 0

    def _feed(self, camera_id: str) -> _Feed:
        feed = self._feeds.get(camera_id)
        if feed is None:
            feed = self._feeds[camera_id] = _Feed(camera_id)
        return feed

    async def push(self, camera_id: str, jpeg: bytes, captured_at: float | None) -> int:
        """Store a frame from the agent and wake the watchers; return how many watch."""
        feed = self._feed(camera_id)
        self.frames_received += 1
        if feed.watchers == 0:
            self.frames_without_watchers += 1
        async with feed.condition:
            feed.seq += 1
            feed.latest = LiveFrame(jpeg, feed.seq, captured_at, time.time())
            feed.condition.notify_all()
        return feed.watchers

    async def frames(self, camera_id: str) -> AsyncGenerator[LiveFrame | None, None]:
        """Yield each new frame of ``camera_id`` while the caller watches; None after ``frame_wait_s`` without one.

        Watching starts when iteration starts and ends when the iterator is closed or
        cancelled (the browser disconnected).
        """
        feed = self._feed(camera_id)
        self._watcher_joined(feed)
        try:
            last_seq = feed.seq
            if feed.latest is not None and time.time() - feed.latest.received_at < 2.0:
                last_seq = feed.latest.seq
                yield feed.latest
            while True:
                seen = last_seq

                def arrived(seen: int = seen) -> bool:
                    return feed.seq > seen

                async with feed.condition:
                    try:
                        await asyncio.wait_for(feed.condition.wait_for(arrived), self.frame_wait_s)
                    except TimeoutError:
                        frame = None
                    else:
                        frame = feed.latest
                if frame is None:
                    yield None
                    continue
                last_seq = frame.seq
                yield frame
        finally:
            self._watcher_left(feed)

    def _watcher_joined(self, feed: _Feed) -> None:
        feed.watchers += 1
        if feed.stop_task is not None:
            feed.stop_task.cancel()
            feed.stop_task = None
        if feed.renew_task is None or feed.renew_task.done():
            log.info("First live watcher of camera %s; requesting frames", feed.camera_id)
            feed.renew_task = asyncio.get_running_loop().create_task(self._renew(feed))

    def _watcher_left(self, feed: _Feed) -> None:
        # Synchronous on purpose: this runs while the stream task is being cancelled.
        feed.watchers -= 1
        if feed.watchers > 0:
            return
        if feed.renew_task is not None:
            feed.renew_task.cancel()
            feed.renew_task = None
        feed.stop_task = asyncio.get_running_loop().create_task(self._stop_after_grace(feed))

    async def _renew(self, feed: _Feed) -> None:
        while feed.watchers > 0:
            await self._send(feed.camera_id, CommandName.LIVE_START)
            await asyncio.sleep(self.renew_every_s)

    async def _stop_after_grace(self, feed: _Feed) -> None:
        await asyncio.sleep(self.stop_grace_s)
        if feed.watchers == 0:
            log.info("Last live watcher of camera %s left; stopping frames", feed.camera_id)
            await self._send(feed.camera_id, CommandName.LIVE_STOP)
            feed.latest = None

    async def _send(self, camera_id: str, name: CommandName) -> None:
        if self.publish is None:
            log.warning("No MQTT command publisher configured; cannot send %s to camera %s", name.value, camera_id)
            return
        try:
            await self.publish(live_command(camera_id, name, self.lease_s, datetime.now(UTC)))
        except Exception as exc:  # noqa: BLE001 - a broker hiccup must not end the watcher's stream; the lease retries
            log.warning("Publishing %s to camera %s failed: %s", name.value, camera_id, exc)

    async def close(self) -> None:
        """Cancel renewals and pending stops (hub shutdown)."""
        tasks = [t for feed in self._feeds.values() for t in (feed.renew_task, feed.stop_task) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
