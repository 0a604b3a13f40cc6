"""Measure motion gating and event counts of the perception pipeline on the shared clips.

Runs every clip twice, with motion gating and with the detector on every frame, and
prints a Markdown table for docs/perception.md. Usage:

    .venv/bin/python benchmarks/perception_clips.py [--threads 2] [--media DIR] [--model FILE]
"""

from __future__ import annotations

import argparse
import os
import statistics
from collections import Counter
from pathlib import Path

import cv2

from edge_agent.analysis import ClipReport, analyse_clip
from edge_agent.analysis_config import AnalysisConfig, DetectionConfig, LineConfig
from edge_agent.detector import DEFAULT_SPEC, Detector

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("METRO_SHARED_DIR", ROOT.parent / "shared"))

TOPDOWN = AnalysisConfig(
    detection=DetectionConfig(label_aliases={"cell phone": "car", "suitcase": "car"}),
    lines=(LineConfig(name="middle", a=(0.0, 0.5), b=(1.0, 0.5)),),
)
MOTORWAY = AnalysisConfig(lines=(LineConfig(name="y0.3", a=(0.0, 0.3), b=(1.0, 0.3)),))

# (file, config name, config, frame step, hand-counted truth)
CLIPS = [
    ("intel_car-detection.mp4", "top-down aliases", TOPDOWN, 1, "4 cars; line 2 up / 2 down"),
    ("opencv_vtest.avi", "default", AnalysisConfig(), 2, "21 person episodes (19-23), 2 parked vehicles"),
    ("opencv_vtest.avi", "default", AnalysisConfig(), 1, "21 person episodes (19-23), 2 parked vehicles"),
    ("intel_one-by-one-person-detection.mp4", "default", AnalysisConfig(), 1, "6 people, mostly standing still"),
    ("bgslibrary_video02.avi", "line y=0.3", MOTORWAY, 1, "44 line crossings (21 down, 23 up), 1 cyclist"),
]


def summarise(report: ClipReport) -> str:
    labels = Counter(u.label for u in report.events())
    crossings = Counter(c.direction.value for c in report.crossings)
    label_text = ", ".join(f"{label} {count}" for label, count in sorted(labels.items())) or "none"
    cross_text = ", ".join(f"{d} {n}" for d, n in sorted(crossings.items()))
    return label_text + (f"; crossings {cross_text}" if cross_text else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="ONNX Runtime intra-op threads")
    parser.add_argument("--media", type=Path, default=SHARED / "media", help="folder with the clips")
    parser.add_argument("--model", type=Path, default=SHARED / "models" / "yolox_nano.onnx", help="YOLOX-Nano weights")
    args = parser.parse_args()
    detector = Detector.from_spec_file(DEFAULT_SPEC, args.model, threads=args.threads)

    print("| clip | config | step | frames | detector runs gated | every frame | events gated | events every frame | truth |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, config_name, config, step, truth in CLIPS:
        gated = analyse_clip(args.media / name, config, detector, frame_step=step)
        every = analyse_clip(args.media / name, config, detector, every_frame=True, frame_step=step)
        print(
            f"| {name} | {config_name} | {step} | {gated.frames} | {gated.detector_runs} "
            f"({gated.detector_fraction:.0%}) | {every.detector_runs} ({every.detector_fraction:.0%}) | "
            f"{summarise(gated)} | {summarise(every)} | {truth} |",
            flush=True,
        )

    timings: list[float] = []
    image = cv2.imread(str(args.media / "bus.jpg"))
    for _ in range(50):
        detector.detect(image)
        assert detector.last_inference_ms is not None
        timings.append(detector.last_inference_ms)
    print(f"\ninference on bus.jpg, {args.threads} threads, 50 runs: median {statistics.median(timings):.1f} ms")


if __name__ == "__main__":
    main()
