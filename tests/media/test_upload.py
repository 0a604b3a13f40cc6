"""Upload round trip between the agent's uploader and a real hub served by uvicorn."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import httpx
import numpy as np
import pytest
from sqlalchemy import select

from edge_agent.media.config import MediaConfig, UploadRetryConfig
from edge_agent.media.snapshot import encode_jpeg
from edge_agent.media.store import MediaStore
from edge_agent.media.uploader import MediaUploader, backoff_delay
from hub.db import session_scope
from hub.media.models import EventMedia, MediaObject
from metro_common.messages import MediaKind
from tests.media.conftest import HubServer

EVENT = "5b0f3d2e-8f7c-4a51-9a0e-1d2c3b4a5f60"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def upload_headers(hub: HubServer, data: bytes, kind: str = "snapshot", token: str | None = None) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {token or hub.device_token}",
        "X-Camera-Id": hub.camera_id,
        "X-Media-Kind": kind,
        "X-Content-SHA256": hashlib.sha256(data).hexdigest(),
    }


@pytest.fixture(scope="module")
def snapshot_jpeg(vtest_frames: list[np.ndarray]) -> bytes:
    return encode_jpeg(vtest_frames[40], 85)


@pytest.mark.parametrize("attempt", [1, 2, 5, 20])
def test_backoff_within_ceiling(attempt: int) -> None:
    retry = UploadRetryConfig(initial_delay_s=1.0, max_delay_s=60.0, multiplier=2.0)
    ceiling = min(60.0, 2.0 ** (attempt - 1))
    delays = [backoff_delay(attempt, retry, random.Random(seed)) for seed in range(50)]
    assert all(ceiling / 2 <= d <= ceiling for d in delays)
    assert len(set(delays)) > 40, "jitter should spread the delays"


def test_upload_retries_after_hub_down(
    tmp_path: Path, hub_unstarted: HubServer, snapshot_jpeg: bytes, media_dir: Path
) -> None:
    hub = hub_unstarted
    store = MediaStore(tmp_path / "agent", hub.camera_id, MediaConfig())
    snapshot = store.save_bytes([EVENT], MediaKind.SNAPSHOT, snapshot_jpeg, "image/jpeg")
    clip_bytes = (media_dir / "intel_car-detection.mp4").read_bytes()
    clip = store.save_bytes([EVENT], MediaKind.CLIP, clip_bytes, "video/mp4")
    assert snapshot is not None and clip is not None
    clock = Clock()
    retry = UploadRetryConfig(initial_delay_s=2.0, max_delay_s=10.0, timeout_s=5.0)
    uploader = MediaUploader(store, hub.base_url, hub.device_token, retry, clock=clock, rng=random.Random(1))

    # The hub is not listening yet: both uploads fail and wait for their backoff.
    wait = uploader.run_once()
    assert uploader.stats.failed_attempts == 2
    assert wait is not None and 1.0 <= wait <= 2.0
    assert len(store.pending()) == 2

    hub.start()
    assert uploader.run_once() is not None, "retries are not due before the backoff ends"
    assert uploader.stats.uploaded == 0
    clock.now += 2.5
    assert uploader.run_once() is None
    assert uploader.stats.uploaded == 2
    assert store.pending() == []

    with session_scope(hub.app.state.session_factory) as session:
        rows = session.scalars(select(EventMedia).where(EventMedia.event_id == EVENT)).all()
        assert sorted(r.kind for r in rows) == ["clip", "snapshot"]
        assert all(r.uploaded_at is not None for r in rows)
        stored = session.get(MediaObject, clip.sha256)
        assert stored is not None
        assert stored.size_bytes == len(clip_bytes)
        assert stored.content_type == "video/mp4"

    # Operators download by hash; Range requests work for seeking in the clip.
    response = httpx.get(f"{hub.base_url}/media/{snapshot.sha256}", cookies=hub.cookies())
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/jpeg"
    assert response.content == snapshot_jpeg
    ranged = httpx.get(f"{hub.base_url}/media/{clip.sha256}", cookies=hub.cookies(), headers={"Range": "bytes=100-199"})
    assert ranged.status_code == 206
    assert ranged.content == clip_bytes[100:200]
    uploader.stop()


def test_upload_survives_agent_restart(tmp_path: Path, hub_server: HubServer, snapshot_jpeg: bytes) -> None:
    first = MediaStore(tmp_path / "agent", hub_server.camera_id, MediaConfig())
    item = first.save_bytes([EVENT], MediaKind.SNAPSHOT, snapshot_jpeg, "image/jpeg")
    assert item is not None
    # The agent restarts before uploading: a new store rescans the disk and finds the pending file.
    reopened = MediaStore(tmp_path / "agent", hub_server.camera_id, MediaConfig())
    uploader = MediaUploader(reopened, hub_server.base_url, hub_server.device_token)
    assert uploader.run_once() is None
    assert uploader.stats.uploaded == 1
    assert reopened.pending() == []
    uploader.stop()


def test_repeated_upload_is_idempotent(hub_server: HubServer, snapshot_jpeg: bytes) -> None:
    url = f"{hub_server.base_url}/api/v1/media/{EVENT}"
    headers = upload_headers(hub_server, snapshot_jpeg)
    first = httpx.post(url, content=snapshot_jpeg, headers=headers)
    second = httpx.post(url, content=snapshot_jpeg, headers=headers)
    assert first.status_code == 201
    assert first.json()["created"] is True
    assert second.status_code == 200
    assert second.json()["created"] is False
    with session_scope(hub_server.app.state.session_factory) as session:
        assert len(session.scalars(select(EventMedia)).all()) == 1
    sha = hashlib.sha256(snapshot_jpeg).hexdigest()
    files = list((hub_server.app.state.settings.media_dir).rglob(f"{sha}.jpg"))
    assert [f.relative_to(hub_server.app.state.settings.media_dir).as_posix() for f in files] == [f"{sha[:2]}/{sha[2:4]}/{sha}.jpg"]


def test_upload_rejections(hub_server: HubServer, snapshot_jpeg: bytes) -> None:
    url = f"{hub_server.base_url}/api/v1/media/{EVENT}"
    cases = [
        ("bad hash", snapshot_jpeg, {**upload_headers(hub_server, snapshot_jpeg), "X-Content-SHA256": "0" * 64}, 400, "hash_mismatch"),
        ("not media", b"GIF89a" + b"x" * 100, upload_headers(hub_server, b"GIF89a" + b"x" * 100), 415, "unsupported_media_type"),
        ("jpeg as clip", snapshot_jpeg, upload_headers(hub_server, snapshot_jpeg, kind="clip"), 415, "unsupported_media_type"),
        ("bad kind", snapshot_jpeg, upload_headers(hub_server, snapshot_jpeg, kind="poster"), 400, "bad_header"),
        ("wrong token", snapshot_jpeg, upload_headers(hub_server, snapshot_jpeg, token="not-the-token"), 401, "device_token_invalid"),
        ("too large", b"\xff\xd8\xff" + b"x" * (8 * 1024 * 1024), upload_headers(hub_server, b"\xff\xd8\xff" + b"x" * (8 * 1024 * 1024)), 413, "too_large"),
    ]
    for name, body, headers, status, code in cases:
        response = httpx.post(url, content=body, headers=headers)
        assert response.status_code == status, f"{name}: {response.text}"
        assert response.json()["error"]["code"] == code, name
    bad_event = httpx.post(f"{hub_server.base_url}/api/v1/media/not-a-uuid", content=snapshot_jpeg, headers=upload_headers(hub_server, snapshot_jpeg))
    assert bad_event.status_code == 422


def test_media_download_needs_login(hub_server: HubServer, snapshot_jpeg: bytes) -> None:
    httpx.post(f"{hub_server.base_url}/api/v1/media/{EVENT}", content=snapshot_jpeg, headers=upload_headers(hub_server, snapshot_jpeg))
    sha = hashlib.sha256(snapshot_jpeg).hexdigest()
    anonymous = httpx.get(f"{hub_server.base_url}/media/{sha}")
    assert anonymous.status_code == 401
    unknown = httpx.get(f"{hub_server.base_url}/media/{'a' * 64}", cookies=hub_server.cookies())
    assert unknown.status_code == 404
