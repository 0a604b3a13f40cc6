"""Media upload and download, and the live view (frame push, MJPEG stream, pages).

Agents authenticate with their device token (``Authorization: Bearer``); operators and
viewers with their session. The agent's upload protocol: ``POST /api/v1/media/{event_id}``
with the raw bytes and the headers ``X-Camera-Id``, ``X-Media-Kind`` (snapshot,
snapshot_annotated or clip) and ``X-Content-SHA256``. Repeating an upload is harmless.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, StreamingResponse
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from hub import i18n
from hub.app import START_HOOKS
from hub.auth.deps import current_user
from hub.auth.devices import require_device
from hub.db import session_scope
from hub.errors import ApiError
from hub.media.live import LiveFrame, LiveRelay
from hub.media.models import EventMedia, MediaObject
from hub.media.retention import start_media_retention
from hub.media.store import EXTENSIONS, MediaFileStore, MediaTypeError, check_sha256, sniff_content_type
from hub.models import Camera, Event, User
from hub.web.render import render
from metro_common.messages import CommandMessage, MediaKind
from metro_common.topics import TopicError, validate_camera_id

log = logging.getLogger(__name__)

router = APIRouter(tags=["media"])
if start_media_retention not in START_HOOKS:
    START_HOOKS.append(start_media_retention)
UserDep = Annotated[User, Depends(current_user)]

LIVE_FRAME_MAX_BYTES = 2 * 1024 * 1024
VIDEO_WALL_MAX_CAMERAS = 12
MJPEG_BOUNDARY = "metroframe"

i18n.register(
    {
        "media.bad_header": ("Header {header} tidak valid: {problem}", "Invalid header {header}: {problem}"),
        "media.too_large": ("Berkas melebihi batas {limit} byte.", "The file exceeds the {limit}-byte limit."),
        "media.bad_type": ("Hanya JPEG atau MP4 yang diterima.", "Only JPEG or MP4 files are accepted."),
        "media.hash_mismatch": (
            "SHA-256 berkas tidak sama dengan yang dinyatakan.",
            "The file's SHA-256 differs from the declared one.",
        ),
        "media.wrong_camera": (
            "Kejadian ini milik kamera lain.",
            "This event belongs to another camera.",
        ),
        "media.camera_not_found": ("Kamera tidak ditemukan.", "Camera not found."),
        "live.title": ("Siaran langsung {name}", "Live view of {name}"),
        "live.wall_title": ("Dinding video", "Video wall"),
        "live.waiting": ("Menunggu gambar dari kamera…", "Waiting for frames from the camera…"),
        "live.note": (
            "Gambar dikirim hanya selama halaman ini terbuka. Area privasi sudah disamarkan.",
            "Frames are sent only while this page is open. Privacy areas are already masked.",
        ),
        "live.no_cameras": ("Belum ada kamera terdaftar.", "No cameras are registered yet."),
        "nav.live": ("Siaran langsung", "Live"),
    }
)


# -- helpers ---------------------------------------------------------------------------------


def _file_store(request: Request) -> MediaFileStore:
    store: MediaFileStore | None = getattr(request.app.state, "media_file_store", None)
    if store is None:
        store = MediaFileStore(request.app.state.settings.media_dir)
        request.app.state.media_file_store = store
    return store


def live_relay(request: Request) -> LiveRelay:
    """Return the app's relay, creating it on first use.

    Commands go through ``app.state.command_publisher`` when set (an async callable),
    else through the hub's MQTT client in ``app.state.mqtt``.
    """
    relay: LiveRelay | None = getattr(request.app.state, "live_relay", None)
    if relay is None:
        app_state = request.app.state

        async def publish(message: CommandMessage) -> None:
            publisher = getattr(app_state, "command_publisher", None)
            if publisher is not None:
                await publisher(message)
                return
            client = getattr(app_state, "mqtt", None)
            if client is None:
                raise RuntimeError("the hub's MQTT client is not running (app.state.mqtt is None)")
            from hub.ingest.service import publish_command_message

            if not publish_command_message(client, message, datetime.now(UTC)):
                raise RuntimeError("the hub's MQTT connection is down")

        relay = LiveRelay(publish)
        request.app.state.live_relay = relay
    return relay


def _header(request: Request, name: str) -> str:
    value = request.headers.get(name, "").strip()
    if not value:
        raise ApiError(400, "missing_header", "media.bad_header", header=name, problem="missing")
    return value


def _camera_header(request: Request) -> str:
    value = _header(request, "X-Camera-Id")
    try:
        return validate_camera_id(value)
    except TopicError as exc:
        raise ApiError(400, "bad_header", "media.bad_header", header="X-Camera-Id", problem=str(exc)) from None


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, "too_large", "media.too_large", limit=limit)
    chunks: list[bytes] = []
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise ApiError(413, "too_large", "media.too_large", limit=limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _authorise_device(request: Request, camera_id: str) -> None:
    with session_scope(request.app.state.session_factory) as session:
        require_device(request, session, camera_id)


# -- upload and download ---------------------------------------------------------------------


def _record_upload(
    session: Session, event_id: str, camera_id: str, kind: MediaKind, sha256: str, relative: str, content_type: str, size: int
) -> bool:
    now = datetime.now(UTC)
    event = session.get(Event, event_id)
    if event is not None and event.camera_id != camera_id:
        raise ApiError(403, "wrong_camera", "media.wrong_camera")
    if session.get(MediaObject, sha256) is None:
        session.add(MediaObject(sha256=sha256, content_type=content_type, size_bytes=size, path=relative, camera_id=camera_id, stored_at=now))
    row = session.scalar(
        select(EventMedia).where(EventMedia.event_id == event_id, EventMedia.kind == kind.value, EventMedia.sha256 == sha256)
    )
    if row is not None and row.camera_id != camera_id:
        raise ApiError(403, "wrong_camera", "media.wrong_camera")
    if row is None:
        row = EventMedia(event_id=event_id, camera_id=camera_id, kind=kind.value, sha256=sha256)
        session.add(row)
    created = row.uploaded_at is None
    if created:
        row.uploaded_at = now
    session.flush()
    return created


@router.post("/api/v1/media/{event_id}", status_code=201)
async def upload_media(event_id: uuid.UUID, request: Request) -> JSONResponse:
    """Store one snapshot or clip of an event, sent by the camera's agent."""
    camera_id = _camera_header(request)
    await run_in_threadpool(_authorise_device, request, camera_id)
    try:
        kind = MediaKind(_header(request, "X-Media-Kind"))
    except ValueError:
        allowed = ", ".join(k.value for k in MediaKind)
        raise ApiError(400, "bad_header", "media.bad_header", header="X-Media-Kind", problem=f"use one of {allowed}") from None
    try:
        declared_sha = check_sha256(_header(request, "X-Content-SHA256"))
    except ValueError as exc:
        raise ApiError(400, "bad_header", "media.bad_header", header="X-Content-SHA256", problem=str(exc)) from None
    settings = request.app.state.settings
    data = await _read_body(request, settings.media_max_bytes)
    try:
        content_type = sniff_content_type(data)
    except MediaTypeError as exc:
        raise ApiError(415, "unsupported_media_type", "media.bad_type", details={"detail": str(exc)}) from None
    expected_type = "video/mp4" if kind is MediaKind.CLIP else "image/jpeg"
    if content_type != expected_type:
        raise ApiError(415, "unsupported_media_type", "media.bad_type", details={"detail": f"{kind.value} must be {expected_type}, got {content_type}"})

    await run_in_threadpool(_check_event_owner, request, str(event_id), camera_id)
    store = _file_store(request)
    sha256, relative, _ = await run_in_threadpool(_verify_and_write, store, data, declared_sha, content_type)

    def record() -> bool:
        with session_scope(request.app.state.session_factory) as session:
            return _record_upload(session, str(event_id), camera_id, kind, sha256, relative, content_type, len(data))

    created = await run_in_threadpool(record)
    log.info("Media %s (%s, %d bytes) for event %s of camera %s %s", sha256[:12], kind.value, len(data), event_id, camera_id, "stored" if created else "already stored")
    body: dict[str, Any] = {"sha256": sha256, "kind": kind.value, "size_bytes": len(data), "created": created}
    return JSONResponse(body, status_code=201 if created else 200)


