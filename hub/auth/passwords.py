"""Password hashing with scrypt from the standard library.

Stored form: ``scrypt$<n>$<r>$<p>$<salt b64>$<hash b64>``, so the cost can be raised
later without breaking existing hashes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
_KEY_BYTES = 32
MIN_PASSWORD_LENGTH = 10


class PasswordError(ValueError):
    """A password that does not meet the policy."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def check_password_policy(password: str) -> None:
    """Raise PasswordError when ``password`` is too short to be allowed."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise PasswordError(f"password is {len(password)} characters long; use at least {MIN_PASSWORD_LENGTH}")


def hash_password(password: str) -> str:
    """Hash ``password`` with a fresh random salt."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=_KEY_BYTES)
    return "$".join(
        ["scrypt", str(SCRYPT_N), str(SCRYPT_R), str(SCRYPT_P), _b64(salt), _b64(digest)]
    )


def verify_password(password: str, stored: str) -> bool:
    """Check ``password`` against a stored hash in constant time; a malformed hash never matches."""
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        return False
    try:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt = base64.b64decode(parts[4])
        expected = base64.b64decode(parts[5])
    except ValueError:
        return False
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=len(expected), maxmem=2**26)
    return hmac.compare_digest(digest, expected)


# A hash of a random password, verified when the user name is unknown so that a login
# attempt takes the same time whether or not the account exists.
DUMMY_HASH = hash_password(secrets.token_urlsafe(16))
