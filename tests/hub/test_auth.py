"""Passwords, sessions, CSRF, roles, device tokens and security headers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi import APIRouter, Depends
from fastapi.testclient import TestClient

from hub.auth.deps import require_role
from hub.auth.devices import issue_device_token, verify_device_token
from hub.auth.passwords import PasswordError, check_password_policy, hash_password, verify_password
from hub.auth.sessions import IDLE_TIMEOUT, create_session, user_for_token
from hub.auth.users import UserError, authenticate, create_user
from hub.db import session_scope
from hub.models import Camera
from tests.hub.conftest import add_user, csrf_from, login

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def test_password_hash_roundtrip() -> None:
    stored = hash_password("correct horse battery")
    assert stored.startswith("scrypt$")
    assert verify_password("correct horse battery", stored)
    assert not verify_password("correct horse batterY", stored)


@pytest.mark.parametrize("stored", ["", "plain", "scrypt$x$8$1$AA==$AA==", "bcrypt$1$2$3$4$5"])
def test_password_malformed_hash_never_matches(stored: str) -> None:
    assert not verify_password("anything", stored)


def test_password_policy_rejects_short() -> None:
    with pytest.raises(PasswordError, match="at least 10"):
        check_password_policy("short")


@pytest.mark.parametrize(
    ("username", "role", "message"),
    [("Bad Name", "admin", "invalid user name"), ("ok-name", "root", "invalid role")],
)
def test_create_user_rejects(session_factory, username: str, role: str, message: str) -> None:  # type: ignore[no-untyped-def]
    with session_scope(session_factory) as session, pytest.raises(UserError, match=message):
        create_user(session, username, "long enough password", role, NOW)


def test_session_expires_when_idle(session_factory) -> None:  # type: ignore[no-untyped-def]
    with session_scope(session_factory) as session:
        user = create_user(session, "ani", "long enough password", "operator", NOW)
        token = create_session(session, user, NOW)
        assert user_for_token(session, token, NOW + timedelta(minutes=5)) is not None
        assert user_for_token(session, token, NOW + timedelta(minutes=5) + IDLE_TIMEOUT) is None
        assert user_for_token(session, "forged", NOW) is None


def test_authenticate_disabled_user(session_factory) -> None:  # type: ignore[no-untyped-def]
    with session_scope(session_factory) as session:
        user = create_user(session, "budi", "long enough password", "viewer", NOW)
        assert authenticate(session, "budi", "long enough password") is not None
        user.disabled = True
        assert authenticate(session, "budi", "long enough password") is None
        assert authenticate(session, "nobody", "long enough password") is None


def test_device_token_stored_hashed(session_factory) -> None:  # type: ignore[no-untyped-def]
    with session_scope(session_factory) as session:
        session.add(Camera(id="cam-01", name="A", lat=0, lon=0, address="", source_kind="file", created_at=NOW, updated_at=NOW))
        session.flush()
        token = issue_device_token(session, "cam-01")
        camera = session.get(Camera, "cam-01")
        assert camera is not None and camera.device_token_hash != token
        assert verify_device_token(session, "cam-01", token)
        assert not verify_device_token(session, "cam-01", token + "x")
        assert not verify_device_token(session, "cam-02", token)
        second = issue_device_token(session, "cam-01")
        assert not verify_device_token(session, "cam-01", token), "a reissued token must revoke the old one"
        assert verify_device_token(session, "cam-01", second)


def test_login_without_csrf_rejected(hub_app) -> None:  # type: ignore[no-untyped-def]
    add_user(hub_app, "ani", "operator")
    with TestClient(hub_app) as client:
        client.get("/login")
        response = client.post("/login", data={"username": "ani", "password": "correct horse battery"})
        assert response.status_code == 403
        assert "Formulir kedaluwarsa atau tidak sah." in response.text, "a page form gets the HTML error page"
        forged = client.post(
            "/login", data={"username": "ani", "password": "correct horse battery", "csrf_token": "0" * 64}
        )
        assert forged.status_code == 403


def test_login_sets_session_cookie(hub_app) -> None:  # type: ignore[no-untyped-def]
    add_user(hub_app, "ani", "operator")
    with TestClient(hub_app) as client:
        token = csrf_from(client)
        response = client.post(
            "/login",
            data={"username": "ani", "password": "correct horse battery", "csrf_token": token, "next": "//evil.example"},
            follow_redirects=False,
        )
        assert response.status_code == 303
        assert response.headers["location"] == "/", "an off-site next target must be ignored"
        cookie = next(h for h in response.headers.get_list("set-cookie") if h.startswith("metro_session="))
        assert "HttpOnly" in cookie
        assert "SameSite=lax" in cookie or "SameSite=Lax" in cookie
        assert "Secure" not in cookie, "plain http test server must not get a Secure cookie"


def test_login_secure_cookie_over_https(hub_app) -> None:  # type: ignore[no-untyped-def]
    add_user(hub_app, "ani", "operator")
    with TestClient(hub_app, base_url="https://testserver") as client:
        token = csrf_from(client)
        response = client.post(
            "/login", data={"username": "ani", "password": "correct horse battery", "csrf_token": token},
            follow_redirects=False,
        )
        cookie = next(h for h in response.headers.get_list("set-cookie") if h.startswith("metro_session="))
        assert "Secure" in cookie


def test_login_wrong_password(hub_app) -> None:  # type: ignore[no-untyped-def]
    add_user(hub_app, "ani", "operator")
    with TestClient(hub_app) as client:
        token = csrf_from(client)
        response = client.post("/login", data={"username": "ani", "password": "wrong password!", "csrf_token": token})
        assert response.status_code == 401
        assert "Nama pengguna atau kata sandi salah." in response.text
        assert "metro_session" not in client.cookies


def test_logout_ends_session(hub_app) -> None:  # type: ignore[no-untyped-def]
    add_user(hub_app, "ani", "operator")
    with TestClient(hub_app) as client:
        token = login(client, "ani")
        old_cookie = client.cookies["metro_session"]
        response = client.post("/logout", data={"csrf_token": token}, follow_redirects=False)
        assert response.status_code == 303
        client.cookies.set("metro_session", old_cookie)
        page = client.get("/login", follow_redirects=False)
        assert page.status_code == 200, "the old session cookie must no longer log in"


def _role_app(hub_app):  # type: ignore[no-untyped-def]
    router = APIRouter()

    @router.post("/api/v1/_test/operator")
    def operator_only(user=Depends(require_role("operator", "admin"))) -> dict[str, str]:  # type: ignore[no-untyped-def]  # noqa: B008
        return {"user": user.username}

    hub_app.include_router(router)
    return hub_app


@pytest.mark.parametrize(("role", "status"), [("viewer", 403), ("operator", 200), ("admin", 200)])
def test_require_role(hub_app, role: str, status: int) -> None:  # type: ignore[no-untyped-def]
    app = _role_app(hub_app)
    add_user(app, "user1", role)
    with TestClient(app) as client:
        token = login(client, "user1")
        response = client.post("/api/v1/_test/operator", headers={"X-CSRF-Token": token})
        assert response.status_code == status
        missing = client.post("/api/v1/_test/operator")
        assert missing.status_code == 403
        assert missing.json()["error"]["code"] == "csrf_failed"


def test_api_without_login_is_401(hub_app) -> None:  # type: ignore[no-untyped-def]
    app = _role_app(hub_app)
    with TestClient(app) as client:
        token = csrf_from(client)
        english = client.post("/api/v1/_test/operator?lang=en", headers={"X-CSRF-Token": token})
        browser_default = client.post("/api/v1/_test/operator", headers={"X-CSRF-Token": token, "Accept-Language": "en-US,en"})
        assert english.status_code == 401
        assert english.json()["error"] == {"code": "unauthorized", "message": "Please log in first.", "details": {}}
        assert browser_default.json()["error"]["message"] == "Silakan masuk terlebih dahulu.", (
            "an English browser must still get Bahasa Indonesia until the person chooses English"
        )


def test_security_headers(hub_app) -> None:  # type: ignore[no-untyped-def]
    with TestClient(hub_app) as client:
        response = client.get("/login")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert "geolocation=(self)" in response.headers["permissions-policy"]
    assert response.headers["referrer-policy"] == "same-origin"


def test_language_switch(hub_app) -> None:  # type: ignore[no-untyped-def]
    with TestClient(hub_app) as client:
        english = client.get("/login?lang=en")
        assert "User name" in english.text
        assert english.cookies.get("lang") == "en"
        assert "User name" in client.get("/login").text, "the lang cookie must keep English"
        assert "Nama pengguna" in client.get("/login?lang=id").text


def test_throttle_blocks_after_limit() -> None:
    from hub.auth.throttle import LoginThrottle

    clock = {"now": 0.0}
    throttle = LoginThrottle(max_failures=3, window_s=60, clock=lambda: clock["now"])
    for _ in range(3):
        assert not throttle.blocked("user:ani", "addr:10.0.0.1")
        throttle.record_failure("user:ani", "addr:10.0.0.1")
    assert throttle.blocked("user:ani")
    assert throttle.blocked("user:other", "addr:10.0.0.1"), "the address is blocked for every user name"
    clock["now"] = 60.0
    assert not throttle.blocked("user:ani", "addr:10.0.0.1"), "failures expire after the window"


def test_login_throttled_after_failures(hub_app) -> None:  # type: ignore[no-untyped-def]
    from hub.auth.throttle import LoginThrottle

    add_user(hub_app, "ani", "operator")
    hub_app.state.login_throttle = LoginThrottle(max_failures=2)
    with TestClient(hub_app) as client:
        token = csrf_from(client)
        for _ in range(2):
            wrong = client.post("/login", data={"username": "ani", "password": "wrong password!", "csrf_token": token})
            assert wrong.status_code == 401
        right = client.post(
            "/login", data={"username": "ani", "password": "correct horse battery", "csrf_token": token},
            follow_redirects=False,
        )
        assert right.status_code == 429, "even the right password is refused while blocked"
        assert "metro_session" not in client.cookies
