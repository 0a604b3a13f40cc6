"""Media settings of one camera: snapshots, clips, retention, upload, live view and privacy masks.

The runtime composes ``MediaConfig``, ``LiveConfig`` and a list of ``PrivacyMask`` into
the camera config. Every model rejects unknown keys, and every field states its unit.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MaskCoordinates(StrEnum):
    """Unit of a privacy mask's points."""

    PIXELS = "pixels"
    FRACTION = "fraction"


class MaskMode(StrEnum):
    """Method that hides the masked area."""

    FILL = "fill"
    BLUR = "blur"


class PrivacyMask(_Strict):
    """Polygon hidden in every frame before anything is encoded, stored, uploaded or shown."""

    name: str = Field("mask", min_length=1, max_length=40, description="Label for logs and the config UI")
    points: tuple[tuple[float, float], ...] = Field(
        min_length=3, description="Polygon corners (x, y), in source pixels or as fractions of width and height"
    )
    coordinates: MaskCoordinates = Field(MaskCoordinates.FRACTION, description="Unit of points: pixels or fraction")
    mode: MaskMode = Field(MaskMode.FILL, description="fill paints the polygon with fill_bgr; blur applies a strong box blur")
    fill_bgr: tuple[int, int, int] = Field((0, 0, 0), description="Fill colour, blue-green-red 0-255")
    blur_kernel_fraction: float = Field(
        0.08, gt=0, le=1, description="Blur kernel size as a fraction of the frame's shorter side"
    )

    @field_validator("fill_bgr")
    @classmethod
    def _check_colour(cls, value: tuple[int, int, int]) -> tuple[int, int, int]:
        if any(not 0 <= channel <= 255 for channel in value):
            raise ValueError(f"fill_bgr {value} has a channel outside 0-255")
        return value

    @model_validator(mode="after")
    def _check_points(self) -> PrivacyMask:
        for x, y in self.points:
            if x < 0 or y < 0:
                raise ValueError(f"privacy mask {self.name!r}: point ({x}, {y}) is negative")
            if self.coordinates is MaskCoordinates.FRACTION and (x > 1 or y > 1):
                raise ValueError(
                    f"privacy mask {self.name!r}: point ({x}, {y}) exceeds 1 with coordinates=fraction; "
                    "use fractions 0-1 or set coordinates: pixels"
                )
        return self


class UploadRetryConfig(_Strict):
    """Exponential backoff with full jitter between upload attempts."""

    initial_delay_s: float = Field(1.0, gt=0, description="Delay ceiling after the first failure, seconds")
    max_delay_s: float = Field(300.0, gt=0, description="Largest delay between attempts, seconds")
    multiplier: float = Field(2.0, ge=1, description="Growth of the delay ceiling per failed attempt")
    timeout_s: float = Field(60.0, gt=0, description="HTTP timeout of one upload request, seconds")

    @model_validator(mode="after")
    def _check_order(self) -> UploadRetryConfig:
        if self.max_delay_s < self.initial_delay_s:
            raise ValueError(f"max_delay_s {self.max_delay_s} is below initial_delay_s {self.initial_delay_s}")
        return self


class MediaConfig(_Strict):
    """Snapshots, event clips and the local media store of one camera."""

    jpeg_quality: int = Field(85, ge=10, le=100, description="JPEG quality of snapshots, 10-100")
    snapshot_annotated: bool = Field(True, description="Also store a snapshot with boxes, labels, camera name and time")
    clips_enabled: bool = Field(True, description="Record an H.264 MP4 clip for events")
    pre_roll_s: float = Field(5.0, ge=0, le=30, description="Video kept before an event starts, seconds")
    post_roll_s: float = Field(5.0, ge=0, le=60, description="Video kept after the last overlapping event ends, seconds")
    clip_max_s: float = Field(120.0, gt=0, le=3600, description="Maximum clip length, seconds; a longer event continues in a new clip")
    clip_max_width: int = Field(1280, ge=160, le=3840, description="Clip frames wider than this are downscaled, pixels")
    clip_fps_max: float = Field(15.0, gt=0, le=60, description="Frames per second kept in clips; extra frames are skipped")
    clip_crf: int = Field(26, ge=0, le=51, description="x264 constant rate factor, lower is better quality")
    pre_roll_jpeg_quality: int = Field(
        90, ge=10, le=100, description="JPEG quality of frames held in the pre-roll buffer, 10-100"
    )
    pre_roll_max_bytes: int = Field(
        32 * 1024 * 1024, gt=0, description="Memory cap of the pre-roll buffer, bytes; oldest frames go first"
    )
    encoder_queue_frames: int = Field(
        64, ge=2, description="Frames waiting for the clip encoder; newer frames are dropped and counted when full"
    )
    hardware_encoder: bool = Field(True, description="Try h264_v4l2m2m (self-tested at start) before libx264")
    quota_bytes: int = Field(2 * 1024**3, gt=0, description="Disk space for this camera's media, bytes")
    max_age_days: float = Field(14.0, gt=0, description="Uploaded media older than this is deleted, days")
    critical_free_bytes: int = Field(
        256 * 1024**2, ge=0, description="Below this much free disk, even media not yet uploaded is deleted, bytes"
    )
    upload_retry: UploadRetryConfig = Field(default_factory=UploadRetryConfig)

    @property
    def max_age_s(self) -> float:
        return self.max_age_days * 86400.0


class LiveConfig(_Strict):
    """On-demand live view that the agent pushes to the hub while someone watches."""

    enabled: bool = Field(True, description="Accept live_start commands for this camera")
    max_width: int = Field(640, ge=160, le=1920, description="Frames wider than this are downscaled, pixels")
    max_fps: float = Field(5.0, gt=0, le=30, description="Largest frame rate pushed, frames per second")
    max_kbit_s: float = Field(1500.0, gt=0, description="Largest average upload rate, kilobits per second")
    jpeg_quality: int = Field(70, ge=10, le=100, description="JPEG quality of live frames, 10-100")
    default_lease_s: float = Field(
        30.0, gt=0, le=600, description="Lease used when live_start carries no expires_at, seconds"
    )
    request_timeout_s: float = Field(5.0, gt=0, description="HTTP timeout of one frame push, seconds")
