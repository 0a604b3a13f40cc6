"""Citizen and operator pages: rendering, language switch, actions through HTML forms."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import select

from hub.complaints.models import Complaint
from tests.complaints.conftest import csrf, submit
from tests.hub.conftest import add_user, login


def test_citizen_form_renders(client: TestClient) -> None:
    page = client.get("/lapor")
    assert page.status_code == 200
    assert "Kirim laporan" in page.text
    assert 'name="idempotency_key"' in page.text
    assert "<script>" not in page.text  # the CSP allows no inline scripts
    assert "/static/complaints/form.js" in page.text
    english = client.get("/lapor?lang=en")
    assert "Send report" in english.text


def test_boundary_geojson(client: TestClient) -> None:
    shape = client.get("/lapor/batas-kota.geojson").json()
    assert shape["properties"]["approximate"] is True
    assert shape["geometry"]["type"] == "MultiPolygon"


def test_status_page(client: TestClient) -> None:
    code = submit(client, csrf(client)).json()["tracking_code"]
    page = client.get(f"/lapor/status?code={code}")
    assert page.status_code == 200
    assert "Belum Terverifikasi" in page.text
    assert "Siti" not in page.text
    missing = client.get("/lapor/status?code=LY-0000-0000")
    assert missing.status_code == 404
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text).group(1)
    answer = client.post("/lapor/status", data={"csrf_token": token, "code": code, "message": "Tambahan: lubang makin lebar"}, follow_redirects=True)
    assert answer.status_code == 200
    assert "Tambahan: lubang makin lebar" in answer.text


def test_operator_queue_and_action(app, client: TestClient) -> None:  # type: ignore[no-untyped-def]
    code = submit(client, csrf(client)).json()["tracking_code"]
    with app.state.session_factory() as session:
        complaint_id = session.scalar(select(Complaint.id).where(Complaint.tracking_code == code))
    assert client.get("/operator/laporan", headers={"accept": "text/html"}, follow_redirects=False).status_code == 303
    add_user(app, "operator1", "operator")
    token = login(client, "operator1")
    queue = client.get("/operator/laporan")
    assert queue.status_code == 200
    assert f'href="/operator/laporan/{complaint_id}"' in queue.text
    detail = client.get(f"/operator/laporan/{complaint_id}")
    assert "Siti Rahma" in detail.text
    assert 'data-action="verify"' in detail.text
    verified = client.post(
        f"/operator/laporan/{complaint_id}/aksi", data={"csrf_token": token, "action": "verify", "expected_version": "1"}, follow_redirects=True
    )
    assert verified.status_code == 200
    assert 'id="status-label">Terverifikasi' in verified.text
    stale = client.post(f"/operator/laporan/{complaint_id}/aksi", data={"csrf_token": token, "action": "archive", "expected_version": "1", "note": "x"})
    assert stale.status_code == 409
    assert "sudah diubah oleh orang lain" in stale.text
    assert client.get("/operator/laporan/peta").status_code == 200
    assert client.get("/operator/laporan?overdue=1&status=terverifikasi").status_code == 200


def test_viewer_cannot_act(app, client: TestClient) -> None:  # type: ignore[no-untyped-def]
    code = submit(client, csrf(client)).json()["tracking_code"]
    with app.state.session_factory() as session:
        complaint_id = session.scalar(select(Complaint.id).where(Complaint.tracking_code == code))
    add_user(app, "pemantau", "viewer")
    token = login(client, "pemantau")
    detail = client.get(f"/operator/laporan/{complaint_id}")
    assert detail.status_code == 200
    assert "data-action" not in detail.text
    assert "Siti Rahma" not in detail.text
    denied = client.post(f"/operator/laporan/{complaint_id}/aksi", data={"csrf_token": token, "action": "verify", "expected_version": "1"})
    assert denied.status_code == 403
