"""Per-frame costs of the agent's media path on real footage.

Measures, on the first frames of ``opencv_vtest.avi`` (768x576): applying a privacy
mask (fill and blur), JPEG encoding for the pre-roll buffer and the live view, H.264
encoding with libx264 ultrafast, and the memory the default pre-roll buffer holds.

Run: ``.venv/bin/python -m benchmarks.media_costs [--frames 200]``
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from benchmarks.harness import MEDIA
from edge_agent.media.clips import CONFIRMATION_MARGIN_S, SOFTWARE_ENCODER, Mp4Writer, fit_size, resize_to
from edge_agent.media.config import LiveConfig, MaskMode, MediaConfig, PrivacyMask
from edge_agent.media.privacy import PrivacyMasker
from edge_agent.media.snapshot import encode_jpeg

CLIP = MEDIA / "opencv_vtest.avi"


def read_frames(limit: int) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(CLIP))
    frames: list[np.ndarray] = []
    while len(frames) < limit:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    return frames


def median_ms(frames: list[np.ndarray], work: Callable[[np.ndarray], object]) -> float:
    timings = []
    for frame in frames:
        started = time.perf_counter()
        work(frame)
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=200, help="Frames of the footage to use")
    args = parser.parse_args()
    frames = read_frames(args.frames)
    media, live = MediaConfig(), LiveConfig()
    quarter = ((0.0, 0.0), (0.5, 0.0), (0.5, 0.5), (0.0, 0.5))
    fill = PrivacyMasker([PrivacyMask(points=quarter, mode=MaskMode.FILL)])
    blur = PrivacyMasker([PrivacyMask(points=quarter, mode=MaskMode.BLUR)])
    live_size = fit_size(frames[0].shape[1], frames[0].shape[0], live.max_width)

    print(f"{len(frames)} frames of {CLIP.name}, {frames[0].shape[1]}x{frames[0].shape[0]}")
    print(f"mask fill (quarter of frame): {median_ms(frames, fill.apply):.2f} ms")
    print(f"mask blur (quarter of frame): {median_ms(frames, blur.apply):.2f} ms")
    print(f"pre-roll JPEG q{media.pre_roll_jpeg_quality}: {median_ms(frames, lambda f: encode_jpeg(f, media.pre_roll_jpeg_quality)):.2f} ms")
    print(f"live JPEG {live_size[0]}x{live_size[1]} q{live.jpeg_quality}: "
          f"{median_ms(frames, lambda f: encode_jpeg(resize_to(f, live_size), live.jpeg_quality)):.2f} ms")

    sizes = [len(encode_jpeg(f, media.pre_roll_jpeg_quality)) for f in frames]
    live_sizes = [len(encode_jpeg(resize_to(f, live_size), live.jpeg_quality)) for f in frames]
    span_s = media.pre_roll_s + CONFIRMATION_MARGIN_S
    print(f"pre-roll buffer at 10 fps over {span_s:.0f} s: {statistics.mean(sizes) * span_s * 10 / 1024**2:.1f} MiB "
          f"(mean frame {statistics.mean(sizes) / 1024:.0f} KiB)")
    print(f"live frame mean {statistics.mean(live_sizes) / 1024:.1f} KiB: {live.max_fps:.0f} fps needs "
          f"{statistics.mean(live_sizes) * 8 * live.max_fps / 1000:.0f} kbit/s (cap {live.max_kbit_s:.0f})")

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.mp4"
        writer = Mp4Writer(path, fit_size(frames[0].shape[1], frames[0].shape[0], media.clip_max_width), SOFTWARE_ENCODER, media.clip_crf)
        started = time.perf_counter()
        for index, frame in enumerate(frames):
            writer.write(frame, index / 10.0)
        writer.close()
        elapsed = time.perf_counter() - started
        size = path.stat().st_size
    print(f"libx264 ultrafast crf {media.clip_crf}: {len(frames) / elapsed:.0f} fps, "
          f"{size * 8 / (len(frames) / 10.0) / 1000:.0f} kbit/s at 10 fps")


if __name__ == "__main__":
    main()
