"""Start and stop of the embedded broker and MQTT ingestion with the hub app.

``start_ingestion`` is registered in ``hub.app.START_HOOKS``. Without
METRO_HUB_MQTT_URL it first starts the embedded amqtt broker on
127.0.0.1:METRO_HUB_BROKER_PORT and connects to it over MQTT 3.1.1.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from fastapi import FastAPI
from sqlalchemy import delete, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from hub import metrics
from hub.auth.sessions import purge_expired
from hub.cameras.status import effective_state
from hub.db import session_scope
from hub.event_retention import purge_expired_events
from hub.ingest.broker import EmbeddedBroker
from hub.ingest.client import ClientOptions, HubMqttClient
from hub.ingest.endpoint import BrokerEndpoint, parse_broker_url
from hub.ingest.processor import IngestProcessor
from hub.ingest.rejects import RejectCounter
from hub.ingest.store import StoreResult
from hub.live import LiveBroadcaster
from hub.models import Camera, CameraHealthSample
from hub.settings import HubSettings
from metro_common.messages import CommandMessage, encode
from metro_common.topics import TopicKind, topic

log = logging.getLogger(__name__)

# How often the heartbeat timeout is checked to announce cameras that went silent, seconds.
WATCHDOG_INTERVAL_S = 5.0


def client_options(settings: HubSettings, embedded_port: int | None) -> ClientOptions:
    """Derive the MQTT client options from the settings (and the embedded broker's port)."""
    if embedded_port is not None:
        endpoint = BrokerEndpoint("127.0.0.1", embedded_port, tls=False)
        mqtt5 = False
    else:
        password = settings.mqtt_password.get_secret_value() if settings.mqtt_password else None
        endpoint = parse_broker_url(settings.mqtt_url or "", settings.mqtt_username, password)
        mqtt5 = settings.mqtt_protocol == "5"
    return ClientOptions(
        endpoint=endpoint,
        client_id=settings.mqtt_client_id,
        mqtt5=mqtt5,
        shared_group=settings.mqtt_shared_group,
        session_expiry_s=settings.mqtt_session_expiry_s,
        keepalive_s=settings.mqtt_keepalive_s,
        ca_file=str(settings.mqtt_ca_file) if settings.mqtt_ca_file else None,
    )


def live_listener(live: LiveBroadcaster) -> Callable[[StoreResult], None]:
    """Forward stored changes to the metrics and, if they changed something, to browsers."""

    def _on_stored(result: StoreResult) -> None:
        metrics.INGESTED.labels(kind=result.kind).inc()
        if result.changed and live.subscriber_count:
            live.publish_threadsafe(result.kind, {"camera_id": result.camera_id, **result.detail})

    return _on_stored


async def _watch_heartbeats(app: FastAPI, settings: HubSettings) -> None:
    """Announce cameras whose effective state changed because their heartbeats stopped.

    The same loop runs ``housekeeping`` and the event retention about once an hour.
    """
    last: dict[str, str] = {}
    rounds = 0
    while True:
        now = datetime.now(UTC)
        try:
            states = await asyncio.to_thread(_effective_states, app, settings, now)
            if rounds % int(3600 / WATCHDOG_INTERVAL_S) == 0:
                await asyncio.to_thread(housekeeping, app.state.session_factory, now, settings.health_retention_days)
                await asyncio.to_thread(
                    purge_expired_events, app.state.session_factory, settings.media_dir, now, settings.event_retention_days
                )
        except SQLAlchemyError as exc:
            log.warning("Heartbeat check failed, retrying in %.0f s: %s", WATCHDOG_INTERVAL_S, exc)
            states = last
        for camera_id, state in states.items():
            if camera_id in last and last[camera_id] != state:
                app.state.live.publish("status", {"camera_id": camera_id, "state": state})
        last = states
        rounds += 1
        await asyncio.sleep(WATCHDOG_INTERVAL_S)


def housekeeping(factory: sessionmaker[Session], now: datetime, health_retention_days: int) -> tuple[int, int]:
    """Delete expired login sessions and old health samples; return how many of each."""
    with session_scope(factory) as session:
        sessions_removed = purge_expired(session, now)
    cutoff = now - timedelta(days=health_retention_days)
    samples_removed = 0
    with session_scope(factory) as session:
        # One delete per camera, so each walks the (camera_id, ts) index.
        for camera_id in session.scalars(select(Camera.id)):
            result = session.execute(
                delete(CameraHealthSample).where(CameraHealthSample.camera_id == camera_id, CameraHealthSample.ts < cutoff)
            )
            samples_removed += int(getattr(result, "rowcount", 0) or 0)
    if sessions_removed or samples_removed:
        log.info("Deleted %d expired login sessions and %d health samples older than %s", sessions_removed, samples_removed, cutoff)
    return sessions_removed, samples_removed


def _effective_states(app: FastAPI, settings: HubSettings, now: datetime) -> dict[str, str]:
    with app.state.session_factory() as session:
        rows = session.execute(select(Camera.id, Camera.state, Camera.last_seen_at)).all()
    return {row.id: effective_state(row.state, row.last_seen_at, now, settings.heartbeat_timeout_s) for row in rows}


def publish_command_message(client: HubMqttClient, message: CommandMessage, now: datetime) -> bool:
    """Publish a command, QoS 1 and never retained, with an MQTT 5 expiry matching ``expires_at``.

    Returns False when the connection is down. NOTE: the client still keeps such a
    QoS 1 message and sends it after reconnecting; the agent then drops it if
    ``expires_at`` has passed.
    """
    ttl_s = max(1, int((message.expires_at - now).total_seconds()))
    return client.publish(topic(message.camera_id, TopicKind.COMMAND), encode(message), qos=1, expiry_s=ttl_s)


async def start_ingestion(app: FastAPI) -> Callable[[], Awaitable[None]]:
    """Start broker (if embedded), MQTT client and heartbeat watchdog; return their stop."""
    settings: HubSettings = app.state.settings
    live: LiveBroadcaster = app.state.live
    live.bind_loop(asyncio.get_running_loop())

    broker: EmbeddedBroker | None = None
    if not settings.mqtt_url:
        broker = EmbeddedBroker(settings.broker_port)
        await broker.start()
        app.state.embedded_broker_port = broker.port

    rejects = RejectCounter()
    rejects.listeners.append(lambda reason, _topic: metrics.REJECTED.labels(reason=reason).inc())
    processor = IngestProcessor(app.state.session_factory, rejects)
    processor.listeners.append(live_listener(live))
    client = HubMqttClient(client_options(settings, broker.port if broker else None), processor)
    client.start()
    app.state.mqtt = client
    app.state.ingest = processor

    async def command_publisher(message: CommandMessage) -> None:
        # Used by the media package for live_start / live_stop.
        publish_command_message(client, message, datetime.now(UTC))

    app.state.command_publisher = command_publisher
    watchdog = asyncio.create_task(_watch_heartbeats(app, settings), name="metro-heartbeat-watchdog")

    async def stop() -> None:
        watchdog.cancel()
        await asyncio.to_thread(client.stop)
        app.state.mqtt = None
        app.state.command_publisher = None
        if broker is not None:
            await broker.stop()

    return stop
