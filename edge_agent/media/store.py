"""Durable media store on the agent's disk, one folder per camera.

Layout under ``root/<camera_id>/``: ``tmp/`` for files being written, ``pending/`` for
media waiting for upload and ``uploaded/`` for media the hub confirmed. Each media file
has a JSON marker with the same stem that records its event ids, kind, hash and which
event ids the hub already accepted. Every file is written to ``tmp/``, fsynced and
atomically renamed, so a power cut leaves either the old state or the new one. A
rescan at start-up repairs what a crash between two renames can leave behind.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from edge_agent.media.config import MediaConfig
from edge_agent.media.retention import ItemInfo, RetentionPlan, RetentionPolicy, admits, plan_retention
from metro_common.messages import MediaKind, MediaRef

log = logging.getLogger(__name__)

ContentType = Literal["image/jpeg", "video/mp4"]
_EXTENSIONS: dict[str, ContentType] = {".jpg": "image/jpeg", ".mp4": "video/mp4"}
_SUFFIX_BY_TYPE = {value: key for key, value in _EXTENSIONS.items()}
PENDING, UPLOADED, TMP = "pending", "uploaded", "tmp"


class MediaStoreError(RuntimeError):
    """The media store could not write or read a file."""


@dataclass(frozen=True, slots=True)
class StoredMedia:
    """One media file and its marker."""

    stem: str
    camera_id: str
    event_ids: tuple[str, ...]
    kind: MediaKind
    sha256: str
    size_bytes: int
    content_type: ContentType
    created_at: float
    uploaded_event_ids: tuple[str, ...] = ()
    folder: str = PENDING

    @property
    def uploaded(self) -> bool:
        return set(self.event_ids) <= set(self.uploaded_event_ids)

    @property
    def events_to_upload(self) -> tuple[str, ...]:
        return tuple(e for e in self.event_ids if e not in self.uploaded_event_ids)

    @property
    def filename(self) -> str:
        return self.stem + _SUFFIX_BY_TYPE[self.content_type]

    def ref(self) -> MediaRef:
        return MediaRef(kind=self.kind, sha256=self.sha256, size_bytes=self.size_bytes, content_type=self.content_type)

    def marker_json(self) -> bytes:
        body = {
            "camera_id": self.camera_id,
            "event_ids": list(self.event_ids),
            "kind": self.kind.value,
            "sha256": self.sha256,
            "size_bytes": self.size_bytes,
            "content_type": self.content_type,
            "created_at": self.created_at,
            "uploaded_event_ids": list(self.uploaded_event_ids),
        }
        return json.dumps(body, sort_keys=True).encode()

    @classmethod
    def from_marker(cls, stem: str, folder: str, raw: bytes) -> StoredMedia:
        body = json.loads(raw)
        return cls(
            stem=stem,
            camera_id=str(body["camera_id"]),
            event_ids=tuple(str(e) for e in body["event_ids"]),
            kind=MediaKind(body["kind"]),
            sha256=str(body["sha256"]),
            size_bytes=int(body["size_bytes"]),
            content_type=_EXTENSIONS[_SUFFIX_BY_TYPE[body["content_type"]]],
            created_at=float(body["created_at"]),
            uploaded_event_ids=tuple(str(e) for e in body.get("uploaded_event_ids", ())),
            folder=folder,
        )


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_durably(data: bytes, tmp_dir: Path, target: Path) -> None:
    tmp = tmp_dir / f".{target.name}.{uuid.uuid4().hex}.part"
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, target)
    _fsync_dir(target.parent)


def sha256_file(path: Path) -> tuple[str, int]:
    """Return the hex SHA-256 and size in bytes of a file."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


