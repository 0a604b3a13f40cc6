"""Event state machine: tracks become events (new), improve (update) and finish (end).

A track becomes an event only once it has been matched in ``confirm_hits`` detector
runs and the median of its recent scores reaches ``confirm_median_score``, so a
single-frame false positive never reaches the hub. A confirmed event sends ``update``
when a better snapshot or a zone change appears, at most once per
``min_update_interval_s``; changes in between are kept and sent when the interval has
passed. It ends when its track is lost (``left_view``), when the camera goes offline or
the agent stops, or after ``max_duration_s``. After ``max_duration`` the track is
retired: it stays tracked but opens no new event until it is lost, so a car parked all
day is one capped event instead of one every ``max_duration_s``. The label is fixed
when the event is confirmed: a vehicle later scored higher as ``bus`` than as ``car``
keeps its first label, so every message of one event names the same class.
"""

from __future__ import annotations

import statistics
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from uuid import UUID

import numpy as np
import numpy.typing as npt

from edge_agent.core.geometry import BoxXYXY, edges_touching_border
from edge_agent.core.tracker import Track
from metro_common.messages import EndReason, EventKind

Image = npt.NDArray[np.uint8]


@dataclass(frozen=True, slots=True)
class LifecycleParams:
    """Confirmation and update rules; times in seconds of the monotonic clock."""

    confirm_hits: int = 3
    confirm_median_score: float = 0.5
    min_update_interval_s: float = 5.0
    max_duration_s: float = 3600.0
    min_snapshot_gain: float = 0.05


@dataclass(frozen=True, slots=True)
class EventUpdate:
    """One step of an event, before the runtime adds wall-clock times and ``seq``.

    ``score`` is the best confidence seen so far. ``snapshot_frame`` is a copy of the full
    frame, present only when this update carries a new best snapshot; ``snapshot_box``
    and ``snapshot_score`` describe the object in that frame.
    """

    event_id: UUID
    kind: EventKind
    track_id: int
    label: str
    score: float
    box: BoxXYXY
    frame_width: int
    frame_height: int
    zones: tuple[str, ...]
    start_mono: float
    end_mono: float | None = None
    end_reason: EndReason | None = None
    snapshot_frame: Image | None = None
    snapshot_box: BoxXYXY | None = None
    snapshot_score: float | None = None


@dataclass(slots=True)
class _Snapshot:
    frame: Image
    box: BoxXYXY
    score: float
    border_edges: int


@dataclass(slots=True)
class _EventState:
    event_id: UUID | None = None
    label: str = ""
    start_mono: float = 0.0
    best_score: float = 0.0
    zones: tuple[str, ...] = ()
    sent_zones: tuple[str, ...] = ()
    last_sent_mono: float = 0.0
    snapshot_quality: tuple[int, float] = (-5, 0.0)
    pending_snapshot: _Snapshot | None = None
    retired: bool = False

    @property
    def open(self) -> bool:
        return self.event_id is not None and not self.retired


