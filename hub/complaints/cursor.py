"""Opaque keyset cursors of the complaint queue: the (created_at, id) of the last row seen.

The cursor also records the sort order it was made for, newest first (``n``) or the
overdue queue's oldest first (``o``), so a cursor of one order is rejected by the other.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime

NEWEST_FIRST = "n"
OLDEST_FIRST = "o"


def encode_cursor(created_at: datetime, complaint_id: int, order: str) -> str:
    """Encode the position after the row (created_at, complaint_id) in the given sort order."""
    raw = f"{order}|{created_at.isoformat()}|{complaint_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, order: str) -> tuple[datetime, int]:
    """Parse a cursor of ``encode_cursor`` made for ``order``; raise ValueError for anything else."""
    error = ValueError(f"invalid complaint cursor {cursor[:40]!r}. Request the first page without a cursor")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        cursor_order, created_text, id_text = raw.split("|")
        created_at = datetime.fromisoformat(created_text)
        complaint_id = int(id_text)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise error from exc
    if cursor_order != order or created_at.tzinfo is None or not 1 <= complaint_id <= 2**31 - 1:
        raise error
    return created_at, complaint_id
