"""Edge throughput: the agent's pipeline against raw ONNX Runtime on the same frames.

Limit: ``session.run`` alone on the letterboxed frames of ``opencv_vtest.avi``, timed
call by call, with the detector's thread count. Pipeline: ``analyse_clip`` on the same
file as fast as it can go, detection on every frame (decode, motion, letterbox,
inference, decoding, NMS, tracking, events). Both use a session built once and warmed
up with one call, as the agent's long-lived session is. The two run interleaved; the
headline is the median of the per-round ratios pipeline/limit (target 0.9).

Run: ``.venv/bin/python -m benchmarks.edge_throughput [--rounds 3] [--frames 400]``
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np

from benchmarks.harness import (
    MEDIA,
    MODELS,
    Headline,
    exit_cleanly_on_sigterm,
    interleave,
    machine_summary,
    median,
    paired_ratio,
)

CLIP = MEDIA / "opencv_vtest.avi"
MODEL = MODELS / "yolox_nano.onnx"
TARGET_RATIO = 0.9


def read_frames(path: Path, limit: int) -> list[np.ndarray]:
    """Decode up to ``limit`` BGR frames of a clip (0 means all)."""
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise SystemExit(f"cannot open {path}; set METRO_SHARED_DIR to the folder holding media/")
    frames: list[np.ndarray] = []
    try:
        while limit <= 0 or len(frames) < limit:
            ok, frame = capture.read()
            if not ok:
                break
            frames.append(frame)
    finally:
        capture.release()
    return frames


def make_session(threads: int):  # type: ignore[no-untyped-def]
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(MODEL), options, providers=["CPUExecutionProvider"])


def letterbox_all(frames: list[np.ndarray], size: int) -> list[np.ndarray]:
    """Letterbox every frame once, outside the timed part, with the agent's own preprocessor."""
    from edge_agent.core.letterbox import Preprocessor

    preprocessor = Preprocessor(size, size)
    return [preprocessor(frame)[0].copy() for frame in frames]


def measure_limit(session, tensors: list[np.ndarray]) -> float:  # type: ignore[no-untyped-def]
    """Return frames per second of ``session.run`` alone, summed over the calls."""
    input_name = session.get_inputs()[0].name
    session.run(None, {input_name: tensors[0]})  # warm-up: the first call allocates
    busy = 0.0
    for tensor in tensors:
        start = time.perf_counter()
        session.run(None, {input_name: tensor})
        busy += time.perf_counter() - start
    return len(tensors) / busy


def measure_pipeline(detector, frames_limit: int, threads: int) -> tuple[float, int]:  # type: ignore[no-untyped-def]
    """Return (frames per second, frames analysed) of the agent's pipeline on the clip."""
    from benchmarks.edge_pipeline import run_pipeline

    report, elapsed = run_pipeline(CLIP, every_frame=True, threads=threads, max_frames=frames_limit, detector=detector)
    return report.frames / elapsed, report.frames


def make_warm_detector(threads: int, frame: np.ndarray):  # type: ignore[no-untyped-def]
    """Build the agent's detector once and run it on one frame, as the limit's session is warmed up."""
    from benchmarks.edge_pipeline import make_detector

    detector = make_detector(threads)
    detector.detect(frame)
    return detector


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per variant")
    parser.add_argument("--frames", type=int, default=400, help="frames of the clip per round (0 means all 795)")
    parser.add_argument("--threads", type=int, default=2, help="ONNX Runtime intra-op threads (agent default 2)")
    parser.add_argument("--limit-only", action="store_true", help="measure only the ONNX Runtime limit")
    args = parser.parse_args(argv)
    exit_cleanly_on_sigterm()

    print(f"machine: {machine_summary()}")
    frames = read_frames(CLIP, args.frames)
    tensors = letterbox_all(frames, 416)
    session = make_session(args.threads)
    detector = make_warm_detector(args.threads, frames[0]) if not args.limit_only else None
    del frames
    print(f"clip: {CLIP.name}, {len(tensors)} frames, {args.threads} threads, {args.rounds} rounds")

    variants = {"limit_fps": lambda: measure_limit(session, tensors)}
    if not args.limit_only:
        variants["pipeline_fps"] = lambda: measure_pipeline(detector, len(tensors), args.threads)[0]
    results = interleave(variants, args.rounds)
    limit = median(results["limit_fps"])
    print(f"limit: median {limit:.1f} frames/s ({1000 / limit:.1f} ms per inference)")
    if args.limit_only:
        print(Headline("edge_limit", "per_s", limit, 0).line())
        return 0
    pipeline = median(results["pipeline_fps"])
    print(f"pipeline: median {pipeline:.1f} frames/s ({1000 / pipeline:.1f} ms per frame)")
    print(f"ratio of the medians {pipeline / limit:.3f}; headline: median of the per-round ratios")
    print(Headline("edge_pipeline", "ratio", paired_ratio(results, "pipeline_fps", "limit_fps"), TARGET_RATIO).line())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
