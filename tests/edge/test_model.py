"""The real YOLOX-Nano model on real photos, through the detector, the event filter and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_agent import threads
from edge_agent.analysis_config import AnalysisConfig, DetectionConfig
from edge_agent.cli import main
from edge_agent.core.filtering import DetectionFilter
from edge_agent.detector import DEFAULT_SPEC, MODELS_DIR, Detector, DetectorError, ModelSpec
from tests.conftest import MODELS

# Boxes within this many pixels of the reference output count as the same box.
BOX_TOLERANCE_PX = 10.0


def read(media_dir: Path, name: str) -> np.ndarray:
    image = cv2.imread(str(media_dir / name))
    assert image is not None, name
    return image


def near(box: tuple[float, ...], expected: tuple[float, ...]) -> bool:
    return max(abs(a - b) for a, b in zip(box, expected, strict=True)) <= BOX_TOLERANCE_PX


def event_filter(config: DetectionConfig | None = None) -> DetectionFilter:
    cfg = config or AnalysisConfig().detection
    return DetectionFilter(
        allowed_labels=frozenset(cfg.labels),
        min_scores=cfg.min_score_per_label,
        default_min_score=cfg.min_score,
        min_box_area_px=cfg.min_box_area_px,
        vehicle_labels=frozenset(cfg.vehicle_labels),
        vehicle_nms_iou=cfg.vehicle_nms_iou,
    )


def test_bus_photo_matches_reference(detector: Detector, media_dir: Path) -> None:
    found = detector.detect(read(media_dir, "bus.jpg"))
    buses = [d for d in found if d.label == "bus"]
    people = [d for d in found if d.label == "person"]
    assert len(buses) == 1
    assert near(buses[0].xyxy, (13, 231, 801, 735))
    assert buses[0].confidence == pytest.approx(0.909, abs=0.02)
    assert len(people) >= 3
    for expected in [(50, 394, 214, 898), (219, 403, 347, 855), (686, 451, 810, 874)]:
        assert any(near(p.xyxy, expected) for p in people), expected


def test_bus_photo_passes_event_filter(detector: Detector, media_dir: Path) -> None:
    selected = event_filter().select(detector.detect(read(media_dir, "bus.jpg")))
    labels = [item.detection.label for item in selected]
    assert labels.count("bus") == 1
    assert labels.count("person") >= 3
    assert all(item.confident for item in selected)


def test_dog_photo_raw_output_has_car_and_truck(detector: Detector, media_dir: Path) -> None:
    """Class-aware NMS keeps both labels for the pickup, exactly as the reference decoder does."""
    found = {d.label: d for d in detector.detect(read(media_dir, "darknet_dog.jpg"))}
    assert set(found) == {"dog", "bicycle", "car", "truck"}
    assert near(found["bicycle"].xyxy, (52, 137, 572, 424))
    assert near(found["car"].xyxy, (466, 78, 692, 171))
    assert found["truck"].confidence == pytest.approx(0.306, abs=0.02)


def test_dog_photo_gives_one_vehicle_for_events(detector: Detector, media_dir: Path) -> None:
    # Event filter with every threshold low, so only the vehicle merge can drop the truck box.
    cfg = DetectionConfig(min_score=0.3, min_box_area_px=0.0)
    selected = event_filter(cfg).select(detector.detect(read(media_dir, "darknet_dog.jpg")))
    labels = sorted(item.detection.label for item in selected)
    assert labels == ["bicycle", "car"]  # the dog is not on the allow-list
    car = next(item.detection for item in selected if item.detection.label == "car")
    assert near(car.xyxy, (466, 78, 692, 171))


def test_detector_reports_inference_time(detector: Detector, media_dir: Path) -> None:
    detector.detect(read(media_dir, "zidane.jpg"))
    assert detector.last_inference_ms is not None
    assert 0.0 < detector.last_inference_ms < 5000.0


def test_prepared_frame_gives_same_detections(detector: Detector, media_dir: Path) -> None:
    image = read(media_dir, "bus.jpg")
    prepare = detector.make_preparer()
    first = prepare(image)
    second = prepare(read(media_dir, "zidane.jpg"))
    # Each prepared input owns its tensor, so preparing the next frame leaves it intact.
    assert first.tensor is not second.tensor
    assert detector.detect_prepared(first) == detector.detect(image)


def test_detector_rejects_missing_model(tmp_path: Path) -> None:
    with pytest.raises(DetectorError, match="assets fetch"):
        Detector.from_spec_file(DEFAULT_SPEC, tmp_path / "absent.onnx", threads=1)


def test_detector_auto_threads(model_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(threads, "usable_cpu_count", lambda: 3)
    assert Detector.from_spec_file(DEFAULT_SPEC, model_path, threads="auto").threads == 2


def test_detector_rejects_zero_threads(model_path: Path) -> None:
    with pytest.raises(DetectorError, match="invalid ONNX Runtime thread count 0"):
        Detector.from_spec_file(DEFAULT_SPEC, model_path, threads=0)


def test_cli_detect_rejects_bad_threads(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["detect", "x.jpg", "--threads", "lots"])
    assert "invalid ONNX Runtime thread count 'lots'" in capsys.readouterr().err


def test_detector_rejects_spec_with_wrong_input_name(tmp_path: Path, model_path: Path) -> None:
    spec = ModelSpec.load(DEFAULT_SPEC)
    bad = spec.model_copy(update={"input": spec.input.model_copy(update={"name": "pixels"})})
    with pytest.raises(DetectorError, match="'pixels'"):
        Detector(bad, model_path, threads=1)


def test_spec_rejects_unknown_layout(tmp_path: Path) -> None:
    text = DEFAULT_SPEC.read_text().replace("layout: yolox_grid", "layout: ssd_boxes")
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(DetectorError, match="ssd_boxes"):
        ModelSpec.load(path)


def test_fastestdet_spec_runs_second_family(media_dir: Path) -> None:
    fastest = Detector.from_spec_file(MODELS_DIR / "fastestdet.yaml", MODELS / "fastestdet.onnx", threads=1)
    labels = [d.label for d in fastest.detect(read(media_dir, "darknet_dog.jpg"))]
    assert {"dog", "car", "bicycle"} <= set(labels)


def test_cli_detect_json(media_dir: Path, model_path: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out = tmp_path / "annotated.jpg"
    code = main(["detect", str(media_dir / "bus.jpg"), "--json", "--model", str(model_path),
                 "--threads", "2", "--annotated", str(out)])
    assert code == 0
    rows = json.loads(capsys.readouterr().out)
    assert [row["label"] for row in rows].count("person") >= 3
    assert {"label", "confidence", "xyxy"} == set(rows[0])
    assert out.stat().st_size > 10_000


@pytest.mark.parametrize(("flags", "vehicles"), [((), ["car"]), (("--raw",), ["car", "truck"])])
def test_cli_detect_dog_vehicles(flags: tuple[str, ...], vehicles: list[str], media_dir: Path, model_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["detect", str(media_dir / "darknet_dog.jpg"), "--json", "--model", str(model_path), "--threads", "2", *flags])
    assert code == 0
    rows = json.loads(capsys.readouterr().out)
    labels = [row["label"] for row in rows]
    assert sorted(label for label in labels if label in {"car", "truck", "bus"}) == vehicles
    assert labels.count("bicycle") == 1
    car = next(row for row in rows if row["label"] == "car")
    assert car["xyxy"] == pytest.approx([466, 78, 692, 171], abs=10)


def test_cli_detect_missing_image(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["detect", str(tmp_path / "none.jpg")]) == 1
    assert "cannot read image" in capsys.readouterr().err


def test_cli_detect_missing_asset(capsys: pytest.CaptureFixture[str], media_dir: Path,
                                  monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("METRO_ASSETS_DIR", str(tmp_path))
    assert main(["detect", str(media_dir / "bus.jpg")]) == 1
    assert "metro-edge assets fetch" in capsys.readouterr().err
