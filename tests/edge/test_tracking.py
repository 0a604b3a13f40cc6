"""Detection filter, IoU tracker and event lifecycle on synthetic detections."""

from __future__ import annotations

from uuid import UUID

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_agent.core.detection import Detection
from edge_agent.core.filtering import DetectionFilter
from edge_agent.core.geometry import box_iou, expand_box
from edge_agent.core.lifecycle import EventLifecycle, LifecycleParams
from edge_agent.core.tracker import IouTracker, TrackerParams, TrackInput, box_iou_matrix, expand_box_array
from metro_common.messages import EndReason, EventKind

FRAME = np.zeros((480, 640, 3), dtype=np.uint8)


def det(box: tuple[float, float, float, float], score: float = 0.9, label: str = "person") -> Detection:
    return Detection(xyxy=box, confidence=score, class_id=0, label=label)


def inputs(*detections: Detection, confident: bool = True) -> list[TrackInput]:
    group = {"car": "vehicle", "truck": "vehicle", "bus": "vehicle"}
    return [TrackInput(d, group.get(d.label, d.label), confident) for d in detections]


def shifted(box: tuple[float, float, float, float], dx: float) -> tuple[float, float, float, float]:
    return (box[0] + dx, box[1], box[2] + dx, box[3])


# --- detection filter -------------------------------------------------------------


FILTER = DetectionFilter(
    allowed_labels=frozenset({"person", "car", "truck", "bus", "bicycle"}),
    min_scores={"person": 0.6},
    default_min_score=0.5,
    min_box_area_px=100.0,
)


@pytest.mark.parametrize(
    ("detection", "kept", "confident"),
    [
        (det((0, 0, 50, 50), 0.7, "person"), True, True),
        (det((0, 0, 50, 50), 0.55, "person"), True, False),  # below the person threshold: weak
        (det((0, 0, 50, 50), 0.55, "bicycle"), True, True),  # default threshold 0.5
        (det((0, 0, 50, 50), 0.9, "dog"), False, False),  # not on the allow-list
        (det((0, 0, 9, 9), 0.9, "person"), False, False),  # 81 px^2 < 100 px^2
    ],
)
def test_filter_labels_scores_area(detection: Detection, kept: bool, confident: bool) -> None:
    selected = FILTER.select([detection])
    assert len(selected) == int(kept)
    if kept:
        assert selected[0].confident is confident


def test_filter_merges_car_and_truck_boxes() -> None:
    # The pickup in darknet_dog.jpg as YOLOX-Nano reports it.
    car = det((466, 78, 692, 171), 0.798, "car")
    truck = det((464, 78, 683, 173), 0.306, "truck")
    bicycle = det((52, 137, 572, 424), 0.803, "bicycle")
    selected = FILTER.select([car, truck, bicycle])
    assert [item.detection.label for item in selected] == ["car", "bicycle"]
    assert selected[0].group == "vehicle"


def test_filter_keeps_separate_vehicles() -> None:
    selected = FILTER.select([det((0, 0, 100, 100), 0.9, "car"), det((200, 0, 300, 100), 0.8, "truck")])
    assert len(selected) == 2


def test_filter_aliases_rename_before_rules() -> None:
    topdown = DetectionFilter(allowed_labels=frozenset({"car"}), label_aliases={"cell phone": "car"})
    selected = topdown.select([det((0, 0, 150, 300), 0.9, "cell phone")])
    assert [item.detection.label for item in selected] == ["car"]


# --- tracker ----------------------------------------------------------------------


def test_tracker_keeps_id_for_moving_object() -> None:
    tracker = IouTracker()
    box = (100.0, 100.0, 140.0, 200.0)
    ids = []
    for step in range(10):
        result = tracker.update(inputs(det(shifted(box, 12 * step))), step * 0.1)
        ids.append(result.matched[0][0].track_id)
    assert ids == [1] * 10


def test_tracker_predicts_boxes_between_runs() -> None:
    tracker = IouTracker(TrackerParams(max_prediction_s=1.0))
    box = (100.0, 100.0, 140.0, 200.0)
    for step in range(4):
        tracker.update(inputs(det(shifted(box, 10 * step))), step * 0.1)
    # The velocity is smoothed towards 100 px/s: 50, 75, then 87.5 px/s after three moves.
    predicted = tracker.predicted_boxes(0.5)
    assert len(predicted) == 1
    assert predicted[0] == pytest.approx(shifted(box, 30 + 87.5 * 0.2))
    # Prediction stops after max_prediction_s.
    assert tracker.predicted_boxes(5.0)[0] == pytest.approx(shifted(box, 30 + 87.5 * 1.0))


