"""Prometheus metrics of the hub, in one registry per process.

Counters are updated by ingestion as messages arrive; gauges that describe current
state (online cameras, queue depth and lag) are computed at scrape time.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

REGISTRY = CollectorRegistry(auto_describe=True)

INGESTED = Counter(
    "metro_hub_ingest_messages_total", "Messages stored, by topic kind", ["kind"], registry=REGISTRY
)
REJECTED = Counter(
    "metro_hub_ingest_rejects_total", "Messages rejected, by reason", ["reason"], registry=REGISTRY
)
DB_RETRIES = Counter(
    "metro_hub_ingest_db_failures_total", "Database errors while storing a message (each is retried)", registry=REGISTRY
)
CAMERAS_ONLINE = Gauge("metro_hub_cameras_online", "Cameras whose effective state is online", registry=REGISTRY)
CAMERAS_TOTAL = Gauge("metro_hub_cameras_registered", "Cameras in the registry", registry=REGISTRY)
QUEUE_DEPTH = Gauge("metro_hub_ingest_queue_depth", "Received messages waiting to be stored", registry=REGISTRY)
QUEUE_LAG = Gauge(
    "metro_hub_ingest_queue_lag_seconds", "Time the last stored message waited between receipt and storing, seconds",
    registry=REGISTRY,
)
MQTT_CONNECTED = Gauge("metro_hub_mqtt_connected", "1 when the hub's MQTT connection is up", registry=REGISTRY)
SSE_CLIENTS = Gauge("metro_hub_live_subscribers", "Browsers connected to the live stream", registry=REGISTRY)
