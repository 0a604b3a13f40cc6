"""Filter that hashes a password for a Mosquitto 2.0 password file, deterministically.

``mosquitto_passwd`` picks a random salt on every run, so a file rebuilt with it
differs on every play and reloads the broker each time. This filter derives the
salt from a secret seed and the user name. The same user and password therefore
always give the same line, and the file changes only when a user or a password
changes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from ansible.errors import AnsibleFilterError

# Mosquitto 2.0 stores "$7$<iterations>$<base64 salt>$<base64 PBKDF2-SHA512 hash>";
# mosquitto_passwd uses a 12-byte salt.
_SALT_BYTES = 12


def _require_text(name: str, value: object) -> str:
    if not isinstance(value, str) or not value:
        raise AnsibleFilterError(
            f"mosquitto_pbkdf2: {name} must be a non-empty string, got {type(value).__name__}; "
            "check that the vault variables are defined for every camera"
        )
    return value


def mosquitto_pbkdf2(password: object, username: object, salt_seed: object, iterations: object = 101) -> str:
    """Return the ``$7$`` hash of ``password`` with a salt derived from ``salt_seed`` and ``username``."""
    password_text = _require_text("password", password)
    username_text = _require_text("username", username)
    seed_text = _require_text("salt_seed", salt_seed)
    try:
        rounds = int(str(iterations))
    except ValueError as exc:
        raise AnsibleFilterError(f"mosquitto_pbkdf2: iterations must be an integer, got {iterations!r}") from exc
    if rounds < 1:
        raise AnsibleFilterError(f"mosquitto_pbkdf2: iterations must be at least 1, got {rounds}")

    salt = hmac.new(seed_text.encode(), username_text.encode(), hashlib.sha256).digest()[:_SALT_BYTES]
    digest = hashlib.pbkdf2_hmac("sha512", password_text.encode(), salt, rounds)
    return f"$7${rounds}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


class FilterModule:
    """Filters of the metro_mosquitto role."""

    def filters(self) -> dict[str, object]:
        return {"mosquitto_pbkdf2": mosquitto_pbkdf2}
