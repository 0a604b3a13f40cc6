"""The metro_mosquitto role's password filter: deterministic and in Mosquitto 2.0's format."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import shutil
import subprocess
from pathlib import Path
from types import ModuleType

import pytest

from tests.deploy.targets import ANSIBLE_DIR

pytest.importorskip("ansible", reason="ansible is not installed in .venv (pip install the deploy extra)")

FILTER_FILE = ANSIBLE_DIR / "roles" / "metro_mosquitto" / "filter_plugins" / "metro_mosquitto.py"


def _load_filter() -> ModuleType:
    spec = importlib.util.spec_from_file_location("metro_mosquitto_filter", FILTER_FILE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


FILTER = _load_filter()


def test_hash_is_stable_for_same_input() -> None:
    first = FILTER.mosquitto_pbkdf2("secret-password", "cam-07", "seed-of-sixteen-chars")
    second = FILTER.mosquitto_pbkdf2("secret-password", "cam-07", "seed-of-sixteen-chars")
    assert first == second


@pytest.mark.parametrize(
    ("password", "username", "seed"),
    [
        ("other-password", "cam-07", "seed-of-sixteen-chars"),
        ("secret-password", "cam-08", "seed-of-sixteen-chars"),
        ("secret-password", "cam-07", "another-seed-value"),
    ],
)
def test_hash_changes_with_each_input(password: str, username: str, seed: str) -> None:
    reference = FILTER.mosquitto_pbkdf2("secret-password", "cam-07", "seed-of-sixteen-chars")
    assert FILTER.mosquitto_pbkdf2(password, username, seed) != reference


def test_hash_has_mosquitto_format() -> None:
    line = FILTER.mosquitto_pbkdf2("secret-password", "cam-07", "seed-of-sixteen-chars", 101)
    empty, algorithm, iterations, salt, digest = line.split("$")
    assert empty == ""
    assert algorithm == "7"
    assert iterations == "101"
    assert len(base64.b64decode(salt)) == 12
    expected = hashlib.pbkdf2_hmac("sha512", b"secret-password", base64.b64decode(salt), 101)
    assert base64.b64decode(digest) == expected


def test_hash_matches_mosquitto_passwd_layout(tmp_path: Path) -> None:
    if shutil.which("mosquitto_passwd") is None:
        pytest.skip("mosquitto_passwd is not installed")
    password_file = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(password_file), "cam-07", "secret-password"], check=True)
    real = password_file.read_text().strip().split(":", 1)[1]
    _, algorithm, iterations, salt, digest = real.split("$")
    ours = FILTER.mosquitto_pbkdf2("secret-password", "cam-07", "seed-of-sixteen-chars", int(iterations))
    # Same scheme, rounds and field sizes; only the salt (random in mosquitto_passwd) differs.
    assert ours.split("$")[1:3] == [algorithm, iterations]
    assert len(base64.b64decode(ours.split("$")[3])) == len(base64.b64decode(salt))
    recomputed = hashlib.pbkdf2_hmac("sha512", b"secret-password", base64.b64decode(salt), int(iterations))
    assert base64.b64encode(recomputed).decode() == digest


@pytest.mark.parametrize(
    ("password", "username", "seed", "iterations", "message"),
    [
        ("", "cam-07", "seed-of-sixteen-chars", 101, "password must be a non-empty string"),
        ("secret", None, "seed-of-sixteen-chars", 101, "username must be a non-empty string, got NoneType"),
        ("secret", "cam-07", "", 101, "salt_seed must be a non-empty string"),
        ("secret", "cam-07", "seed-of-sixteen-chars", "many", "iterations must be an integer, got 'many'"),
        ("secret", "cam-07", "seed-of-sixteen-chars", 0, "iterations must be at least 1, got 0"),
    ],
)
def test_invalid_input_raises_clear_error(
    password: object, username: object, seed: object, iterations: object, message: str
) -> None:
    from ansible.errors import AnsibleFilterError

    with pytest.raises(AnsibleFilterError, match=message):
        FILTER.mosquitto_pbkdf2(password, username, seed, iterations)
