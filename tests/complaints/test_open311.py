"""Open311 GeoReport v2 conformance, walking the specification's checklist."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from hub.open311.format import parse_datetime, to_xml
from hub.open311.routes import issue_key
from tests.complaints.conftest import CENTRE, csrf, submit


def parse_xml(data: bytes) -> ET.Element:
    return ET.fromstring(data)  # noqa: S314 - parses the output of the hub under test, not untrusted input


@pytest.fixture()
def api_key(app) -> str:  # type: ignore[no-untyped-def]
    with app.state.session_factory() as session:
        return issue_key(session, "uji", datetime.now(UTC))


def _form(api_key: str, **overrides: str) -> dict[str, str]:
    form = {
        "api_key": api_key,
        "service_code": "lampu-jalan",
        "lat": str(CENTRE[0]),
        "long": str(CENTRE[1]),
        "description": "Lampu jalan mati di depan Masjid Taqwa",
        "address_string": "Jl. Jend. Sudirman",
        "email": "warga@example.id",
        "first_name": "Budi",
        "phone": "08123456789",
        "attribute[classification]": "pengaduan",
    }
    form.update(overrides)
    return form


def _post(client: TestClient, form: dict[str, str], fmt: str = "json"):  # type: ignore[no-untyped-def]
    return client.post(f"/open311/v2/requests.{fmt}", data=form)


def _assert_error(response, status: int) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == status
    body = response.json()
    assert isinstance(body, list) and len(body) == 1
    assert body[0]["code"] == str(status)
    assert body[0]["description"]


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_discovery(client: TestClient, fmt: str) -> None:
    response = client.get(f"/open311/discovery.{fmt}")
    assert response.status_code == 200
    if fmt == "json":
        endpoint = response.json()["endpoints"][0]
        assert endpoint["url"].endswith("/open311/v2")
        assert "text/xml" in endpoint["formats"]
    else:
        root = parse_xml(response.content)
        assert root.tag == "discovery"
        assert root.find("endpoints/endpoint/formats/format") is not None


def test_services_list(client: TestClient) -> None:
    services = client.get("/open311/v2/services.json").json()
    codes = [s["service_code"] for s in services]
    assert "jalan-rusak" in codes
    assert "sampah" in codes
    assert all(isinstance(code, str) for code in codes)
    assert services[0]["metadata"] is True
    assert services[0]["type"] == "realtime"
    xml_root = parse_xml(client.get("/open311/v2/services.xml").content)
    assert xml_root.tag == "services"
    assert xml_root.find("service/service_code").text == services[0]["service_code"]


def test_service_definition(client: TestClient) -> None:
    definition = client.get("/open311/v2/services/jalan-rusak.json").json()
    attribute = definition["attributes"][0]
    assert attribute["code"] == "classification"
    assert attribute["required"] is True
    assert [v["key"] for v in attribute["values"]] == ["pengaduan", "aspirasi", "permintaan_informasi"]
    root = parse_xml(client.get("/open311/v2/services/jalan-rusak.xml").content)
    assert root.find("attributes/attribute/values/value/key").text == "pengaduan"
    _assert_error(client.get("/open311/v2/services/tidak-ada.json"), 404)


def test_missing_api_key(client: TestClient, api_key: str) -> None:
    form = _form(api_key)
    del form["api_key"]
    _assert_error(_post(client, form), 403)
    _assert_error(_post(client, _form("salah")), 403)
    _assert_error(_post(client, _form("")), 403)


def test_unknown_service_code(client: TestClient, api_key: str) -> None:
    _assert_error(_post(client, _form(api_key, service_code="gempa")), 404)


def test_missing_required_attribute(client: TestClient, api_key: str) -> None:
    form = _form(api_key)
    del form["attribute[classification]"]
    _assert_error(_post(client, form), 400)
    _assert_error(_post(client, _form(api_key, **{"attribute[classification]": ""})), 400)


def test_invalid_list_value(client: TestClient, api_key: str) -> None:
    response = _post(client, _form(api_key, **{"attribute[classification]": "gugatan"}))
    _assert_error(response, 400)
    assert "gugatan" in response.json()[0]["description"]
    _assert_error(_post(client, _form(api_key, **{"attribute[rahasia]": "mungkin"})), 400)


def test_outside_city_is_400(client: TestClient, api_key: str) -> None:
    response = _post(client, _form(api_key, lat="-5.4292", long="105.2610"))
    _assert_error(response, 400)
    assert "Kota Metro" in response.json()[0]["description"]


def test_round_trip_json(client: TestClient, api_key: str) -> None:
    created = _post(client, _form(api_key))
    assert created.status_code == 201, created.text
    item = created.json()[0]
    request_id = item["service_request_id"]
    assert isinstance(request_id, str)
    assert "LY-" in item["service_notice"]
    assert client.get(f"/open311/v2/tokens/{item['token']}.json").json()[0]["service_request_id"] == request_id

    fetched = client.get(f"/open311/v2/requests/{request_id}.json").json()[0]
    assert fetched["service_code"] == "lampu-jalan"
    assert fetched["status"] == "open"
    assert fetched["status_notes"] == "Belum Terverifikasi"
    assert fetched["agency_responsible"] == "Dinas Perhubungan"
    assert fetched["requested_datetime"].endswith("+07:00")
    assert fetched["lat"] == pytest.approx(CENTRE[0])
    assert fetched["long"] == pytest.approx(CENTRE[1])
    for private in ("email", "phone", "first_name", "Budi", "08123456789"):
        assert private not in str(fetched)


def test_round_trip_xml(client: TestClient, api_key: str) -> None:
    created = _post(client, _form(api_key), fmt="xml")
    assert created.status_code == 201
    assert created.headers["content-type"].startswith("text/xml")
    request_id = parse_xml(created.content).find("request/service_request_id").text
    root = parse_xml(client.get(f"/open311/v2/requests/{request_id}.xml").content)
    assert root.tag == "service_requests"
    assert root.find("request/service_code").text == "lampu-jalan"
    assert root.find("request/status").text == "open"
    assert root.find("request/requested_datetime").text.endswith("+07:00")


def test_errors_in_xml(client: TestClient) -> None:
    response = client.get("/open311/v2/requests/999999.xml")
    assert response.status_code == 404
    root = parse_xml(response.content)
    assert root.tag == "errors"
    assert root.find("error/code").text == "404"


def test_search_filters(client: TestClient, api_key: str) -> None:
    first = _post(client, _form(api_key)).json()[0]["service_request_id"]
    second = _post(client, _form(api_key, service_code="sampah", description="Sampah menumpuk")).json()[0]["service_request_id"]

    def ids(**params: str) -> list[str]:
        response = client.get("/open311/v2/requests.json", params=params)
        assert response.status_code == 200, response.text
        return sorted(item["service_request_id"] for item in response.json())

    assert ids() == sorted([first, second])
    assert ids(service_code="sampah") == [second]
    assert ids(service_code="sampah,lampu-jalan") == sorted([first, second])
    assert ids(status="closed") == []
    assert ids(status="open") == sorted([first, second])
    assert ids(start_date="2020-01-01T00:00:00+07:00", end_date="2020-02-01T00:00:00+07:00") == []
    # A list of ids overrides the other filters.
    assert ids(service_request_id=first, service_code="sampah", status="closed") == [first]


def test_empty_parameter_is_absent(client: TestClient, api_key: str) -> None:
    request_id = _post(client, _form(api_key)).json()[0]["service_request_id"]
    response = client.get("/open311/v2/requests.json", params={"service_code": "", "status": "", "start_date": "", "end_date": "", "service_request_id": ""})
    assert response.status_code == 200
    assert [item["service_request_id"] for item in response.json()] == [request_id]


@pytest.mark.parametrize(("name", "value"), [("status", "pending"), ("start_date", "kemarin"), ("service_request_id", "1;DROP")])
def test_invalid_filter_is_400(client: TestClient, name: str, value: str) -> None:
    _assert_error(client.get("/open311/v2/requests.json", params={name: value}), 400)


def test_confidential_never_listed(client: TestClient, api_key: str) -> None:
    secret = _post(client, _form(api_key, **{"attribute[rahasia]": "true"})).json()[0]
    web = submit(client, csrf(client), confidential="true")
    assert web.status_code == 201
    assert client.get("/open311/v2/requests.json").json() == []
    _assert_error(client.get(f"/open311/v2/requests/{secret['service_request_id']}.json"), 404)
    _assert_error(client.get(f"/open311/v2/tokens/{secret['token']}.json"), 404)
    listed = client.get("/open311/v2/requests.json", params={"service_request_id": secret["service_request_id"]})
    assert listed.json() == []


def test_anonymous_never_exposes_contact(client: TestClient, api_key: str) -> None:
    submit(client, csrf(client), anonymous="true")
    text = client.get("/open311/v2/requests.json").text + client.get("/open311/v2/requests.xml").text
    for private in ("Siti", "3456", "siti@example.id"):
        assert private not in text


def test_unknown_format_404(client: TestClient) -> None:
    _assert_error(client.get("/open311/v2/services.csv"), 404)


def test_parse_datetime_plus_as_space() -> None:
    assert parse_datetime("start_date", "2026-03-02T09:00:00 07:00").utcoffset().total_seconds() == 7 * 3600
    assert parse_datetime("start_date", "2026-03-02T09:00:00").utcoffset().total_seconds() == 7 * 3600


def test_xml_lists_use_singular_tags() -> None:
    root = parse_xml(to_xml("service_definition", None, {"attributes": [{"values": [{"key": "a"}]}]}))
    assert root.find("attributes/attribute/values/value/key").text == "a"
