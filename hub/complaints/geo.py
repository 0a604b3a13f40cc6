"""Geometry for complaints: great-circle distance, bounding boxes and the city geofence.

Pure code except ``load_boundary``, which reads a GeoJSON file. Coordinates are WGS84
degrees; GeoJSON stores them as [lon, lat].
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

EARTH_RADIUS_M = 6_371_008.8  # mean Earth radius (IUGG), metres

Ring = Sequence[tuple[float, float]]  # closed or open ring of (lon, lat)


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Return the haversine distance between two points, in metres."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlambda = math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def bounding_box(lat: float, lon: float, radius_m: float) -> tuple[float, float, float, float]:
    """Return (min_lat, max_lat, min_lon, max_lon) enclosing a circle; valid away from the poles."""
    dlat = math.degrees(radius_m / EARTH_RADIUS_M)
    dlon = math.degrees(radius_m / (EARTH_RADIUS_M * max(math.cos(math.radians(lat)), 1e-6)))
    return lat - dlat, lat + dlat, lon - dlon, lon + dlon


def point_in_ring(lon: float, lat: float, ring: Ring) -> bool:
    """Return True when the point is inside the ring (even-odd ray casting; edges count as inside)."""
    inside = False
    count = len(ring)
    for index in range(count):
        x1, y1 = ring[index]
        x2, y2 = ring[(index + 1) % count]
        if _on_segment(lon, lat, x1, y1, x2, y2):
            return True
        if (y1 > lat) != (y2 > lat):
            x_cross = x1 + (lat - y1) * (x2 - x1) / (y2 - y1)
            if lon < x_cross:
                inside = not inside
    return inside


def _on_segment(px: float, py: float, x1: float, y1: float, x2: float, y2: float) -> bool:
    cross = (x2 - x1) * (py - y1) - (y2 - y1) * (px - x1)
    if abs(cross) > 1e-12:
        return False
    return min(x1, x2) - 1e-12 <= px <= max(x1, x2) + 1e-12 and min(y1, y2) - 1e-12 <= py <= max(y1, y2) + 1e-12


@dataclass(frozen=True)
class Polygon:
    """One polygon: an outer ring and optional holes, each a list of (lon, lat)."""

    outer: tuple[tuple[float, float], ...]
    holes: tuple[tuple[tuple[float, float], ...], ...] = ()

    def contains(self, lat: float, lon: float) -> bool:
        if not point_in_ring(lon, lat, self.outer):
            return False
        return not any(point_in_ring(lon, lat, hole) for hole in self.holes)


@dataclass(frozen=True)
class Boundary:
    """A (multi)polygon area such as the city boundary."""

    name: str
    polygons: tuple[Polygon, ...]
    approximate: bool = False

    def contains(self, lat: float, lon: float) -> bool:
        if not (math.isfinite(lat) and math.isfinite(lon)):
            return False
        return any(polygon.contains(lat, lon) for polygon in self.polygons)


def _ring(raw: object) -> tuple[tuple[float, float], ...]:
    if not isinstance(raw, list) or len(raw) < 3:
        raise ValueError("a GeoJSON ring needs at least 3 [lon, lat] positions")
    return tuple((float(point[0]), float(point[1])) for point in raw)


def parse_boundary(document: dict[str, object]) -> Boundary:
    """Build a Boundary from a GeoJSON Feature, FeatureCollection (first feature) or geometry."""
    feature: dict[str, object] = document
    if document.get("type") == "FeatureCollection":
        features = document.get("features")
        if not isinstance(features, list) or not features:
            raise ValueError("the boundary FeatureCollection has no features")
        feature = features[0]
    properties = feature.get("properties") if feature.get("type") == "Feature" else {}
    geometry = feature.get("geometry") if feature.get("type") == "Feature" else feature
    if not isinstance(geometry, dict):
        raise ValueError("the boundary has no geometry")
    coordinates = geometry.get("coordinates")
    if geometry.get("type") == "Polygon":
        raw_polygons = [coordinates]
    elif geometry.get("type") == "MultiPolygon":
        raw_polygons = list(coordinates) if isinstance(coordinates, list) else []
    else:
        raise ValueError(f"boundary geometry type {geometry.get('type')!r} is not Polygon or MultiPolygon")
    polygons = []
    for raw in raw_polygons:
        if not isinstance(raw, list) or not raw:
            raise ValueError("a boundary polygon has no rings")
        polygons.append(Polygon(_ring(raw[0]), tuple(_ring(hole) for hole in raw[1:])))
    props = properties if isinstance(properties, dict) else {}
    return Boundary(str(props.get("name", "boundary")), tuple(polygons), bool(props.get("approximate", False)))


def load_boundary(path: Path) -> Boundary:
    """Read a boundary GeoJSON file; raise ValueError naming the file when it is invalid."""
    try:
        return parse_boundary(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError, IndexError, KeyError) as exc:
        raise ValueError(f"invalid boundary file {path}: {exc}") from exc