def _check_event_owner(request: Request, event_id: str, camera_id: str) -> None:
    """Reject media for an event of another camera before its bytes are written."""
    with session_scope(request.app.state.session_factory) as session:
        event = session.get(Event, event_id)
        if event is not None and event.camera_id != camera_id:
            log.warning("Camera %s tried to upload media for event %s of camera %s", camera_id, event_id, event.camera_id)
            raise ApiError(403, "wrong_camera", "media.wrong_camera")


def _verify_and_write(store: MediaFileStore, data: bytes, declared_sha: str, content_type: Any) -> tuple[str, str, bool]:
    actual = hashlib.sha256(data).hexdigest()
    if actual != declared_sha:
        raise ApiError(400, "hash_mismatch", "media.hash_mismatch", details={"declared": declared_sha, "actual": actual})
    return store.write(data, content_type)


@router.get("/media/{sha256}")
def get_media(sha256: str, request: Request, user: UserDep) -> FileResponse:
    """Serve a stored file to a logged-in user; Range requests let browsers seek in clips."""
    try:
        check_sha256(sha256)
    except ValueError:
        raise ApiError(404, "not_found", "error.not_found") from None
    with session_scope(request.app.state.session_factory) as session:
        media = session.get(MediaObject, sha256)
        if media is None:
            raise ApiError(404, "not_found", "error.not_found")
        path = _file_store(request).path_for(media.path)
        content_type = media.content_type
    if not path.is_file():
        log.error("Media %s is in the database but its file %s is missing", sha256, path)
        raise ApiError(404, "not_found", "error.not_found")
    return FileResponse(
        path,
        media_type=content_type,
        filename=f"{sha256}{EXTENSIONS[content_type]}",
        content_disposition_type="inline",
        headers={"Cache-Control": "private, max-age=31536000, immutable"},
    )


