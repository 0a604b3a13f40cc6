"""Pydantic models of every MQTT payload in the Metro contract.

Agent and hub both import these models, so a payload that validates here is a payload
the other side understands. Unknown fields are rejected: a typo in a producer must fail
loudly instead of being dropped silently. Timestamps are timezone-aware and normalised
to UTC.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Final, Literal
from uuid import UUID

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from metro_common.topics import CAMERA_ID_PATTERN, MAX_PAYLOAD_BYTES, TopicKind

SCHEMA_VERSION: Final = 1


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc)]
CameraId = Annotated[str, Field(pattern=CAMERA_ID_PATTERN, description="Camera id, e.g. cam-07")]
Label = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[a-z][a-z ]*$")]


def utc_now() -> datetime:
    """Return the current wall-clock time as an aware UTC datetime."""
    return datetime.now(UTC)


class ContractModel(BaseModel):
    """Base of every payload: strict about unknown fields, immutable once built."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class CameraState(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"
    STOPPED = "stopped"


class EventKind(StrEnum):
    NEW = "new"
    UPDATE = "update"
    END = "end"


class EndReason(StrEnum):
    LEFT_VIEW = "left_view"
    CAMERA_OFFLINE = "camera_offline"
    MAX_DURATION = "max_duration"
    SHUTDOWN = "shutdown"


class MediaKind(StrEnum):
    SNAPSHOT = "snapshot"
    SNAPSHOT_ANNOTATED = "snapshot_annotated"
    CLIP = "clip"


class CommandName(StrEnum):
    SNAPSHOT = "snapshot"
    RELOAD_CONFIG = "reload_config"
    LIVE_START = "live_start"
    LIVE_STOP = "live_stop"


class Box(ContractModel):
    """Bounding box in source-frame pixels, corners (x1, y1) top-left and (x2, y2) bottom-right."""

    x1: float = Field(ge=0)
    y1: float = Field(ge=0)
    x2: float = Field(ge=0)
    y2: float = Field(ge=0)
    frame_width: int = Field(gt=0, description="Width of the frame the box refers to, pixels")
    frame_height: int = Field(gt=0, description="Height of the frame the box refers to, pixels")

    @model_validator(mode="after")
    def _check_corners(self) -> Box:
        if self.x2 < self.x1 or self.y2 < self.y1:
            raise ValueError(f"box corners out of order: ({self.x1},{self.y1})-({self.x2},{self.y2})")
        if self.x2 > self.frame_width or self.y2 > self.frame_height:
            raise ValueError(
                f"box ({self.x1},{self.y1})-({self.x2},{self.y2}) exceeds the "
                f"{self.frame_width}x{self.frame_height} frame"
            )
        return self


class MediaRef(ContractModel):
    """Reference to media uploaded over HTTP; the bytes never travel over MQTT."""

    kind: MediaKind
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size_bytes: int = Field(gt=0)
    content_type: Literal["image/jpeg", "video/mp4"]


class StatusMessage(ContractModel):
    """Retained camera state. The broker publishes the offline form as the last will."""

    v: Literal[1] = SCHEMA_VERSION
    camera_id: CameraId
    state: CameraState
    ts: UtcDatetime
    clock_synced: bool
    agent_version: str = Field(max_length=40)
    reason: str | None = Field(default=None, max_length=200)


class EventMessage(ContractModel):
    """One step of a tracked object's event: new, update or end."""

    v: Literal[1] = SCHEMA_VERSION
    camera_id: CameraId
    event_id: UUID
    seq: int = Field(ge=0, description="Per-camera sequence number, strictly increasing")
    kind: EventKind
    ts: UtcDatetime = Field(description="When this message was produced")
    start_ts: UtcDatetime
    end_ts: UtcDatetime | None = None
    clock_synced: bool
    label: Label
    score: float = Field(ge=0, le=1, description="Best confidence seen so far")
    box: Box
    zones: tuple[Annotated[str, Field(max_length=40)], ...] = Field(default=(), max_length=16)
    end_reason: EndReason | None = None
    snapshot: MediaRef | None = None
    snapshot_annotated: MediaRef | None = None
    clip: MediaRef | None = None

    @model_validator(mode="after")
    def _check_end(self) -> EventMessage:
        if self.kind is EventKind.END and (self.end_reason is None or self.end_ts is None):
            raise ValueError("an 'end' event needs end_reason and end_ts")
        if self.kind is not EventKind.END and self.end_reason is not None:
            raise ValueError(f"end_reason is only allowed on 'end' events, not {self.kind.value!r}")
        return self


