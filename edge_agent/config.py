"""Configuration of the edge agent: one YAML file plus ``METRO_EDGE_*`` environment variables.

Environment variables override the file; nested keys use ``__`` (for example
``METRO_EDGE_MQTT__URL``). Every model rejects unknown keys, so a misspelt key fails at
start instead of being ignored. Secrets (MQTT password, hub device token) are read from
files named in the config, never written into it.
"""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from edge_agent.analysis_config import AnalysisConfig
from edge_agent.media.config import LiveConfig, MediaConfig, PrivacyMask
from edge_agent.threads import AUTO, MAX_THREADS, ThreadCount, parse_thread_count
from metro_common.topics import TopicError, validate_camera_id

ENV_PREFIX = "METRO_EDGE_"

_SECRET_QUERY_KEYS = frozenset({"password", "passwd", "pass", "pwd", "token", "key", "secret", "auth"})
_URL_IN_TEXT = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>]+")


def mask_url(url: str) -> str:
    """Return ``url`` with the password and secret-looking query values replaced by ``***``.

    >>> mask_url("rtsp://admin:hunter2@10.0.0.7:554/stream1")
    'rtsp://admin:***@10.0.0.7:554/stream1'
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable url>"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user, has_password, _ = userinfo.partition(":")
        netloc = f"{user}:***@{hostport}" if has_password else f"{user}@{hostport}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        masked = [(k, "***" if k.lower() in _SECRET_QUERY_KEYS else v) for k, v in pairs]
        query = urlencode(masked, safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def mask_urls_in_text(text: str) -> str:
    """Mask every URL found inside free text, such as an OpenCV or FFmpeg error message."""
    return _URL_IN_TEXT.sub(lambda match: mask_url(match.group(0)), text)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceKind(StrEnum):
    """Kind of frame source."""

    FILE = "file"
    RTSP = "rtsp"
    HTTP = "http"
    USB = "usb"
    PICAMERA2 = "picamera2"
    # Fault drill: a reader that delivers a few synthetic frames and then aborts its
    # process, as a crashing decoder would. Used to prove that capture is isolated.
    CRASH_DRILL = "crash_drill"


class SourceConfig(_Strict):
    """Frame source of one camera."""

    kind: SourceKind = Field(description="file, rtsp, http, usb or picamera2")
    url: str | None = Field(None, description="Stream URL for rtsp (rtsp://, rtsps://) and http (http://, https://)")
    path: Path | None = Field(None, description="Video file for kind file")
    device: int | str | None = Field(None, description="USB camera: V4L2 index (0) or device path (/dev/video0)")
    fps: float | None = Field(
        None, gt=0, le=120, description="Frames per second: pacing of file replay and the rate requested from usb and picamera2; None uses the source's own rate"
    )
    loop: bool = Field(False, description="File replay: start again at the end instead of ending")
    realtime: bool = Field(True, description="File replay: pace frames at the file's frame rate; false reads as fast as analysis takes them")
    width: int | None = Field(None, ge=64, le=7680, description="Requested main-stream width for usb and picamera2, pixels")
    height: int | None = Field(None, ge=64, le=4320, description="Requested main-stream height for usb and picamera2, pixels")
    lores_width: int = Field(640, ge=64, le=1920, description="picamera2 low-resolution analysis stream width, pixels")
    lores_height: int = Field(480, ge=64, le=1080, description="picamera2 low-resolution analysis stream height, pixels")
    open_timeout_s: float = Field(10.0, gt=0, le=300, description="Time allowed to open a network stream, seconds")
    read_timeout_s: float = Field(10.0, gt=0, le=300, description="Time allowed for one network read, seconds")

    @model_validator(mode="after")
    def _check_location(self) -> SourceConfig:
        kind = self.kind
        if kind in (SourceKind.RTSP, SourceKind.HTTP):
            if not self.url:
                raise ValueError(f"source kind {kind.value} needs url")
            schemes = ("rtsp", "rtsps") if kind is SourceKind.RTSP else ("http", "https")
            scheme = urlsplit(self.url).scheme.lower()
            if scheme not in schemes:
                raise ValueError(
                    f"source url {mask_url(self.url)!r} has scheme {scheme!r}; kind {kind.value} needs {' or '.join(schemes)}"
                )
        if kind is SourceKind.FILE and self.path is None:
            raise ValueError("source kind file needs path")
        if kind is SourceKind.USB and self.device is None:
            raise ValueError("source kind usb needs device (an index such as 0 or a path such as /dev/video0)")
        return self

    def describe(self) -> str:
        """Return a log-safe description, with credentials masked."""
        if self.url:
            return f"{self.kind.value} {mask_url(self.url)}"
        if self.path is not None:
            return f"{self.kind.value} {self.path}"
        if self.device is not None:
            return f"{self.kind.value} {self.device}"
        return self.kind.value


class CameraConfig(_Strict):
    """One CCTV point: identity, location, source, analysis and media."""

    camera_id: str = Field(description="Unique camera id, also the MQTT client id and user name (for example cam-07)")
    name: str = Field(min_length=1, max_length=80, description="Human-readable name shown to operators")
    lat: float = Field(ge=-90, le=90, description="Latitude, WGS84 degrees")
    lon: float = Field(ge=-180, le=180, description="Longitude, WGS84 degrees")
    address: str = Field("", max_length=200, description="Street address of the camera")
    enabled: bool = Field(True, description="Run this camera; false keeps the entry but starts nothing")
    source: SourceConfig = Field(description="Where frames come from: kind plus url, path or device")
    stall_timeout_s: float = Field(
        20.0, ge=2, le=600, description="No new real frame for this long marks the camera offline and restarts capture, seconds"
    )
    restart_initial_s: float = Field(1.0, gt=0, le=60, description="First capture restart delay, seconds")
    restart_max_s: float = Field(60.0, gt=0, le=3600, description="Largest capture restart delay, seconds")
    mqtt_password_file: Path | None = Field(
        None, description="Password file of this camera's MQTT user (its camera id); None uses mqtt.password_file"
    )
    frame_queue_size: int = Field(
        2, ge=1, le=16, description="Frames waiting between capture and analysis; newer frames are dropped and counted when full"
    )
    analysis: AnalysisConfig = Field(
        default_factory=AnalysisConfig, description="Motion gating, detection, tracking, events, zones and counting lines"
    )
    privacy_masks: tuple[PrivacyMask, ...] = Field((), description="Polygons hidden before anything is stored or shown")
    media: MediaConfig = Field(default_factory=MediaConfig, description="Snapshots, clips, local storage and uploads")
    live: LiveConfig = Field(default_factory=LiveConfig, description="On-demand live view pushed to the hub")

    @field_validator("camera_id")
    @classmethod
    def _check_camera_id(cls, value: str) -> str:
        try:
            return validate_camera_id(value)
        except TopicError as exc:
            raise ValueError(str(exc)) from None

    @model_validator(mode="after")
    def _check_restart(self) -> CameraConfig:
        if self.restart_max_s < self.restart_initial_s:
            raise ValueError(f"restart_max_s {self.restart_max_s} is below restart_initial_s {self.restart_initial_s}")
        return self


class MqttConfig(_Strict):
    """Broker connection shared by every camera; each camera opens its own session."""

    url: str = Field("mqtt://127.0.0.1:1883", description="Broker URL, mqtt://host:port or mqtts://host:port (TLS)")
    username: str | None = Field(
        None, description="User name; None uses each camera's id, which broker ACLs bind to metro/v1/<id>/#"
    )
    password_file: Path | None = Field(None, description="File whose first line is the MQTT password")
    ca_file: Path | None = Field(None, description="CA bundle for mqtts://; None uses the system trust store")
    protocol: Literal["5", "3.1.1"] = Field(
        "5", description="MQTT protocol version; 3.1.1 for brokers without MQTT 5, such as the hub's embedded amqtt broker"
    )
    keepalive_s: int = Field(30, ge=5, le=600, description="MQTT keepalive, seconds")
    reconnect_min_s: float = Field(1.0, gt=0, le=60, description="First reconnect delay, seconds")
    reconnect_max_s: float = Field(120.0, gt=0, le=3600, description="Largest reconnect delay, seconds")
    inflight_max: int = Field(20, ge=1, le=1000, description="QoS 1 messages sent but not yet acknowledged, per camera")

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("mqtt", "mqtts"):
            raise ValueError(f"mqtt url {mask_url(value)!r} must start with mqtt:// or mqtts://")
        if not parts.hostname:
            raise ValueError(f"mqtt url {mask_url(value)!r} has no host; use for example mqtt://hub.local:1883")
        if parts.username or parts.password:
            raise ValueError("mqtt url must not carry credentials; set mqtt.username and mqtt.password_file")
        return value

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""

    @property
    def port(self) -> int:
        parts = urlsplit(self.url)
        return parts.port or (8883 if parts.scheme == "mqtts" else 1883)

    @property
    def tls(self) -> bool:
        return urlsplit(self.url).scheme == "mqtts"

    def read_password(self) -> str | None:
        """Return the first line of ``password_file``, or None when no file is set."""
        if self.password_file is None:
            return None
        lines = self.password_file.read_text(encoding="utf-8").splitlines()
        return lines[0].strip() if lines else ""


class HubConfig(_Strict):
    """HTTP side of the hub, used for media uploads and live view."""

    base_url: str | None = Field(None, description="Hub base URL, for example https://hub.metro.local; None disables uploads")
    device_token_file: Path | None = Field(None, description="File whose first line is this device's upload token")

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str | None) -> str | None:
        if value is not None and urlsplit(value).scheme not in ("http", "https"):
            raise ValueError(f"hub base_url {mask_url(value)!r} must start with http:// or https://")
        return value


class AgentConfig(BaseSettings):
    """Whole agent: device identity, broker, hub, storage and the cameras it runs."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid", frozen=True
    )

    device_id: str = Field(description="Id of this Raspberry Pi, for logs and the device token (for example pi-07)")
    mqtt: MqttConfig = Field(default_factory=MqttConfig, description="Broker connection (one session per camera)")
    hub: HubConfig = Field(default_factory=HubConfig, description="Hub HTTP endpoint for media uploads and live view")
    data_dir: Path = Field(Path("/var/lib/metro-edge"), description="Folder for the outbox database and media")
    stats_interval_s: float = Field(30.0, ge=1, le=3600, description="Heartbeat (stats message) period, seconds")
    counts_interval_s: float = Field(60.0, ge=5, le=3600, description="Line-crossing counts period, seconds")
    model_spec: Path | None = Field(None, description="Detector model spec (YAML: input, output layout, labels); None uses models/yolox_nano.yaml")
    model_path: Path | None = Field(None, description="ONNX weights file; None uses the verified asset named by the spec")
    onnx_threads: ThreadCount = Field(
        AUTO,
        description=(
            "ONNX Runtime intra-op threads per camera's detector: 'auto' (one per CPU core, less one, "
            f"left for capture, motion, encoding and MQTT) or a whole number from 1 to {MAX_THREADS}"
        ),
    )
    outbox_max_messages: int = Field(
        100_000, ge=100, description="Messages kept per camera while the broker is unreachable; past this the lowest priority goes first"
    )
    shutdown_flush_s: float = Field(10.0, ge=0, le=120, description="Time allowed at shutdown to deliver the outbox, seconds")
    cameras: tuple[CameraConfig, ...] = Field(min_length=1, description="Cameras this agent runs")

    @field_validator("device_id")
    @classmethod
    def _check_device_id(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,62}", value):
            raise ValueError(f"invalid device_id {value!r}: use lowercase letters, digits or '-' (for example pi-07)")
        return value

    @field_validator("onnx_threads", mode="before")
    @classmethod
    def _check_onnx_threads(cls, value: object) -> ThreadCount:
        return parse_thread_count(value)

    @field_validator("model_spec")
    @classmethod
    def _check_model_spec(cls, value: Path | None) -> Path | None:
        if value is not None and value.suffix.lower() not in (".yaml", ".yml"):
            raise ValueError(
                f"model_spec {str(value)!r} is not a YAML model spec; set model_spec to a spec such as "
                "models/yolox_nano.yaml and put the ONNX weights file in model_path"
            )
        return value

    @model_validator(mode="after")
    def _check_unique_cameras(self) -> AgentConfig:
        seen: set[str] = set()
        for camera in self.cameras:
            if camera.camera_id in seen:
                raise ValueError(f"camera_id {camera.camera_id!r} appears twice; every camera needs its own id")
            seen.add(camera.camera_id)
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment first so an operator can override one value of a deployed file.
        return env_settings, init_settings

    def outbox_dir(self) -> Path:
        return self.data_dir / "outbox"

    def media_dir(self) -> Path:
        return self.data_dir / "media"


