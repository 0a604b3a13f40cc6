"""Motion gating on ``intel_car-detection.mp4``: detector calls and the car events kept.

The clip runs twice through ``analyse_clip``: once with motion gating (as the agent
runs) and once with detection on every frame. Motion, tracking and event settings are
the defaults. The camera looks straight down, where COCO models call car roofs "cell
phone" or "suitcase", so its detection config renames those labels to car, as a
deployed top-down camera would be configured. Gating
must call the detector on at most 25% of the frames, and at least 95% of the car
events of the every-frame run must have a gated event of the same label group that
overlaps it in time. The ground truth of the clip is 4 moving cars.

Run: ``.venv/bin/python -m benchmarks.edge_pipeline [--threads 2]``
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.harness import MEDIA, MODELS, Headline, exit_cleanly_on_sigterm, machine_summary

CLIP = MEDIA / "intel_car-detection.mp4"
MODEL = MODELS / "yolox_nano.onnx"
VEHICLES = frozenset({"car", "truck", "bus"})
TARGET_CALLS = 0.25
TARGET_RECALL = 0.95
# The 4 moving cars of the clip counted by eye (first and last frame, 12.5 frames/s),
# used to tell whether the every-frame reference itself finds the cars.
GROUND_TRUTH_FRAMES = ((55, 114), (179, 229), (188, 241), (314, 347))
CLIP_FPS = 12.5


def make_detector(threads: int):  # type: ignore[no-untyped-def]
    from edge_agent.detector import Detector

    return Detector.from_spec_file(model_path=MODEL, threads=threads)


def top_down_config():  # type: ignore[no-untyped-def]
    """Return the default analysis config with the top-down label renames of this camera."""
    from edge_agent.analysis_config import AnalysisConfig, DetectionConfig

    return AnalysisConfig(detection=DetectionConfig(label_aliases={"cell phone": "car", "suitcase": "car"}))


def run_pipeline(clip: Path, *, every_frame: bool, threads: int, max_frames: int = 0, detector=None, config=None):  # type: ignore[no-untyped-def]
    """Run ``analyse_clip`` (default config unless given); return (report, wall seconds of the analysis)."""
    from edge_agent.analysis import analyse_clip
    from edge_agent.analysis_config import AnalysisConfig

    detector = detector or make_detector(threads)
    frame_range = (0, max_frames - 1) if max_frames > 0 else None
    started = time.perf_counter()
    report = analyse_clip(clip, config or AnalysisConfig(), detector, every_frame=every_frame, frame_range=frame_range)
    return report, time.perf_counter() - started


@dataclass(frozen=True, slots=True)
class EventSpan:
    event_id: str
    label: str
    start_s: float
    end_s: float


def event_spans(report, labels: frozenset[str]) -> list[EventSpan]:  # type: ignore[no-untyped-def]
    """Turn a report's updates into one time span per event of ``labels``."""
    spans: dict[str, EventSpan] = {}
    for update in report.updates:
        if update.label not in labels:
            continue
        key = str(update.event_id)
        end = update.end_mono if update.end_mono is not None else update.start_mono
        known = spans.get(key)
        if known is None:
            spans[key] = EventSpan(key, update.label, update.start_mono, end)
        else:
            spans[key] = EventSpan(key, known.label, known.start_s, max(known.end_s, end))
    return sorted(spans.values(), key=lambda span: span.start_s)


def matched_fraction(reference: list[EventSpan], candidate: list[EventSpan]) -> float:
    """Return the share of reference events that overlap in time with some candidate event."""
    if not reference:
        return 1.0
    matched = sum(
        1 for ref in reference if any(c.start_s <= ref.end_s and ref.start_s <= c.end_s for c in candidate)
    )
    return matched / len(reference)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="ONNX Runtime intra-op threads")
    args = parser.parse_args(argv)
    exit_cleanly_on_sigterm()

    print(f"machine: {machine_summary()}")
    detector = make_detector(args.threads)
    config = top_down_config()
    every, every_s = run_pipeline(CLIP, every_frame=True, threads=args.threads, detector=detector, config=config)
    gated, gated_s = run_pipeline(CLIP, every_frame=False, threads=args.threads, detector=detector, config=config)
    reference = event_spans(every, VEHICLES)
    candidate = event_spans(gated, VEHICLES)
    recall = matched_fraction(reference, candidate)
    print(f"every frame: {every.frames} frames, {every.detector_runs} detector calls, "
          f"{len(reference)} vehicle events, {every_s:.1f} s")
    print(f"gated:       {gated.frames} frames, {gated.detector_runs} detector calls "
          f"({gated.detector_fraction:.1%}), {gated.motion_frames} motion frames, {len(candidate)} vehicle events, "
          f"{gated_s:.1f} s")
    truth = [EventSpan(f"K{n + 1}", "car", a / CLIP_FPS, b / CLIP_FPS) for n, (a, b) in enumerate(GROUND_TRUTH_FRAMES)]
    print(f"ground-truth cars found: every frame {matched_fraction(truth, reference):.0%}, "
          f"gated {matched_fraction(truth, candidate):.0%}")
    for span in reference:
        print(f"  every-frame event {span.label} {span.start_s:.1f}-{span.end_s:.1f} s")
    for span in candidate:
        print(f"  gated event       {span.label} {span.start_s:.1f}-{span.end_s:.1f} s")
    print(Headline("edge_gating_truth_recall", "recall", matched_fraction(truth, candidate), TARGET_RECALL).line())
    print(Headline("edge_gating_recall", "recall", recall, TARGET_RECALL).line())
    print(Headline("edge_gating_calls", "fraction", gated.detector_fraction, TARGET_CALLS).line())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