def test_tracker_separates_two_objects_and_groups() -> None:
    tracker = IouTracker()
    result = tracker.update(inputs(det((0, 0, 50, 100)), det((300, 0, 350, 100)), det((0, 0, 50, 100), label="car")), 0.0)
    assert sorted(track.track_id for track, _ in result.matched) == [1, 2, 3]
    # A car box may continue as truck (same group), but never as a person.
    result = tracker.update(inputs(det((2, 0, 52, 100), label="truck"), det((2, 0, 52, 100)), det((300, 0, 350, 100))), 0.1)
    labels = {track.track_id: track.group for track, _ in result.matched}
    assert labels == {1: "person", 2: "person", 3: "vehicle"}


def test_tracker_weak_detection_keeps_but_never_starts_track() -> None:
    tracker = IouTracker()
    result = tracker.update(inputs(det((0, 0, 50, 100), 0.4), confident=False), 0.0)
    assert result.matched == ()
    tracker.update(inputs(det((0, 0, 50, 100))), 0.1)
    result = tracker.update(inputs(det((1, 0, 51, 100), 0.4), confident=False), 0.2)
    assert [track.track_id for track, _ in result.matched] == [1]


def test_tracker_drops_unconfirmed_track_quickly() -> None:
    tracker = IouTracker(TrackerParams(tentative_max_missed_runs=2))
    tracker.update(inputs(det((0, 0, 50, 100))), 0.0)
    assert tracker.update([], 0.1).removed == ()
    assert [t.track_id for t in tracker.update([], 0.2).removed] == [1]


def test_tracker_drops_confirmed_track_after_runs_and_time() -> None:
    tracker = IouTracker(TrackerParams(max_missed_runs=3, lost_timeout_s=1.0))
    tracker.update(inputs(det((0, 0, 50, 100))), 0.0)
    tracker.tracks[1].confirmed = True
    # Three missed runs inside one second are not enough...
    for step in range(1, 4):
        assert tracker.update([], step * 0.1).removed == ()
    # ...and one second without runs in between is not enough either: both must pass.
    assert tracker.update([], 1.5).removed != ()


def test_tracker_keeps_stationary_track_with_rare_runs() -> None:
    tracker = IouTracker(TrackerParams(stationary_after_s=3.0))
    box = (10.0, 10.0, 110.0, 60.0)
    for second in range(0, 60, 5):
        result = tracker.update(inputs(det(box, label="car")), float(second))
        assert [t.track_id for t, _ in result.matched] == [1]
    assert tracker.tracks[1].stationary


def test_tracker_label_is_best_summed_score() -> None:
    tracker = IouTracker()
    box = (0.0, 0.0, 100.0, 50.0)
    for step, (label, score) in enumerate([("car", 0.5), ("truck", 0.9), ("car", 0.6)]):
        tracker.update(inputs(det(box, score, label)), step * 0.1)
    assert tracker.tracks[1].label == "car"


# --- lifecycle --------------------------------------------------------------------


def ids() -> object:
    counter = iter(range(1, 1000))
    return lambda: UUID(int=next(counter))


def run_track(
    lifecycle: EventLifecycle, tracker: IouTracker, boxes: list[tuple[float, float, float, float]],
    scores: list[float], start: float = 0.0, dt: float = 0.1,
) -> list:
    updates = []
    for step, (box, score) in enumerate(zip(boxes, scores, strict=True)):
        mono = start + step * dt
        result = tracker.update(inputs(det(box, score)), mono)
        for track, _ in result.matched:
            update = lifecycle.observe(track, (), FRAME, mono)
            if update:
                updates.append(update)
        updates.extend(lifecycle.tick(tracker.tracks.values(), mono))
    return updates


def test_lifecycle_confirms_after_hits_with_median() -> None:
    lifecycle = EventLifecycle(640, 480, LifecycleParams(confirm_hits=3, confirm_median_score=0.5), new_id=ids())  # type: ignore[arg-type]
    tracker = IouTracker()
    box = (100.0, 100.0, 150.0, 200.0)
    updates = run_track(lifecycle, tracker, [box] * 5, [0.9, 0.9, 0.9, 0.9, 0.9])
    news = [u for u in updates if u.kind is EventKind.NEW]
    assert len(news) == 1
    assert news[0].event_id == UUID(int=1)
    assert news[0].start_mono == 0.0
    assert news[0].snapshot_frame is not None
    assert news[0].snapshot_frame is not FRAME


