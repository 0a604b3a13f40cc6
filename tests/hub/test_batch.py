"""Batched ingestion: pure folding of a batch, and bulk storing on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub.db import Base, make_engine, make_session_factory, session_scope
from hub.ingest import store
from hub.ingest.batch import fold_batch
from hub.ingest.fold import FoldOutcome, state_from_message
from hub.ingest.processor import Incoming, IngestProcessor
from hub.models import Camera, Event, EventZone, import_all_models
from metro_common.messages import EventKind, encode
from metro_common.topics import TopicKind, topic
from tests.hub.conftest import create_throwaway_database
from tests.hub.factories import add_camera, event, sha, unique_camera_id

NOW = datetime(2026, 12, 4, 13, 0, tzinfo=UTC)
END = EventKind.END
UPDATE = EventKind.UPDATE


# Pure folding


def test_fold_batch_out_of_order_seq() -> None:
    camera_id, event_id = "cam-a", uuid.uuid4()
    messages = [event(camera_id, event_id, 3, UPDATE, score=0.9), event(camera_id, event_id, 1), event(camera_id, event_id, 2, UPDATE)]
    folded = fold_batch({}, messages)
    assert [step.outcome for step in folded.steps] == [FoldOutcome.CREATED, FoldOutcome.DUPLICATE, FoldOutcome.DUPLICATE]
    assert folded.changed[str(event_id)].last_seq == 3
    assert folded.changed[str(event_id)].score == 0.9


def test_fold_batch_update_after_end_ignored() -> None:
    camera_id, event_id = "cam-a", uuid.uuid4()
    messages = [event(camera_id, event_id, 1), event(camera_id, event_id, 3, END), event(camera_id, event_id, 4, UPDATE)]
    folded = fold_batch({}, messages)
    assert [step.outcome for step in folded.steps] == [FoldOutcome.CREATED, FoldOutcome.UPDATED, FoldOutcome.AFTER_END]
    final = folded.changed[str(event_id)]
    assert final.state == "ended"
    assert final.last_seq == 3


def test_fold_batch_duplicate_in_batch() -> None:
    camera_id, event_id = "cam-a", uuid.uuid4()
    message = event(camera_id, event_id, 1)
    folded = fold_batch({}, [message, message])
    assert [step.outcome for step in folded.steps] == [FoldOutcome.CREATED, FoldOutcome.DUPLICATE]
    assert folded.steps[1].state is None


def test_fold_batch_starts_from_stored_state() -> None:
    camera_id, event_id = "cam-a", uuid.uuid4()
    stored = state_from_message(event(camera_id, event_id, 2, UPDATE, zones=("north",)))
    folded = fold_batch({str(event_id): stored}, [event(camera_id, event_id, 2), event(camera_id, event_id, 3, zones=("south",))])
    assert [step.outcome for step in folded.steps] == [FoldOutcome.DUPLICATE, FoldOutcome.UPDATED]
    assert folded.changed[str(event_id)].zones == ("north", "south")


def test_fold_batch_foreign_camera() -> None:
    event_id = uuid.uuid4()
    folded = fold_batch({}, [event("cam-a", event_id, 1), event("cam-b", event_id, 2, UPDATE)])
    assert folded.steps[1].outcome is FoldOutcome.FOREIGN
    assert folded.steps[1].owner == "cam-a"
    assert folded.changed[str(event_id)].camera_id == "cam-a"
    assert folded.changed[str(event_id)].last_seq == 1


def test_fold_batch_matches_one_at_a_time() -> None:
    """Folding a batch gives the same final state as storing its messages one by one."""
    camera_id, event_id = "cam-a", uuid.uuid4()
    messages = [
        event(camera_id, event_id, 2, UPDATE, score=0.8, zones=("a",)), event(camera_id, event_id, 1, zones=("b",)),
        event(camera_id, event_id, 4, END), event(camera_id, event_id, 3, UPDATE, snapshot=sha("c")),
    ]
    one_by_one: dict[str, object] = {}
    for message in messages:
        one_by_one.update(fold_batch(one_by_one, [message]).changed)  # type: ignore[arg-type]
    assert fold_batch({}, messages).changed == one_by_one


# Storing on both databases


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def factory(request, tmp_path_factory) -> Iterator[sessionmaker[Session]]:  # type: ignore[no-untyped-def]
    import_all_models()
    drop = None
    if request.param == "postgres":
        url, drop = create_throwaway_database(request.getfixturevalue("postgres_url"))
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('batch') / 'hub.db'}"
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    yield make_session_factory(engine)
    engine.dispose()
    if drop is not None:
        drop()


def _cameras(factory: sessionmaker[Session], count: int) -> list[str]:
    ids = [unique_camera_id("batch") for _ in range(count)]
    with session_scope(factory) as session:
        for camera_id in ids:
            add_camera(session, camera_id)
    return ids


def _store(factory: sessionmaker[Session], messages: list) -> list[store.StoreResult | None]:  # type: ignore[type-arg]
    with session_scope(factory) as session:
        return store.store_events(session, messages, NOW)


def _row(factory: sessionmaker[Session], event_id: uuid.UUID) -> Event:
    with factory() as session:
        row = session.get(Event, str(event_id))
        assert row is not None, f"event {event_id} was not stored"
        return row


def test_store_events_folds_one_event(factory) -> None:  # type: ignore[no-untyped-def]
    (camera_id,) = _cameras(factory, 1)
    event_id = uuid.uuid4()
    results = _store(factory, [
        event(camera_id, event_id, 2, UPDATE, score=0.9, zones=("east",)), event(camera_id, event_id, 1, zones=("west",)),
        event(camera_id, event_id, 2, UPDATE), event(camera_id, event_id, 3, END),
        event(camera_id, event_id, 4, UPDATE),
    ])
    assert [r.detail["outcome"] for r in results if r is not None] == ["created", "duplicate", "duplicate", "updated", "after_end"]
    row = _row(factory, event_id)
    assert (row.state, row.last_seq, row.score) == ("ended", 3, 0.9)
    with factory() as session:
        zones = set(session.scalars(select(EventZone.zone).where(EventZone.event_id == str(event_id))))
    assert zones == {"east"}, "zones of the row follow the stored state"
    assert row.zones == ["east"]


def test_store_events_updates_stored_row(factory) -> None:  # type: ignore[no-untyped-def]
    (camera_id,) = _cameras(factory, 1)
    event_id = uuid.uuid4()
    _store(factory, [event(camera_id, event_id, 1, zones=("a",))])
    results = _store(factory, [event(camera_id, event_id, 1), event(camera_id, event_id, 2, UPDATE, zones=("b",), snapshot=sha("d"))])
    assert [r.detail["outcome"] for r in results if r is not None] == ["duplicate", "updated"]
    row = _row(factory, event_id)
    assert (row.last_seq, row.zones, row.snapshot_sha256) == (2, ["a", "b"], sha("d"))
    with factory() as session:
        zones = set(session.scalars(select(EventZone.zone).where(EventZone.event_id == str(event_id))))
        camera = session.get(Camera, camera_id)
        assert camera is not None
        assert camera.last_snapshot_sha256 == sha("d")
        assert camera.last_snapshot_event_id == str(event_id)
        assert camera.last_seen_at == NOW
    assert zones == {"a", "b"}


def test_store_events_mixed_cameras(factory) -> None:  # type: ignore[no-untyped-def]
    first, second = _cameras(factory, 2)
    ids = [uuid.uuid4() for _ in range(4)]
    unknown = unique_camera_id("unregistered")
    results = _store(factory, [
        event(first, ids[0], 1), event(second, ids[1], 1), event(unknown, ids[2], 1),
        event(first, ids[3], 1), event(second, ids[0], 2, UPDATE), event(second, ids[1], 2, END),
    ])
    assert results[2] is None, "a message from an unregistered camera is not stored"
    assert results[4] is not None and results[4].detail == {"outcome": "foreign"}
    assert _row(factory, ids[0]).last_seq == 1
    assert _row(factory, ids[1]).state == "ended"
    assert _row(factory, ids[3]).camera_id == first
    with factory() as session:
        assert session.get(Event, str(ids[2])) is None


def test_processor_batch_acks_after_commit(factory) -> None:  # type: ignore[no-untyped-def]
    (camera_id,) = _cameras(factory, 1)
    event_id = uuid.uuid4()
    acked: list[int] = []
    processor = IngestProcessor(factory, clock=lambda: NOW)

    def ack(index: int):  # type: ignore[no-untyped-def]
        def _ack() -> None:
            with factory() as session:  # a separate connection sees only committed rows
                assert session.get(Event, str(event_id)) is not None, "acknowledged before the commit"
            acked.append(index)
        return _ack

    name = topic(camera_id, TopicKind.EVENT)
    items = [
        Incoming(name, encode(event(camera_id, event_id, 1)), ack(0)),
        Incoming(name, b"{not json", ack(1)),
        Incoming(name, encode(event(camera_id, event_id, 2, END)), ack(2)),
    ]
    results = processor.handle_batch(items)
    assert acked == [0, 1, 2], "every message is acknowledged once, in arrival order"
    assert results[1] is None
    assert processor.rejects.counts() == {"malformed": 1}
    assert processor.stored == 2
    assert _row(factory, event_id).state == "ended"


def test_lost_insert_folds_onto_committed_row(factory, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A row inserted by another writer after the batch read none is read again and folded onto, in one go."""
    (camera_id,) = _cameras(factory, 1)
    event_id, other = uuid.uuid4(), uuid.uuid4()
    _store(factory, [event(camera_id, event_id, 1, zones=("a",))])
    real = store._lock_event_states
    calls: list[set[str]] = []

    def first_read_misses(session, event_ids, nowait=False):  # type: ignore[no-untyped-def]
        calls.append(set(event_ids))
        return {} if len(calls) == 1 else real(session, event_ids, nowait=nowait)

    monkeypatch.setattr(store, "_lock_event_states", first_read_misses)
    results = _store(factory, [event(camera_id, event_id, 2, END, zones=("b",)), event(camera_id, other, 1)])
    assert calls == [{str(event_id), str(other)}, {str(event_id)}], "only the lost insert is read again"
    assert [r.detail["outcome"] for r in results if r is not None] == ["updated", "created"]
    row = _row(factory, event_id)
    assert (row.state, row.last_seq, sorted(row.zones)) == ("ended", 2, ["a", "b"])
    assert _row(factory, other).state == "active"


