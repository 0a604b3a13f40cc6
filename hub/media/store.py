"""Content-addressed media files on the hub's disk.

A file lives at ``<media_dir>/<sha[0:2]>/<sha[2:4]>/<sha>.<ext>``, so two uploads of
the same bytes share one file and no folder grows past 65,536 entries per level.
Writes go to ``<media_dir>/tmp/``, are fsynced and atomically renamed into place.
"""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from pathlib import Path
from typing import Literal

ContentType = Literal["image/jpeg", "video/mp4"]
EXTENSIONS: dict[str, str] = {"image/jpeg": ".jpg", "video/mp4": ".mp4"}
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


class MediaTypeError(ValueError):
    """The bytes are neither a JPEG image nor an MP4 video."""


def sniff_content_type(data: bytes) -> ContentType:
    """Return the content type read from the file's first bytes (JPEG or MP4 only)."""
    if data[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if len(data) >= 12 and data[4:8] == b"ftyp":
        return "video/mp4"
    raise MediaTypeError(f"unrecognised file type (first bytes {data[:12].hex()}); only JPEG and MP4 are accepted")


def check_sha256(value: str) -> str:
    """Return ``value`` if it is a lowercase hex SHA-256, else raise ValueError."""
    if not _SHA256_RE.match(value):
        raise ValueError(f"invalid SHA-256 {value[:80]!r}: expected 64 lowercase hex digits")
    return value


def relative_path(sha256: str, content_type: str) -> str:
    """Return the file's path relative to the media folder."""
    check_sha256(sha256)
    return f"{sha256[0:2]}/{sha256[2:4]}/{sha256}{EXTENSIONS[content_type]}"


class MediaFileStore:
    """Write and locate media files under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.tmp = self.root / "tmp"
        self.tmp.mkdir(parents=True, exist_ok=True)

    def path_for(self, relative: str) -> Path:
        return self.root / relative

    def write(self, data: bytes, content_type: ContentType) -> tuple[str, str, bool]:
        """Store ``data``; return (sha256, relative path, created) where created is False if it existed."""
        sha256 = hashlib.sha256(data).hexdigest()
        relative = relative_path(sha256, content_type)
        target = self.path_for(relative)
        if target.is_file() and target.stat().st_size == len(data):
            return sha256, relative, False
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.tmp / f"{sha256}.{uuid.uuid4().hex}.part"
        try:
            with open(tmp, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        directory = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
        return sha256, relative, True
