"""Database writes of ingestion: one function per message kind, each idempotent.

``store_events`` writes a run of event messages with a few bulk statements.

Every function takes an open session and leaves committing to the caller, so a
message is acknowledged only after the transaction holding it has committed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import fields
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import String, Table, and_, any_, bindparam, case, func, or_, select, update
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session

from hub.ingest.batch import FoldStep, fold_batch
from hub.ingest.bulk import upsert_rows
from hub.ingest.fold import EventState, FoldOutcome
from hub.models import Camera, CameraHealthSample, Command, Event, EventZone, LineCount
from metro_common.messages import (
    CommandResultMessage,
    CountsMessage,
    EventMessage,
    MediaKind,
    MediaMessage,
    StatsMessage,
    StatusMessage,
)

log = logging.getLogger(__name__)


# Age a camera's ``last_seen_at`` may reach before an event batch rewrites it.
SEEN_PRECISION = timedelta(seconds=1)
# Cameras remembered by ``_touch_cameras``; far above a city's fleet, it only bounds memory.
WRITTEN_CAMERAS_MAX = 10_000


class UnknownCamera(LookupError):
    """A message from a camera id that is not in the registry."""


class StoreResult:
    """Changes made by storing one message, for the live feed and metrics.

    ``detail`` may be given as a callable. It is then built on first use, because
    at thousands of messages per second most results are only counted, and a live
    feed without browsers never reads them.
    """

    __slots__ = ("_detail", "camera_id", "changed", "kind")

    def __init__(self, kind: str, camera_id: str, changed: bool,
                 detail: dict[str, Any] | Callable[[], dict[str, Any]]) -> None:
        self.kind = kind
        self.camera_id = camera_id
        self.changed = changed
        self._detail = detail

    @property
    def detail(self) -> dict[str, Any]:
        if callable(self._detail):
            self._detail = self._detail()
        return self._detail

    def __repr__(self) -> str:
        return f"StoreResult({self.kind!r}, {self.camera_id!r}, changed={self.changed}, detail={self.detail!r})"


def _camera(session: Session, camera_id: str) -> Camera:
    camera = session.get(Camera, camera_id)
    if camera is None:
        raise UnknownCamera(camera_id)
    return camera


def _row_state(row: Any) -> EventState:
    """Build the state of an ORM ``Event`` or a row of the ``events`` table."""
    return EventState(
        event_id=row.id, camera_id=row.camera_id, last_seq=row.last_seq, state=row.state, label=row.label,
        score=row.score, start_ts=row.start_ts, end_ts=row.end_ts, last_ts=row.last_ts, end_reason=row.end_reason,
        clock_synced=row.clock_synced, box=row.box, zones=tuple(row.zones), snapshot_sha256=row.snapshot_sha256,
        snapshot_annotated_sha256=row.snapshot_annotated_sha256, clip_sha256=row.clip_sha256,
    )


def event_summary(row: Event | EventState) -> dict[str, Any]:
    """Describe an event for the live feed (JSON-ready)."""
    state = row if isinstance(row, EventState) else _row_state(row)
    data = _state_fields(state)
    data["id"] = data.pop("event_id")
    for key in ("start_ts", "end_ts", "last_ts"):
        data[key] = data[key].isoformat() if data[key] else None
    return data


_STATE_FIELDS = tuple(field.name for field in fields(EventState))


def _state_fields(state: EventState) -> dict[str, Any]:
    """Copy the fields of ``state`` into a dict; unlike ``asdict`` without a slow deep copy."""
    data = {name: getattr(state, name) for name in _STATE_FIELDS}
    data["box"] = dict(state.box)
    data["zones"] = list(state.zones)
    return data


class ConcurrentInsert(SQLAlchemyError):
    """Rows another writer inserted could not be read back; the batch is retried."""


def store_event(session: Session, message: EventMessage, now: datetime) -> StoreResult:
    """Fold an event message into its row; duplicates and updates after end change nothing."""
    result = store_events(session, [message], now)[0]
    if result is None:
        raise UnknownCamera(message.camera_id)
    return result


def store_events(
    session: Session, messages: Sequence[EventMessage], now: datetime,
    written: MutableMapping[str, datetime] | None = None,
) -> list[StoreResult | None]:
    """Fold event messages, in arrival order, into their rows with a few bulk statements.

    ``written`` is the caller's memory of when it last set each camera's
    ``last_seen_at`` (see ``_touch_cameras``); the caller must clear it when a
    transaction rolls back.

    Returns one result per message, None for a message from an unregistered camera.
    The rows of the batch are read with ``FOR UPDATE`` (PostgreSQL), so no other
    writer changes them before the commit.
    """
    session.flush()  # the Core statements below must see pending ORM changes of this transaction
    # Core statements on the session's connection: the ORM's per-statement work is not needed here.
    connection = session.connection()
    cameras = cast(Table, Camera.__table__)
    registered = set(connection.execute(
        select(cameras.c.id).where(cameras.c.id.in_({message.camera_id for message in messages}))
    ).scalars())
    known = [message for message in messages if message.camera_id in registered]
    current = _lock_event_states(session, {str(message.event_id) for message in known})
    folded = fold_batch(current, known)
    steps_in_order = folded.steps
    lost = _write_event_states(session, current, folded.changed, now)
    if lost:
        steps_in_order = _settle_lost_inserts(session, known, steps_in_order, lost, now)
    steps = iter(steps_in_order)
    results: list[StoreResult | None] = []
    # The cameras whose events changed, with the newest snapshot among those changes.
    touched: dict[str, tuple[str, EventState] | None] = {}
    for message in messages:
        if message.camera_id not in registered:
            results.append(None)
            continue
        step = next(steps)
        state = step.state
        if state is not None:
            best = touched.get(message.camera_id)
            if state.snapshot_sha256 and (best is None or state.last_ts >= best[1].last_ts):
                touched[message.camera_id] = (state.event_id, state)
            elif message.camera_id not in touched:
                touched[message.camera_id] = None
        results.append(_event_result(message, step))
    _touch_cameras(session, touched, now, written)
    return results


def _touch_cameras(
    session: Session, touched: Mapping[str, tuple[str, EventState] | None], now: datetime,
    written: MutableMapping[str, datetime] | None = None,
) -> None:
    """Mark cameras as seen and keep their newest snapshot, in one statement run per camera.

    The comparisons happen in SQL, so no camera row is loaded. The rows are sorted by
    camera id, the order every writer uses, so two writers cannot deadlock on them.
    ``written`` remembers when this writer last set each camera's ``last_seen_at``; a
    camera written less than ``SEEN_PRECISION`` ago, without a new snapshot, is left
    out of the statement altogether.
    """
    if written is not None:
        if len(written) > WRITTEN_CAMERAS_MAX:
            written.clear()
        touched = {
            camera_id: snapshot for camera_id, snapshot in touched.items()
            if snapshot is not None or not _recently_written(written.get(camera_id), now)
        }
        written.update(dict.fromkeys(touched, now))
    if not touched:
        return
    table = cast(Table, Camera.__table__)
    c = table.c
    seen = bindparam("now", type_=c.last_seen_at.type)
    snap_ts = bindparam("snap_ts", type_=c.last_snapshot_ts.type)
    snapshot_newer = and_(snap_ts.is_not(None), or_(c.last_snapshot_ts.is_(None), c.last_snapshot_ts <= snap_ts))
    statement = (
        update(table)
        # A camera seen less than a second ago is left alone unless its snapshot changes:
        # every batch would otherwise rewrite the same rows, and writers would queue for their locks.
        .where(c.id == bindparam("camera_id", type_=c.id.type),
               or_(c.last_seen_at.is_(None), c.last_seen_at < bindparam("stale", type_=c.last_seen_at.type),
                   snapshot_newer))
        .values(
            last_seen_at=case((or_(c.last_seen_at.is_(None), c.last_seen_at < seen), seen), else_=c.last_seen_at),
            last_snapshot_sha256=case((snapshot_newer, bindparam("snap_sha", type_=c.last_snapshot_sha256.type)),
                                      else_=c.last_snapshot_sha256),
            last_snapshot_event_id=case((snapshot_newer, bindparam("snap_event", type_=c.last_snapshot_event_id.type)),
                                        else_=c.last_snapshot_event_id),
            last_snapshot_ts=case((snapshot_newer, snap_ts), else_=c.last_snapshot_ts),
        )
    )
    rows = [
        {"camera_id": camera_id, "now": now, "stale": now - SEEN_PRECISION,
         "snap_ts": snapshot[1].last_ts if snapshot else None,
         "snap_sha": snapshot[1].snapshot_sha256 if snapshot else None,
         "snap_event": snapshot[0] if snapshot else None}
        for camera_id, snapshot in sorted(touched.items())
    ]
    session.connection().execute(statement, rows)
    # Camera objects already loaded in this session would now hold stale values.
    for instance in list(session.identity_map.values()):
        if isinstance(instance, Camera) and instance.id in touched:
            session.expire(instance)


def _recently_written(last: datetime | None, now: datetime) -> bool:
    return last is not None and last <= now < last + SEEN_PRECISION


def _lock_event_states(session: Session, event_ids: set[str], *, nowait: bool = False) -> dict[str, EventState]:
    if not event_ids:
        return {}
    table = Event.__table__
    ids = sorted(event_ids)
    if session.get_bind().dialect.name == "postgresql":
        # One text parameter instead of hundreds of placeholders, compiled once. Event ids are
        # UUIDs (checked by the contract), so a comma cannot occur inside one.
        condition = table.c.id == any_(func.string_to_array(bindparam("ids", ",".join(ids), type_=String), ","))
    else:
        condition = table.c.id.in_(ids)
    rows = session.connection().execute(
        select(table).where(condition).order_by(table.c.id).with_for_update(nowait=nowait)
    )
    return {row.id: _row_state(row) for row in rows}


def _settle_lost_inserts(
    session: Session, known: Sequence[EventMessage], steps: list[FoldStep], lost: set[str], now: datetime
) -> list[FoldStep]:
    """Fold the messages of events whose insert another writer won onto the rows it committed.

    The insert that found the row already there waited for the other writer's commit,
    so a new read finds and locks those rows. Returns the batch's steps with the
    refolded ones in place.
    """
    try:
        # NOWAIT: this transaction already has rows locked, and waiting here could close a cycle
        # with a writer that waits for them. Failing instead retries the batch from the start.
        with session.begin_nested():
            stored = _lock_event_states(session, lost, nowait=True)
    except OperationalError as exc:
        raise ConcurrentInsert(f"rows of {len(lost)} events inserted by another writer are locked") from exc
    if stored.keys() != lost:
        raise ConcurrentInsert(f"{len(lost - stored.keys())} event rows inserted by another writer are not readable")
    positions = [index for index, message in enumerate(known) if str(message.event_id) in lost]
    refolded = fold_batch(stored, [known[index] for index in positions])
    _write_event_states(session, stored, refolded.changed, now)  # updates only: every row exists
    merged = list(steps)
    for index, step in zip(positions, refolded.steps, strict=True):
        merged[index] = step
    return merged


def _write_event_states(
    session: Session, current: Mapping[str, EventState], changed: Mapping[str, EventState], now: datetime
) -> set[str]:
    """Insert new events, update changed ones and add their new zones: at most three statements.

    Returns the ids of new events that another writer inserted first; their rows
    and zones are not written here.
    """
    table = cast(Table, Event.__table__)
    created = [_event_row(state) for event_id, state in sorted(changed.items()) if event_id not in current]
    updated = [_event_row(state) for event_id, state in sorted(changed.items()) if event_id in current]
    lost: set[str] = set()
    if created:
        # DO NOTHING plus RETURNING finds the rows another writer inserted after
        # ``_lock_event_states`` read none.
        inserted = upsert_rows(session, table, created, returning="id",
                               constants={"received_at": now, "updated_at": now})
        if len(inserted) != len(created):
            lost = {row["id"] for row in created} - set(inserted)
    if updated:
        # The rows were locked when read, so every row takes the DO UPDATE path.
        upsert_rows(session, table, updated, update_columns=_UPDATED_COLUMNS,
                    constants={"received_at": now, "updated_at": now})
    # Zones only grow (``fold_event`` keeps the union), so new zones are inserted and none deleted.
    zones = [
        {"event_id": event_id, "zone": zone}
        for event_id, state in sorted(changed.items())
        if event_id not in lost
        for zone in state.zones
        if event_id not in current or zone not in current[event_id].zones
    ]
    upsert_rows(session, cast(Table, EventZone.__table__), zones)
    return lost


# Columns an update of a stored event writes: all but its identity and first arrival.
_UPDATED_COLUMNS = tuple(
    column.name for column in Event.__table__.columns if column.name not in ("id", "camera_id", "received_at")
)
_OPTIONAL_FIELDS = ("end_ts", "end_reason", "snapshot_sha256", "snapshot_annotated_sha256", "clip_sha256")


def _event_row(state: EventState) -> dict[str, Any]:
    """Build the event's row without its arrival timestamps; a field that is None is left out (stored as NULL)."""
    row = {
        "id": state.event_id, "camera_id": state.camera_id, "last_seq": state.last_seq, "state": state.state,
        "label": state.label, "score": state.score, "start_ts": state.start_ts, "last_ts": state.last_ts,
        "clock_synced": state.clock_synced, "box": state.box, "zones": list(state.zones),
    }
    for name in _OPTIONAL_FIELDS:
        value = getattr(state, name)
        if value is not None:
            row[name] = value
    return row


