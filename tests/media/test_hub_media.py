"""Hub media units: type sniffing, content-addressed paths and announced-then-uploaded rows."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from hub.db import session_scope
from hub.media.expected import expect_media
from hub.media.models import EventMedia
from hub.media.store import MediaFileStore, MediaTypeError, relative_path, sniff_content_type
from metro_common.messages import MediaKind, MediaMessage, MediaRef
from tests.media.conftest import HubServer, register_camera


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "image/jpeg"),
        (b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00", "video/mp4"),
    ],
)
def test_sniff_known_types(head: bytes, expected: str) -> None:
    assert sniff_content_type(head + b"\x00" * 20) == expected


@pytest.mark.parametrize("head", [b"GIF89a", b"\x89PNG\r\n\x1a\n", b"", b"<html>"])
def test_sniff_rejects_others(head: bytes) -> None:
    with pytest.raises(MediaTypeError, match="only JPEG and MP4"):
        sniff_content_type(head + b"\x00" * 20)


def test_relative_path_shards_by_hash() -> None:
    sha = "ab" + "cd" + "e" * 60
    assert relative_path(sha, "video/mp4") == f"ab/cd/{sha}.mp4"
    with pytest.raises(ValueError, match="64 lowercase hex"):
        relative_path("ABC", "image/jpeg")


def test_file_store_writes_once(tmp_path: Path) -> None:
    store = MediaFileStore(tmp_path)
    data = b"\xff\xd8\xff" + b"z" * 100
    sha, relative, created = store.write(data, "image/jpeg")
    assert sha == hashlib.sha256(data).hexdigest()
    assert created is True
    assert store.path_for(relative).read_bytes() == data
    assert store.write(data, "image/jpeg")[2] is False
    assert list(store.tmp.iterdir()) == []


def test_announced_then_uploaded_is_one_row(hub_server: HubServer) -> None:
    data = b"\xff\xd8\xff" + b"q" * 500
    sha = hashlib.sha256(data).hexdigest()
    event_id = uuid.uuid4()
    message = MediaMessage(
        camera_id=hub_server.camera_id, seq=1, event_id=event_id, ts=datetime.now(UTC),
        media=MediaRef(kind=MediaKind.SNAPSHOT, sha256=sha, size_bytes=len(data), content_type="image/jpeg"),
    )
    factory = hub_server.app.state.session_factory
    with session_scope(factory) as session:
        expect_media(session, message, datetime.now(UTC))
    with session_scope(factory) as session:
        expect_media(session, message, datetime.now(UTC))  # redelivered MQTT message

    response = httpx.post(
        f"{hub_server.base_url}/api/v1/media/{event_id}", content=data,
        headers={"Authorization": f"Bearer {hub_server.device_token}", "X-Camera-Id": hub_server.camera_id,
                 "X-Media-Kind": "snapshot", "X-Content-SHA256": sha},
    )
    assert response.status_code == 201
    with session_scope(factory) as session:
        rows = session.scalars(select(EventMedia).where(EventMedia.event_id == str(event_id))).all()
        assert len(rows) == 1
        assert rows[0].announced_at is not None
        assert rows[0].uploaded_at is not None


def test_live_pages_render(hub_server: HubServer) -> None:
    single = httpx.get(f"{hub_server.base_url}/live/{hub_server.camera_id}", cookies=hub_server.cookies())
    assert single.status_code == 200
    assert f'src="/api/v1/live/{hub_server.camera_id}/mjpeg"' in single.text
    assert "Siaran langsung" in single.text
    wall = httpx.get(f"{hub_server.base_url}/live?lang=en", cookies=hub_server.cookies())
    assert wall.status_code == 200
    assert "Video wall" in wall.text
    assert wall.text.count('class="live-frame"') == 1
    missing = httpx.get(f"{hub_server.base_url}/live/cam-missing", cookies=hub_server.cookies())
    assert missing.status_code == 404


def test_mjpeg_repeats_last_frame_when_idle(hub_server: HubServer) -> None:
    from hub.media.live import LiveRelay
    from tests.media.test_live import _read_mjpeg_parts

    async def publish(message: object) -> None:
        return None

    hub_server.app.state.live_relay = LiveRelay(publish, frame_wait_s=0.3, stop_grace_s=0.1)
    jpeg = b"\xff\xd8\xff\xe0" + b"f" * 200
    pushed = httpx.post(
        f"{hub_server.base_url}/api/v1/live/{hub_server.camera_id}/frames", content=jpeg,
        headers={"Authorization": f"Bearer {hub_server.device_token}", "X-Captured-At": "1.5"},
    )
    assert pushed.status_code == 200
    assert pushed.json() == {"watchers": 0}
    parts = _read_mjpeg_parts(f"{hub_server.base_url}/api/v1/live/{hub_server.camera_id}/mjpeg", hub_server.cookies(), 3)
    assert [body for _, _, body in parts] == [jpeg, jpeg, jpeg]
    assert [captured for _, captured, _ in parts] == [1.5, 1.5, 1.5]


def test_upload_for_other_cameras_event(hub_server: HubServer) -> None:
    from hub.models import Event

    event_id = str(uuid.uuid4())
    other = "cam-other-" + uuid.uuid4().hex[:6]
    register_camera(hub_server.app, other)
    now = datetime.now(UTC)
    with session_scope(hub_server.app.state.session_factory) as session:
        session.add(Event(
            id=event_id, camera_id=other, last_seq=1, state="new", label="person", score=0.9, start_ts=now, last_ts=now,
            clock_synced=True, box={}, zones=[], received_at=now, updated_at=now,
        ))
    data = b"\xff\xd8\xff" + b"o" * 50
    response = httpx.post(
        f"{hub_server.base_url}/api/v1/media/{event_id}", content=data,
        headers={"Authorization": f"Bearer {hub_server.device_token}", "X-Camera-Id": hub_server.camera_id,
                 "X-Media-Kind": "snapshot", "X-Content-SHA256": hashlib.sha256(data).hexdigest()},
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "wrong_camera"
    assert not list(hub_server.app.state.settings.media_dir.rglob("*.jpg")), "rejected bytes must not be stored"
