"""One hub ingest worker as a process, built from the hub's own ingestion classes.

It reads the usual ``METRO_HUB_*`` settings (``DATABASE_URL``, ``MQTT_URL``,
``MQTT_CLIENT_ID``, ``MQTT_SHARED_GROUP``), connects, prints ``ready`` once connected
(its SUBSCRIBE is sent by then, but the SUBACK may still be on its way) and stores
messages until SIGTERM. It runs ingestion without the web app, so the
benchmarks and the shared-subscription test can start several workers cheaply.

Run: ``METRO_HUB_DATABASE_URL=... METRO_HUB_MQTT_URL=mqtt://127.0.0.1:1883 python -m benchmarks.hub_worker``
"""

from __future__ import annotations

import logging
import signal
import sys
import threading

from hub.db import make_engine, make_session_factory
from hub.ingest.client import ClientOptions, HubMqttClient
from hub.ingest.endpoint import parse_broker_url
from hub.ingest.processor import IngestProcessor
from hub.settings import HubSettings

log = logging.getLogger("benchmarks.hub_worker")


def build_client(settings: HubSettings) -> HubMqttClient:
    """Build the hub's MQTT client and processor from ``settings`` (``mqtt_url`` must be set)."""
    if not settings.mqtt_url:
        raise SystemExit("METRO_HUB_MQTT_URL is missing; a benchmark worker needs an external broker")
    password = settings.mqtt_password.get_secret_value() if settings.mqtt_password else None
    endpoint = parse_broker_url(settings.mqtt_url, settings.mqtt_username, password)
    options = ClientOptions(
        endpoint=endpoint,
        client_id=settings.mqtt_client_id,
        mqtt5=settings.mqtt_protocol == "5",
        shared_group=settings.mqtt_shared_group,
        session_expiry_s=settings.mqtt_session_expiry_s,
        keepalive_s=settings.mqtt_keepalive_s,
    )
    engine = make_engine(settings.resolved_database_url)
    return HubMqttClient(options, IngestProcessor(make_session_factory(engine)))


def main() -> int:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = HubSettings()
    client = build_client(settings)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_args: stop.set())
    signal.signal(signal.SIGINT, lambda *_args: stop.set())
    client.start()
    if not client.wait_connected(20):
        log.error("Worker %s did not connect within 20 s: %s", settings.mqtt_client_id, client.fatal_error)
        client.stop()
        return 1
    print("ready", flush=True)
    stop.wait()
    client.stop()
    processor = client.processor
    print(f"stored {processor.stored} batches {processor.batches} db_failures {processor.db_failures} "
          f"rejected {processor.rejects.counts()}",
          file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
