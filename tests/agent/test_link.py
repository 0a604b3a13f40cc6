"""The MQTT link against real brokers: credentials, TLS, duplicate client ids, systemd notify."""

from __future__ import annotations

import getpass
import logging
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from edge_agent.config import MqttConfig
from edge_agent.mqtt_client import CameraLink, LinkState
from edge_agent.outbox import Outbox, Priority
from metro_common.messages import CameraState, CommandMessage, StatusMessage, utc_now
from metro_common.topics import TopicKind, topic
from tests.agent.harness import AgentProcess, Subscriber, make_clip, unique_camera_id, wait_port, write_config
from tests.conftest import free_port

pytestmark = pytest.mark.timeout(120)


def status_factory(camera_id: str):  # type: ignore[no-untyped-def]
    def make(state: str, reason: str | None) -> StatusMessage:
        return StatusMessage(camera_id=camera_id, state=CameraState(state), ts=utc_now(), clock_synced=False,
                             agent_version="test", reason=reason)

    return make


def ignore_command(command: CommandMessage) -> None:
    raise AssertionError(f"unexpected command {command}")


def wait_for_state(link: CameraLink, state: LinkState, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if link.state is state:
            return
        time.sleep(0.05)
    raise AssertionError(f"link state {link.state} is not {state} after {timeout_s} s")


@dataclass(frozen=True)
class PrivateBroker:
    port: int
    tls_port: int
    ca_file: Path
    user: str
    password_file: Path


@pytest.fixture()
def private_broker(tmp_path: Path) -> Iterator[PrivateBroker]:
    """A Mosquitto of our own with a password file and a TLS listener (self-signed certificate)."""
    key, cert = tmp_path / "server.key", tmp_path / "server.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    user = unique_camera_id("link")
    passwords = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(passwords), user, "right-password"], check=True, capture_output=True)
    port, tls_port = free_port(), free_port()
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(
        # Keep the test's user: as root, Mosquitto would switch to "mosquitto", which cannot read tmp_path.
        f"user {getpass.getuser()}\n"
        f"per_listener_settings false\nallow_anonymous false\npassword_file {passwords}\npersistence false\n"
        f"listener {port} 127.0.0.1\n"
        f"listener {tls_port} 127.0.0.1\ncertfile {cert}\nkeyfile {key}\n"
    )
    broker = subprocess.Popen(["mosquitto", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_port(port)
        wait_port(tls_port)
        secret = tmp_path / "mqtt-password"
        secret.write_text("right-password\n")
        yield PrivateBroker(port, tls_port, cert, user, secret)
    finally:
        broker.terminate()
        broker.wait(timeout=10)


def test_bad_credentials_stop_retries(
    tmp_path: Path, private_broker: PrivateBroker, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = tmp_path / "wrong"
    wrong.write_text("wrong-password\n")
    config = MqttConfig(url=f"mqtt://127.0.0.1:{private_broker.port}", password_file=wrong, reconnect_min_s=0.1, reconnect_max_s=0.2)
    outbox = Outbox(tmp_path / "outbox.sqlite")
    link = CameraLink(private_broker.user, config, outbox, status_factory(private_broker.user), ignore_command)
    with caplog.at_level(logging.ERROR, logger="edge_agent.mqtt_client"):
        link.start()
        wait_for_state(link, LinkState.REJECTED_CREDENTIALS, 10)
        time.sleep(1.0)
    assert link._thread is not None
    assert not link._thread.is_alive(), "the link keeps retrying after the broker rejected its credentials"
    assert link.connects == 0
    assert "rejected the connection" in caplog.text
    assert "wrong-password" not in caplog.text
    link.stop(0, None)


def test_tls_with_password_delivers_outbox(tmp_path: Path, private_broker: PrivateBroker) -> None:
    camera_id = private_broker.user
    config = MqttConfig(
        url=f"mqtts://127.0.0.1:{private_broker.tls_port}", password_file=private_broker.password_file,
        ca_file=private_broker.ca_file,
    )
    outbox = Outbox(tmp_path / "outbox.sqlite")
    for index in range(20):
        outbox.append(Priority.EVENT_LIFECYCLE, topic(camera_id, TopicKind.COUNTS), lambda seq, i=index: f"{i}".encode())
    received: list[bytes] = []
    watcher = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"watch-{uuid.uuid4().hex[:8]}")
    watcher.username_pw_set(camera_id, "right-password")
    watcher.on_message = lambda client, userdata, message: received.append(bytes(message.payload))
    watcher.connect("127.0.0.1", private_broker.port)
    watcher.subscribe(topic(camera_id, TopicKind.COUNTS), qos=1)
    watcher.loop_start()
    time.sleep(0.5)
    link = CameraLink(camera_id, config, outbox, status_factory(camera_id), ignore_command)
    link.start()
    try:
        wait_for_state(link, LinkState.CONNECTED, 10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and (outbox.depth() or len(received) < 20):
            time.sleep(0.05)
    finally:
        assert link.stop(5, None) is True
        watcher.loop_stop()
        watcher.disconnect()
    assert received == [f"{i}".encode() for i in range(20)]
    assert outbox.depth() == 0


def test_duplicate_client_id_stops_fighting(
    tmp_path: Path, mosquitto: tuple[str, int], caplog: pytest.LogCaptureFixture
) -> None:
    camera_id = unique_camera_id("dup")
    config = MqttConfig(url=f"mqtt://{mosquitto[0]}:{mosquitto[1]}", reconnect_min_s=0.2, reconnect_max_s=0.5)
    link = CameraLink(camera_id, config, Outbox(tmp_path / "outbox.sqlite"), status_factory(camera_id), ignore_command)
    # A second device configured with the same camera id, reconnecting whenever it is pushed off.
    rogue = paho.Client(CallbackAPIVersion.VERSION2, client_id=camera_id, protocol=MQTTProtocolVersion.MQTTv5)
    rogue.reconnect_delay_set(0.2, 0.5)
    with caplog.at_level(logging.ERROR, logger="edge_agent.mqtt_client"):
        link.start()
        wait_for_state(link, LinkState.CONNECTED, 10)
        rogue.connect(mosquitto[0], mosquitto[1])
        rogue.loop_start()
        try:
            wait_for_state(link, LinkState.DUPLICATE_CLIENT_ID, 20)
            time.sleep(1.5)
            assert rogue.is_connected(), "the link still knocks the other device off"
        finally:
            rogue.loop_stop()
            rogue.disconnect()
    assert f"client id {camera_id!r}" in caplog.text
    link.stop(0, None)


def test_systemd_notify_ready_and_watchdog(
    tmp_path: Path, mosquitto: tuple[str, int], model_path: Path, media_dir: Path
) -> None:
    clip = make_clip(tmp_path / "vtest-50.avi", media_dir / "opencv_vtest.avi", 50)
    camera_id = unique_camera_id("it-notify")
    config = write_config(tmp_path, [{"camera_id": camera_id, "source": {"kind": "file", "path": str(clip), "loop": True}}],
                          broker=mosquitto, model_path=model_path)
    notify_path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
        notify.bind(str(notify_path))
        notify.settimeout(30)
        status = Subscriber(mosquitto, camera_id, (TopicKind.STATUS,))
        agent = AgentProcess(config, tmp_path / "agent.log", env={"NOTIFY_SOCKET": str(notify_path), "WATCHDOG_USEC": "20000000"})
        datagrams: list[str] = []
        try:
            while not any("WATCHDOG=1" in d for d in datagrams):
                datagrams.append(notify.recv(4096).decode())
            assert agent.terminate() == 0
            while not any("STOPPING=1" in d for d in datagrams):
                datagrams.append(notify.recv(4096).decode())
        finally:
            agent.close()
            status.close()
    # Only the agent writes to the socket, not the tools it runs (timedatectl).
    assert datagrams[0].startswith("READY=1\nSTATUS=")
    assert camera_id in datagrams[0]
