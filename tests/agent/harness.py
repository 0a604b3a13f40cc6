"""Helpers for agent integration tests: a real agent process, a subscriber, a short real clip."""

from __future__ import annotations

import getpass
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import paho.mqtt.client as paho
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from metro_common.messages import ContractModel, decode
from metro_common.topics import TopicKind, parse_topic, topic

ROOT = Path(__file__).resolve().parents[2]


def unique_camera_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def make_clip(path: Path, source: Path, frames: int, start: int = 0) -> Path:
    """Copy ``frames`` frames of a real clip into a temporary MJPEG AVI, so tests stay short."""
    reader = cv2.VideoCapture(str(source))
    fps = reader.get(cv2.CAP_PROP_FPS) or 10.0
    width = int(reader.get(cv2.CAP_PROP_FRAME_WIDTH))
    height = int(reader.get(cv2.CAP_PROP_FRAME_HEIGHT))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, (width, height))
    reader.set(cv2.CAP_PROP_POS_FRAMES, start)
    for _ in range(frames):
        ok, frame = reader.read()
        if not ok:
            break
        writer.write(frame)
    writer.release()
    reader.release()
    return path


def write_config(
    directory: Path,
    cameras: list[dict[str, Any]],
    *,
    broker: tuple[str, int],
    model_path: Path,
    **agent: Any,
) -> Path:
    """Write an agent config with media clips and live view off (the media helper tests those)."""
    for camera in cameras:
        camera.setdefault("name", camera["camera_id"])
        camera.setdefault("lat", -5.11)
        camera.setdefault("lon", 105.3)
        camera.setdefault("media", {"clips_enabled": False})
        camera.setdefault("live", {"enabled": False})
    data = {
        "device_id": "pi-test",
        "mqtt": {"url": f"mqtt://{broker[0]}:{broker[1]}", "keepalive_s": 10, "reconnect_max_s": 2},
        "data_dir": str(directory / "data"),
        "stats_interval_s": 2,
        "model_path": str(model_path),
        "onnx_threads": 1,
        "shutdown_flush_s": 5,
        "cameras": cameras,
        **agent,
    }
    path = directory / "agent.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


class AgentProcess:
    """``metro-edge run`` as a child process, with its log in a file."""

    def __init__(self, config: Path, log: Path, env: dict[str, str] | None = None) -> None:
        self.log = log
        self._log_file = log.open("ab")
        environment = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "edge_agent", "--log-level", "DEBUG", "run", "--config", str(config)],
            stdout=self._log_file, stderr=subprocess.STDOUT, env=environment, cwd=ROOT,
        )

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for_log(self, needle: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if needle in self.log_text():
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"{needle!r} not in agent log within {timeout_s} s:\n{self.log_text()[-3000:]}")

    def terminate(self, timeout_s: float = 30.0) -> int:
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=timeout_s)
        self._log_file.close()
        return code

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        self._log_file.close()

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        if not self._log_file.closed:
            self._log_file.close()


@dataclass(frozen=True)
class Received:
    topic: str
    kind: TopicKind
    payload: bytes
    retain: bool

    def message(self) -> ContractModel:
        camera_id, kind = parse_topic(self.topic)
        return decode(kind, self.payload, camera_id)

    def json(self) -> Any:
        return json.loads(self.payload)


class Subscriber:
    """A paho subscriber on one camera's topics that records everything it receives."""

    def __init__(self, broker: tuple[str, int], camera_id: str, kinds: tuple[TopicKind, ...] = tuple(TopicKind)) -> None:
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"test-sub-{uuid.uuid4().hex[:8]}")
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *args: self._subscribed.set()
        self.client.connect(broker[0], broker[1])
        self.client.subscribe([(topic(camera_id, kind), 1) for kind in kinds])
        self.client.loop_start()
        if not self._subscribed.wait(5):
            raise AssertionError("subscription not acknowledged within 5 s")

    def _on_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        _, kind = parse_topic(message.topic)
        with self._lock:
            self.received.append(Received(message.topic, kind, bytes(message.payload), bool(message.retain)))

    def of_kind(self, kind: TopicKind) -> list[Received]:
        with self._lock:
            return [item for item in self.received if item.kind is kind]

    def wait_for(self, predicate: Callable[[Received], bool], timeout_s: float) -> Received:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                for item in self.received:
                    if predicate(item):
                        return item
            time.sleep(0.05)
        raise AssertionError(f"no matching message within {timeout_s} s; got {len(self.received)} messages")

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def publish(broker: tuple[str, int], topic_name: str, payload: bytes, retain: bool = False) -> None:
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"test-pub-{uuid.uuid4().hex[:8]}")
    client.connect(broker[0], broker[1])
    client.loop_start()
    info = client.publish(topic_name, payload, qos=1, retain=retain)
    info.wait_for_publish(5)
    client.loop_stop()
    client.disconnect()


def outbox_rows(data_dir: Path, camera_id: str) -> list[tuple[int, int | None, str]]:
    path = data_dir / "outbox" / f"{camera_id}.sqlite"
    if not path.exists():
        return []
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        return [(int(r[0]), r[1], str(r[2])) for r in db.execute("SELECT id, seq, topic FROM message ORDER BY id")]


def outbox_last_seq(data_dir: Path, camera_id: str) -> int:
    path = data_dir / "outbox" / f"{camera_id}.sqlite"
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        row = db.execute("SELECT value FROM meta WHERE key = 'last_seq'").fetchone()
    return -1 if row is None else int(row[0])


def wait_port(port: int, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"port {port} not listening after {timeout_s} s")


def start_mosquitto(directory: Path, port: int) -> subprocess.Popen[bytes]:
    """Start a private anonymous Mosquitto on ``port`` that keeps sessions on disk across restarts."""
    conf = directory / "mosquitto.conf"
    conf.write_text(
        # Keep the test's user: as root, Mosquitto would switch to "mosquitto", which cannot read tmp_path.
        f"user {getpass.getuser()}\nallow_anonymous true\n"
        f"persistence true\npersistence_location {directory}/\nautosave_interval 1\n"
        f"listener {port} 127.0.0.1\n"
    )
    broker = subprocess.Popen(["mosquitto", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)
    return broker
