"""MQTT topic names of the Metro contract.

Every topic string in the project is built or parsed here. Layout:
``metro/v1/<camera_id>/<kind>``, with ``command/result`` as the one two-level kind.
Each camera keeps its own MQTT connection, so its last will marks exactly its own
status topic, and broker ACLs can bind a camera's user name to its own prefix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

PREFIX = "metro/v1"
CAMERA_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"
_CAMERA_ID_RE = re.compile(CAMERA_ID_PATTERN)

# Payloads larger than this are rejected by the hub before parsing. Events carry
# media by reference, so real messages stay far below it.
MAX_PAYLOAD_BYTES = 64 * 1024


class TopicKind(StrEnum):
    STATUS = "status"
    EVENT = "event"
    STATS = "stats"
    COUNTS = "counts"
    MEDIA = "media"
    COMMAND = "command"
    COMMAND_RESULT = "command/result"


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """Delivery rules for one kind of topic."""

    kind: TopicKind
    qos: int
    retain: bool
    publisher: str
    description: str


TOPIC_SPECS: dict[TopicKind, TopicSpec] = {
    TopicKind.STATUS: TopicSpec(
        TopicKind.STATUS, 1, True, "agent (last will: broker)",
        "Camera state: online, offline (last will) or stopped (clean shutdown).",
    ),
    TopicKind.EVENT: TopicSpec(
        TopicKind.EVENT, 1, False, "agent",
        "Tracked-object event lifecycle: new, update, end.",
    ),
    TopicKind.STATS: TopicSpec(
        TopicKind.STATS, 0, False, "agent",
        "Heartbeat with health figures, every stats interval.",
    ),
    TopicKind.COUNTS: TopicSpec(
        TopicKind.COUNTS, 1, False, "agent",
        "Line-crossing counts per label and direction for one period.",
    ),
    TopicKind.MEDIA: TopicSpec(
        TopicKind.MEDIA, 1, False, "agent",
        "Reference to a snapshot or clip that the agent uploads over HTTP.",
    ),
    TopicKind.COMMAND: TopicSpec(
        TopicKind.COMMAND, 1, False, "hub",
        "Request to one agent. Never retained, and ignored after its expiry.",
    ),
    TopicKind.COMMAND_RESULT: TopicSpec(
        TopicKind.COMMAND_RESULT, 1, False, "agent",
        "Outcome of one command, keyed by command_id.",
    ),
}


class TopicError(ValueError):
    """A topic or camera id that does not follow the contract."""


def validate_camera_id(camera_id: str) -> str:
    """Return ``camera_id`` unchanged, or raise TopicError naming the rule it breaks."""
    if not _CAMERA_ID_RE.match(camera_id):
        raise TopicError(
            f"invalid camera id {camera_id!r}: use 1-63 lowercase letters, digits or '-', "
            "starting with a letter or digit (for example 'cam-07')"
        )
    return camera_id


def topic(camera_id: str, kind: TopicKind) -> str:
    """Build the topic of ``kind`` for one camera."""
    return f"{PREFIX}/{validate_camera_id(camera_id)}/{kind.value}"


def subscription(kind: TopicKind, shared_group: str | None = None) -> str:
    """Build the filter matching ``kind`` for every camera, optionally as an MQTT 5 shared one."""
    base = f"{PREFIX}/+/{kind.value}"
    if shared_group:
        return f"$share/{shared_group}/{base}"
    return base


def parse_topic(name: str) -> tuple[str, TopicKind]:
    """Split a contract topic into camera id and kind, or raise TopicError."""
    prefix = PREFIX + "/"
    if not name.startswith(prefix):
        raise TopicError(f"topic {name!r} is outside the {PREFIX!r} namespace")
    camera_id, _, rest = name[len(prefix):].partition("/")
    try:
        kind = TopicKind(rest)
    except ValueError:
        known = ", ".join(k.value for k in TopicKind)
        raise TopicError(f"topic {name!r} has unknown kind {rest!r}; known kinds: {known}") from None
    return validate_camera_id(camera_id), kind
