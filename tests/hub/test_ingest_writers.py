"""The hub client's writer threads: batches are stored side by side but acknowledged in order."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from hub.ingest import client as client_module
from hub.ingest import wire
from hub.ingest.client import BATCH_MAX, ClientOptions, HubMqttClient
from hub.ingest.endpoint import BrokerEndpoint
from hub.ingest.processor import Incoming


class _FakeLink:
    def __init__(self) -> None:
        self.connected = threading.Event()
        self.fatal_error = None
        self.acks: list[tuple[int, list[int]]] = []

    def start(self) -> None:
        self.connected.set()

    def stop(self, timeout_s: float = 0) -> None:
        self.connected.clear()

    def ack(self, packet_ids: Sequence[int], connection: int) -> bool:
        self.acks.append((connection, list(packet_ids)))
        return True


class _SlowFirstBatch:
    """Stores the first batch slowly and fails every batch whose first payload is b"fail"."""

    def __init__(self) -> None:
        self.calls: list[int] = []
        self.lock = threading.Lock()

    def check(self, topic: str, payload: bytes) -> Incoming:
        return Incoming(topic, payload, None, True, object())

    def handle_batch(self, items: Sequence[Incoming]) -> list[None]:
        with self.lock:
            self.calls.append(len(items))
            first = len(self.calls) == 1
        if first:
            time.sleep(0.4)
        if items[0].payload == b"fail":
            raise RuntimeError("simulated storage bug")
        return [None] * len(items)

    def stop(self) -> None:
        pass


def _client() -> tuple[HubMqttClient, _FakeLink]:
    options = ClientOptions(endpoint=BrokerEndpoint("127.0.0.1", 1, tls=False), client_id="writers-test", mqtt5=True)
    client = HubMqttClient(options, _SlowFirstBatch())  # type: ignore[arg-type]
    link = _FakeLink()
    client._link = link  # type: ignore[assignment]
    return client, link


def _publishes(first_id: int, count: int, payload: bytes = b"{}") -> list[wire.Publish]:
    return [wire.Publish("metro/cam-01/event", payload, 1, first_id + n) for n in range(count)]


def test_later_batch_waits_for_the_earlier_ones_acknowledgement() -> None:
    assert client_module.WRITERS >= 2
    client, link = _client()
    client.start()
    try:
        client._on_messages(_publishes(1, BATCH_MAX), 1)
        time.sleep(0.05)  # the first writer takes the first batch and stores it slowly
        client._on_messages(_publishes(1 + BATCH_MAX, 10), 1)
        deadline = time.monotonic() + 5
        while len(link.acks) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        client.stop(timeout_s=5)
    assert [ids[0] for _connection, ids in link.acks] == [1, 1 + BATCH_MAX], "acknowledged out of arrival order"
    assert link.acks[0][1] == list(range(1, 1 + BATCH_MAX))


def test_failed_batch_not_acknowledged() -> None:
    client, link = _client()
    client.start()
    try:
        client._on_messages(_publishes(1, BATCH_MAX, b"fail"), 1)
        time.sleep(0.05)
        client._on_messages(_publishes(1 + BATCH_MAX, 5), 1)
        deadline = time.monotonic() + 5
        while not link.acks and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        client.stop(timeout_s=5)
    assert link.acks == [(1, list(range(1 + BATCH_MAX, 6 + BATCH_MAX)))]


def test_acks_follow_their_connection() -> None:
    client, link = _client()
    client.start()
    try:
        client._on_messages(_publishes(1, 3), 1)
        client._on_messages(_publishes(1, 2), 2)
        deadline = time.monotonic() + 5
        while sum(len(ids) for _c, ids in link.acks) < 5 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        client.stop(timeout_s=5)
    assert link.acks == [(1, [1, 2, 3]), (2, [1, 2])]
