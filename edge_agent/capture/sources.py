"""Frame sources: file replay, RTSP/HTTP streams, USB (V4L2) and the Raspberry Pi camera.

Every source has the same small interface (``open``, ``read``, ``close``) and runs
inside the capture process of its camera, never in the agent process itself.
"""

from __future__ import annotations

import importlib
import logging
import os
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import cv2
import numpy as np
import numpy.typing as npt

from edge_agent.config import SourceConfig, SourceKind, mask_url, mask_urls_in_text

Frame = npt.NDArray[np.uint8]
logger = logging.getLogger(__name__)


def _bgr(image: Any) -> Frame:
    """Type an OpenCV or picamera2 image as the 8-bit BGR frame it is."""
    return cast(Frame, image)


class SourceError(RuntimeError):
    """The source cannot be opened or stopped delivering frames; the message is log-safe."""


class EndOfStream(Exception):
    """A file source without ``loop`` reached its last frame."""


@dataclass(frozen=True, slots=True)
class RawFrame:
    """One frame as read: the main picture, an optional low-resolution copy and its time."""

    main: Frame
    lores: Frame | None
    mono_s: float


class FrameSource(ABC):
    """A camera or file that yields BGR frames."""

    @abstractmethod
    def open(self) -> None:
        """Connect to the device or file; raise SourceError when that fails."""

    @abstractmethod
    def read(self) -> RawFrame:
        """Return the next frame; raise SourceError, or EndOfStream at the end of a file."""

    @abstractmethod
    def close(self) -> None:
        """Release the device; safe to call twice."""


class FileSource(FrameSource):
    """Replay a video file, paced at its frame rate or as fast as it is consumed."""

    def __init__(self, config: SourceConfig) -> None:
        assert config.path is not None  # guaranteed by SourceConfig validation
        self._path = config.path
        self._config = config
        self._capture: cv2.VideoCapture | None = None
        self._fps = config.fps or 0.0
        self._index = 0
        self._start = 0.0

    def open(self) -> None:
        if not self._path.is_file():
            raise SourceError(f"video file {self._path} not found")
        capture = cv2.VideoCapture(str(self._path))
        if not capture.isOpened():
            raise SourceError(f"cannot open video file {self._path}")
        self._capture = capture
        if not self._fps:
            file_fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
            self._fps = file_fps if 0 < file_fps <= 240 else 25.0
        self._index = 0
        self._start = time.monotonic()

    def read(self) -> RawFrame:
        capture = self._require_open()
        ok, frame = capture.read()
        if not ok:
            if not self._config.loop:
                raise EndOfStream(str(self._path))
            capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, frame = capture.read()
            if not ok:
                raise SourceError(f"cannot rewind video file {self._path}")
        due = self._start + self._index / self._fps
        self._index += 1
        if self._config.realtime:
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            return RawFrame(_bgr(frame), None, time.monotonic())
        # Unpaced replay: the file's own timeline, so analysis gets the true frame spacing.
        return RawFrame(_bgr(frame), None, due)

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None

    def _require_open(self) -> cv2.VideoCapture:
        if self._capture is None:
            raise SourceError("file source read before open")
        return self._capture


class StreamSource(FrameSource):
    """RTSP or HTTP (MJPEG, HLS, a served file) through OpenCV's FFmpeg backend, with timeouts.

    NOTE: the tests exercise this class with MJPEG over HTTP only; RTSP goes through the
    same FFmpeg calls but has not run against an RTSP server or camera here.
    """

    def __init__(self, config: SourceConfig) -> None:
        assert config.url is not None  # guaranteed by SourceConfig validation
        self._url = config.url
        self._config = config
        self._capture: cv2.VideoCapture | None = None

    def open(self) -> None:
        if self._config.kind is SourceKind.RTSP:
            # TCP survives lossy links and NAT better than RTP over UDP.
            os.environ.setdefault("OPENCV_FFMPEG_CAPTURE_OPTIONS", "rtsp_transport;tcp")
        params = [
            cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(self._config.open_timeout_s * 1000),
            cv2.CAP_PROP_READ_TIMEOUT_MSEC, int(self._config.read_timeout_s * 1000),
        ]
        try:
            capture = cv2.VideoCapture(self._url, cv2.CAP_FFMPEG, params)
        except cv2.error as exc:
            raise SourceError(f"cannot open {mask_url(self._url)}: {mask_urls_in_text(str(exc))}") from None
        if not capture.isOpened():
            raise SourceError(f"cannot open {mask_url(self._url)} within {self._config.open_timeout_s:g} s")
        self._capture = capture

    def read(self) -> RawFrame:
        if self._capture is None:
            raise SourceError("stream source read before open")
        ok, frame = self._capture.read()
        if not ok or frame is None:
            raise SourceError(f"stream {mask_url(self._url)} stopped delivering frames")
        return RawFrame(_bgr(frame), None, time.monotonic())

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None


