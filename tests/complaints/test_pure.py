"""Pure helpers: working days, geofence, distance, tracking codes and idempotency keys."""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.complaints.calendar import WIB, add_working_days, due_at, is_working_day, working_days_between
from hub.complaints.catalog import load_catalog
from hub.complaints.codes import (
    ALPHABET,
    idempotency_scope,
    new_tracking_code,
    normalise_tracking_code,
    request_fingerprint,
    valid_idempotency_key,
)
from hub.complaints.geo import bounding_box, distance_m, parse_boundary, point_in_ring
from hub.complaints.settings import DATA_DIR, ComplaintSettings

HOLIDAYS = frozenset({date(2026, 3, 19), date(2026, 3, 20), date(2026, 3, 21)})


@pytest.mark.parametrize(
    ("start", "days", "expected"),
    [
        (date(2026, 3, 2), 3, date(2026, 3, 5)),  # Monday + 3 = Thursday
        (date(2026, 3, 5), 3, date(2026, 3, 10)),  # Thursday: Fri, (weekend), Mon, Tue
        (date(2026, 3, 7), 1, date(2026, 3, 9)),  # Saturday start counts from Monday
        (date(2026, 3, 17), 3, date(2026, 3, 24)),  # Wed 18, (Nyepi 19, Idul Fitri 20-21, Sun 22), Mon 23, Tue 24
        (date(2026, 3, 2), 0, date(2026, 3, 2)),
    ],
)
def test_add_working_days(start: date, days: int, expected: date) -> None:
    assert add_working_days(start, days, HOLIDAYS) == expected


def test_add_working_days_negative() -> None:
    with pytest.raises(ValueError, match="days must be >= 0"):
        add_working_days(date(2026, 1, 1), -1, HOLIDAYS)


def test_due_at_uses_wib_date() -> None:
    # 2026-03-01 20:00 UTC is Monday 2 March 03:00 WIB, so the count starts from Monday.
    due = due_at(datetime(2026, 3, 1, 20, 0, tzinfo=UTC), 3, HOLIDAYS)
    assert due == datetime(2026, 3, 6, 0, 0, tzinfo=WIB)
    assert due.tzinfo is UTC


def test_due_at_rejects_naive() -> None:
    with pytest.raises(ValueError, match="naive"):
        due_at(datetime(2026, 3, 1), 3, HOLIDAYS)


def test_holiday_not_working_day() -> None:
    assert not is_working_day(date(2026, 3, 19), HOLIDAYS)
    assert not is_working_day(date(2026, 3, 22), HOLIDAYS)
    assert is_working_day(date(2026, 3, 23), HOLIDAYS)


@given(st.dates(min_value=date(2025, 1, 1), max_value=date(2027, 12, 31)), st.integers(0, 40))
def test_working_days_roundtrip(start: date, days: int) -> None:
    end = add_working_days(start, days, HOLIDAYS)
    assert working_days_between(start, end, HOLIDAYS) == days
    assert working_days_between(end, start, HOLIDAYS) == -days


def test_seeded_holidays_load() -> None:
    catalog = load_catalog(ComplaintSettings())
    assert date(2026, 8, 17) in catalog.holidays
    assert len(catalog.holidays) >= 15
    assert catalog.categories["jalan-rusak"].opd == "putr"
    assert catalog.categories["lampu-jalan"].opd == "dishub"
    assert catalog.categories["ketertiban-umum"].opd == "satpolpp"


def test_distance_known_value() -> None:
    # One degree of latitude is about 111.2 km on the mean-radius sphere.
    assert distance_m(0, 0, 1, 0) == pytest.approx(111_195, rel=1e-4)
    assert distance_m(-5.1131, 105.3067, -5.1131, 105.3067) == 0


def test_distance_250m_boundary() -> None:
    lat, lon = -5.1131, 105.3067
    offset = math.degrees(250 / 6_371_008.8)
    assert distance_m(lat, lon, lat + offset * 0.99, lon) < 250
    assert distance_m(lat, lon, lat + offset * 1.01, lon) > 250


