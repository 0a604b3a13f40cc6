"""Asset fetch: copies from an offline folder only files whose SHA-256 matches the manifest."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from edge_agent.cli import main
from metro_common.assets import load_manifest, sha256_of
from tests.conftest import SHARED


def fetch(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["assets", "fetch", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_manifest_entries_complete() -> None:
    assets = load_manifest()
    assert {"yolox_nano.onnx", "opencv_vtest.avi", "intel_car-detection.mp4"} <= {a.file for a in assets}
    for asset in assets:
        assert len(asset.sha256) == 64
        assert asset.source_url.startswith("https://")
        assert asset.licence


def test_fetch_copies_verified_file(capsys: pytest.CaptureFixture[str], tmp_path: Path, media_dir: Path) -> None:
    code, out, _ = fetch(capsys, "--from", str(SHARED), "--dest", str(tmp_path), "darknet_dog.jpg")
    assert code == 0
    assert sha256_of(tmp_path / "darknet_dog.jpg") == sha256_of(media_dir / "darknet_dog.jpg")
    assert "ok" in out


def test_fetch_rejects_hash_mismatch(capsys: pytest.CaptureFixture[str], tmp_path: Path, media_dir: Path) -> None:
    offline = tmp_path / "offline"
    offline.mkdir()
    corrupt = offline / "darknet_dog.jpg"
    shutil.copyfile(media_dir / "darknet_dog.jpg", corrupt)
    with corrupt.open("r+b") as handle:
        handle.seek(1000)
        handle.write(b"\x00\x01\x02")
    dest = tmp_path / "dest"
    code, _, err = fetch(capsys, "--from", str(offline), "--dest", str(dest), "darknet_dog.jpg")
    assert code == 1
    assert "sha256 mismatch" in err
    assert "not used" in err
    assert not (dest / "darknet_dog.jpg").exists(), "a file with the wrong hash must not be placed"
    assert list(dest.iterdir()) == [], "no temporary file may be left behind"


def test_fetch_missing_file_named(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = fetch(capsys, "--from", str(empty), "--dest", str(tmp_path / "dest"), "yolox_nano.onnx")
    assert code == 1
    assert "yolox_nano.onnx: not found in" in err
    assert "without --from" in err


def test_fetch_missing_folder_named(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = fetch(capsys, "--from", str(tmp_path / "nope"), "--dest", str(tmp_path / "dest"))
    assert code == 1
    assert f"offline folder {tmp_path / 'nope'} does not exist" in err


def test_fetch_replaces_corrupt_existing_copy(capsys: pytest.CaptureFixture[str], tmp_path: Path, media_dir: Path) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "darknet_dog.jpg").write_bytes(b"truncated download")
    code, _, _ = fetch(capsys, "--from", str(SHARED), "--dest", str(dest), "darknet_dog.jpg")
    assert code == 0
    assert sha256_of(dest / "darknet_dog.jpg") == sha256_of(media_dir / "darknet_dog.jpg")
