"""Adding, changing and importing cameras in the registry."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.orm import Session

from hub.auth.devices import issue_device_token, set_device_token
from hub.models import Camera
from metro_common.topics import CAMERA_ID_PATTERN

SOURCE_KINDS = ("file", "rtsp", "http", "usb", "picamera2")


class CameraCreate(BaseModel):
    """A new CCTV point."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=CAMERA_ID_PATTERN, description="Camera id used in MQTT topics, e.g. cam-07")
    name: str = Field(min_length=1, max_length=200, description="Name shown to operators")
    lat: float = Field(ge=-90, le=90, description="Latitude, WGS84 degrees")
    lon: float = Field(ge=-180, le=180, description="Longitude, WGS84 degrees")
    address: str = Field("", max_length=300, description="Street address or landmark")
    source_kind: str = Field("rtsp", pattern="^(file|rtsp|http|usb|picamera2)$", description="Frame source of the agent")


class CameraImport(CameraCreate):
    """An entry of a camera file; ``device_token`` lets a deployment tool choose the token."""

    device_token: str | None = Field(None, min_length=32, max_length=200, description="Token the agent will use; omitted means generate one")


class CameraUpdate(BaseModel):
    """Changes to a camera's registry data; omitted fields stay as they are."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=200)
    lat: float | None = Field(None, ge=-90, le=90)
    lon: float | None = Field(None, ge=-180, le=180)
    address: str | None = Field(None, max_length=300)
    source_kind: str | None = Field(None, pattern="^(file|rtsp|http|usb|picamera2)$")


class RegistryError(ValueError):
    """A registry change that cannot be made, with a message naming the value and the fix."""


def create_camera(session: Session, data: CameraCreate, now: datetime) -> tuple[Camera, str]:
    """Add a camera and return it with its new device token (shown once, stored hashed)."""
    if session.get(Camera, data.id) is not None:
        raise RegistryError(f"camera {data.id!r} already exists; change it with an update instead")
    camera = Camera(
        id=data.id, name=data.name, lat=data.lat, lon=data.lon, address=data.address,
        source_kind=data.source_kind, created_at=now, updated_at=now, state="unknown",
    )
    session.add(camera)
    session.flush()
    token = issue_device_token(session, camera.id)
    return camera, token


def update_camera(session: Session, camera: Camera, data: CameraUpdate, now: datetime) -> Camera:
    for field_name, value in data.model_dump(exclude_unset=True, exclude_none=True).items():
        setattr(camera, field_name, value)
    camera.updated_at = now
    session.flush()
    return camera


def load_camera_file(path: Path) -> list[CameraImport]:
    """Read a YAML list of cameras (or ``{cameras: [...]}``); raise RegistryError naming the bad entry."""
    try:
        document: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise RegistryError(f"cannot read camera file {path}: {exc}") from exc
    if isinstance(document, dict) and "cameras" in document:
        document = document["cameras"]
    if not isinstance(document, list):
        raise RegistryError(f"camera file {path} must contain a list of cameras (or a 'cameras:' key with a list)")
    cameras = []
    for index, entry in enumerate(document):
        try:
            cameras.append(CameraImport.model_validate(entry))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            raise RegistryError(f"camera #{index + 1} in {path}: {where}: {first['msg']}") from exc
    return cameras


def import_cameras(session: Session, cameras: list[CameraImport], now: datetime) -> list[tuple[str, str | None]]:
    """Add new cameras and update existing ones; return (id, generated token or None).

    A ``device_token`` in the file is stored for new and existing cameras alike, so a
    second import with the same file changes nothing. Without one, only a new camera
    gets a generated token, and that token is returned once.
    """
    results: list[tuple[str, str | None]] = []
    for data in cameras:
        fields = data.model_dump(exclude={"device_token"})
        existing = session.get(Camera, data.id)
        generated: str | None = None
        if existing is None:
            _, generated = create_camera(session, CameraCreate(**fields), now)
        else:
            update_camera(session, existing, CameraUpdate(**{k: v for k, v in fields.items() if k != "id"}), now)
        if data.device_token:
            set_device_token(session, data.id, data.device_token)
            generated = None
        results.append((data.id, generated))
    return results