@given(st.floats(-60, 60), st.floats(-179, 179), st.floats(1, 5000), st.floats(0, 2 * math.pi))
def test_bounding_box_contains_circle(lat: float, lon: float, radius: float, bearing: float) -> None:
    min_lat, max_lat, min_lon, max_lon = bounding_box(lat, lon, radius)
    # A point about ``radius`` away along the bearing must lie inside the box.
    dlat = math.degrees(radius * 0.999 * math.cos(bearing) / 6_371_008.8)
    dlon = math.degrees(radius * 0.999 * math.sin(bearing) / (6_371_008.8 * math.cos(math.radians(lat))))
    assert min_lat <= lat + dlat <= max_lat
    assert min_lon <= lon + dlon <= max_lon


SQUARE = [(0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (0.0, 10.0)]


@pytest.mark.parametrize(
    ("lon", "lat", "inside"),
    [(5, 5, True), (0, 5, True), (10, 10, True), (-0.1, 5, False), (5, 10.1, False), (15, 5, False)],
)
def test_point_in_square(lon: float, lat: float, inside: bool) -> None:
    assert point_in_ring(lon, lat, SQUARE) is inside


def test_polygon_hole_excluded() -> None:
    boundary = parse_boundary(
        {"type": "Polygon", "coordinates": [[[0, 0], [10, 0], [10, 10], [0, 10], [0, 0]], [[4, 4], [6, 4], [6, 6], [4, 6], [4, 4]]]}
    )
    assert boundary.contains(2, 2)
    assert not boundary.contains(5, 5)


def test_city_boundary_geofence() -> None:
    boundary = load_catalog(ComplaintSettings()).boundary
    assert boundary.approximate
    assert boundary.contains(-5.1131, 105.3067)  # Taman Merdeka, city centre
    assert not boundary.contains(-5.4292, 105.2610)  # Bandar Lampung
    assert not boundary.contains(-5.1131, 105.40)  # east of the city, Lampung Timur
    assert not boundary.contains(math.nan, 105.3)


def test_boundary_file_is_geojson() -> None:
    document = json.loads((DATA_DIR / "kota-metro-boundary.geojson").read_text())
    ring = document["features"][0]["geometry"]["coordinates"][0]
    assert ring[0] == ring[-1]


def test_boundary_rejects_point() -> None:
    with pytest.raises(ValueError, match="not Polygon"):
        parse_boundary({"type": "Point", "coordinates": [1, 2]})


def test_tracking_code_shape() -> None:
    codes = {new_tracking_code() for _ in range(500)}
    assert len(codes) == 500
    for code in codes:
        assert code.startswith("LY-")
        assert len(code) == 12
        assert all(symbol in ALPHABET for symbol in code[3:7] + code[8:])


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("LY-7KQ2-M9XD", "LY-7KQ2-M9XD"),
        ("ly 7kq2 m9xd", "LY-7KQ2-M9XD"),
        ("7KQ2M9XD", "LY-7KQ2-M9XD"),
        ("LY-7KQ2-M9XO", "LY-7KQ2-M9X0"),
        ("LY-7KQ2-M9XU", None),
        ("LY-7KQ2", None),
        ("", None),
    ],
)
def test_normalise_tracking_code(typed: str, expected: str | None) -> None:
    assert normalise_tracking_code(typed) == expected


@pytest.mark.parametrize(
    ("key", "valid"),
    [("a" * 8, True), ("3f1c9a1e-2b7d-4c1e-9f1a-0c2d3e4f5a6b", True), ("short", False), ("a" * 129, False), ("has space", False), ("ключ-ключ", False)],
)
def test_idempotency_key_validation(key: str, valid: bool) -> None:
    assert valid_idempotency_key(key) is valid


def test_idempotency_scope_hides_key() -> None:
    scope = idempotency_scope("secret-key-123")
    assert len(scope) == 64
    assert "secret" not in scope


def test_fingerprint_changes_with_values() -> None:
    assert request_fingerprint("a", 1) == request_fingerprint("a", 1)
    assert request_fingerprint("a", 1) != request_fingerprint("a", 2)
    assert request_fingerprint("ab", "c") != request_fingerprint("a", "bc")
