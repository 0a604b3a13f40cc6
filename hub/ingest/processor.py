"""Turning received MQTT messages into stored rows, then acknowledging them.

The processor is independent of the network: ``handle_batch`` takes messages with an
``ack`` callable each and stores the valid ones in one transaction. Every message of
the batch is acknowledged, in arrival order, only after that transaction committed.
An invalid message is counted as rejected and acknowledged with the batch, because
redelivering it would never help. A database error rolls the whole batch back and is retried with
exponential backoff, and the batch stays unacknowledged until it is stored or the
processor stops.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import groupby
from typing import cast

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
# Immediate retries of a batch that lost an insert race to another writer, before backing off.
RACE_RETRIES = 5
TOPIC_CACHE_MAX = 10_000

StoreListener = Callable[[store.StoreResult], None]


class ProcessorStopped(RuntimeError):
    """The processor was stopped while a message was still waiting to be stored."""


# Not frozen: a frozen dataclass sets every field through object.__setattr__, a cost paid per message.
@dataclass(slots=True)
class Incoming:
    """One received message and, optionally, the callable that acknowledges it to the broker.

    Without ``ack`` the caller acknowledges the batch itself once ``handle_batch`` returns.
    ``checked`` is True when ``IngestProcessor.check`` already decoded it into ``message``
    (None if it was rejected).
    """

    topic: str
    payload: bytes
    ack: Callable[[], None] | None = None
    checked: bool = False
    message: object | None = None


class IngestProcessor:
    """Validates messages, stores a batch of them in one transaction, then acknowledges them."""

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
        # Counters; several writer threads may store batches at once.
        self._counters = threading.Lock()
        self.stored = 0
        self.db_failures = 0
        self.batches = 0
        self.insert_races = 0
        # When this processor last set each camera's last_seen_at, for ``store.store_events``.
        self._cameras_written: dict[str, datetime] = {}
        # Parsed valid topics; a fleet publishes on a few per camera, so parsing each once is enough.
        self._topics: dict[str, tuple[str, TopicKind]] = {}

    def stop(self) -> None:
        self._stop.set()

    def handle(self, topic: str, payload: bytes, ack: Callable[[], None]) -> store.StoreResult | None:
        """Validate, store and acknowledge one message; return what changed, None if rejected."""
        return self.handle_batch([Incoming(topic, payload, ack)])[0]

    def handle_batch(self, items: Sequence[Incoming]) -> list[store.StoreResult | None]:
        """Validate, store in one transaction, then acknowledge ``items`` in arrival order.

        Returns one result per item, None for a rejected message. Raises
        ``ProcessorStopped``, with nothing acknowledged, when stopped during a retry.
        """
        messages = [item.message if item.checked else self._validate(item.topic, item.payload) for item in items]
        valid = [(item.topic, message) for item, message in zip(items, messages, strict=True) if message is not None]
        stored = iter(self._store_with_retry(valid) if valid else [])
        for item in items:
            if item.ack is not None:
                item.ack()
        results = [next(stored) if message is not None else None for message in messages]
        for item, message, result in zip(items, messages, results, strict=True):
            if message is not None and result is None:
                camera_id = getattr(message, "camera_id", "?")
                self.rejects.reject(UNKNOWN_CAMERA, item.topic, f"camera {camera_id!r} is not registered")
            elif result is not None:
                self._notify(item.topic, result)
        with self._counters:
            self.stored += sum(1 for result in results if result is not None)
            self.batches += 1
        return results

    def check(self, topic: str, payload: bytes) -> Incoming:
        """Decode a message ahead of ``handle_batch``, on any thread; a reject is counted now.

        The MQTT client calls this on its reading thread, so decoding overlaps with the
        writer's wait for the database instead of adding to it.
        """
        return Incoming(topic, payload, None, True, self._validate(topic, payload))

    def _validate(self, topic: str, payload: bytes) -> object | None:
        """Decode a message, or count it as rejected and return None."""
        parsed = self._topics.get(topic)
        if parsed is None:
            try:
                parsed = parse_topic(topic)
            except TopicError as exc:
                self.rejects.reject(BAD_TOPIC, topic, str(exc))
                return None
            if len(self._topics) >= TOPIC_CACHE_MAX:
                self._topics.clear()
            self._topics[topic] = parsed
        camera_id, kind = parsed
        if kind is TopicKind.COMMAND:
            self.rejects.reject(WRONG_DIRECTION, topic, "command topics are published by the hub, not consumed")
            return None
        try:
            return decode(kind, payload, topic_camera_id=camera_id)
        except ContractError as exc:
            self.rejects.reject(exc.reason, topic, str(exc))
            return None

    def _notify(self, topic: str, result: store.StoreResult) -> None:
        for listener in self.listeners:
            try:
                listener(result)
            except Exception:  # a failing live-feed listener must not stop ingestion
                log.exception("Live update listener failed for %s", topic)

    def _store_with_retry(self, batch: list[tuple[str, object]]) -> list[store.StoreResult | None]:
        delay = RETRY_MIN_S
        attempt = 0
        races = 0
        first_topic = batch[0][0]
        while True:
            attempt += 1
            try:
                with session_scope(self._factory) as session:
                    return self._store_batch(session, [message for _topic, message in batch])
            except BaseException as exc:
                self._cameras_written.clear()  # the rolled-back batch's camera writes did not happen
                if not isinstance(exc, SQLAlchemyError):
                    raise
                failure = exc

            if isinstance(failure, store.ConcurrentInsert):
                # Another writer committed a row this batch took for new, and reading again finds it.
                # Nothing is wrong with the database, so there is no reason to wait.
                races += 1
                with self._counters:
                    self.insert_races += 1
                if races <= RACE_RETRIES:
                    log.debug("Batch of %d messages raced another writer, storing again: %s", len(batch), failure)
                    continue
                log.warning("Storing %d messages (first from %s) raced other writers %d times; backing off",
                            len(batch), first_topic, races)
                races = 0
            elif attempt == 1:
                log.warning("Storing %d messages (first from %s) failed, retrying: %s", len(batch), first_topic, failure)
            else:
                log.debug("Retry %d of %d messages failed: %s", attempt, len(batch), failure)

            self._count_failure()
            if self._sleep(delay * random.uniform(0.8, 1.2)):
                raise ProcessorStopped(f"stopped before {len(batch)} messages from {first_topic} were stored") from failure
            delay = min(delay * 2, RETRY_MAX_S)

    def _count_failure(self) -> None:
        with self._counters:
            self.db_failures += 1

    def _store_batch(self, session: Session, messages: list[object]) -> list[store.StoreResult | None]:
        """Store messages in arrival order; consecutive event messages go through one bulk fold."""
        results: list[store.StoreResult | None] = []
        for is_event, run in groupby(messages, key=lambda message: isinstance(message, EventMessage)):
            group = list(run)
            if is_event and len(group) > 1:
                results.extend(store.store_events(session, cast(list[EventMessage], group), self._clock(),
                                                  self._cameras_written))
                continue
            for message in group:
                try:
                    results.append(self._store(session, message))
                except store.UnknownCamera:
                    results.append(None)  # raised before the store function wrote anything
        return results

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