def _event_result(message: EventMessage, step: FoldStep) -> StoreResult:
    event_id = str(message.event_id)
    if step.outcome is FoldOutcome.FOREIGN:
        # An event id belongs to the camera that created it; a clash is treated as spoofing.
        log.warning("Event %s from %s belongs to camera %s; message ignored", event_id, message.camera_id, step.owner)
        return StoreResult("event", message.camera_id, False, {"outcome": step.outcome.value})
    state = step.state
    if state is None:
        return StoreResult("event", message.camera_id, False, {"outcome": step.outcome.value, "id": event_id})

    def summary() -> dict[str, Any]:
        data = event_summary(state)
        data["outcome"] = step.outcome.value
        data["kind"] = message.kind.value
        return data

    return StoreResult("event", message.camera_id, True, summary)


def store_status(session: Session, message: StatusMessage, now: datetime) -> StoreResult:
    """Record the camera's reported state; an older status than the stored one is ignored."""
    camera = _camera(session, message.camera_id)
    if camera.state_ts is not None and message.ts < camera.state_ts:
        return StoreResult("status", camera.id, False, {"state": camera.state})
    changed = camera.state != message.state.value
    camera.state = message.state.value
    camera.state_ts = message.ts
    camera.state_reason = message.reason
    camera.agent_version = message.agent_version
    camera.clock_synced = message.clock_synced
    if message.state.value == "online":
        camera.last_seen_at = now
    return StoreResult("status", camera.id, changed, {"state": camera.state, "reason": message.reason})


