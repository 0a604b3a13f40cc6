"""Agent config: URL masking, validation messages, environment overrides and check-config."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_agent.cli import main
from edge_agent.config import ConfigError, SourceConfig, load_config, mask_url, mask_urls_in_text

EXAMPLE = Path(__file__).resolve().parents[2] / "edge_agent" / "examples" / "cam-07.yaml"

MINIMAL = """
device_id: pi-07
cameras:
  - camera_id: cam-07
    name: Simpang
    lat: -5.11
    lon: 105.30
    source: {kind: file, path: /tmp/x.mp4}
"""


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("rtsp://admin:hunter2@10.0.0.7:554/s1", "rtsp://admin:***@10.0.0.7:554/s1"),
        ("rtsp://admin@10.0.0.7/s1", "rtsp://admin@10.0.0.7/s1"),
        ("rtsp://10.0.0.7/s1", "rtsp://10.0.0.7/s1"),
        ("http://cam/snap.cgi?user=a&password=p4ss", "http://cam/snap.cgi?user=a&password=***"),
        ("http://cam/v?token=abc&fps=5", "http://cam/v?token=***&fps=5"),
        ("rtsp://u:p%40ss@h/x", "rtsp://u:***@h/x"),
        ("rtsp://u:pa:ss@h/x", "rtsp://u:***@h/x"),
    ],
)
def test_mask_url(url: str, masked: str) -> None:
    assert mask_url(url) == masked


def test_mask_urls_in_text() -> None:
    text = "OpenCV: cannot open rtsp://admin:hunter2@10.0.0.7/s1 (timeout)"
    assert mask_urls_in_text(text) == "OpenCV: cannot open rtsp://admin:***@10.0.0.7/s1 (timeout)"
    assert "hunter2" not in mask_urls_in_text(text)


def test_source_description_masks_password() -> None:
    source = SourceConfig(kind="rtsp", url="rtsp://admin:hunter2@10.0.0.7/s1")
    assert "hunter2" not in source.describe()


def test_example_config_is_valid() -> None:
    config = load_config(EXAMPLE)
    assert config.cameras[0].camera_id == "cam-07"
    assert config.mqtt.tls is True
    assert config.mqtt.port == 8883


def test_env_overrides_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "agent.yaml"
    path.write_text(MINIMAL)
    monkeypatch.setenv("METRO_EDGE_MQTT__URL", "mqtt://broker.test:1884")
    monkeypatch.setenv("METRO_EDGE_STATS_INTERVAL_S", "12")
    config = load_config(path)
    assert config.mqtt.host == "broker.test"
    assert config.mqtt.port == 1884
    assert config.stats_interval_s == 12


def test_onnx_threads_default_auto(tmp_path: Path) -> None:
    path = tmp_path / "agent.yaml"
    path.write_text(MINIMAL)
    assert load_config(path).onnx_threads == "auto"


@pytest.mark.parametrize(("line", "expected"), [("onnx_threads: 3\n", 3), ("onnx_threads: auto\n", "auto")])
def test_onnx_threads_from_file(tmp_path: Path, line: str, expected: object) -> None:
    path = tmp_path / "agent.yaml"
    path.write_text(MINIMAL + line)
    assert load_config(path).onnx_threads == expected


def test_onnx_threads_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "agent.yaml"
    path.write_text(MINIMAL)
    monkeypatch.setenv("METRO_EDGE_ONNX_THREADS", "3")
    assert load_config(path).onnx_threads == 3


def test_password_read_from_file(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("s3cret\n")
    path = tmp_path / "agent.yaml"
    path.write_text(MINIMAL + f"mqtt: {{password_file: {secret}}}\n")
    assert load_config(path).mqtt.read_password() == "s3cret"


@pytest.mark.parametrize(
    ("patch", "expected"),
    [
        ("device_id: PI 7\n", "device_id: invalid device_id"),
        ("mqtt: {url: 'http://x'}\n", "mqtt.url: mqtt url 'http://x' must start with mqtt://"),
        ("mqtt: {url: 'mqtt://u:p@x'}\n", "mqtt.url: mqtt url must not carry credentials"),
        ("mqtt: {pasword_file: /x}\n", "mqtt.pasword_file: Extra inputs are not permitted (remove this key"),
        ("stats_interval_s: 0\n", "stats_interval_s: Input should be greater than or equal to 1 (raise the value)"),
        ("model_spec: /var/lib/metro-edge/models/yolox_nano.onnx\n", "model_spec: model_spec '/var/lib/metro-edge/models/yolox_nano.onnx' is not a YAML model spec"),
        ("onnx_threads: 0\n", "onnx_threads: invalid ONNX Runtime thread count 0: use 'auto'"),
        ("onnx_threads: many\n", "onnx_threads: invalid ONNX Runtime thread count 'many': use 'auto'"),
        ("onnx_threads: 2.5\n", "onnx_threads: invalid ONNX Runtime thread count 2.5: use 'auto'"),
    ],
)
def test_config_problems_name_key_and_fix(tmp_path: Path, patch: str, expected: str) -> None:
    path = tmp_path / "agent.yaml"
    path.write_text(MINIMAL.replace("device_id: pi-07\n", "") + ("device_id: pi-07\n" if not patch.startswith("device_id") else "") + patch)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert any(problem.startswith(expected) for problem in info.value.problems), info.value.problems


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{kind: rtsp}", "cameras.0.source: source kind rtsp needs url"),
        ("{kind: rtsp, url: 'http://u:pw@h/x'}", "cameras.0.source: source url 'http://u:***@h/x' has scheme 'http'"),
        ("{kind: file}", "cameras.0.source: source kind file needs path"),
        ("{kind: usb}", "cameras.0.source: source kind usb needs device"),
        ("{kind: webcam}", "cameras.0.source.kind: Input should be"),
    ],
)
def test_source_problems(tmp_path: Path, source: str, expected: str) -> None:
    path = tmp_path / "agent.yaml"
    path.write_text(MINIMAL.replace("{kind: file, path: /tmp/x.mp4}", source))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert any(problem.startswith(expected) for problem in info.value.problems), info.value.problems
    assert all("pw@" not in problem for problem in info.value.problems)


def test_duplicate_camera_ids_rejected(tmp_path: Path) -> None:
    path = tmp_path / "agent.yaml"
    camera = MINIMAL.split("cameras:\n")[1]
    path.write_text(MINIMAL + camera)
    with pytest.raises(ConfigError, match="cam-07' appears twice"):
        load_config(path)


def test_invalid_yaml_names_line(tmp_path: Path) -> None:
    path = tmp_path / "agent.yaml"
    path.write_text("device_id: [unclosed\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.problems[0].startswith("line ")


def test_check_config_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", str(EXAMPLE)]) == 0
    assert "valid (1 camera(s): cam-07)" in capsys.readouterr().out

    bad = tmp_path / "bad.yaml"
    bad.write_text("device_id: pi-07\nmqtt: {url: 'ftp://x'}\ncolour: red\ncameras: []\n")
    assert main(["check-config", str(bad)]) == 1
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3
    assert any("colour: Extra inputs are not permitted" in line for line in lines)
    assert any("mqtt.url:" in line for line in lines)
    assert any(line.startswith(f"{bad}: cameras:") for line in lines)


def test_check_config_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", str(tmp_path / "absent.yaml")]) == 1
    assert "cannot read" in capsys.readouterr().out
