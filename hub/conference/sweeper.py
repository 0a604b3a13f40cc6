"""Background task that ends expired conferences and retries BBB ``end`` calls."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from fastapi import FastAPI

from hub.conference import service
from hub.conference.bbb import BbbClient
from hub.db import session_scope

log = logging.getLogger(__name__)

SWEEP_INTERVAL_S = 60.0


def sweep_once(app: FastAPI) -> service.SweepResult:
    """Run one sweep in its own transaction."""
    client = BbbClient(app.state.settings.conference)
    with session_scope(app.state.session_factory) as session:
        result = service.sweep(session, client, datetime.now(UTC))
    if result.expired or result.backend_closed or result.backend_failed:
        log.info(
            "Conference sweep: %d expired, %d closed on BBB, %d BBB ends still failing",
            len(result.expired), len(result.backend_closed), len(result.backend_failed),
        )
    return result


async def start_sweeper(app: FastAPI) -> Callable[[], Awaitable[None]]:
    """Start the periodic sweep; return the coroutine that stops it."""

    async def loop() -> None:
        while True:
            try:
                await asyncio.to_thread(sweep_once, app)
            except Exception:  # the next sweep retries, so one failure must not stop the loop
                log.exception("Conference sweep failed")
            await asyncio.sleep(SWEEP_INTERVAL_S)

    task = asyncio.create_task(loop(), name="conference-sweeper")

    async def stop() -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return stop