class UsbSource(FrameSource):
    """USB webcam through V4L2."""

    def __init__(self, config: SourceConfig) -> None:
        assert config.device is not None  # guaranteed by SourceConfig validation
        self._device = config.device
        self._config = config
        self._capture: cv2.VideoCapture | None = None

    def open(self) -> None:
        capture = cv2.VideoCapture(self._device, cv2.CAP_V4L2)
        if not capture.isOpened():
            raise SourceError(f"cannot open USB camera {self._device}")
        if self._config.width and self._config.height:
            capture.set(cv2.CAP_PROP_FRAME_WIDTH, self._config.width)
            capture.set(cv2.CAP_PROP_FRAME_HEIGHT, self._config.height)
        if self._config.fps:
            capture.set(cv2.CAP_PROP_FPS, self._config.fps)
        self._capture = capture

    def read(self) -> RawFrame:
        if self._capture is None:
            raise SourceError("USB source read before open")
        ok, frame = self._capture.read()
        if not ok or frame is None:
            raise SourceError(f"USB camera {self._device} stopped delivering frames")
        return RawFrame(_bgr(frame), None, time.monotonic())

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None


class Picamera2Source(FrameSource):
    """Raspberry Pi camera: the main stream for recording, the lores stream for analysis.

    ``picamera2`` is imported when the source opens, so the agent runs on machines
    without it. The main stream uses picamera2's ``RGB888`` format, whose bytes are in
    BGR order as OpenCV expects; the lores stream is YUV420 and converted here.
    """

    def __init__(self, config: SourceConfig) -> None:
        self._config = config
        self._camera: Any = None

    def open(self) -> None:
        try:
            module = importlib.import_module("picamera2")
        except ImportError as exc:
            raise SourceError("picamera2 is not installed; install python3-picamera2 from Raspberry Pi OS") from exc
        width = self._config.width or 1920
        height = self._config.height or 1080
        camera = module.Picamera2()
        try:
            controls = {"FrameRate": self._config.fps} if self._config.fps else {}
            video_config = camera.create_video_configuration(
                main={"size": (width, height), "format": "RGB888"},
                lores={"size": (self._config.lores_width, self._config.lores_height), "format": "YUV420"},
                controls=controls,
            )
            camera.configure(video_config)
            camera.start()
        except Exception as exc:  # libcamera raises many types; all mean "cannot open"
            camera.close()
            raise SourceError(f"cannot start the Pi camera: {exc}") from exc
        self._camera = camera

    def read(self) -> RawFrame:
        if self._camera is None:
            raise SourceError("Pi camera read before open")
        try:
            main = self._camera.capture_array("main")
            lores_yuv = self._camera.capture_array("lores")
        except Exception as exc:  # see open()
            raise SourceError(f"Pi camera stopped delivering frames: {exc}") from exc
        lores = cv2.cvtColor(np.asarray(lores_yuv), cv2.COLOR_YUV2BGR_I420)
        return RawFrame(_bgr(np.ascontiguousarray(main[:, :, :3])), _bgr(lores), time.monotonic())

    def close(self) -> None:
        camera, self._camera = self._camera, None
        if camera is None:
            return
        try:
            camera.stop()
        finally:
            camera.close()


class CrashDrillSource(FrameSource):
    """Deliver a few noise frames, then abort the process as a crashing decoder would."""

    FRAMES_BEFORE_ABORT = 5

    def __init__(self, config: SourceConfig) -> None:
        self._fps = config.fps or 10.0
        self._count = 0
        self._rng = np.random.default_rng()

    def open(self) -> None:
        self._count = 0

    def read(self) -> RawFrame:
        if self._count >= self.FRAMES_BEFORE_ABORT:
            logger.error("crash drill: aborting the capture process on purpose")
            os.abort()
        self._count += 1
        time.sleep(1.0 / self._fps)
        frame = self._rng.integers(0, 255, size=(120, 160, 3), dtype=np.uint8)
        return RawFrame(_bgr(frame), None, time.monotonic())

    def close(self) -> None:
        pass


def make_source(config: SourceConfig) -> FrameSource:
    """Build the source for ``config.kind``."""
    kinds: dict[SourceKind, Callable[[SourceConfig], FrameSource]] = {
        SourceKind.FILE: FileSource,
        SourceKind.RTSP: StreamSource,
        SourceKind.HTTP: StreamSource,
        SourceKind.USB: UsbSource,
        SourceKind.PICAMERA2: Picamera2Source,
        SourceKind.CRASH_DRILL: CrashDrillSource,
    }
    return kinds[config.kind](config)
