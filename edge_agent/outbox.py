"""Durable outbox: every QoS 1 message is stored in SQLite before it is published.

A message leaves the outbox only when the broker's PUBACK for it arrives, so a broker
outage, a reboot or a SIGKILL loses nothing that fits in the outbox. The database runs
in WAL mode with ``synchronous=FULL``, so a committed message survives a power cut as
well as a crash. Each camera has its own database file, which also stores the camera's
last ``seq``; sequence numbers therefore keep growing across restarts.

When the outbox is full, a message is dropped by priority, never silently: the drop is
counted and reported in the camera's stats. Stats are never stored (QoS 0, latest value
only). The order of sacrifice, lowest first:

1. ``update`` events: a later update or the ``end`` carries the same object's state.
2. command results: the operator sees a timeout and can ask again.
3. line-crossing counts.
4. media announcements.
5. ``new`` and ``end`` events, the record of what happened.

Within one priority the oldest message goes first. A new message whose priority is
below everything stored is itself dropped.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS message (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    seq INTEGER,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    qos INTEGER NOT NULL,
    retain INTEGER NOT NULL,
    priority INTEGER NOT NULL,
    created_s REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS message_priority ON message (priority, id);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS open_event (event_id TEXT PRIMARY KEY, payload BLOB NOT NULL);
"""


class Priority(IntEnum):
    """Drop order when the outbox is full: lower values are dropped first."""

    EVENT_UPDATE = 0
    COMMAND_RESULT = 1
    COUNTS = 2
    MEDIA = 3
    EVENT_LIFECYCLE = 4


def choose_eviction(stored: Mapping[Priority, int], incoming: Priority) -> Priority | None:
    """Return the priority whose oldest message makes room for ``incoming``.

    ``stored`` maps each priority to the number of stored messages. Returns None when
    every stored message outranks ``incoming``, which means ``incoming`` is dropped.

    >>> choose_eviction({Priority.EVENT_UPDATE: 3, Priority.EVENT_LIFECYCLE: 9}, Priority.COUNTS)
    <Priority.EVENT_UPDATE: 0>
    >>> choose_eviction({Priority.EVENT_LIFECYCLE: 9}, Priority.EVENT_UPDATE) is None
    True
    """
    for priority in sorted(Priority):
        if priority > incoming:
            return None
        if stored.get(priority, 0) > 0:
            return priority
    return None


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """A message waiting for delivery."""

    id: int
    seq: int | None
    topic: str
    payload: bytes
    qos: int
    retain: bool
    priority: Priority


class OutboxError(RuntimeError):
    """The outbox database cannot be opened or written."""


