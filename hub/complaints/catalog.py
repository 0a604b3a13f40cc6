"""Categories, OPDs, holidays and the city boundary, read once from the configured data files."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path

from hub.complaints.geo import Boundary, load_boundary
from hub.complaints.settings import ComplaintSettings

CLASSIFICATIONS = ("pengaduan", "aspirasi", "permintaan_informasi")


@dataclass(frozen=True)
class Opd:
    code: str
    name: str


@dataclass(frozen=True)
class Category:
    """A kind of complaint; ``code`` is also the Open311 service_code."""

    code: str
    name_id: str
    name_en: str
    opd: str
    group: str
    keywords: str

    def name(self, language: str) -> str:
        return self.name_en if language == "en" else self.name_id


@dataclass(frozen=True)
class Catalog:
    categories: dict[str, Category]
    opds: dict[str, Opd]
    holidays: frozenset[date]
    boundary: Boundary


def _read(path: Path, key: str) -> list[dict[str, str]]:
    try:
        items = json.loads(path.read_text(encoding="utf-8"))[key]
    except (OSError, ValueError, KeyError) as exc:
        raise ValueError(f"cannot read {key} from {path}: {exc}") from exc
    if not isinstance(items, list):
        raise ValueError(f"{path}: '{key}' must be a list")
    return items


@lru_cache(maxsize=8)
def _load(categories_file: Path, opds_file: Path, holidays_file: Path, boundary_file: Path) -> Catalog:
    opds = {item["code"]: Opd(item["code"], item["name"]) for item in _read(opds_file, "opds")}
    categories: dict[str, Category] = {}
    for item in _read(categories_file, "categories"):
        if item["opd"] not in opds:
            raise ValueError(f"{categories_file}: category {item['code']!r} names unknown OPD {item['opd']!r}; add it to {opds_file}")
        categories[item["code"]] = Category(
            item["code"], item["name_id"], item["name_en"], item["opd"], item.get("group", ""), item.get("keywords", "")
        )
    holidays = frozenset(date.fromisoformat(item["date"]) for item in _read(holidays_file, "holidays"))
    return Catalog(categories, opds, holidays, load_boundary(boundary_file))


def load_catalog(settings: ComplaintSettings) -> Catalog:
    """Return the catalogue for ``settings``; files are read once per set of paths."""
    return _load(settings.categories_file, settings.opds_file, settings.holidays_file, settings.boundary_file)
