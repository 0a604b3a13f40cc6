"""Health, readiness, Prometheus metrics and the live event stream (SSE)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import select, text

from hub import metrics
from hub.app import START_HOOKS
from hub.auth.deps import CurrentUser
from hub.cameras.status import effective_state
from hub.ingest.service import start_ingestion
from hub.live import format_sse
from hub.models import Camera

router = APIRouter(tags=["system"])

if start_ingestion not in START_HOOKS:
    START_HOOKS.append(start_ingestion)

# Seconds between SSE keep-alive comments, so proxies do not close an idle stream.
KEEPALIVE_S = 15.0


@router.get("/healthz", summary="Liveness: the process answers")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness: database reachable and broker connected")
def readyz(request: Request) -> JSONResponse:
    checks: dict[str, Any] = {}
    try:
        with request.app.state.session_factory() as session:
            session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means not ready, and its text is the diagnosis
        checks["database"] = f"failed: {type(exc).__name__}"
    client = getattr(request.app.state, "mqtt", None)
    if client is None:
        checks["broker"] = "not started"
    elif client.fatal_error:
        checks["broker"] = f"failed: {client.fatal_error}"
    else:
        checks["broker"] = "ok" if client.connected.is_set() else "disconnected"
    ready = all(value == "ok" for value in checks.values())
    return JSONResponse({"status": "ok" if ready else "unavailable", "checks": checks}, status_code=200 if ready else 503)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def prometheus_metrics(request: Request) -> Response:
    settings = request.app.state.settings
    now = datetime.now(UTC)
    with request.app.state.session_factory() as session:
        rows = session.execute(select(Camera.state, Camera.last_seen_at)).all()
    states = [effective_state(row.state, row.last_seen_at, now, settings.heartbeat_timeout_s) for row in rows]
    metrics.CAMERAS_TOTAL.set(len(states))
    metrics.CAMERAS_ONLINE.set(states.count("online"))
    client = getattr(request.app.state, "mqtt", None)
    metrics.MQTT_CONNECTED.set(1 if client is not None and client.connected.is_set() else 0)
    if client is not None:
        metrics.QUEUE_DEPTH.set(client.queue_depth)
        metrics.QUEUE_LAG.set(client.last_lag_s)
    metrics.SSE_CLIENTS.set(request.app.state.live.subscriber_count)
    return Response(generate_latest(metrics.REGISTRY), media_type=CONTENT_TYPE_LATEST)


@router.get(
    "/api/v1/stream",
    summary="Live updates as Server-Sent Events",
    description="Event names: event, status, stats, media, command, command_result, counts. "
    "Each data line is a JSON object carrying camera_id and the changed fields.",
    response_class=StreamingResponse,
)
async def stream(request: Request, user: CurrentUser) -> StreamingResponse:
    live = request.app.state.live
    subscriber = live.subscribe()

    async def frames() -> AsyncIterator[str]:
        try:
            yield "retry: 3000\n\n"
            while True:
                try:
                    update = await asyncio.wait_for(subscriber.queue.get(), timeout=KEEPALIVE_S)
                except TimeoutError:
                    if await request.is_disconnected():
                        return
                    yield ": keep-alive\n\n"
                    continue
                if update is None:
                    return
                yield format_sse(update)
        finally:
            live.unsubscribe(subscriber)

    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(frames(), media_type="text/event-stream", headers=headers)
