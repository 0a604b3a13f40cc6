"""CameraAnalyzer gating and lifecycle with a scripted detector on synthetic frames."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from edge_agent.analysis import CameraAnalyzer, Detected
from edge_agent.analysis_config import AnalysisConfig, EventConfig, LineConfig, MotionConfig, ZoneConfig
from edge_agent.core.detection import Detection
from metro_common.messages import EndReason, EventKind

WIDTH, HEIGHT = 640, 480


class ScriptedDetector:
    """Returns whatever ``script(call_index)`` gives and counts its calls."""

    def __init__(self, script: Callable[[int], list[Detection]]) -> None:
        self.script = script
        self.calls = 0
        self.last_inference_ms: float | None = None

    def detect(self, frame_bgr: np.ndarray) -> list[Detection]:
        self.calls += 1
        self.last_inference_ms = 1.0
        return self.script(self.calls)


def scene(seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.integers(60, 180, size=(HEIGHT // 20, WIDTH // 20, 1), dtype=np.uint8)
    return np.repeat(np.repeat(np.repeat(base, 20, axis=0), 20, axis=1), 3, axis=2)


PARKED_CAR = Detection(xyxy=(100.0, 300.0, 260.0, 400.0), confidence=0.85, class_id=2, label="car")


def test_parked_car_stays_one_event() -> None:
    def script(call: int) -> list[Detection]:
        return [PARKED_CAR]

    detector = ScriptedDetector(script)
    config = AnalysisConfig(events=EventConfig(stationary_recheck_s=5.0, periodic_check_s=30.0))
    analyzer = CameraAnalyzer("cam-01", config, detector)
    background = scene()
    car_frame = background.copy()
    car_frame[300:400, 100:260] = 30
    lit_frame = np.clip(car_frame.astype(np.int16) * 2 + 20, 0, 255).astype(np.uint8)
    updates = []
    fps = 10.0
    for index in range(600):  # one minute
        frame = car_frame
        if 150 <= index < 180:  # a person walks past (motion)
            frame = car_frame.copy()
            x = 300 + (index - 150) * 8
            frame[200:320, x : x + 30] = 240
        if index >= 300:  # lights switch on: the whole frame brightens at once
            frame = lit_frame
        updates += analyzer.process(frame, index / fps).updates
    updates += analyzer.end_all(EndReason.SHUTDOWN, 60.0)

    news = [u for u in updates if u.kind is EventKind.NEW]
    ends = [u for u in updates if u.kind is EventKind.END]
    assert len(news) == 1
    assert len(ends) == 1
    assert ends[0].end_reason is EndReason.SHUTDOWN
    # Stationary and quiet most of the time: far fewer detector runs than frames.
    assert detector.calls < 90, detector.calls


def test_object_leaving_ends_event_even_without_motion() -> None:
    person = Detection(xyxy=(300.0, 100.0, 340.0, 220.0), confidence=0.9, class_id=0, label="person")

    def script(call: int) -> list[Detection]:
        return [person] if call <= 6 else []

    detector = ScriptedDetector(script)
    analyzer = CameraAnalyzer("cam-01", AnalysisConfig(), detector)
    frame = scene()
    kinds = []
    for index in range(60):
        for update in analyzer.process(frame, index / 10.0).updates:
            kinds.append((update.kind, update.end_reason))
    assert kinds == [(EventKind.NEW, None), (EventKind.END, EndReason.LEFT_VIEW)]


def test_periodic_check_runs_without_motion() -> None:
    detector = ScriptedDetector(lambda call: [])
    config = AnalysisConfig(events=EventConfig(periodic_check_s=10.0))
    analyzer = CameraAnalyzer("cam-01", config, detector)
    frame = scene()
    ran = [analyzer.process(frame, index / 10.0).detector_ran for index in range(301)]
    assert [i for i, r in enumerate(ran) if r] == [0, 100, 200, 300]


def test_gate_off_runs_every_frame() -> None:
    detector = ScriptedDetector(lambda call: [])
    analyzer = CameraAnalyzer("cam-01", AnalysisConfig(), detector, gate_detector=False)
    frame = scene()
    for index in range(20):
        analyzer.process(frame, index / 10.0)
    assert detector.calls == 20


def test_zones_lines_and_crossings_in_fractions() -> None:
    def script(call: int) -> list[Detection]:
        y = 40.0 + call * 20.0
        return [Detection(xyxy=(300.0, y, 360.0, y + 60.0), confidence=0.9, class_id=2, label="car")]

    config = AnalysisConfig(
        zones=(ZoneConfig(name="lower", points=((0.0, 0.6), (1.0, 0.6), (1.0, 1.0), (0.0, 1.0))),),
        lines=(LineConfig(name="middle", a=(0.0, 0.5), b=(1.0, 0.5)),),
        events=EventConfig(min_update_interval_s=0.0),
    )
    analyzer = CameraAnalyzer("cam-01", config, ScriptedDetector(script), gate_detector=False)
    frame = scene()
    updates, crossings = [], []
    for index in range(18):
        result = analyzer.process(frame, index / 10.0)
        updates += result.updates
        crossings += result.crossings
    assert [c.direction.value for c in crossings] == ["to_right"]
    assert crossings[0].line == "middle"
    zone_updates = [u for u in updates if u.kind is EventKind.UPDATE and u.zones == ("lower",)]
    assert zone_updates, [u.zones for u in updates]


def test_frame_size_change_is_rejected() -> None:
    analyzer = CameraAnalyzer("cam-01", AnalysisConfig(), ScriptedDetector(lambda call: []))
    analyzer.process(scene(), 0.0)
    with pytest.raises(ValueError, match="frame size changed from 640x480 to 320x240"):
        analyzer.process(np.zeros((240, 320, 3), np.uint8), 0.1)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: AnalysisConfig.model_validate({"motion": {"treshold": 3}}), "treshold"),
        (lambda: AnalysisConfig.model_validate({"detection": {"min_score_per_label": {"dog": 0.5}}}), "dog"),
        (lambda: LineConfig(name="x", a=(0.5, 0.5), b=(0.5, 0.5)), "identical end points"),
        (lambda: ZoneConfig(name="z", points=((0.0, 0.0), (1.5, 0.0), (0.0, 1.0))), "less than or equal to 1"),
        (lambda: AnalysisConfig(zones=(ZoneConfig(name="a", points=((0, 0), (1, 0), (0, 1))),) * 2), "repeated"),
        (lambda: MotionConfig(recalibrate_fraction=0.0), "greater than 0"),
    ],
)
def test_config_rejects_bad_values(build: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()


def test_config_fields_have_descriptions() -> None:
    from edge_agent import analysis_config

    for model in (analysis_config.MotionConfig, analysis_config.DetectionConfig, analysis_config.TrackerConfig,
                  analysis_config.EventConfig, analysis_config.ZoneConfig, analysis_config.LineConfig,
                  analysis_config.AnalysisConfig):
        for name, field in model.model_fields.items():
            assert field.description, f"{model.__name__}.{name} has no description"


class BlockDetector:
    """Finds the bright (value 250) blocks drawn by ``draw_blocks`` and reports each as a car."""

    def __init__(self) -> None:
        self.calls = 0
        self.last_inference_ms: float | None = None

    def detect(self, frame_bgr: np.ndarray) -> list[Detection]:
        self.calls += 1
        self.last_inference_ms = 1.0
        found = []
        for left in range(0, WIDTH, BLOCK_SLOT):
            ys, xs = np.nonzero(frame_bgr[:, left : left + BLOCK_SLOT, 0] == 250)
            if len(xs):
                box = (float(left + xs.min()), float(ys.min()), float(left + xs.max() + 1), float(ys.max() + 1))
                found.append(Detection(xyxy=box, confidence=0.9, class_id=2, label="car"))
        return found


BLOCK_SLOT = 320  # one block per half of the frame, so BlockDetector can tell them apart


def draw_blocks(background: np.ndarray, tops: list[int], lefts: list[int]) -> np.ndarray:
    frame = background.copy()
    for top, left in zip(tops, lefts, strict=True):
        frame[top : top + 60, left : left + 60] = 250
    return frame


def test_moving_track_detected_at_interval() -> None:
    detector = BlockDetector()
    config = AnalysisConfig(events=EventConfig(track_detect_interval_s=0.3))
    analyzer = CameraAnalyzer("cam-01", config, detector)
    background = scene()
    ran, updates = [], []
    for index in range(40):  # a car drives down at 8 px per frame, 10 frames per second
        frame = draw_blocks(background, [20 + 8 * index], [100]) if index >= 5 else background
        result = analyzer.process(frame, index / 10.0)
        ran.append(result.detector_ran)
        updates += result.updates
    runs = [index for index, did_run in enumerate(ran) if did_run]
    # First frame (no background), the car appearing (new motion), then every 0.3 s.
    assert runs[:2] == [0, 5]
    assert runs[2:] == list(range(8, 40, 3))
    assert [u.kind for u in updates] == [EventKind.NEW]
    assert len(analyzer.tracks) == 1


def test_new_motion_outside_track_detected_at_once() -> None:
    detector = BlockDetector()
    config = AnalysisConfig(events=EventConfig(track_detect_interval_s=1.0))
    analyzer = CameraAnalyzer("cam-01", config, detector)
    background = scene()
    ran = []
    for index in range(30):
        tops, lefts = [20 + 8 * index], [100]
        if index >= 17:  # a second car enters the other half of the frame
            tops.append(300 - 6 * (index - 17))
            lefts.append(450)
        result = analyzer.process(draw_blocks(background, tops, lefts), index / 10.0)
        ran.append(result.detector_ran)
    runs = [index for index, did_run in enumerate(ran) if did_run]
    # The first car is in frame 0, so its motion lies on its track from frame 1 on and is
    # re-checked every second. The second car's motion is new: it runs the detector at once.
    assert runs == [0, 10, 17, 27]
    assert len(analyzer.tracks) == 2


def test_crossing_before_confirmation_counted() -> None:
    # The centre passes the middle line (y = 240) between the first and second detection,
    # two runs before the track is confirmed.
    def script(call: int) -> list[Detection]:
        y = 150.0 + call * 40.0
        return [Detection(xyxy=(300.0, y, 360.0, y + 60.0), confidence=0.9, class_id=2, label="car")]

    config = AnalysisConfig(
        lines=(LineConfig(name="middle", a=(0.0, 0.5), b=(1.0, 0.5)),), events=EventConfig(confirm_hits=3)
    )
    analyzer = CameraAnalyzer("cam-01", config, ScriptedDetector(script), gate_detector=False)
    frame = scene()
    crossings = []
    for index in range(5):
        crossings += analyzer.process(frame, index / 10.0).crossings
    assert [c.direction.value for c in crossings] == ["to_right"]
    assert crossings[0].mono_s == pytest.approx(0.2)


def test_detections_ahead_replace_detector() -> None:
    detector = ScriptedDetector(lambda call: [])
    analyzer = CameraAnalyzer("cam-01", AnalysisConfig(), detector, gate_detector=False)
    result = analyzer.process(scene(), 0.0, detected=Detected([PARKED_CAR], 4.5))
    assert detector.calls == 0
    assert result.detector_ran
    assert result.inference_ms == 4.5
    assert result.detections == [PARKED_CAR]


def test_detections_ahead_need_gate_off() -> None:
    analyzer = CameraAnalyzer("cam-01", AnalysisConfig(), ScriptedDetector(lambda call: []))
    with pytest.raises(ValueError, match="gate_detector=False"):
        analyzer.process(scene(), 0.0, detected=Detected([], None))