class Outbox:
    """SQLite-backed queue of one camera's outgoing messages; safe to share between threads."""

    def __init__(self, path: Path, max_messages: int = 100_000, max_bytes: int = 64 * 1024 * 1024) -> None:
        if max_messages < 1 or max_bytes < 1:
            raise ValueError(f"outbox limits must be positive, got {max_messages} messages and {max_bytes} bytes")
        self.path = path
        self.max_messages = max_messages
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
            row = self._db.execute("SELECT COUNT(*), COALESCE(SUM(LENGTH(payload)), 0) FROM message").fetchone()
        except sqlite3.Error as exc:
            raise OutboxError(f"cannot open outbox {path}: {exc}") from exc
        self._count = int(row[0])
        self._bytes = int(row[1])
        self._by_priority = self._count_by_priority()
        self.last_seq = self._meta("last_seq", -1)
        self.dropped_total = self._meta("dropped_total", 0)

    def _meta(self, key: str, default: int) -> int:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return default if row is None else int(row[0])

    def _count_by_priority(self) -> dict[Priority, int]:
        rows = self._db.execute("SELECT priority, COUNT(*) FROM message GROUP BY priority").fetchall()
        return {Priority(int(priority)): int(count) for priority, count in rows}

    def append(
        self,
        priority: Priority,
        topic: str,
        build: Callable[[int], bytes],
        *,
        uses_seq: bool = True,
        qos: int = 1,
        retain: bool = False,
        event: tuple[str, bool] | None = None,
    ) -> StoredMessage | None:
        """Assign the next seq, build the payload with it and store it in one transaction.

        ``build`` receives the seq (or -1 when ``uses_seq`` is false). ``event`` is
        ``(event_id, still_open)`` for event messages: the last message of each open
        event is kept, so a restart after a crash can end the events the crash left
        open (see ``orphaned_events``). Returns the stored message, or None when the
        outbox is full of higher-priority messages and this one was dropped (and counted).
        """
        with self._lock:
            seq = self.last_seq + 1 if uses_seq else None
            payload = build(-1 if seq is None else seq)
            try:
                self._db.execute("BEGIN IMMEDIATE")
                accepted = self._make_room(priority, len(payload))
                stored = None
                if accepted:
                    cursor = self._db.execute(
                        "INSERT INTO message (seq, topic, payload, qos, retain, priority, created_s) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (seq, topic, payload, qos, int(retain), int(priority), time.time()),
                    )
                    assert cursor.lastrowid is not None
                    stored = StoredMessage(cursor.lastrowid, seq, topic, payload, qos, retain, priority)
                if event is not None:
                    self._track_event(event[0], payload if event[1] else None)
                if seq is not None:
                    # A dropped message still consumes its seq, so the hub can see the gap.
                    self._set_meta("last_seq", seq)
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                raise OutboxError(f"cannot store a message in {self.path}: {exc}") from exc
            if seq is not None:
                self.last_seq = seq
            if stored is not None:
                self._count += 1
                self._bytes += len(payload)
                self._by_priority[priority] = self._by_priority.get(priority, 0) + 1
            return stored

    def _make_room(self, incoming: Priority, size: int) -> bool:
        """Evict until a message of ``size`` bytes fits; return False to drop the incoming one."""
        while self._count + 1 > self.max_messages or self._bytes + size > self.max_bytes:
            victim_priority = choose_eviction(self._by_priority, incoming)
            if victim_priority is None:
                self._count_drop()
                return False
            row = self._db.execute(
                "SELECT id, LENGTH(payload) FROM message WHERE priority = ? ORDER BY id LIMIT 1", (int(victim_priority),)
            ).fetchone()
            if row is None:
                self._by_priority[victim_priority] = 0
                continue
            self._db.execute("DELETE FROM message WHERE id = ?", (row[0],))
            self._count -= 1
            self._bytes -= int(row[1])
            self._by_priority[victim_priority] -= 1
            self._count_drop()
        return True

    def _track_event(self, event_id: str, payload: bytes | None) -> None:
        if payload is None:
            self._db.execute("DELETE FROM open_event WHERE event_id = ?", (event_id,))
        else:
            self._db.execute(
                "INSERT INTO open_event (event_id, payload) VALUES (?, ?) "
                "ON CONFLICT(event_id) DO UPDATE SET payload = excluded.payload",
                (event_id, payload),
            )

    def forget_event(self, event_id: str) -> None:
        with self._lock:
            self._track_event(event_id, None)

    def orphaned_events(self) -> list[bytes]:
        """Return the last message of every event that was still open when the outbox was last used."""
        with self._lock:
            rows = self._db.execute("SELECT payload FROM open_event ORDER BY rowid").fetchall()
        return [bytes(row[0]) for row in rows]

    def _count_drop(self) -> None:
        self.dropped_total += 1
        self._set_meta("dropped_total", self.dropped_total)

    def _set_meta(self, key: str, value: int) -> None:
        self._db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, value)
        )

    def _rollback(self) -> None:
        with contextlib.suppress(sqlite3.Error):  # no transaction was open
            self._db.execute("ROLLBACK")

    def pending(self, after_id: int = 0, limit: int = 100) -> list[StoredMessage]:
        """Return up to ``limit`` stored messages with id above ``after_id``, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, seq, topic, payload, qos, retain, priority FROM message WHERE id > ? ORDER BY id LIMIT ?",
                (after_id, limit),
            ).fetchall()
        return [
            StoredMessage(int(r[0]), None if r[1] is None else int(r[1]), r[2], bytes(r[3]), int(r[4]), bool(r[5]), Priority(int(r[6])))
            for r in rows
        ]

    def remove(self, message_id: int) -> bool:
        """Delete a delivered message; return False when it was already gone."""
        with self._lock:
            row = self._db.execute("SELECT LENGTH(payload), priority FROM message WHERE id = ?", (message_id,)).fetchone()
            if row is None:
                return False
            try:
                self._db.execute("DELETE FROM message WHERE id = ?", (message_id,))
            except sqlite3.Error as exc:
                raise OutboxError(f"cannot delete message {message_id} from {self.path}: {exc}") from exc
            self._count -= 1
            self._bytes -= int(row[0])
            priority = Priority(int(row[1]))
            self._by_priority[priority] = self._by_priority.get(priority, 1) - 1
            return True

    def discard(self, message_id: int) -> bool:
        """Delete a message the broker will never accept, counting it as dropped."""
        removed = self.remove(message_id)
        if removed:
            with self._lock:
                self._count_drop()
        return removed

    def depth(self) -> int:
        return self._count

    def close(self) -> None:
        with self._lock:
            self._db.close()
