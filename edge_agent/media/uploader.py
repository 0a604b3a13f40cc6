"""Upload stored media to the hub over HTTP, retrying with exponential backoff and jitter.

Each upload is ``POST {hub}/api/v1/media/{event_id}`` with the raw bytes, the device
token as ``Authorization: Bearer``, and the kind and SHA-256 in headers. The hub keys
media by (event id, kind, SHA-256), so repeating an upload after a lost response
stores nothing twice. Pending media survive restarts because the store's markers
record which event ids the hub accepted, and the uploader rescans the store.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from edge_agent.media.config import UploadRetryConfig
from edge_agent.media.store import MediaStore, StoredMedia

log = logging.getLogger(__name__)

# Client errors that a retry cannot fix: the media is invalid for the hub.
PERMANENT_STATUS = frozenset({400, 413, 415, 422})


def backoff_delay(attempt: int, retry: UploadRetryConfig, rng: random.Random) -> float:
    """Return the wait before retry number ``attempt`` (1-based).

    The ceiling grows exponentially up to ``max_delay_s``, and the wait is drawn
    uniformly between half the ceiling and the ceiling, so agents that failed
    together (hub restart) spread their retries.
    """
    if attempt < 1:
        raise ValueError(f"attempt {attempt} must be 1 or more")
    ceiling = min(retry.max_delay_s, retry.initial_delay_s * retry.multiplier ** (attempt - 1))
    return rng.uniform(ceiling / 2, ceiling)


class UploadRejected(RuntimeError):
    """The hub rejected media permanently (bad hash, type or size)."""


@dataclass(slots=True)
class UploaderStats:
    uploaded: int = 0
    failed_attempts: int = 0
    rejected: int = 0
    bytes_sent: int = 0
    last_error: str | None = None


@dataclass(slots=True)
class _RetryState:
    attempts: int = 0
    not_before: float = 0.0


@dataclass(slots=True)
class MediaUploader:
    """Background uploader for one camera's media store."""

    store: MediaStore
    hub_url: str
    device_token: str
    retry: UploadRetryConfig = field(default_factory=UploadRetryConfig)
    client: httpx.Client | None = None
    clock: Callable[[], float] = time.monotonic
    rng: random.Random = field(default_factory=random.Random)
    stats: UploaderStats = field(default_factory=UploaderStats)
    _retry_state: dict[tuple[str, str], _RetryState] = field(default_factory=dict)
    _wake: threading.Event = field(default_factory=threading.Event)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __post_init__(self) -> None:
        if self.client is None:
            self.client = httpx.Client(timeout=self.retry.timeout_s)

    def upload_one(self, item: StoredMedia, event_id: str) -> None:
        """Send ``item`` for ``event_id`` once; raise httpx errors or UploadRejected on failure."""
        assert self.client is not None  # set in __post_init__
        body = self.store.read(item)
        response = self.client.post(
            f"{self.hub_url.rstrip('/')}/api/v1/media/{event_id}",
            content=body,
            headers={
                "Authorization": f"Bearer {self.device_token}",
                "Content-Type": item.content_type,
                "X-Camera-Id": item.camera_id,
                "X-Media-Kind": item.kind.value,
                "X-Content-SHA256": item.sha256,
            },
        )
        if response.status_code in PERMANENT_STATUS:
            raise UploadRejected(f"hub rejected {item.filename} for event {event_id}: {response.status_code} {response.text[:200]}")
        response.raise_for_status()
        self.stats.bytes_sent += len(body)

    def run_once(self) -> float | None:
        """Try every due upload once; return seconds until the next retry is due, or None if nothing waits."""
        next_due: float | None = None
        pending = self.store.pending()
        # Forget retry state of media that retention deleted or another path finished.
        live_keys = {(item.stem, event_id) for item in pending for event_id in item.events_to_upload}
        for key in [k for k in self._retry_state if k not in live_keys]:
            del self._retry_state[key]
        for item in pending:
            for event_id in item.events_to_upload:
                if self._stop.is_set():
                    return None
                key = (item.stem, event_id)
                state = self._retry_state.setdefault(key, _RetryState())
                now = self.clock()
                if now < state.not_before:
                    wait = state.not_before - now
                    next_due = wait if next_due is None else min(next_due, wait)
                    continue
                if self._attempt(item, event_id, state):
                    self._retry_state.pop(key, None)
                else:
                    wait = state.not_before - self.clock()
                    next_due = wait if next_due is None else min(next_due, wait)
        return next_due

    def _attempt(self, item: StoredMedia, event_id: str, state: _RetryState) -> bool:
        try:
            self.upload_one(item, event_id)
        except UploadRejected as exc:
            self.stats.rejected += 1
            self.stats.last_error = str(exc)
            log.error("%s; giving up on it", exc)
            self.store.mark_uploaded(item, event_id)
            return True
        except (httpx.HTTPError, OSError) as exc:
            state.attempts += 1
            delay = backoff_delay(state.attempts, self.retry, self.rng)
            state.not_before = self.clock() + delay
            self.stats.failed_attempts += 1
            self.stats.last_error = f"{type(exc).__name__}: {exc}"
            level = logging.WARNING if state.attempts == 1 else logging.DEBUG
            log.log(level, "Upload of %s for event %s failed (attempt %d, retry in %.1f s): %s",
                    item.filename, event_id, state.attempts, delay, exc)
            return False
        self.store.mark_uploaded(item, event_id)
        self.stats.uploaded += 1
        if state.attempts:
            log.warning("Upload of %s for event %s succeeded after %d failed attempts", item.filename, event_id, state.attempts)
        return True

    def wake(self) -> None:
        """Ask the thread to look for new pending media now."""
        self._wake.set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"uploader-{self.store.camera_id}", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        if self.client is not None:
            self.client.close()

    def _run(self) -> None:
        idle_poll_s = 30.0
        while not self._stop.is_set():
            try:
                wait = self.run_once()
            except OSError as exc:
                log.error("Media uploader of camera %s failed reading the store: %s", self.store.camera_id, exc)
                wait = idle_poll_s
            self._wake.wait(idle_poll_s if wait is None else max(0.05, min(wait, idle_poll_s)))
            self._wake.clear()
