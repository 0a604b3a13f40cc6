"""Retention of event media on the hub: which stored files to delete, and the periodic task that deletes them.

The policy is pure (``plan_retention``); rules, in order:

1. Media of an event that is still active is never deleted. Events have no
   operator "keep" flag, so an open event is the one kind of protection.
2. Media older than the maximum age of its kind is deleted. The schema allows one
   file under several kinds, and such a file lives as long as its longest-lived kind.
3. While all stored media together exceed the quota, the oldest unprotected files
   are deleted first. Protected files count towards the total, so the total can stay
   above the quota while events are open.

Media whose event message has not arrived yet (an upload may come first) is not
protected, but it is the newest and goes last under the quota.

``start_media_retention`` runs the policy every ``media_retention_interval_s`` in a
worker thread and deletes rows before files, so a crash between the two leaves an
unreferenced file rather than a row pointing at nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from fastapi import FastAPI
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from hub.db import session_scope
from hub.media.models import EventMedia, MediaObject
from hub.media.store import MediaFileStore
from hub.models import Event
from hub.settings import HubSettings
from metro_common.messages import MediaKind

log = logging.getLogger(__name__)


class DeletionReason(StrEnum):
    MAX_AGE = "max_age"
    QUOTA = "quota"


@dataclass(frozen=True, slots=True)
class MediaItem:
    """Description of one stored file: its size, age, kinds and whether an active event protects it."""

    sha256: str
    kinds: frozenset[str]
    size_bytes: int
    stored_at: datetime
    protected: bool


@dataclass(frozen=True, slots=True)
class HubRetentionPolicy:
    """Maximum age per media kind and the quota of all media together (None: no quota)."""

    max_age: Mapping[str, timedelta]
    quota_bytes: int | None = None

    def __post_init__(self) -> None:
        missing = {kind.value for kind in MediaKind} - set(self.max_age)
        if missing:
            raise ValueError(f"max_age has no entry for media kinds {sorted(missing)}; give every kind a maximum age")
        for kind, age in self.max_age.items():
            if age <= timedelta(0):
                raise ValueError(f"max_age of {kind!r} is {age}; it must be positive")
        if self.quota_bytes is not None and self.quota_bytes <= 0:
            raise ValueError(f"quota_bytes {self.quota_bytes} must be positive, or None for no quota")

    def max_age_of(self, kinds: Iterable[str]) -> timedelta:
        """Return the longest maximum age among ``kinds``; an unknown kind gets the longest of all."""
        longest = max(self.max_age.values())
        ages = [self.max_age.get(kind, longest) for kind in kinds]
        return max(ages) if ages else longest

    @classmethod
    def from_settings(cls, settings: HubSettings) -> HubRetentionPolicy:
        snapshot = timedelta(days=settings.media_snapshot_max_age_days)
        return cls(
            max_age={
                MediaKind.SNAPSHOT.value: snapshot,
                MediaKind.SNAPSHOT_ANNOTATED.value: snapshot,
                MediaKind.CLIP.value: timedelta(days=settings.media_clip_max_age_days),
            },
            quota_bytes=settings.media_quota_bytes,
        )


@dataclass(frozen=True, slots=True)
class Deletion:
    sha256: str
    reason: DeletionReason
    size_bytes: int


def plan_retention(items: Sequence[MediaItem], policy: HubRetentionPolicy, now: datetime) -> tuple[Deletion, ...]:
    """Return the files to delete, expired ones first, then the oldest past the quota."""
    deletions: list[Deletion] = []
    remaining = sorted(items, key=lambda item: (item.stored_at, item.sha256))
    within_age: list[MediaItem] = []
    for item in remaining:
        if not item.protected and now - item.stored_at > policy.max_age_of(item.kinds):
            deletions.append(Deletion(item.sha256, DeletionReason.MAX_AGE, item.size_bytes))
        else:
            within_age.append(item)

    if policy.quota_bytes is not None:
        used = sum(item.size_bytes for item in within_age)
        for item in within_age:
            if used <= policy.quota_bytes:
                break
            if item.protected:
                continue
            deletions.append(Deletion(item.sha256, DeletionReason.QUOTA, item.size_bytes))
            used -= item.size_bytes
    return tuple(deletions)


# -- database and files ----------------------------------------------------------------------


def load_items(session: Session) -> list[MediaItem]:
    """Describe every stored media file, marking those linked to an active event as protected.

    NOTE: this loads one row per file on every run and has not been measured at scale.
    With millions of files, the age rule belongs in SQL and the quota walk in batches.
    """
    kinds: dict[str, set[str]] = {}
    protected: set[str] = set()
    links = session.execute(
        select(EventMedia.sha256, EventMedia.kind, Event.state).outerjoin(Event, Event.id == EventMedia.event_id)
    )
    for sha256, kind, state in links:
        kinds.setdefault(sha256, set()).add(kind)
        if state is not None and state != "ended":
            protected.add(sha256)
    objects = session.execute(select(MediaObject.sha256, MediaObject.size_bytes, MediaObject.stored_at))
    return [
        MediaItem(sha256, frozenset(kinds.get(sha256, ())), int(size), stored_at, sha256 in protected)
        for sha256, size, stored_at in objects
    ]


def apply_retention(
    factory: sessionmaker[Session], files: MediaFileStore, policy: HubRetentionPolicy, now: datetime
) -> tuple[Deletion, ...]:
    """Delete what the policy selects: rows in one transaction, then the files; return the deletions."""
    with session_scope(factory) as session:
        deletions = plan_retention(load_items(session), policy, now)
        if not deletions:
            return ()
        hashes = [d.sha256 for d in deletions]
        rows = session.execute(select(MediaObject.sha256, MediaObject.path).where(MediaObject.sha256.in_(hashes)))
        paths = {sha256: relative for sha256, relative in rows}
        session.execute(delete(EventMedia).where(EventMedia.sha256.in_(hashes)))
        session.execute(delete(MediaObject).where(MediaObject.sha256.in_(hashes)))
    for sha256 in hashes:
        relative = paths.get(sha256)
        if relative is None:
            continue
        try:
            files.path_for(relative).unlink(missing_ok=True)
        except OSError as exc:
            log.warning("Media %s is deleted from the database, but removing its file %s failed: %s", sha256, relative, exc)
    freed = sum(d.size_bytes for d in deletions)
    by_reason = {reason.value: sum(1 for d in deletions if d.reason is reason) for reason in DeletionReason}
    log.info("Media retention deleted %d files (%d bytes): %s", len(deletions), freed, by_reason)
    return deletions


StopHook = Callable[[], Awaitable[None]]


async def start_media_retention(app: FastAPI) -> StopHook:
    """Start hook: apply media retention now and then every ``media_retention_interval_s``."""
    settings: HubSettings = app.state.settings
    policy = HubRetentionPolicy.from_settings(settings)
    files = MediaFileStore(settings.media_dir)

    async def loop() -> None:
        while True:
            try:
                await asyncio.to_thread(apply_retention, app.state.session_factory, files, policy, datetime.now(UTC))
            except Exception:  # a failed run (database down) is retried at the next interval; the hub keeps serving
                log.exception("Media retention run failed; retrying in %g s", settings.media_retention_interval_s)
            await asyncio.sleep(settings.media_retention_interval_s)

    task = asyncio.create_task(loop(), name="media-retention")

    async def stop() -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return stop
