"""Shared fixtures: paths to the real model and footage, and the real services."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("METRO_SHARED_DIR", ROOT.parent / "shared"))
MEDIA = SHARED / "media"
MODELS = SHARED / "models"
MOSQUITTO_HOST = "127.0.0.1"
MOSQUITTO_PORT = int(os.environ.get("METRO_TEST_MOSQUITTO_PORT", "1883"))
POSTGRES_URL = os.environ.get("METRO_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def require_service(name: str, host: str, port: int) -> None:
    """Skip when a service is absent locally, but fail under CI, where it must run."""
    if _port_open(host, port):
        return
    message = f"{name} is not reachable on {host}:{port}"
    if os.environ.get("CI") == "true" or os.environ.get("METRO_REQUIRE_SERVICES") == "1":
        pytest.fail(message + " and CI requires it")
    pytest.skip(message)


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def media_dir() -> Path:
    if not MEDIA.is_dir():
        pytest.fail(f"real footage folder {MEDIA} is missing; set METRO_SHARED_DIR")
    return MEDIA


@pytest.fixture(scope="session")
def model_path() -> Path:
    path = MODELS / "yolox_nano.onnx"
    if not path.is_file():
        pytest.fail(f"model {path} is missing; set METRO_SHARED_DIR")
    return path


@pytest.fixture()
def mosquitto() -> tuple[str, int]:
    require_service("Mosquitto", MOSQUITTO_HOST, MOSQUITTO_PORT)
    return MOSQUITTO_HOST, MOSQUITTO_PORT


@pytest.fixture(scope="session")
def postgres_url() -> str:
    require_service("PostgreSQL", "127.0.0.1", 5432)
    return POSTGRES_URL
