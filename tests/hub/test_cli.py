"""metro-hub commands: create-user from stdin, camera add and import."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from sqlalchemy import select

from hub.auth.devices import verify_device_token
from hub.cli import main
from hub.db import make_engine, make_session_factory
from hub.models import Camera, User


@pytest.fixture()
def hub_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("METRO_HUB_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("METRO_HUB_DATABASE_URL", raising=False)
    return tmp_path


def _session(data_dir: Path):  # type: ignore[no-untyped-def]
    return make_session_factory(make_engine(f"sqlite:///{data_dir / 'hub.db'}"))()


def test_create_user_reads_stdin(hub_env: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
    assert main(["create-user", "sari", "--role", "operator"]) == 0
    with _session(hub_env) as session:
        user = session.scalar(select(User).where(User.username == "sari"))
        assert user is not None and user.role == "operator"
        assert "a long enough password" not in user.password_hash


def test_create_user_short_password(hub_env: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["create-user", "sari", "--role", "viewer"]) == 1
    assert "use at least 10" in capsys.readouterr().err


def test_camera_add_prints_token(hub_env: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["camera", "add", "cam-09", "--name", "Taman Merdeka", "--lat", "-5.11", "--lon", "105.30"]) == 0
    token = capsys.readouterr().out.strip()
    with _session(hub_env) as session:
        assert verify_device_token(session, "cam-09", token)
    assert main(["camera", "add", "cam-09", "--name", "Again", "--lat", "0", "--lon", "0"]) == 1
    assert "already exists" in capsys.readouterr().err


def test_camera_import_is_idempotent(hub_env: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    chosen = "t" * 40
    path = hub_env / "cameras.yml"
    path.write_text(
        "cameras:\n"
        "  - {id: cam-01, name: Tugu, lat: -5.11, lon: 105.30, device_token: " + chosen + "}\n"
        "  - {id: cam-02, name: Pasar, lat: -5.12, lon: 105.31, source_kind: file}\n"
    )
    assert main(["camera", "import", str(path)]) == 0
    first = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert first[0] == {"id": "cam-01", "device_token": None}
    assert first[1]["device_token"]
    assert main(["camera", "import", str(path)]) == 0
    second = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert second == [{"id": "cam-01", "device_token": None}, {"id": "cam-02", "device_token": None}]
    with _session(hub_env) as session:
        assert verify_device_token(session, "cam-01", chosen)
        assert verify_device_token(session, "cam-02", first[1]["device_token"])
        assert session.get(Camera, "cam-02").source_kind == "file"  # type: ignore[union-attr]


def test_camera_import_names_bad_entry(hub_env: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    path = hub_env / "bad.yml"
    path.write_text("- {id: cam-01, name: A, lat: 0, lon: 0}\n- {id: cam-02, name: B, lat: 123, lon: 0}\n")
    assert main(["camera", "import", str(path)]) == 1
    assert "camera #2" in capsys.readouterr().err