class MediaStore:
    """Media of one camera: durable writes, upload state and retention. Thread-safe."""

    def __init__(
        self,
        root: Path,
        camera_id: str,
        config: MediaConfig,
        *,
        clock: Callable[[], float] = time.time,
        free_disk_bytes: Callable[[Path], int] | None = None,
    ) -> None:
        self.camera_id = camera_id
        self.base = Path(root) / camera_id
        self.policy = RetentionPolicy(config.quota_bytes, config.max_age_s, config.critical_free_bytes)
        self._clock = clock
        self._free_disk = free_disk_bytes or (lambda path: shutil.disk_usage(path).free)
        self._lock = threading.RLock()
        self._items: dict[str, StoredMedia] = {}
        self.pressure_deletions = 0
        self.quota_rejections = 0
        for folder in (PENDING, UPLOADED, TMP):
            (self.base / folder).mkdir(parents=True, exist_ok=True)
        self.rescan()

    # -- paths ---------------------------------------------------------------------------

    @property
    def tmp_dir(self) -> Path:
        return self.base / TMP

    def path_of(self, item: StoredMedia) -> Path:
        return self.base / item.folder / item.filename

    def new_tmp_path(self, suffix: str) -> Path:
        """Return a fresh path in ``tmp/`` for an encoder to write into before ``save_file``."""
        return self.tmp_dir / f"{uuid.uuid4().hex}{suffix}"

    # -- writing -------------------------------------------------------------------------

    def save_bytes(
        self, event_ids: Sequence[str], kind: MediaKind, data: bytes, content_type: ContentType
    ) -> StoredMedia | None:
        """Store ``data`` durably as pending media; return None when the quota rejects it."""
        sha = hashlib.sha256(data).hexdigest()
        with self._lock:
            if not self._admit(len(data)):
                return None
            item = self._new_item(event_ids, kind, sha, len(data), content_type)
            _write_durably(data, self.tmp_dir, self.path_of(item))
            self._commit_marker(item)
            return item

    def save_file(
        self, event_ids: Sequence[str], kind: MediaKind, source: Path, content_type: ContentType
    ) -> StoredMedia | None:
        """Move a finished file from ``tmp/`` into ``pending/``; return None when the quota rejects it."""
        sha, size = sha256_file(source)
        with self._lock:
            if not self._admit(size):
                source.unlink(missing_ok=True)
                return None
            item = self._new_item(event_ids, kind, sha, size, content_type)
            with open(source, "rb+") as handle:
                os.fsync(handle.fileno())
            os.replace(source, self.path_of(item))
            _fsync_dir(self.path_of(item).parent)
            self._commit_marker(item)
            return item

    def add_event(self, item: StoredMedia, event_id: str) -> StoredMedia:
        """Attach one more event id to stored media (a clip shared by overlapping events)."""
        with self._lock:
            current = self._items.get(item.stem, item)
            if event_id in current.event_ids:
                return current
            updated = replace(current, event_ids=(*current.event_ids, event_id))
            if updated.folder == UPLOADED:
                return self._relocate(updated, PENDING)
            self._commit_marker(updated)
            return updated

    def _new_item(
        self, event_ids: Sequence[str], kind: MediaKind, sha: str, size: int, content_type: ContentType
    ) -> StoredMedia:
        if not event_ids:
            raise ValueError("media needs at least one event id")
        if content_type not in _SUFFIX_BY_TYPE:
            raise ValueError(f"content type {content_type!r} is not image/jpeg or video/mp4")
        created = self._clock()
        stem = f"{int(created * 1000):013d}-{kind.value}-{sha[:16]}-{uuid.uuid4().hex[:8]}"
        return StoredMedia(stem, self.camera_id, tuple(event_ids), kind, sha, size, content_type, created)

    def _commit_marker(self, item: StoredMedia) -> None:
        _write_durably(item.marker_json(), self.tmp_dir, self.base / item.folder / f"{item.stem}.json")
        self._items[item.stem] = item

    def _admit(self, size: int) -> bool:
        self.enforce_retention(incoming_bytes=size)
        infos = [self._info(i) for i in self._items.values()]
        if admits(infos, self.policy):
            return True
        self.quota_rejections += 1
        log.warning(
            "Camera %s media quota of %d bytes is full of media not yet uploaded; dropping a new %d-byte file",
            self.camera_id, self.policy.quota_bytes, size,
        )
        return False

    # -- upload state --------------------------------------------------------------------

    def pending(self) -> list[StoredMedia]:
        """Return media with at least one event id not yet accepted by the hub, oldest first."""
        with self._lock:
            return sorted((i for i in self._items.values() if not i.uploaded), key=lambda i: (i.created_at, i.stem))

    def all_items(self) -> list[StoredMedia]:
        with self._lock:
            return sorted(self._items.values(), key=lambda i: (i.created_at, i.stem))

    def read(self, item: StoredMedia) -> bytes:
        return self.path_of(item).read_bytes()

    def mark_uploaded(self, item: StoredMedia, event_id: str) -> StoredMedia | None:
        """Record that the hub accepted ``item`` for ``event_id``; return None if the item is gone."""
        with self._lock:
            current = self._items.get(item.stem)
            if current is None:
                return None
            if event_id not in current.uploaded_event_ids:
                current = replace(current, uploaded_event_ids=(*current.uploaded_event_ids, event_id))
            if current.uploaded and current.folder == PENDING:
                return self._relocate(current, UPLOADED)
            self._commit_marker(current)
            return current

    def _relocate(self, item: StoredMedia, folder: str) -> StoredMedia:
        """Move media and marker to ``folder``: file first, new marker next, old marker last.

        A crash after the file rename leaves the old marker pointing at a missing file,
        and ``rescan`` finds the file in the other folder and finishes the move.
        """
        moved = replace(item, folder=folder)
        os.replace(self.path_of(item), self.path_of(moved))
        _fsync_dir(self.path_of(moved).parent)
        self._commit_marker(moved)
        (self.base / item.folder / f"{item.stem}.json").unlink(missing_ok=True)
        return moved

    # -- retention -----------------------------------------------------------------------

    def _info(self, item: StoredMedia) -> ItemInfo:
        return ItemInfo(item.stem, item.size_bytes, item.created_at, item.uploaded)

    def usage_bytes(self) -> int:
        with self._lock:
            return sum(i.size_bytes for i in self._items.values())

    def enforce_retention(self, incoming_bytes: int = 0) -> RetentionPlan:
        """Apply the retention policy now, making room for ``incoming_bytes``; pending media deleted under disk pressure is counted and logged."""
        with self._lock:
            infos = [self._info(i) for i in self._items.values()]
            plan = plan_retention(infos, self.policy, self._clock(), self._free_disk(self.base), incoming_bytes)
            for deletion in plan.deletions:
                item = self._items.pop(deletion.key)
                self.path_of(item).unlink(missing_ok=True)
                (self.base / item.folder / f"{item.stem}.json").unlink(missing_ok=True)
                if not deletion.was_uploaded:
                    log.warning(
                        "Deleted media %s of events %s before upload: free disk below %d bytes",
                        item.filename, ",".join(item.event_ids), self.policy.critical_free_bytes,
                    )
            self.pressure_deletions += plan.pressure_deletions
            if plan.deletions:
                log.info("Retention removed %d media files (%d bytes)", len(plan.deletions), plan.freed_bytes)
            return plan

    # -- recovery ------------------------------------------------------------------------

    def rescan(self) -> None:
        """Rebuild the index from disk and repair what an interrupted write or move left behind."""
        with self._lock:
            self._items.clear()
            for leftover in self.tmp_dir.iterdir():
                leftover.unlink(missing_ok=True)
            for folder in (PENDING, UPLOADED):
                for marker in sorted((self.base / folder).glob("*.json")):
                    self._recover_marker(marker, folder)
            self._remove_orphans()

    def _recover_marker(self, marker: Path, folder: str) -> None:
        try:
            item = StoredMedia.from_marker(marker.stem, folder, marker.read_bytes())
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("Ignoring unreadable media marker %s: %s", marker, exc)
            return
        if self.path_of(item).exists():
            self._items[item.stem] = item
            return
        other = UPLOADED if folder == PENDING else PENDING
        moved = replace(item, folder=other)
        if self.path_of(moved).exists():
            # A move finished its file rename but not its marker: finish it.
            self._commit_marker(moved)
            marker.unlink(missing_ok=True)
            return
        log.warning("Media marker %s has no media file; removing it", marker)
        marker.unlink(missing_ok=True)

    def _remove_orphans(self) -> None:
        known = {self.path_of(item) for item in self._items.values()}
        for folder in (PENDING, UPLOADED):
            for path in (self.base / folder).iterdir():
                if path.suffix in _EXTENSIONS and path not in known:
                    # Written but never announced: a crash hit before its marker, so no event refers to it.
                    log.warning("Removing media file %s that has no marker", path)
                    path.unlink(missing_ok=True)
