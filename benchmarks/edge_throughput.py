"""Edge throughput: the agent's pipeline against raw ONNX Runtime on the same frames.

Limit: ``session.run`` alone on the letterboxed frames of ``opencv_vtest.avi``, timed
call by call, with the detector's thread count and session options. Pipeline:
``analyse_clip`` on the same file as fast as it can go, detection on every frame
(decode, motion, letterbox, inference, decoding, NMS, tracking, events). Both use a
session built once and warmed up with one call, as the agent's long-lived session is.
The two run interleaved; the headline is the median of the per-round ratios
pipeline/limit (target 0.9) at the agent's default thread count ("auto": one per CPU
core, less one). ``--compare-threads`` adds limit and pipeline at other counts to the
same interleaved rounds, so their absolute frames per second can be compared.

Run: ``.venv/bin/python -m benchmarks.edge_throughput [--rounds 3] [--frames 400] [--compare-threads 2]``
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
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
    """Build a bare session with the session options of ``edge_agent.detector.Detector``."""
    import onnxruntime as ort

    from edge_agent.detector import session_options

    return ort.InferenceSession(str(MODEL), session_options(threads), providers=["CPUExecutionProvider"])


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


def thread_count(text: str) -> int:
    from edge_agent.threads import resolve_thread_count

    try:
        return resolve_thread_count(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_variants(variants: dict[str, Callable[[], float]], threads: int, tensors: list[np.ndarray],
                 first_frame: np.ndarray, limit_only: bool) -> None:
    """Add the limit (and unless ``limit_only`` the pipeline) at ``threads`` to ``variants``."""
    session = make_session(threads)
    variants[f"limit_fps@{threads}"] = lambda: measure_limit(session, tensors)
    if not limit_only:
        detector = make_warm_detector(threads, first_frame)
        variants[f"pipeline_fps@{threads}"] = lambda: measure_pipeline(detector, len(tensors), threads)[0]


def main(argv: list[str] | None = None) -> int:
    from edge_agent.detector import DEFAULT_THREADS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per variant")
    parser.add_argument("--frames", type=int, default=400, help="frames of the clip per round (0 means all 795)")
    parser.add_argument("--threads", type=thread_count, default=thread_count(str(DEFAULT_THREADS)),
                        help=f"ONNX Runtime intra-op threads of the headline, or 'auto' (agent default: {DEFAULT_THREADS})")
    parser.add_argument("--compare-threads", type=thread_count, action="append", default=[], metavar="N",
                        help="also measure limit and pipeline at N threads in the same rounds; repeatable")
    parser.add_argument("--limit-only", action="store_true", help="measure only the ONNX Runtime limit")
    args = parser.parse_args(argv)
    exit_cleanly_on_sigterm()

    print(f"machine: {machine_summary()}")
    frames = read_frames(CLIP, args.frames)
    tensors = letterbox_all(frames, 416)
    counts = [args.threads, *(count for count in dict.fromkeys(args.compare_threads) if count != args.threads)]
    variants: dict[str, Callable[[], float]] = {}
    for count in counts:
        add_variants(variants, count, tensors, frames[0], args.limit_only)
    del frames
    print(f"clip: {CLIP.name}, {len(tensors)} frames, threads {counts} (headline {args.threads}), {args.rounds} rounds")

    results = interleave(variants, args.rounds)
    for count in counts:
        limit = median(results[f"limit_fps@{count}"])
        print(f"{count} threads: limit median {limit:.1f} frames/s ({1000 / limit:.1f} ms per inference)")
        if args.limit_only:
            continue
        pipeline = median(results[f"pipeline_fps@{count}"])
        ratio = paired_ratio(results, f"pipeline_fps@{count}", f"limit_fps@{count}")
        print(f"{count} threads: pipeline median {pipeline:.1f} frames/s ({1000 / pipeline:.1f} ms per frame), "
              f"ratio of the medians {pipeline / limit:.3f}, median of the per-round ratios {ratio:.3f}")
    if args.limit_only:
        print(Headline("edge_limit", "per_s", median(results[f"limit_fps@{args.threads}"]), 0).line())
        return 0
    headline = paired_ratio(results, f"pipeline_fps@{args.threads}", f"limit_fps@{args.threads}")
    print(f"headline: median of the per-round ratios at {args.threads} threads")
    print(Headline("edge_pipeline", "ratio", headline, TARGET_RATIO).line())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
