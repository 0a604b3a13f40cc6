"""On-demand live view pushed from the agent to the hub; the agent opens no port.

The hub sends ``live_start`` with a lease while someone watches and renews it before
it lapses. While the lease holds, the pusher thread takes the newest frame, masks it,
downscales it, encodes it as JPEG and POSTs it to ``{hub}/api/v1/live/{camera}/frames``
over one keep-alive connection, within the configured fps and kbit/s caps. When the
lease expires without renewal, or on ``live_stop``, it stops sending, so the uplink
carries nothing while nobody watches.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import httpx

from edge_agent.media.clips import Frame, fit_size, resize_to
from edge_agent.media.config import LiveConfig
from edge_agent.media.privacy import PrivacyMasker
from edge_agent.media.snapshot import encode_jpeg

log = logging.getLogger(__name__)

MAX_LEASE_S = 600.0


def lease_seconds(issued_at: datetime, expires_at: datetime, args: dict[str, str | int | float | bool], default_s: float) -> float:
    """Return the lease length of a live_start command, in seconds, within (0, 600].

    The length comes from the hub's own two timestamps (or an explicit ``lease_s``
    argument), never from comparing the hub's clock with the agent's: a Pi without an
    RTC can run on a wrong clock until NTP syncs.
    """
    raw = args.get("lease_s")
    if isinstance(raw, int | float) and not isinstance(raw, bool) and raw > 0:
        seconds = float(raw)
    else:
        seconds = (expires_at - issued_at).total_seconds()
        if seconds <= 0:
            seconds = default_s
    return min(seconds, MAX_LEASE_S)


class LiveLease:
    """Lease state in monotonic seconds: active until ``expires_mono`` unless stopped."""

    def __init__(self) -> None:
        self.expires_mono: float | None = None

    def grant(self, now_mono: float, seconds: float) -> None:
        """Start or renew the lease for ``seconds`` from ``now_mono``."""
        if seconds <= 0:
            raise ValueError(f"lease of {seconds} s must be positive")
        self.expires_mono = now_mono + seconds

    def revoke(self) -> None:
        self.expires_mono = None

    def active(self, now_mono: float) -> bool:
        return self.expires_mono is not None and now_mono < self.expires_mono


class RateCap:
    """Frame-rate and bit-rate cap: a minimum gap between frames and a token bucket of bits."""

    def __init__(self, max_fps: float, max_kbit_s: float, burst_s: float = 1.0) -> None:
        if max_fps <= 0 or max_kbit_s <= 0:
            raise ValueError(f"max_fps {max_fps} and max_kbit_s {max_kbit_s} must be positive")
        self.min_gap_s = 1.0 / max_fps
        self.bits_per_s = max_kbit_s * 1000.0
        self.capacity_bits = self.bits_per_s * burst_s
        self._tokens = self.capacity_bits
        self._last_refill: float | None = None
        self._last_sent: float | None = None
        self._refilled_at: float | None = None

    def due(self, now_mono: float) -> bool:
        """Tell whether both caps allow a frame at ``now_mono``."""
        return self.wait_s(now_mono) == 0.0

    def wait_s(self, now_mono: float) -> float:
        """Return how long until the next frame may be encoded.

        After a frame was skipped for the bit rate, this includes the time the bucket
        needs to refill, so the sender does not encode frames only to skip them.
        """
        wait = 0.0
        if self._last_sent is not None:
            wait = self._last_sent + self.min_gap_s - now_mono
        if self._refilled_at is not None:
            wait = max(wait, self._refilled_at - now_mono)
        return max(0.0, wait)

    def try_send(self, now_mono: float, size_bytes: int) -> bool:
        """Spend tokens for a frame of ``size_bytes``; False means skip it to stay under the bit rate."""
        if self._last_refill is not None:
            self._tokens = min(self.capacity_bits, self._tokens + (now_mono - self._last_refill) * self.bits_per_s)
        self._last_refill = now_mono
        bits = size_bytes * 8.0
        if bits > self._tokens:
            # Wait until a frame of this size would fit, assuming the next one is similar.
            self._refilled_at = now_mono + (min(bits, self.capacity_bits) - self._tokens) / self.bits_per_s
            return False
        self._tokens -= bits
        self._last_sent = now_mono
        self._refilled_at = None
        return True


@dataclass(slots=True)
class LiveStats:
    frames_sent: int = 0
    frames_skipped_for_rate: int = 0
    bytes_sent: int = 0
    errors: int = 0


class LivePusher:
    """Push masked, capped JPEG frames of one camera to the hub while a lease holds."""

    def __init__(
        self,
        camera_id: str,
        hub_url: str,
        device_token: str,
        config: LiveConfig,
        masker: PrivacyMasker,
        *,
        client: httpx.Client | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.camera_id = camera_id
        self.url = f"{hub_url.rstrip('/')}/api/v1/live/{camera_id}/frames"
        self.device_token = device_token
        self.config = config
        self.masker = masker
        self.stats = LiveStats()
        self._client = client or httpx.Client(timeout=config.request_timeout_s)
        self._clock = clock
        self._wall_clock = wall_clock
        self._lease = LiveLease()
        self._rate = RateCap(config.max_fps, config.max_kbit_s)
        self._cond = threading.Condition()
        self._latest: tuple[Frame, float] | None = None
        self._stopping = False
        self._thread: threading.Thread | None = None

    @property
    def active(self) -> bool:
        return self._lease.active(self._clock())

    def start_lease(self, seconds: float) -> None:
        """Start or renew live view for ``seconds`` (the live_start command)."""
        if not self.config.enabled:
            raise PermissionError(f"live view is disabled for camera {self.camera_id}")
        with self._cond:
            was_active = self._lease.active(self._clock())
            self._lease.grant(self._clock(), seconds)
            self._cond.notify()
        if not was_active:
            log.info("Live view of camera %s started (lease %.0f s)", self.camera_id, seconds)

    def stop_lease(self) -> None:
        """Stop live view now (the live_stop command)."""
        with self._cond:
            was_active = self._lease.active(self._clock())
            self._lease.revoke()
            self._latest = None
        if was_active:
            log.info("Live view of camera %s stopped by the hub", self.camera_id)

    def offer_frame(self, frame: Frame, captured_wall_s: float | None = None) -> None:
        """Offer the newest frame; costs nothing while no lease is active. Do not modify ``frame`` afterwards."""
        if not self._lease.active(self._clock()):
            return
        with self._cond:
            self._latest = (frame, captured_wall_s if captured_wall_s is not None else self._wall_clock())
            self._cond.notify()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"live-{self.camera_id}", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(timeout_s)
        self._client.close()

    def _next_frame(self) -> tuple[Frame, float] | None:
        with self._cond:
            while not self._stopping:
                now = self._clock()
                if not self._lease.active(now):
                    if self._lease.expires_mono is not None:
                        log.info("Live view lease of camera %s expired", self.camera_id)
                        self._lease.revoke()
                    self._latest = None
                    self._cond.wait(1.0)
                    continue
                wait = self._rate.wait_s(now)
                if self._latest is None or wait > 0:
                    remaining = (self._lease.expires_mono or now) - now
                    self._cond.wait(min(max(wait, 0.01), remaining, 1.0))
                    continue
                latest, self._latest = self._latest, None
                return latest
        return None

    def _run(self) -> None:
        while (taken := self._next_frame()) is not None:
            frame, captured_wall_s = taken
            try:
                self._push(frame, captured_wall_s)
            except httpx.HTTPError as exc:
                self.stats.errors += 1
                if self.stats.errors in (1, 10) or self.stats.errors % 100 == 0:
                    log.warning("Live frame push of camera %s failed (%d errors so far): %s", self.camera_id, self.stats.errors, exc)
                time.sleep(0.5)

    def _push(self, frame: Frame, captured_wall_s: float) -> None:
        masked = self.masker.apply(frame)
        small = resize_to(masked, fit_size(masked.shape[1], masked.shape[0], self.config.max_width))
        jpeg = encode_jpeg(small, self.config.jpeg_quality)
        if not self._rate.try_send(self._clock(), len(jpeg)):
            self.stats.frames_skipped_for_rate += 1
            return
        response = self._client.post(
            self.url,
            content=jpeg,
            headers={
                "Authorization": f"Bearer {self.device_token}",
                "Content-Type": "image/jpeg",
                "X-Captured-At": f"{captured_wall_s:.6f}",
            },
        )
        response.raise_for_status()
        self.stats.frames_sent += 1
        self.stats.bytes_sent += len(jpeg)