def test_lifecycle_single_high_score_is_not_enough() -> None:
    lifecycle = EventLifecycle(640, 480, LifecycleParams(confirm_hits=3, confirm_median_score=0.5))
    box = (100.0, 100.0, 150.0, 200.0)
    # Median of [0.95, 0.35, 0.35] = 0.35: no event, though one frame scored 0.95.
    updates = run_track(lifecycle, IouTracker(), [box] * 3, [0.95, 0.35, 0.35])
    assert updates == []


def test_lifecycle_update_rate_limit_and_end() -> None:
    params = LifecycleParams(confirm_hits=2, min_update_interval_s=1.0, min_snapshot_gain=0.05)
    lifecycle = EventLifecycle(640, 480, params)
    tracker = IouTracker(TrackerParams(max_missed_runs=2, lost_timeout_s=0.15))
    box = (100.0, 100.0, 150.0, 200.0)
    scores = [0.6, 0.6, 0.7, 0.8, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.95]
    updates = run_track(lifecycle, tracker, [box] * len(scores), scores)
    kinds = [u.kind for u in updates]
    assert kinds == [EventKind.NEW, EventKind.UPDATE]
    # The update waits for the 1 s interval after the new at 0.1 s and carries the best snapshot so far.
    assert updates[1].snapshot_score == pytest.approx(0.9)
    assert updates[1].score == pytest.approx(0.9)

    end = []
    for step in range(1, 5):
        result = tracker.update([], 1.3 + step * 0.1)
        end += [lifecycle.end_track(t, EndReason.LEFT_VIEW, 1.3 + step * 0.1) for t in result.removed]
    assert len(end) == 1
    assert end[0] is not None
    assert end[0].kind is EventKind.END
    assert end[0].end_reason is EndReason.LEFT_VIEW
    assert end[0].end_mono == pytest.approx(1.3)  # when it was last seen
    assert end[0].event_id == updates[0].event_id


def test_lifecycle_prefers_uncut_snapshot() -> None:
    params = LifecycleParams(confirm_hits=1, min_update_interval_s=0.0)
    lifecycle = EventLifecycle(640, 480, params)
    tracker = IouTracker()
    at_edge = (0.0, 100.0, 50.0, 200.0)
    inside = (10.0, 100.0, 60.0, 200.0)
    updates = run_track(lifecycle, tracker, [at_edge, inside, inside], [0.9, 0.6, 0.62])
    assert [u.kind for u in updates] == [EventKind.NEW, EventKind.UPDATE]
    assert updates[1].snapshot_box == inside


def test_lifecycle_max_duration_ends_and_retires() -> None:
    params = LifecycleParams(confirm_hits=1, max_duration_s=2.0)
    lifecycle = EventLifecycle(640, 480, params)
    tracker = IouTracker()
    box = (100.0, 100.0, 150.0, 200.0)
    updates = run_track(lifecycle, tracker, [box] * 40, [0.9] * 40)
    assert [u.kind for u in updates] == [EventKind.NEW, EventKind.END]
    assert updates[1].end_reason is EndReason.MAX_DURATION
    # The retired track ends nothing more when it is finally lost.
    assert lifecycle.end_track(tracker.tracks[1], EndReason.LEFT_VIEW, 5.0) is None


def test_lifecycle_zone_change_sends_update() -> None:
    lifecycle = EventLifecycle(640, 480, LifecycleParams(confirm_hits=1, min_update_interval_s=0.0))
    tracker = IouTracker()
    box = (100.0, 100.0, 150.0, 200.0)
    track = tracker.update(inputs(det(box)), 0.0).matched[0][0]
    assert lifecycle.observe(track, (), FRAME, 0.0) is not None
    tracker.update(inputs(det(box)), 0.1)
    update = lifecycle.observe(track, ("gate",), FRAME, 0.1)
    assert update is not None and update.kind is EventKind.UPDATE
    assert update.zones == ("gate",)
    assert update.snapshot_frame is None


def test_lifecycle_shutdown_ends_open_event() -> None:
    lifecycle = EventLifecycle(640, 480, LifecycleParams(confirm_hits=1))
    tracker = IouTracker()
    track = tracker.update(inputs(det((1.0, 1.0, 50.0, 50.0))), 0.0).matched[0][0]
    lifecycle.observe(track, (), FRAME, 0.0)
    end = lifecycle.end_track(track, EndReason.SHUTDOWN, 7.0)
    assert end is not None
    assert end.end_reason is EndReason.SHUTDOWN
    assert end.end_mono == 7.0


