"""Retention policy of the agent's media store: which files to delete and whether to admit a new one.

Pure functions over item descriptions. Rules, in order:

1. Uploaded media older than the maximum age is deleted.
2. While the camera's media exceed the quota, uploaded media are deleted, oldest first.
3. Media not yet uploaded is kept, unless free disk space is below the critical level.
   Then uploaded media go first and pending media after them, oldest first, until the
   projected free space reaches that level. Those pending deletions are counted.
4. A new item is admitted only while the camera's usage is below the quota, which
   bounds the overshoot by the size of one item (at most one clip).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum


class DeletionReason(StrEnum):
    MAX_AGE = "max_age"
    QUOTA = "quota"
    DISK_PRESSURE = "disk_pressure"


@dataclass(frozen=True, slots=True)
class ItemInfo:
    """Facts about one stored file that the retention policy uses."""

    key: str
    size_bytes: int
    created_at: float
    uploaded: bool


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """Limits for one camera: quota and critical free space in bytes, age in seconds."""

    quota_bytes: int
    max_age_s: float
    critical_free_bytes: int

    def __post_init__(self) -> None:
        if self.quota_bytes <= 0:
            raise ValueError(f"quota_bytes {self.quota_bytes} must be positive")
        if self.max_age_s <= 0:
            raise ValueError(f"max_age_s {self.max_age_s} must be positive")
        if self.critical_free_bytes < 0:
            raise ValueError(f"critical_free_bytes {self.critical_free_bytes} must not be negative")


@dataclass(frozen=True, slots=True)
class Deletion:
    key: str
    reason: DeletionReason
    was_uploaded: bool
    size_bytes: int


@dataclass(frozen=True, slots=True)
class RetentionPlan:
    deletions: tuple[Deletion, ...] = field(default=())

    @property
    def pressure_deletions(self) -> int:
        """Number of media files deleted before they were uploaded."""
        return sum(1 for d in self.deletions if not d.was_uploaded)

    @property
    def freed_bytes(self) -> int:
        return sum(d.size_bytes for d in self.deletions)


def _oldest_first(items: Iterable[ItemInfo]) -> list[ItemInfo]:
    return sorted(items, key=lambda item: (item.created_at, item.key))


def plan_retention(
    items: Sequence[ItemInfo], policy: RetentionPolicy, now: float, free_disk_bytes: int | None, incoming_bytes: int = 0
) -> RetentionPlan:
    """Decide which items to delete; ``free_disk_bytes`` None skips the disk-pressure rule.

    ``incoming_bytes`` is the size of a file about to be written: uploaded media is
    deleted until it fits, so a quota full of uploaded media never rejects new media.
    """
    deletions: list[Deletion] = []
    remaining = _oldest_first(items)

    def delete(item: ItemInfo, reason: DeletionReason) -> None:
        deletions.append(Deletion(item.key, reason, item.uploaded, item.size_bytes))
        remaining.remove(item)

    for item in list(remaining):
        if item.uploaded and now - item.created_at > policy.max_age_s:
            delete(item, DeletionReason.MAX_AGE)

    used = sum(item.size_bytes for item in remaining)
    for item in [i for i in remaining if i.uploaded]:
        if used + incoming_bytes <= policy.quota_bytes:
            break
        delete(item, DeletionReason.QUOTA)
        used -= item.size_bytes

    if free_disk_bytes is not None:
        free = free_disk_bytes + sum(d.size_bytes for d in deletions)
        by_priority = [i for i in remaining if i.uploaded] + [i for i in remaining if not i.uploaded]
        for item in by_priority:
            if free >= policy.critical_free_bytes:
                break
            delete(item, DeletionReason.DISK_PRESSURE)
            free += item.size_bytes

    return RetentionPlan(tuple(deletions))


def admits(items: Sequence[ItemInfo], policy: RetentionPolicy) -> bool:
    """Tell whether a new item may be written, given the items left after ``plan_retention``."""
    return sum(item.size_bytes for item in items) < policy.quota_bytes