class StatsMessage(ContractModel):
    """Heartbeat with the agent's health for one camera."""

    v: Literal[1] = SCHEMA_VERSION
    camera_id: CameraId
    ts: UtcDatetime
    clock_synced: bool
    camera_online: bool
    fps: float = Field(ge=0, description="Frames analysed per second")
    inference_ms: float = Field(ge=0, description="Median detector time, milliseconds")
    detector_calls: int = Field(ge=0)
    frames_total: int = Field(ge=0)
    frames_dropped: int = Field(ge=0, description="Frames skipped because analysis fell behind")
    outbox_depth: int = Field(ge=0)
    outbox_dropped: int = Field(ge=0)
    uptime_s: float = Field(ge=0)
    cpu_temp_c: float | None = None
    disk_free_bytes: int | None = Field(default=None, ge=0)
    media_pressure_deletions: int = Field(default=0, ge=0)


class CountItem(ContractModel):
    label: Label
    direction: Literal["in", "out"]
    count: int = Field(ge=0)


class CountsMessage(ContractModel):
    """Line-crossing counts for one counting line over one period."""

    v: Literal[1] = SCHEMA_VERSION
    camera_id: CameraId
    seq: int = Field(ge=0)
    line: str = Field(min_length=1, max_length=40)
    period_start: UtcDatetime
    period_end: UtcDatetime
    clock_synced: bool
    counts: tuple[CountItem, ...] = Field(max_length=64)


class MediaMessage(ContractModel):
    """Announces media for an event; the hub expects an HTTP upload with this hash."""

    v: Literal[1] = SCHEMA_VERSION
    camera_id: CameraId
    seq: int = Field(ge=0)
    event_id: UUID
    ts: UtcDatetime
    media: MediaRef


class CommandMessage(ContractModel):
    """Request from the hub to one camera's agent."""

    v: Literal[1] = SCHEMA_VERSION
    camera_id: CameraId
    command_id: UUID
    name: CommandName
    issued_at: UtcDatetime
    expires_at: UtcDatetime
    args: dict[str, str | int | float | bool] = Field(default_factory=dict, max_length=16)

    def is_expired(self, now: datetime) -> bool:
        """Tell whether the command should be ignored at ``now``."""
        return now >= self.expires_at


class CommandResultMessage(ContractModel):
    """Outcome of one command."""

    v: Literal[1] = SCHEMA_VERSION
    camera_id: CameraId
    command_id: UUID
    ts: UtcDatetime
    ok: bool
    detail: str = Field(max_length=500)
    media: MediaRef | None = None


MESSAGE_MODELS: dict[TopicKind, type[ContractModel]] = {
    TopicKind.STATUS: StatusMessage,
    TopicKind.EVENT: EventMessage,
    TopicKind.STATS: StatsMessage,
    TopicKind.COUNTS: CountsMessage,
    TopicKind.MEDIA: MediaMessage,
    TopicKind.COMMAND: CommandMessage,
    TopicKind.COMMAND_RESULT: CommandResultMessage,
}


class ContractError(ValueError):
    """A payload that breaks the contract; ``reason`` is a short label for metrics."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def encode(message: ContractModel) -> bytes:
    """Serialise a message to compact UTF-8 JSON."""
    return message.model_dump_json(exclude_none=True).encode()


def decode(kind: TopicKind, payload: bytes, topic_camera_id: str | None = None) -> ContractModel:
    """Parse and validate ``payload`` for ``kind``.

    Raises ContractError with reason ``oversized``, ``malformed`` or ``spoofed`` (the
    camera id in the payload differs from the one in the topic).
    """
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise ContractError(
            "oversized", f"payload of {len(payload)} bytes exceeds the {MAX_PAYLOAD_BYTES}-byte limit"
        )
    model = MESSAGE_MODELS[kind]
    try:
        message = model.model_validate_json(payload)
    except ValidationError as exc:
        raise ContractError("malformed", f"invalid {kind.value} payload: {_summarise(exc)}") from exc
    camera_id = getattr(message, "camera_id", None)
    if topic_camera_id is not None and camera_id != topic_camera_id:
        raise ContractError(
            "spoofed", f"payload camera_id {camera_id!r} differs from topic camera {topic_camera_id!r}"
        )
    return message


def _summarise(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors()[:3]:
        location = ".".join(str(item) for item in error["loc"]) or "(payload)"
        parts.append(f"{location}: {error['msg']}")
    if exc.error_count() > 3:
        parts.append(f"and {exc.error_count() - 3} more")
    return "; ".join(parts)


def json_schemas() -> dict[str, dict[str, Any]]:
    """Return the JSON Schema of every message, keyed by topic kind."""
    return {
        kind.value: TypeAdapter(model).json_schema(mode="validation")
        for kind, model in MESSAGE_MODELS.items()
    }


def render_schema_file() -> str:
    """Render the committed schema file's exact text (docs/mqtt-schema.json)."""
    return json.dumps(json_schemas(), indent=2, sort_keys=True) + "\n"