def store_stats(session: Session, message: StatsMessage, now: datetime) -> StoreResult:
    """Update live health figures and append a health-history sample."""
    camera = _camera(session, message.camera_id)
    session.add(
        CameraHealthSample(
            camera_id=camera.id, ts=message.ts, received_at=now, clock_synced=message.clock_synced,
            video_online=message.camera_online, fps=message.fps, inference_ms=message.inference_ms,
            frames_total=message.frames_total, frames_dropped=message.frames_dropped,
            outbox_depth=message.outbox_depth, outbox_dropped=message.outbox_dropped, uptime_s=message.uptime_s,
            cpu_temp_c=message.cpu_temp_c, disk_free_bytes=message.disk_free_bytes,
        )
    )
    if camera.stats_ts is None or message.ts >= camera.stats_ts:
        camera.stats_ts = message.ts
        camera.video_online = message.camera_online
        camera.fps = message.fps
        camera.inference_ms = message.inference_ms
        camera.cpu_temp_c = message.cpu_temp_c
        camera.disk_free_bytes = message.disk_free_bytes
        camera.clock_synced = message.clock_synced
    camera.last_seen_at = now
    # A heartbeat proves the agent is running, even if its retained status was lost.
    revived = camera.state in ("unknown", "offline")
    if revived:
        camera.state = "online"
        camera.state_ts = message.ts
        camera.state_reason = None
    # Always a change: a health sample was added, and the dashboard shows the figures live.
    return StoreResult(
        "stats", camera.id, True,
        {"fps": message.fps, "inference_ms": message.inference_ms, "video_online": message.camera_online,
         "revived": revived},
    )


