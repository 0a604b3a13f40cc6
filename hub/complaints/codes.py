"""Tracking codes, Open311 tokens and idempotency keys.

Tracking codes look like ``LY-7KQ2-M9XD``: 8 symbols of Crockford's base-32 alphabet
(no I, L, O or U) from the operating system's CSPRNG, 40 bits in all. The code is the
reporter's only credential, so it is never shown in public listings.
"""

from __future__ import annotations

import hashlib
import re
import secrets

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
PREFIX = "LY"
_CODE_PATTERN = re.compile(r"^LY-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$")
# Idempotency keys: 8-128 visible ASCII characters, e.g. a UUID the client made.
_KEY_PATTERN = re.compile(r"^[\x21-\x7e]{8,128}$")


def new_tracking_code() -> str:
    """Return a fresh random tracking code."""
    symbols = "".join(secrets.choice(ALPHABET) for _ in range(8))
    return f"{PREFIX}-{symbols[:4]}-{symbols[4:]}"


def normalise_tracking_code(value: str) -> str | None:
    """Return the canonical form of a typed code, or None when it cannot be one.

    Case and spaces are ignored, the dashes are optional, and the look-alike letters
    O, I and L are read as 0, 1 and 1 as Crockford's alphabet prescribes.
    """
    cleaned = re.sub(r"[\s-]", "", value.upper())
    if cleaned.startswith(PREFIX):
        cleaned = cleaned[len(PREFIX) :]
    cleaned = cleaned.translate(str.maketrans("OIL", "011"))
    if len(cleaned) != 8:
        return None
    code = f"{PREFIX}-{cleaned[:4]}-{cleaned[4:]}"
    return code if _CODE_PATTERN.match(code) else None


def new_open311_token() -> str:
    """Return a random token for Open311 ``GET tokens/{token}``."""
    return secrets.token_urlsafe(16)


def valid_idempotency_key(value: str) -> bool:
    """Return True when ``value`` is 8-128 visible ASCII characters."""
    return bool(_KEY_PATTERN.match(value))


def idempotency_scope(key: str) -> str:
    """Return the stored form of a key: its SHA-256 hex digest, so raw keys are never kept."""
    return hashlib.sha256(key.encode("ascii")).hexdigest()


def request_fingerprint(*parts: object) -> str:
    """Return a SHA-256 over the submitted values, to tell a replay from a reused key."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(repr(part).encode("utf-8"))
        digest.update(b"\x00")
    return digest.hexdigest()


def hash_api_key(key: str) -> str:
    """Return the SHA-256 hex digest under which an Open311 API key is stored."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()