def test_tracker_resumes_hidden_track_by_distance() -> None:
    tracker = IouTracker(TrackerParams(reid_distance=1.0, match_buffer=0.0))
    box = (100.0, 100.0, 130.0, 200.0)  # 100 px high
    tracker.update(inputs(det(box)), 0.0)
    tracker.tracks[1].confirmed = True
    for step in range(1, 6):  # hidden behind a pole for half a second
        tracker.update([], step * 0.1)
    reappeared = (160.0, 110.0, 190.0, 210.0)  # no overlap, centre 61 px away
    result = tracker.update(inputs(det(reappeared)), 0.6)
    assert [t.track_id for t, _ in result.matched] == [1]


@pytest.mark.parametrize(
    ("reappeared", "why"),
    [
        ((300.0, 100.0, 330.0, 200.0), "too far"),
        ((160.0, 150.0, 175.0, 200.0), "half the size"),
    ],
)
def test_tracker_does_not_resume_unlike_detection(reappeared: tuple[float, float, float, float], why: str) -> None:
    tracker = IouTracker(TrackerParams(reid_distance=1.0, match_buffer=0.0))
    tracker.update(inputs(det((100.0, 100.0, 130.0, 200.0))), 0.0)
    tracker.tracks[1].confirmed = True
    tracker.update([], 0.1)
    result = tracker.update(inputs(det(reappeared)), 0.2)
    assert [t.track_id for t, _ in result.matched] == [2], why


def test_lifecycle_label_fixed_at_confirmation() -> None:
    lifecycle = EventLifecycle(640, 480, LifecycleParams(confirm_hits=2))
    tracker = IouTracker()
    box = (100.0, 100.0, 300.0, 200.0)
    labels = [("car", 0.6), ("car", 0.6), ("bus", 0.9), ("bus", 0.9), ("bus", 0.9)]
    updates = []
    for step, (label, score) in enumerate(labels):
        for track, _ in tracker.update(inputs(det(box, score, label)), step * 0.1).matched:
            update = lifecycle.observe(track, (), FRAME, step * 0.1)
            if update:
                updates.append(update)
    track = tracker.tracks[1]
    assert track.label == "bus"
    end = lifecycle.end_track(track, EndReason.SHUTDOWN, 1.0)
    assert end is not None
    assert [u.label for u in [*updates, end]] == ["car"] * (len(updates) + 1)


frame_boxes = st.lists(
    st.tuples(st.floats(0, 600), st.floats(0, 440), st.floats(5, 120), st.floats(5, 120), st.floats(0.3, 1.0)),
    max_size=8,
)


@settings(max_examples=60, deadline=None)
@given(st.lists(frame_boxes, min_size=1, max_size=15))
def test_tracker_ids_unique_and_never_reused(frames: list[list[tuple[float, float, float, float, float]]]) -> None:
    tracker = IouTracker()
    seen_ids: set[int] = set()
    removed_ids: set[int] = set()
    for step, boxes in enumerate(frames):
        detections = [det((x, y, x + w, y + h), score) for x, y, w, h, score in boxes]
        result = tracker.update(inputs(*detections), step * 0.1)
        ids = [track.track_id for track, _ in result.matched]
        assert len(ids) == len(set(ids))  # one detection per track per run
        assert len(ids) <= len(detections)
        assert not set(ids) & removed_ids  # a removed id never comes back
        removed_ids |= {track.track_id for track in result.removed}
        seen_ids |= set(ids)
    assert set(tracker.tracks) <= seen_ids


# Zero and repeated sizes among the boxes, as detector output and predictions may have.
plain_box = st.tuples(
    st.floats(0, 300), st.floats(0, 300), st.sampled_from([0.0, 1.0, 40.0]) | st.floats(0, 150), st.floats(0, 150)
).map(lambda t: (t[0], t[1], t[0] + t[2], t[1] + t[3]))


@settings(max_examples=80, deadline=None)
@given(st.lists(plain_box, min_size=1, max_size=8), st.lists(plain_box, min_size=1, max_size=8),
       st.sampled_from([0.0, 0.6, 0.25]))
def test_iou_matrix_equals_box_iou(boxes_a: list[tuple[float, float, float, float]],
                                   boxes_b: list[tuple[float, float, float, float]], buffer: float) -> None:
    grown_a = expand_box_array(np.array(boxes_a, dtype=np.float64), buffer)
    grown_b = expand_box_array(np.array(boxes_b, dtype=np.float64), buffer)
    assert [tuple(row) for row in grown_a.tolist()] == [expand_box(box, buffer) for box in boxes_a]
    matrix = box_iou_matrix(grown_a, grown_b)
    expected = [[box_iou(expand_box(a, buffer), expand_box(b, buffer)) for b in boxes_b] for a in boxes_a]
    # Exact equality: the tracker's matching order must not change.
    assert matrix.tolist() == expected
