"""Rendering of Open311 GeoReport v2 responses as JSON or XML, and parsing of its parameters.

Pure code. XML element names follow the GeoReport v2 examples: a list field such as
``attributes`` contains one ``attribute`` element per item.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone
from typing import Any

WIB = timezone(timedelta(hours=7), "WIB")
FORMATS = {"json": "application/json; charset=utf-8", "xml": "text/xml; charset=utf-8"}
# Singular element names for list fields whose plural is not a plain trailing "s".
_SINGULAR = {"values": "value", "attributes": "attribute", "endpoints": "endpoint", "formats": "format"}


class Open311Error(Exception):
    """An error returned as a GeoReport v2 error list of {code, description}."""

    def __init__(self, status_code: int, description: str) -> None:
        super().__init__(description)
        self.status_code = status_code
        self.description = description


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _append(parent: ET.Element, tag: str, value: Any) -> None:
    element = ET.SubElement(parent, tag)
    if isinstance(value, dict):
        for key, inner in value.items():
            _append(element, key, inner)
    elif isinstance(value, list):
        child_tag = _SINGULAR.get(tag, tag[:-1] if tag.endswith("s") else tag)
        for inner in value:
            _append(element, child_tag, inner)
    else:
        element.text = _text(value)


def to_xml(root_tag: str, item_tag: str | None, payload: list[dict[str, Any]] | dict[str, Any]) -> bytes:
    """Serialise a list of items (or one object when ``item_tag`` is None) as an XML document."""
    if item_tag is None:
        assert isinstance(payload, dict)
        root = ET.Element(root_tag)
        for key, value in payload.items():
            _append(root, key, value)
    else:
        root = ET.Element(root_tag)
        for item in payload:
            _append(root, item_tag, item)
    return b"<?xml version=\"1.0\" encoding=\"utf-8\"?>\n" + bytes(ET.tostring(root, encoding="utf-8"))


def to_json(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False).encode("utf-8")


def errors_payload(status_code: int, description: str) -> list[dict[str, str]]:
    return [{"code": str(status_code), "description": description}]


def parse_datetime(name: str, value: str) -> datetime:
    """Parse a W3C/ISO 8601 timestamp; a value without an offset is read as WIB."""
    text = value.strip()
    if "T" in text and text.count(" ") == 1:
        # An unencoded "+07:00" in a query string arrives as " 07:00".
        text = text.replace(" ", "+")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise Open311Error(400, f"{name} {value!r} is not a W3C datetime such as 2026-03-02T09:00:00+07:00") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=WIB)


def present(params: dict[str, str], name: str) -> str | None:
    """Return a parameter's value; an empty value counts as absent, as GeoReport v2 requires."""
    value = params.get(name)
    if value is None or value.strip() == "":
        return None
    return value.strip()


def iso_wib(value: datetime | None) -> str | None:
    return value.astimezone(WIB).isoformat(timespec="seconds") if value is not None else None
