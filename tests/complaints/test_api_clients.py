"""The complaint API for clients without a browser session: mobile apps, curl, scripts."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient

from tests.complaints.conftest import jpeg_bytes, report_form
from tests.hub.conftest import add_user, login


def test_anonymous_multipart_accepted(app) -> None:  # type: ignore[no-untyped-def]
    with TestClient(app) as client:
        response = client.post(
            "/api/v1/complaints",
            data=report_form(),
            files=[("photos", ("lubang.jpg", jpeg_bytes(), "image/jpeg"))],
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )
        assert response.status_code == 201, response.text
        assert response.json()["tracking_code"].startswith("LY-")
        assert "cookie" not in {name.lower() for name in response.request.headers}


def test_cookie_jar_without_session_accepted(app) -> None:  # type: ignore[no-untyped-def]
    """An app with a cookie jar sends back the CSRF and device cookies of its first answer."""
    with TestClient(app) as client:
        first = client.post("/api/v1/complaints", data=report_form(), headers={"Idempotency-Key": uuid.uuid4().hex})
        assert first.status_code == 201, first.text
        assert client.cookies.get("metro_csrf")
        second = client.post(
            "/api/v1/complaints", data=report_form(description="Lampu jalan mati"), headers={"Idempotency-Key": uuid.uuid4().hex}
        )
        assert second.status_code == 201, second.text
        assert second.json()["tracking_code"] != first.json()["tracking_code"]


def test_session_without_token_rejected(app) -> None:  # type: ignore[no-untyped-def]
    add_user(app, "petugas-lapor", "operator")
    with TestClient(app) as client:
        token = login(client, "petugas-lapor")
        missing = client.post("/api/v1/complaints", data=report_form(), headers={"Idempotency-Key": uuid.uuid4().hex})
        assert missing.status_code == 403
        error = missing.json()["error"]
        assert error["code"] == "csrf_failed"
        assert "X-CSRF-Token" in error["message"]
        assert "Muat ulang halaman" not in error["message"]
        allowed = client.post(
            "/api/v1/complaints", data=report_form(), headers={"Idempotency-Key": uuid.uuid4().hex, "X-CSRF-Token": token}
        )
        assert allowed.status_code == 201, allowed.text


def test_json_body_rejected_clearly(app) -> None:  # type: ignore[no-untyped-def]
    with TestClient(app) as client:
        response = client.post("/api/v1/complaints", json=report_form())
        assert response.status_code == 415
        error = response.json()["error"]
        assert error["code"] == "form_body_expected"
        assert "multipart/form-data" in error["message"]
        assert "application/json" in error["message"]
        assert "category, lat, lon, description" in error["message"]
        assert error["details"]["required_fields"] == ["category", "lat", "lon", "description"]
        assert "photos" in error["details"]["optional_fields"]
        english = client.post("/api/v1/complaints?lang=en", json=report_form()).json()["error"]["message"]
        assert english.startswith("Send the report as multipart/form-data, not application/json.")


def test_error_fields_match_openapi(app) -> None:  # type: ignore[no-untyped-def]
    with TestClient(app) as client:
        schema = client.get("/openapi.json").json()
        body_ref = schema["paths"]["/api/v1/complaints"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]["$ref"]
        properties = schema["components"]["schemas"][body_ref.rsplit("/", 1)[1]]["properties"]
        outside = client.post("/api/v1/complaints", data=report_form(lat="-5.4292", lon="105.2610"))
        assert outside.status_code == 422
        details = outside.json()["error"]["details"]
        assert details["fields"] == ["lat", "lon"]
        assert details["lon"] == 105.261
        json_error = client.post("/api/v1/complaints", json={}).json()["error"]["details"]
    named = set(details["fields"]) | set(json_error["required_fields"]) | set(json_error["optional_fields"])
    assert named <= set(properties), named - set(properties)