class ConfigError(ValueError):
    """A config file that cannot be used; ``problems`` contains one line per problem."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        super().__init__(f"{path}: " + "; ".join(problems))
        self.path = path
        self.problems = problems


_FIXES: dict[str, str] = {
    "extra_forbidden": "remove this key or correct its spelling",
    "missing": "add this key",
    "string_type": "use a quoted string",
    "int_parsing": "use a whole number",
    "int_type": "use a whole number",
    "float_parsing": "use a number",
    "float_type": "use a number",
    "bool_parsing": "use true or false",
    "enum": "use one of the listed values",
    "greater_than": "raise the value",
    "greater_than_equal": "raise the value",
    "less_than": "lower the value",
    "less_than_equal": "lower the value",
    "too_short": "add entries",
    "too_long": "remove entries",
    "string_too_short": "use a longer value",
    "string_too_long": "use a shorter value",
    "string_pattern_mismatch": "use only the allowed characters",
}


def describe_errors(exc: ValidationError) -> list[str]:
    """Turn a validation error into lines of ``key.path: problem (fix)``."""
    errors = exc.errors()
    nested = {tuple(error["loc"][:-1]) for error in errors if len(error["loc"]) > 1}
    lines = []
    for error in errors:
        if error["type"] == "too_short" and any(loc[: len(error["loc"])] == tuple(error["loc"]) for loc in nested):
            # pydantic also reports a list as too short when one of its items failed.
            continue
        location = ".".join(str(item) for item in error["loc"]) or "(top level)"
        message = error["msg"].removeprefix("Value error, ")
        fix = _FIXES.get(error["type"])
        lines.append(f"{location}: {mask_urls_in_text(message)}" + (f" ({fix})" if fix else ""))
    return lines


def load_config(path: Path, overrides: dict[str, Any] | None = None) -> AgentConfig:
    """Read and validate the YAML file at ``path``; raise ConfigError listing every problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(path, [f"(file): cannot read: {exc.strerror or exc} (check the path and permissions)"]) from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "(file)"
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(path, [f"{where}: invalid YAML: {problem} (fix the indentation or quoting)"]) from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(path, [f"(top level): expected a mapping of keys, got {type(data).__name__}"])
    data.update(overrides or {})
    try:
        return AgentConfig(**data)
    except ValidationError as exc:
        raise ConfigError(path, describe_errors(exc)) from exc

