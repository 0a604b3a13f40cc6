"""Operator- and citizen-facing text in Bahasa Indonesia (default) and English.

Each feature module registers its own catalogue with ``register``; pages and API
messages look text up with ``translate``. Code, logs and docs stay in English.
"""

from __future__ import annotations

from collections.abc import Mapping

LANGUAGES = ("id", "en")
DEFAULT_LANGUAGE = "id"

_CATALOGUE: dict[str, dict[str, str]] = {"id": {}, "en": {}}


def register(entries: Mapping[str, tuple[str, str]]) -> None:
    """Add ``key -> (indonesian, english)`` entries; a key registered twice must not change."""
    for key, (text_id, text_en) in entries.items():
        existing = _CATALOGUE["id"].get(key)
        if existing is not None and existing != text_id:
            raise ValueError(f"i18n key {key!r} is already registered with other text")
        _CATALOGUE["id"][key] = text_id
        _CATALOGUE["en"][key] = text_en


def normalise_language(value: str | None) -> str:
    """Map a query value, cookie or Accept-Language header to 'id' or 'en'."""
    if not value:
        return DEFAULT_LANGUAGE
    first = value.split(",")[0].strip().lower()
    return "en" if first.startswith("en") else DEFAULT_LANGUAGE


def translate(key: str, language: str = DEFAULT_LANGUAGE, **values: object) -> str:
    """Return the text for ``key``; an unknown key returns the key itself so gaps stay visible."""
    table = _CATALOGUE.get(language) or _CATALOGUE[DEFAULT_LANGUAGE]
    text = table.get(key) or _CATALOGUE[DEFAULT_LANGUAGE].get(key) or key
    return text.format(**values) if values else text