class EventLifecycle:
    """Event states of one camera's tracks; pure apart from copying frames for snapshots."""

    def __init__(
        self,
        frame_width: int,
        frame_height: int,
        params: LifecycleParams | None = None,
        new_id: Callable[[], UUID] = uuid.uuid4,
    ) -> None:
        self.frame_width = frame_width
        self.frame_height = frame_height
        self.params = params or LifecycleParams()
        self._new_id = new_id
        self._states: dict[int, _EventState] = {}

    def observe(self, track: Track, zones: tuple[str, ...], frame: Image, mono_s: float) -> EventUpdate | None:
        """Feed a track matched in this detector run; return its ``new`` or ``update``, if due."""
        state = self._states.setdefault(track.track_id, _EventState())
        state.best_score = max(state.best_score, track.score)
        state.zones = zones
        if state.retired:
            return None

        if state.event_id is None:
            if not self._is_confirmed(track):
                return None
            track.confirmed = True
            state.event_id = self._new_id()
            state.label = track.label
            state.start_mono = track.first_seen_s
            snapshot = self._snapshot_of(track, frame)
            state.snapshot_quality = (-snapshot.border_edges, snapshot.score)
            return self._emit(state, track, EventKind.NEW, mono_s, snapshot)

        candidate = self._snapshot_candidate(state, track, frame)
        if candidate is not None:
            state.pending_snapshot = candidate
        return self._flush(state, track, mono_s)

    def tick(self, tracks: Iterable[Track], mono_s: float) -> list[EventUpdate]:
        """Send rate-limited updates that became due and end events older than ``max_duration_s``."""
        updates: list[EventUpdate] = []
        for track in tracks:
            state = self._states.get(track.track_id)
            if state is None or not state.open:
                continue
            if mono_s - state.start_mono >= self.params.max_duration_s:
                updates.append(self._end(state, track, EndReason.MAX_DURATION, mono_s))
                state.retired = True
                continue
            update = self._flush(state, track, mono_s)
            if update is not None:
                updates.append(update)
        return updates

    def end_track(self, track: Track, reason: EndReason, mono_s: float) -> EventUpdate | None:
        """Forget a track; return the ``end`` of its event if one is open."""
        state = self._states.pop(track.track_id, None)
        if state is None or not state.open:
            return None
        return self._end(state, track, reason, mono_s)

    def _is_confirmed(self, track: Track) -> bool:
        if track.hits < self.params.confirm_hits:
            return False
        return statistics.median(track.scores) >= self.params.confirm_median_score

    def _snapshot_candidate(self, state: _EventState, track: Track, frame: Image) -> _Snapshot | None:
        """Return a copy of the frame when this view beats the best snapshot so far.

        Quality ranks first by how few box edges touch the frame border (a cut-off
        object makes a poor snapshot), then by score, which must improve by at least
        ``min_snapshot_gain`` so small score jitter does not cause updates.
        """
        edges = edges_touching_border(track.box, self.frame_width, self.frame_height)
        best_edges, best_score = state.snapshot_quality
        better = -edges > best_edges or (-edges == best_edges and track.score >= best_score + self.params.min_snapshot_gain)
        if not better:
            return None
        state.snapshot_quality = (-edges, track.score)
        return _Snapshot(frame.copy(), track.box, track.score, edges)

    def _snapshot_of(self, track: Track, frame: Image) -> _Snapshot:
        edges = edges_touching_border(track.box, self.frame_width, self.frame_height)
        return _Snapshot(frame.copy(), track.box, track.score, edges)

    def _flush(self, state: _EventState, track: Track, mono_s: float) -> EventUpdate | None:
        changed = state.pending_snapshot is not None or state.zones != state.sent_zones
        if not changed or mono_s - state.last_sent_mono < self.params.min_update_interval_s:
            return None
        snapshot, state.pending_snapshot = state.pending_snapshot, None
        return self._emit(state, track, EventKind.UPDATE, mono_s, snapshot)

    def _emit(
        self, state: _EventState, track: Track, kind: EventKind, mono_s: float, snapshot: _Snapshot | None
    ) -> EventUpdate:
        assert state.event_id is not None  # callers emit only for confirmed events
        state.last_sent_mono = mono_s
        state.sent_zones = state.zones
        return EventUpdate(
            event_id=state.event_id,
            kind=kind,
            track_id=track.track_id,
            label=state.label,
            score=state.best_score,
            box=track.box,
            frame_width=self.frame_width,
            frame_height=self.frame_height,
            zones=state.zones,
            start_mono=state.start_mono,
            snapshot_frame=snapshot.frame if snapshot else None,
            snapshot_box=snapshot.box if snapshot else None,
            snapshot_score=snapshot.score if snapshot else None,
        )

    def _end(self, state: _EventState, track: Track, reason: EndReason, mono_s: float) -> EventUpdate:
        assert state.event_id is not None  # only open events end
        snapshot, state.pending_snapshot = state.pending_snapshot, None
        # A lost object was last seen before it was declared lost; that is when it left.
        end_mono = track.last_seen_s if reason is EndReason.LEFT_VIEW else mono_s
        return EventUpdate(
            event_id=state.event_id,
            kind=EventKind.END,
            track_id=track.track_id,
            label=state.label,
            score=state.best_score,
            box=track.box,
            frame_width=self.frame_width,
            frame_height=self.frame_height,
            zones=state.zones,
            start_mono=state.start_mono,
            end_mono=max(end_mono, state.start_mono),
            end_reason=reason,
            snapshot_frame=snapshot.frame if snapshot else None,
            snapshot_box=snapshot.box if snapshot else None,
            snapshot_score=snapshot.score if snapshot else None,
        )