def test_unreadable_lost_insert_fails_batch(factory, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    (camera_id,) = _cameras(factory, 1)
    event_id = uuid.uuid4()
    _store(factory, [event(camera_id, event_id, 1)])
    monkeypatch.setattr(store, "_lock_event_states", lambda session, event_ids, nowait=False: {})
    with pytest.raises(store.ConcurrentInsert):
        _store(factory, [event(camera_id, event_id, 2, END), event(camera_id, uuid.uuid4(), 1)])
    assert _row(factory, event_id).state == "active", "the failed batch changed nothing"


def test_lost_insert_locked_by_another_writer_fails_fast(factory, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Waiting for a row while holding others could deadlock, so a locked row fails the batch at once.

    SQLite has no row locks: there the row is read again and the batch settles.
    """
    import time

    (camera_id,) = _cameras(factory, 1)
    event_id = uuid.uuid4()
    _store(factory, [event(camera_id, event_id, 1)])
    real = store._lock_event_states
    calls: list[bool] = []

    def first_read_misses(session, event_ids, nowait=False):  # type: ignore[no-untyped-def]
        calls.append(nowait)
        return {} if len(calls) == 1 else real(session, event_ids, nowait=nowait)

    monkeypatch.setattr(store, "_lock_event_states", first_read_misses)
    if factory.kw["bind"].dialect.name == "sqlite":
        _store(factory, [event(camera_id, event_id, 2, END)])
        assert calls == [False, True]
        assert _row(factory, event_id).state == "ended"
        return
    with factory() as holder:
        holder.execute(select(Event).where(Event.id == str(event_id)).with_for_update())
        started = time.monotonic()
        with pytest.raises(store.ConcurrentInsert, match="locked"):
            _store(factory, [event(camera_id, event_id, 2, END)])
        assert time.monotonic() - started < 2, "the batch must not wait for the lock"
        holder.rollback()
    assert calls == [False, True]
    assert _row(factory, event_id).state == "active"


def _camera_row(factory: sessionmaker[Session], camera_id: str) -> Camera:
    with factory() as session:
        camera = session.get(Camera, camera_id)
        assert camera is not None
        return camera


def test_camera_seen_written_once_a_second(factory) -> None:  # type: ignore[no-untyped-def]
    from datetime import timedelta

    (camera_id,) = _cameras(factory, 1)
    first, second = uuid.uuid4(), uuid.uuid4()
    with session_scope(factory) as session:
        store.store_events(session, [event(camera_id, first, 1)], NOW)
    assert _camera_row(factory, camera_id).last_seen_at == NOW

    # Half a second later and without a snapshot: the row is left as it is.
    with session_scope(factory) as session:
        store.store_events(session, [event(camera_id, first, 2, UPDATE)], NOW + timedelta(milliseconds=500))
    assert _camera_row(factory, camera_id).last_seen_at == NOW

    # A newer snapshot is always written, and brings last_seen_at along.
    later = NOW + timedelta(milliseconds=700)
    with session_scope(factory) as session:
        store.store_events(session, [event(camera_id, second, 1, snapshot=sha("e"), at=later)], later)
    camera = _camera_row(factory, camera_id)
    assert (camera.last_snapshot_sha256, camera.last_snapshot_event_id, camera.last_seen_at) == (sha("e"), str(second), later)

    # More than a second after the last write: rewritten.
    much_later = later + timedelta(seconds=2)
    with session_scope(factory) as session:
        store.store_events(session, [event(camera_id, second, 2, UPDATE, at=much_later)], much_later)
    camera = _camera_row(factory, camera_id)
    assert camera.last_seen_at == much_later
    assert camera.last_snapshot_sha256 == sha("e"), "an update without a snapshot must keep the last one"


def test_store_events_never_moves_last_seen_backwards(factory) -> None:  # type: ignore[no-untyped-def]
    from datetime import timedelta

    (camera_id,) = _cameras(factory, 1)
    with session_scope(factory) as session:
        store.store_events(session, [event(camera_id, uuid.uuid4(), 1)], NOW)
    with session_scope(factory) as session:
        store.store_events(session, [event(camera_id, uuid.uuid4(), 1)], NOW - timedelta(minutes=5))
    assert _camera_row(factory, camera_id).last_seen_at == NOW


def test_camera_written_within_a_second_is_left_out(factory) -> None:  # type: ignore[no-untyped-def]
    from datetime import timedelta

    from sqlalchemy import event as sa_event

    (camera_id,) = _cameras(factory, 1)
    engine = factory.kw["bind"]
    camera_updates: list[str] = []

    def count(_conn, _cursor, statement, _params, _context, _many):  # type: ignore[no-untyped-def]
        if statement.startswith("UPDATE cameras"):
            camera_updates.append(statement)

    sa_event.listen(engine, "before_cursor_execute", count)
    written: dict[str, datetime] = {}
    try:
        with session_scope(factory) as session:
            store.store_events(session, [event(camera_id, uuid.uuid4(), 1)], NOW, written)
        assert (len(camera_updates), written) == (1, {camera_id: NOW})
        with session_scope(factory) as session:
            store.store_events(session, [event(camera_id, uuid.uuid4(), 1)], NOW + timedelta(milliseconds=400), written)
        assert len(camera_updates) == 1, "written 0.4 s ago: no statement at all"
        with session_scope(factory) as session:
            store.store_events(session, [event(camera_id, uuid.uuid4(), 1, snapshot=sha("f"))],
                               NOW + timedelta(milliseconds=500), written)
        assert len(camera_updates) == 2, "a new snapshot is always written"
        later = NOW + timedelta(seconds=3)
        with session_scope(factory) as session:
            store.store_events(session, [event(camera_id, uuid.uuid4(), 1)], later, written)
        assert len(camera_updates) == 3
    finally:
        sa_event.remove(engine, "before_cursor_execute", count)
    assert _camera_row(factory, camera_id).last_seen_at == later


def test_processor_forgets_camera_writes_of_a_failed_batch(factory, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    (camera_id,) = _cameras(factory, 1)
    from hub.ingest.processor import ProcessorStopped

    processor = IngestProcessor(factory, clock=lambda: NOW, sleep=lambda _s: True)  # True: stop on the first backoff

    def always_raced(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise store.ConcurrentInsert("simulated")

    monkeypatch.setattr(store, "_write_event_states", always_raced)
    processor._cameras_written[camera_id] = NOW
    payload = encode(event(camera_id, uuid.uuid4(), 1))
    with pytest.raises(ProcessorStopped):
        processor.handle_batch([Incoming(topic(camera_id, TopicKind.EVENT), payload)])
    assert processor._cameras_written == {}, "a rolled-back batch must not be trusted to have written cameras"
