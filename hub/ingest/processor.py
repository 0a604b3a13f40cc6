"""Turning one received MQTT message into stored rows, then acknowledging it.

The processor is independent of the network: ``handle`` takes topic, payload and an
``ack`` callable. A message is acknowledged only after its transaction committed, or
after it was rejected as invalid (redelivering an invalid message would never help).
A database error is retried with exponential backoff, and the message stays
unacknowledged until it is stored or the processor stops.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from hub.db import session_scope
from hub.ingest import store
from hub.ingest.rejects import BAD_TOPIC, UNKNOWN_CAMERA, WRONG_DIRECTION, RejectCounter
from metro_common.messages import (
    CommandResultMessage,
    ContractError,
    CountsMessage,
    EventMessage,
    MediaMessage,
    StatsMessage,
    StatusMessage,
    decode,
)
from metro_common.topics import TopicError, TopicKind, parse_topic

log = logging.getLogger(__name__)

RETRY_MIN_S = 0.5
RETRY_MAX_S = 30.0

StoreListener = Callable[[store.StoreResult], None]


class ProcessorStopped(RuntimeError):
    """The processor was stopped while a message was still waiting to be stored."""


class IngestProcessor:
    """Validates, stores and acknowledges messages one at a time."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        rejects: RejectCounter | None = None,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], bool] | None = None,
    ) -> None:
        self._factory = session_factory
        self.rejects = rejects or RejectCounter()
        self._clock = clock
        self._stop = threading.Event()
        # ``sleep`` returns True when woken early because the processor is stopping.
        self._sleep = sleep or self._stop.wait
        self.listeners: list[StoreListener] = []
        self.stored = 0
        self.db_failures = 0

    def stop(self) -> None:
        self._stop.set()

    def handle(self, topic: str, payload: bytes, ack: Callable[[], None]) -> store.StoreResult | None:
        """Validate, store and acknowledge one message; return what changed, None if rejected."""
        try:
            camera_id, kind = parse_topic(topic)
        except TopicError as exc:
            self.rejects.reject(BAD_TOPIC, topic, str(exc))
            ack()
            return None
        if kind is TopicKind.COMMAND:
            self.rejects.reject(WRONG_DIRECTION, topic, "command topics are published by the hub, not consumed")
            ack()
            return None
        try:
            message = decode(kind, payload, topic_camera_id=camera_id)
        except ContractError as exc:
            self.rejects.reject(exc.reason, topic, str(exc))
            ack()
            return None

        result = self._store_with_retry(topic, message)
        ack()
        if result is None:
            return None
        self.stored += 1
        for listener in self.listeners:
            try:
                listener(result)
            except Exception:  # a failing live-feed listener must not stop ingestion
                log.exception("Live update listener failed for %s", topic)
        return result

    def _store_with_retry(self, topic: str, message: object) -> store.StoreResult | None:
        delay = RETRY_MIN_S
        attempt = 0
        while True:
            attempt += 1
            try:
                with session_scope(self._factory) as session:
                    return self._store(session, message)
            except store.UnknownCamera as exc:
                self.rejects.reject(UNKNOWN_CAMERA, topic, f"camera {exc.args[0]!r} is not registered")
                return None
            except SQLAlchemyError as exc:
                self.db_failures += 1
                if attempt == 1:
                    log.warning("Storing a message from %s failed, retrying: %s", topic, exc)
                else:
                    log.debug("Retry %d for %s failed: %s", attempt, topic, exc)
                if self._sleep(delay * random.uniform(0.8, 1.2)):
                    raise ProcessorStopped(f"stopped before the message on {topic} was stored") from exc
                delay = min(delay * 2, RETRY_MAX_S)

    def _store(self, session: Session, message: object) -> store.StoreResult:
        now = self._clock()
        if isinstance(message, EventMessage):
            return store.store_event(session, message, now)
        if isinstance(message, StatusMessage):
            return store.store_status(session, message, now)
        if isinstance(message, StatsMessage):
            return store.store_stats(session, message, now)
        if isinstance(message, CountsMessage):
            return store.store_counts(session, message, now)
        if isinstance(message, MediaMessage):
            return store.store_media(session, message, now)
        if isinstance(message, CommandResultMessage):
            return store.store_command_result(session, message, now)
        raise TypeError(f"no store function for {type(message).__name__}")
