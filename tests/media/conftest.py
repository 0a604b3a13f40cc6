"""Fixtures of the media tests: real footage frames and a real hub served by uvicorn."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest
import uvicorn

from tests.conftest import free_port

VTEST = "opencv_vtest.avi"


def read_frames(path: Path, count: int, start: int = 0) -> list[np.ndarray]:
    """Read ``count`` frames from ``path`` starting at frame ``start``."""
    capture = cv2.VideoCapture(str(path))
    frames = []
    index = 0
    try:
        while len(frames) < count:
            ok, frame = capture.read()
            if not ok:
                break
            if index >= start:
                frames.append(frame)
            index += 1
    finally:
        capture.release()
    assert len(frames) == count, f"{path} gave {len(frames)} frames, expected {count}"
    return frames


@pytest.fixture(scope="session")
def vtest_frames(media_dir: Path) -> list[np.ndarray]:
    """The first 200 frames (20 s at 10 fps) of the campus footage, 768x576."""
    return read_frames(media_dir / VTEST, 200)


@dataclass
class HubServer:
    """A running hub: its URL, app, one registered camera with its device token, and a viewer's cookie."""

    app: Any
    base_url: str
    port: int
    camera_id: str
    device_token: str
    session_cookie: str
    server: uvicorn.Server | None = None
    thread: threading.Thread | None = None

    def start(self) -> None:
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError(f"hub did not start on port {self.port}")
            time.sleep(0.02)

    def stop(self) -> None:
        if self.server is not None and self.thread is not None:
            self.server.should_exit = True
            self.thread.join(15)
            self.server = None

    def cookies(self) -> dict[str, str]:
        return {"metro_session": self.session_cookie}


def register_camera(app: Any, camera_id: str) -> str:
    """Register ``camera_id`` in the hub's database and return a fresh device token for it."""
    from hub.auth.devices import issue_device_token
    from hub.db import session_scope
    from hub.models import Camera

    now = datetime.now(UTC)
    with session_scope(app.state.session_factory) as session:
        session.add(Camera(id=camera_id, name=f"Kamera {camera_id}", lat=-5.11, lon=105.30, created_at=now, updated_at=now))
        session.flush()
        return issue_device_token(session, camera_id)


def viewer_cookie(app: Any) -> str:
    from hub.auth.sessions import create_session
    from hub.auth.users import create_user
    from hub.db import session_scope

    now = datetime.now(UTC)
    with session_scope(app.state.session_factory) as session:
        user = create_user(session, f"viewer{uuid.uuid4().hex[:6]}", "correct horse battery", "viewer", now)
        return create_session(session, user, now)


@pytest.fixture()
def hub_unstarted(tmp_path: Path) -> Iterator[HubServer]:
    """A migrated hub on SQLite with one camera, not yet listening; call ``start()``. No broker or ingestion."""
    from hub.app import create_app
    from hub.migrate import upgrade
    from hub.settings import HubSettings

    settings = HubSettings(data_dir=tmp_path / "hub", database_url=f"sqlite:///{tmp_path / 'hub.db'}", media_max_bytes=8 * 1024 * 1024)
    upgrade(settings.resolved_database_url)
    app = create_app(settings, start_background=False)
    camera_id = f"cam-media-{uuid.uuid4().hex[:8]}"
    token = register_camera(app, camera_id)
    port = free_port()
    server = HubServer(app, f"http://127.0.0.1:{port}", port, camera_id, token, viewer_cookie(app))
    try:
        yield server
    finally:
        server.stop()
        app.state.engine.dispose()


@pytest.fixture()
def hub_server(hub_unstarted: HubServer) -> HubServer:
    """The same hub, listening."""
    hub_unstarted.start()
    return hub_unstarted


def wait_until(condition: Any, timeout_s: float, interval_s: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval_s)
    return bool(condition())


def get(url: str, **kwargs: Any) -> httpx.Response:
    return httpx.get(url, timeout=10, **kwargs)