def store_counts(session: Session, message: CountsMessage, now: datetime) -> StoreResult:
    """Upsert the line counts of one period; a repeated or older seq changes nothing."""
    _camera(session, message.camera_id)
    changed = False
    for item in message.counts:
        key = (message.camera_id, message.line, message.period_start, item.label, item.direction)
        row = session.get(LineCount, key)
        if row is None:
            session.add(
                LineCount(
                    camera_id=message.camera_id, line=message.line, period_start=message.period_start,
                    label=item.label, direction=item.direction, period_end=message.period_end,
                    count=item.count, seq=message.seq,
                )
            )
            changed = True
        elif message.seq > row.seq:
            row.count = item.count
            row.period_end = message.period_end
            row.seq = message.seq
            changed = True
    return StoreResult("counts", message.camera_id, changed, {"line": message.line})


def store_command_result(session: Session, message: CommandResultMessage, now: datetime) -> StoreResult:
    """Attach the result to its command; results of unknown commands are logged and dropped."""
    _camera(session, message.camera_id)
    command = session.get(Command, str(message.command_id))
    if command is None or command.camera_id != message.camera_id:
        log.warning("Result for unknown command %s from %s ignored", message.command_id, message.camera_id)
        return StoreResult("command_result", message.camera_id, False, {"command_id": str(message.command_id)})
    changed = command.result_ts is None
    if changed:
        command.result_ok = message.ok
        command.result_ts = message.ts
        command.result_detail = message.detail
        command.result_media_sha256 = message.media.sha256 if message.media else None
    return StoreResult(
        "command_result", message.camera_id, changed,
        {"command_id": command.id, "name": command.name, "ok": message.ok, "detail": message.detail},
    )