# -- live view -------------------------------------------------------------------------------


@router.post("/api/v1/live/{camera_id}/frames")
async def push_live_frame(camera_id: str, request: Request) -> JSONResponse:
    """Receive one live JPEG frame from the camera's agent; returns how many users watch."""
    try:
        validate_camera_id(camera_id)
    except TopicError:
        raise ApiError(404, "not_found", "error.not_found") from None
    await run_in_threadpool(_authorise_device, request, camera_id)
    data = await _read_body(request, LIVE_FRAME_MAX_BYTES)
    if data[:3] != b"\xff\xd8\xff":
        raise ApiError(415, "unsupported_media_type", "media.bad_type")
    captured_raw = request.headers.get("X-Captured-At")
    try:
        captured_at = float(captured_raw) if captured_raw else None
    except ValueError:
        captured_at = None
    watchers = await live_relay(request).push(camera_id, data, captured_at)
    return JSONResponse({"watchers": watchers})


def _camera_or_404(request: Request, camera_id: str) -> Camera:
    with session_scope(request.app.state.session_factory) as session:
        camera = session.get(Camera, camera_id)
        if camera is None:
            raise ApiError(404, "not_found", "media.camera_not_found")
        session.expunge(camera)
        return camera


@router.get("/api/v1/live/{camera_id}/mjpeg")
async def live_mjpeg(camera_id: str, request: Request, user: UserDep) -> StreamingResponse:
    """Stream the camera's live frames as MJPEG (multipart/x-mixed-replace) while the client stays connected."""
    await run_in_threadpool(_camera_or_404, request, camera_id)
    relay = live_relay(request)

    async def parts() -> AsyncIterator[bytes]:
        frames = relay.frames(camera_id)
        last: LiveFrame | None = None
        try:
            async for received in frames:
                # Without a new frame for a while, the last one is sent again, so proxies do
                # not close an idle stream. A non-image part would break the browser's <img>.
                frame = received or last
                if frame is None:
                    continue
                last = frame
                yield _mjpeg_part(frame)
        finally:
            await frames.aclose()

    return StreamingResponse(
        parts(),
        media_type=f"multipart/x-mixed-replace; boundary={MJPEG_BOUNDARY}",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


def _mjpeg_part(frame: LiveFrame, camera_id: str | None = None) -> bytes:
    captured = f"X-Captured-At: {frame.captured_at:.6f}\r\n" if frame.captured_at else ""
    camera = f"X-Camera-Id: {camera_id}\r\n" if camera_id else ""
    head = (
        f"--{MJPEG_BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(frame.jpeg)}\r\n"
        f"X-Frame-Seq: {frame.seq}\r\n{camera}{captured}\r\n"
    )
    return head.encode() + frame.jpeg + b"\r\n"


def _wall_camera_ids(request: Request, cameras: str | None) -> list[str]:
    """Return the ids of the wall's cameras: those named (registered ones only), else the first registered."""
    with session_scope(request.app.state.session_factory) as session:
        if cameras:
            wanted = [c.strip() for c in cameras.split(",") if c.strip()][:VIDEO_WALL_MAX_CAMERAS]
            return [c for c in wanted if session.get(Camera, c) is not None]
        return list(session.scalars(select(Camera.id).order_by(Camera.id).limit(VIDEO_WALL_MAX_CAMERAS)))


@router.get("/api/v1/live-wall/stream")
async def live_wall_stream(
    request: Request, user: UserDep, cameras: Annotated[str | None, Query(max_length=1000)] = None
) -> StreamingResponse:
    """Stream the live frames of up to 12 cameras over one connection (multipart/mixed, ``X-Camera-Id`` per part).

    One ``<img>`` per MJPEG stream would hold one connection per camera, and browsers
    open at most 6 HTTP/1.1 connections per host, so the video wall reads this single
    stream with a script instead.
    """
    camera_ids = await run_in_threadpool(_wall_camera_ids, request, cameras)
    relay = live_relay(request)

    async def parts() -> AsyncIterator[bytes]:
        queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=max(2, 2 * len(camera_ids)))

        async def pump(camera_id: str) -> None:
            frames = relay.frames(camera_id)
            last: LiveFrame | None = None
            try:
                async for received in frames:
                    frame = received or last
                    if frame is None:
                        continue
                    last = frame
                    await queue.put(_mjpeg_part(frame, camera_id))
            finally:
                await frames.aclose()

        tasks = [asyncio.create_task(pump(camera_id)) for camera_id in camera_ids]
        try:
            while True:
                yield await queue.get()
        finally:
            for task in tasks:
                task.cancel()

    return StreamingResponse(
        parts(),
        media_type=f"multipart/mixed; boundary={MJPEG_BOUNDARY}",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@router.get("/live/{camera_id}", response_class=HTMLResponse)
def live_page(camera_id: str, request: Request, user: UserDep) -> HTMLResponse:
    """Show one camera's live view."""
    camera = _camera_or_404(request, camera_id)
    return render(request, "media/live.html", {"cameras": [camera], "wall": False})


@router.get("/live", response_class=HTMLResponse)
def video_wall(
    request: Request, user: UserDep, cameras: Annotated[str | None, Query(max_length=1000)] = None
) -> HTMLResponse:
    """Show up to 12 cameras at once: those named in ?cameras=a,b,c, else the first registered ones."""
    camera_ids = _wall_camera_ids(request, cameras)
    with session_scope(request.app.state.session_factory) as session:
        rows = [row for row in (session.get(Camera, c) for c in camera_ids) if row is not None]
        for row in rows:
            session.expunge(row)
    stream_url = "/api/v1/live-wall/stream?" + urlencode({"cameras": ",".join(camera_ids)})
    return render(request, "media/live.html", {"cameras": rows, "wall": True, "stream_url": stream_url})
