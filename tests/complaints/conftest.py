"""Fixtures of the complaint tests: test photos made with Pillow/pillow-heif and a hub app."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from typing import Any

import pillow_heif
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from hub.complaints.settings import ComplaintSettings

pillow_heif.register_heif_opener()

CENTRE = (-5.1131, 105.3067)  # Taman Merdeka, Kota Metro
ORIENTATION_TAG = 0x0112
GPS_IFD = 0x8825


def two_colour_image(width: int = 80, height: int = 40) -> Image.Image:
    """Left half red, right half blue: rotating it moves the colours to known places."""
    image = Image.new("RGB", (width, height), (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, width // 2, height))
    return image


def exif_with(orientation: int, gps: bool = True) -> Image.Exif:
    exif = Image.Exif()
    exif[ORIENTATION_TAG] = orientation
    exif[0x010F] = "TestPhone"  # Make
    if gps:
        exif[GPS_IFD] = {1: "S", 2: (5.0, 6.0, 47.0), 3: "E", 4: (105.0, 18.0, 24.0)}
    return exif


def heic_bytes(orientation: int = 6) -> bytes:
    buffer = io.BytesIO()
    two_colour_image().save(buffer, "HEIF", exif=exif_with(orientation).tobytes(), quality=90)
    return buffer.getvalue()


def jpeg_bytes(orientation: int = 6, size: tuple[int, int] = (80, 40)) -> bytes:
    buffer = io.BytesIO()
    two_colour_image(*size).save(buffer, "JPEG", exif=exif_with(orientation).tobytes(), quality=95)
    return buffer.getvalue()


def image_bytes(fmt: str, size: tuple[int, int] = (64, 48)) -> bytes:
    buffer = io.BytesIO()
    two_colour_image(*size).save(buffer, fmt)
    return buffer.getvalue()


@pytest.fixture()
def complaint_settings(tmp_path) -> ComplaintSettings:  # type: ignore[no-untyped-def]
    return ComplaintSettings(rate_per_address=1000, rate_per_device=1000)


def make_app(database_url: str, tmp_path, complaint_settings: ComplaintSettings):  # type: ignore[no-untyped-def]
    from hub.app import create_app
    from hub.migrate import upgrade
    from tests.hub.conftest import make_test_settings

    settings = make_test_settings(tmp_path, database_url=database_url)
    upgrade(database_url)
    app = create_app(settings, start_background=False)
    app.state.complaint_settings = complaint_settings
    return app


@pytest.fixture()
def app(tmp_path, complaint_settings):  # type: ignore[no-untyped-def]
    application = make_app(f"sqlite:///{tmp_path / 'hub.db'}", tmp_path, complaint_settings)
    yield application
    application.state.engine.dispose()


@pytest.fixture()
def client(app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(app) as test_client:
        yield test_client


def csrf(client: TestClient) -> str:
    from tests.hub.conftest import csrf_from

    return str(csrf_from(client, "/login"))


def report_form(**overrides: Any) -> dict[str, Any]:
    form: dict[str, Any] = {
        "classification": "pengaduan",
        "category": "jalan-rusak",
        "lat": str(CENTRE[0]),
        "lon": str(CENTRE[1]),
        "description": "Lubang besar di Jl. Ahmad Yani dekat Taman Merdeka 🚧",
        "address": "Jl. Ahmad Yani",
        "contact_name": "Siti Rahma",
        "contact_phone": "+62 812 3456 7890",
        "contact_email": "siti@example.id",
    }
    form.update(overrides)
    return form


def submit(client: TestClient, token: str, photos: list[tuple[str, bytes]] | None = None, key: str | None = None, **overrides: Any):  # type: ignore[no-untyped-def]
    headers = {"X-CSRF-Token": token, "Idempotency-Key": key or uuid.uuid4().hex}
    files = [("photos", (name, data, "application/octet-stream")) for name, data in (photos or [])]
    return client.post("/api/v1/complaints", data=report_form(**overrides), files=files or None, headers=headers)
