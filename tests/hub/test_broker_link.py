"""The hub's own broker connection against a private Mosquitto: refusals, reconnects, resends."""

from __future__ import annotations

import getpass
import subprocess
import threading
import time
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from hub.ingest import wire
from hub.ingest.connection import BrokerLink, LinkSettings
from tests.conftest import free_port
from tests.e2e.stack import PrivateBroker, stop_group, wait_until


def _settings(port: int, **overrides: object) -> LinkSettings:
    values: dict[str, object] = {
        "host": "127.0.0.1", "port": port, "client_id": "hub-link-test", "version": wire.MQTT_5,
        "subscriptions": (("metro/+/event", 1),), "keepalive_s": 10,
    }
    values.update(overrides)
    return LinkSettings(**values)  # type: ignore[arg-type]


def test_ack_for_an_earlier_connection_is_not_sent() -> None:
    link = BrokerLink(_settings(1), lambda _messages, _connection: None)
    link.connection = 3
    # Packet ids restart per connection: an id of connection 2 would acknowledge another message on 3.
    assert link.ack([17], 2) is False
    assert link.ack([], 2) is True


def test_wrong_password_is_fatal_and_not_retried(tmp_path: Path) -> None:
    port = free_port()
    passwords = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(passwords), "hub", "right"], check=True, capture_output=True)
    config = tmp_path / "mosquitto.conf"
    config.write_text(f"user {getpass.getuser()}\nallow_anonymous false\npassword_file {passwords}\n"
                      f"listener {port} 127.0.0.1\n")
    broker = subprocess.Popen(["mosquitto", "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    try:
        time.sleep(0.5)
        link = BrokerLink(_settings(port, username="hub", password="wrong"), lambda _m, _c: None)
        link.start()
        wait_until(lambda: link.fatal_error is not None, 10, "the refusal to be recorded")
        assert "Not authorized" in (link.fatal_error or "") or "Bad user name" in (link.fatal_error or "")
        assert "METRO_HUB_MQTT_URL" in (link.fatal_error or "")
        assert link._thread is not None
        link._thread.join(2)
        assert not link._thread.is_alive(), "a refused login must not be retried"
        assert not link.connected.is_set()

        good = BrokerLink(_settings(port, username="hub", password="right", client_id="hub-link-good"),
                          lambda _m, _c: None)
        good.start()
        assert good.connected.wait(10), "the right password must connect"
        good.stop()
    finally:
        stop_group(broker)


def test_command_published_while_down_is_sent_after_reconnect(tmp_path: Path) -> None:
    broker = PrivateBroker(tmp_path / "broker")
    broker.start()
    received: list[tuple[str, bytes, bool]] = []
    got = threading.Event()

    def on_message(_client: paho.Client, _userdata: object, message: paho.MQTTMessage) -> None:
        received.append((message.topic, bytes(message.payload), message.retain))
        got.set()

    # The camera's side: a persistent session, so the command waits in the broker for it.
    camera = paho.Client(CallbackAPIVersion.VERSION2, client_id="cam-77-agent", protocol=paho.MQTTv311,
                         clean_session=False)
    camera.on_message = on_message
    camera.on_connect = lambda client, *_args: client.subscribe("metro/cam-77/command", qos=1)
    camera.reconnect_delay_set(1, 2)
    camera.connect("127.0.0.1", broker.port)
    camera.loop_start()
    link = BrokerLink(_settings(broker.port, client_id="hub-link-cmd"), lambda _m, _c: None)
    link.start()
    try:
        assert link.connected.wait(10)
        time.sleep(0.5)  # the camera's subscription reaches the broker and is saved
        broker.stop()
        wait_until(lambda: not link.connected.is_set(), 10, "the link to notice the broker is gone")
        assert link.publish("metro/cam-77/command", b'{"name":"snapshot"}', qos=1, expiry_s=60) is False
        broker.start()
        assert link.connected.wait(15), "the link must reconnect by itself"
        assert got.wait(15), "the command kept while the broker was down must arrive after the reconnect"
        assert received[0] == ("metro/cam-77/command", b'{"name":"snapshot"}', False)
        wait_until(lambda: not link._inflight, 10, "the broker's PUBACK to clear the kept command")
    finally:
        link.stop()
        camera.loop_stop()
        camera.disconnect()
        broker.stop()


def test_stop_during_reconnect_is_quick() -> None:
    link = BrokerLink(_settings(free_port()), lambda _m, _c: None)
    link.start()
    time.sleep(0.3)
    started = time.monotonic()
    link.stop(timeout_s=5)
    assert time.monotonic() - started < 3
    assert link._thread is not None and not link._thread.is_alive()


@pytest.mark.parametrize("version", [wire.MQTT_311, wire.MQTT_5])
def test_messages_arrive_with_their_connection_number(mosquitto: tuple[str, int], version: int) -> None:
    host, port = mosquitto
    topic = f"metro/link-{version}-{time.monotonic_ns()}/event"
    batches: list[tuple[list[wire.Publish], int]] = []
    link = BrokerLink(_settings(port, host=host, version=version, client_id=f"hub-link-{version}-{time.monotonic_ns()}",
                                subscriptions=((topic, 1),), session_expiry_s=0),
                      lambda messages, connection: batches.append((messages, connection)))
    link.start()
    try:
        assert link.connected.wait(10)
        time.sleep(0.3)  # SUBACK
        publisher = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
        publisher.connect(host, port)
        publisher.loop_start()
        for number in range(20):
            publisher.publish(topic, f"{number}".encode(), qos=1).wait_for_publish(5)
        publisher.loop_stop()
        publisher.disconnect()
        wait_until(lambda: sum(len(m) for m, _c in batches) >= 20, 10, "20 messages")
        messages = [message for chunk, _connection in batches for message in chunk]
        assert [message.payload for message in messages] == [f"{n}".encode() for n in range(20)]
        assert {connection for _chunk, connection in batches} == {link.connection}
        assert all(message.qos == 1 and message.packet_id > 0 for message in messages)
        assert link.ack([message.packet_id for message in messages], link.connection) is True
    finally:
        link.stop()


def _make_tls_files(folder: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for 127.0.0.1 and localhost."""
    ca_key, ca_cert = folder / "ca.key", folder / "ca.crt"
    key, request, cert = folder / "server.key", folder / "server.csr", folder / "server.crt"
    extensions = folder / "san.cnf"
    extensions.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(ca_key), "-out", str(ca_cert),
            "-days", "1", "-subj", "/CN=metro-test-ca")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(request), "-subj", "/CN=127.0.0.1")
    openssl("x509", "-req", "-in", str(request), "-CA", str(ca_cert), "-CAkey", str(ca_key), "-CAcreateserial",
            "-out", str(cert), "-days", "1", "-extfile", str(extensions))
    return ca_cert, cert, key


def test_tls_connection_verifies_the_broker(tmp_path: Path) -> None:
    ca_cert, cert, key = _make_tls_files(tmp_path)
    port = free_port()
    config = tmp_path / "mosquitto.conf"
    config.write_text(f"user {getpass.getuser()}\nallow_anonymous true\nlistener {port} 127.0.0.1\n"
                      f"cafile {ca_cert}\ncertfile {cert}\nkeyfile {key}\n")
    broker = subprocess.Popen(["mosquitto", "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    received: list[wire.Publish] = []
    try:
        time.sleep(0.5)
        topic = "metro/cam-tls/event"
        link = BrokerLink(_settings(port, tls=True, ca_file=str(ca_cert), client_id="hub-link-tls",
                                    subscriptions=((topic, 1),), session_expiry_s=0),
                          lambda messages, _connection: received.extend(messages))
        link.start()
        try:
            assert link.connected.wait(10), "TLS connection with the right CA must succeed"
            time.sleep(0.3)
            assert link.publish(topic, b"over tls", qos=1) is True
            wait_until(lambda: bool(received), 10, "the message sent over TLS to come back")
            assert received[0].payload == b"over tls"
        finally:
            link.stop()

        # Without the CA the broker's certificate cannot be verified: no connection, retried.
        untrusted = BrokerLink(_settings(port, tls=True, client_id="hub-link-untrusted"), lambda _m, _c: None)
        untrusted.start()
        try:
            assert not untrusted.connected.wait(2), "a broker certificate from an unknown CA must be refused"
            assert untrusted.fatal_error is None
        finally:
            untrusted.stop()
    finally:
        stop_group(broker)


def test_failing_message_callback_reconnects_and_gets_a_redelivery(mosquitto: tuple[str, int]) -> None:
    host, port = mosquitto
    topic = f"metro/link-bug-{time.monotonic_ns()}/event"
    calls: list[bytes] = []

    def on_messages(messages: list[wire.Publish], _connection: int) -> None:
        calls.extend(message.payload for message in messages)
        if len(calls) == 1:
            raise RuntimeError("simulated bug in the message handler")

    link = BrokerLink(_settings(port, host=host, client_id=f"hub-link-bug-{time.monotonic_ns()}",
                                subscriptions=((topic, 1),), session_expiry_s=60), on_messages)
    link.start()
    try:
        assert link.connected.wait(10)
        time.sleep(0.3)
        publisher = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
        publisher.connect(host, port)
        publisher.loop_start()
        publisher.publish(topic, b"only once", qos=1).wait_for_publish(5)
        publisher.loop_stop()
        publisher.disconnect()
        # The unacknowledged message comes again on the next connection (after about 1 s of backoff).
        wait_until(lambda: len(calls) >= 2, 15, "the redelivery after the handler failed")
        assert calls[:2] == [b"only once", b"only once"]
        assert link._thread is not None and link._thread.is_alive()
        assert link.connection >= 2
    finally:
        link.stop()
