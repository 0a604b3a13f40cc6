"""Settings of the complaint service from ``METRO_HUB_COMPLAINTS_*`` environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DATA_DIR = Path(__file__).resolve().parent / "data"


class ComplaintSettings(BaseSettings):
    """Limits, service targets and data files of Lapor Yai."""

    model_config = SettingsConfigDict(env_prefix="METRO_HUB_COMPLAINTS_", extra="forbid", env_file=None)

    categories_file: Path = Field(DATA_DIR / "categories.json", description="JSON list of categories and their default OPD")
    opds_file: Path = Field(DATA_DIR / "opds.json", description="JSON list of OPDs that receive dispositions")
    holidays_file: Path = Field(DATA_DIR / "holidays.json", description="JSON list of public holidays (not working days)")
    boundary_file: Path = Field(DATA_DIR / "kota-metro-boundary.geojson", description="GeoJSON polygon a report's location must fall inside")
    verify_days: int = Field(3, ge=1, le=60, description="Service target for verification, working days after submission")
    follow_up_days: int = Field(5, ge=1, le=60, description="Service target for the OPD's follow-up plan, working days after disposition")
    photo_max_bytes: int = Field(15 * 1024 * 1024, gt=0, description="Largest accepted photo upload, bytes")
    photo_max_pixels: int = Field(50_000_000, gt=0, description="Largest accepted photo, pixels (width x height); larger ones are rejected as decompression bombs")
    photo_max_side_px: int = Field(2048, ge=256, description="Stored photos are shrunk so that the longer side is at most this, pixels")
    thumb_side_px: int = Field(320, ge=64, description="Longer side of list thumbnails, pixels")
    max_photos: int = Field(3, ge=0, le=10, description="Photos per report")
    rate_window_s: int = Field(600, gt=0, description="Rate-limit window for submissions, seconds")
    rate_per_address: int = Field(10, gt=0, description="Submissions per client address within the window")
    rate_per_device: int = Field(5, gt=0, description="Submissions per device id within the window")
    lookup_misses_per_address: int = Field(30, gt=0, description="Wrong tracking codes a client address may try within the rate-limit window before lookups are blocked")
    duplicate_radius_m: float = Field(250.0, gt=0, description="Open reports of the same category within this distance are suggested as duplicates, metres")
    duplicate_days: int = Field(30, gt=0, description="Duplicate suggestions look back this many days")
    retention_days: int = Field(5 * 365, gt=0, description="Closed reports older than this are anonymised (contact and photos removed), days")
