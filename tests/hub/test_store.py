"""Idempotent storage of every message kind, on SQLite and on the real PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from hub.db import make_engine, make_session_factory, session_scope
from hub.ingest import store
from hub.migrate import upgrade
from hub.models import Camera, CameraHealthSample, Command, Event, EventZone
from metro_common.messages import CameraState, CommandResultMessage, EventKind, MediaKind, MediaMessage, MediaRef
from tests.hub.factories import T0, add_camera, event, sha, stats, status, unique_camera_id

NOW = T0 + timedelta(minutes=1)


@pytest.fixture(params=["sqlite", "postgres"])
def factory(request, tmp_path) -> Iterator[sessionmaker[Session]]:  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.db'}"
    else:
        url = request.getfixturevalue("throwaway_postgres")
    upgrade(url)
    engine = make_engine(url)
    yield make_session_factory(engine)
    engine.dispose()


def _count(session: Session, model: type) -> int:
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_event_twice_is_one_row(factory) -> None:  # type: ignore[no-untyped-def]
    camera_id = unique_camera_id()
    event_id = uuid.uuid4()
    with session_scope(factory) as session:
        add_camera(session, camera_id)
    for _ in range(2):
        with session_scope(factory) as session:
            store.store_event(session, event(camera_id, event_id, 1), NOW)
    with session_scope(factory) as session:
        assert _count(session, Event) == 1


def test_event_sequence_and_zones(factory) -> None:  # type: ignore[no-untyped-def]
    camera_id = unique_camera_id()
    event_id = uuid.uuid4()
    with session_scope(factory) as session:
        add_camera(session, camera_id)
    messages = [
        event(camera_id, event_id, 5, EventKind.NEW, zones=("gate",), snapshot=sha("b")),
        event(camera_id, event_id, 7, EventKind.END, zones=("gate", "road")),
        event(camera_id, event_id, 6, EventKind.UPDATE, zones=("bus stop",)),
        event(camera_id, event_id, 8, EventKind.UPDATE),
    ]
    results = []
    for message in messages:
        with session_scope(factory) as session:
            results.append(store.store_event(session, message, NOW))
    assert [r.changed for r in results] == [True, True, False, False]
    assert [r.detail["outcome"] for r in results] == ["created", "updated", "duplicate", "after_end"]
    with session_scope(factory) as session:
        row = session.get(Event, str(event_id))
        assert row is not None
        assert row.state == "ended"
        assert row.last_seq == 7
        assert row.end_reason == "left_view"
        assert sorted(session.scalars(select(EventZone.zone).where(EventZone.event_id == row.id))) == ["gate", "road"]
        camera = session.get(Camera, camera_id)
        assert camera is not None and camera.last_snapshot_sha256 == sha("b")


def test_event_unknown_camera_raises(factory) -> None:  # type: ignore[no-untyped-def]
    with session_scope(factory) as session, pytest.raises(store.UnknownCamera):
        store.store_event(session, event(unique_camera_id(), uuid.uuid4(), 1), NOW)


def test_event_id_of_other_camera_ignored(factory) -> None:  # type: ignore[no-untyped-def]
    owner, intruder = unique_camera_id(), unique_camera_id()
    event_id = uuid.uuid4()
    with session_scope(factory) as session:
        add_camera(session, owner)
        add_camera(session, intruder)
        store.store_event(session, event(owner, event_id, 1), NOW)
    with session_scope(factory) as session:
        result = store.store_event(session, event(intruder, event_id, 2, EventKind.END), NOW)
        assert result.changed is False
        row = session.get(Event, str(event_id))
        assert row is not None
        assert row.camera_id == owner
        assert row.state == "active"


def test_status_older_ignored(factory) -> None:  # type: ignore[no-untyped-def]
    camera_id = unique_camera_id()
    with session_scope(factory) as session:
        add_camera(session, camera_id)
        store.store_status(session, status(camera_id, CameraState.STOPPED, T0 + timedelta(seconds=10)), NOW)
        result = store.store_status(session, status(camera_id, CameraState.ONLINE, T0), NOW)
        assert result.changed is False
        camera = session.get(Camera, camera_id)
        assert camera is not None and camera.state == "stopped"


def test_stats_updates_health(factory) -> None:  # type: ignore[no-untyped-def]
    camera_id = unique_camera_id()
    with session_scope(factory) as session:
        add_camera(session, camera_id)
        store.store_stats(session, stats(camera_id, T0, fps=4.0), NOW)
        store.store_stats(session, stats(camera_id, T0 - timedelta(seconds=30), fps=1.0), NOW)
    with session_scope(factory) as session:
        camera = session.get(Camera, camera_id)
        assert camera is not None
        assert camera.fps == 4.0, "an older heartbeat must not overwrite the live figures"
        assert camera.state == "online"
        assert camera.disk_free_bytes == 12_000_000_000
        assert _count(session, CameraHealthSample) == 2


def test_command_result_once(factory) -> None:  # type: ignore[no-untyped-def]
    camera_id = unique_camera_id()
    command_id = uuid.uuid4()
    with session_scope(factory) as session:
        add_camera(session, camera_id)
        session.add(
            Command(id=str(command_id), camera_id=camera_id, name="snapshot", args={}, issued_at=T0,
                    expires_at=T0 + timedelta(minutes=1))
        )
    first = CommandResultMessage(camera_id=camera_id, command_id=command_id, ts=T0, ok=True, detail="done")
    second = first.model_copy(update={"ok": False, "detail": "late duplicate"})
    with session_scope(factory) as session:
        assert store.store_command_result(session, first, NOW).changed
        assert not store.store_command_result(session, second, NOW).changed
    with session_scope(factory) as session:
        row = session.get(Command, str(command_id))
        assert row is not None
        assert row.result_ok is True
        assert row.result_detail == "done"


def test_media_recorded_on_event_and_expected(factory) -> None:  # type: ignore[no-untyped-def]
    from hub.media.models import EventMedia

    camera_id = unique_camera_id()
    event_id = uuid.uuid4()
    with session_scope(factory) as session:
        add_camera(session, camera_id)
        store.store_event(session, event(camera_id, event_id, 1), NOW)
    message = MediaMessage(
        camera_id=camera_id, seq=2, event_id=event_id, ts=T0,
        media=MediaRef(kind=MediaKind.CLIP, sha256=sha("c"), size_bytes=5000, content_type="video/mp4"),
    )
    for _ in range(2):
        with session_scope(factory) as session:
            store.store_media(session, message, NOW)
    with session_scope(factory) as session:
        row = session.get(Event, str(event_id))
        assert row is not None and row.clip_sha256 == sha("c")
        assert _count(session, EventMedia) == 1


def test_housekeeping_deletes_old_rows(factory) -> None:  # type: ignore[no-untyped-def]
    from hub.auth.sessions import IDLE_TIMEOUT, create_session
    from hub.auth.users import create_user
    from hub.ingest.service import housekeeping
    from hub.models import UserSession

    camera_id = unique_camera_id()
    with session_scope(factory) as session:
        add_camera(session, camera_id)
        store.store_stats(session, stats(camera_id, T0 - timedelta(days=40)), NOW)
        store.store_stats(session, stats(camera_id, T0 - timedelta(days=2)), NOW)
        user = create_user(session, f"u{uuid.uuid4().hex[:8]}", "long enough password", "viewer", T0)
        create_session(session, user, T0 - IDLE_TIMEOUT - timedelta(minutes=1))
        create_session(session, user, T0)
    assert housekeeping(factory, T0, health_retention_days=30) == (1, 1)
    with session_scope(factory) as session:
        assert _count(session, CameraHealthSample) == 1
        assert _count(session, UserSession) == 1