def store_media(session: Session, message: MediaMessage, now: datetime) -> StoreResult:
    """Record announced media on the event and, when the media store exists, as expected upload."""
    camera = _camera(session, message.camera_id)
    event = session.get(Event, str(message.event_id))
    ref = message.media
    if event is not None and event.camera_id == camera.id:
        column = {
            MediaKind.SNAPSHOT: "snapshot_sha256",
            MediaKind.SNAPSHOT_ANNOTATED: "snapshot_annotated_sha256",
            MediaKind.CLIP: "clip_sha256",
        }[ref.kind]
        setattr(event, column, ref.sha256)
        if ref.kind is MediaKind.SNAPSHOT and (camera.last_snapshot_ts is None or message.ts >= camera.last_snapshot_ts):
            camera.last_snapshot_sha256 = ref.sha256
            camera.last_snapshot_event_id = event.id
            camera.last_snapshot_ts = message.ts
    expected = record_expected_media(session, message, now)
    return StoreResult(
        "media", camera.id, True,
        {"event_id": str(message.event_id), "kind": ref.kind.value, "sha256": ref.sha256, "expected": expected},
    )


def record_expected_media(session: Session, message: MediaMessage, now: datetime) -> bool:
    """Record the announcement in the media store's table, so the upload is expected."""
    from hub.media.expected import expect_media  # imported here: the media package imports hub.models

    expect_media(session, message, now)
    return True
