"""Property-based run of the complaint API's OpenAPI schema: no input may cause a server error."""

from __future__ import annotations

import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings

from hub.auth.csrf import CSRF_COOKIE, token_for_cookie
from hub.auth.sessions import SESSION_COOKIE
from tests.complaints.conftest import csrf, submit
from tests.hub.conftest import add_user, login

MAX_EXAMPLES = 50


def test_complaint_api_has_no_server_errors(app) -> None:  # type: ignore[no-untyped-def]
    with TestClient(app) as client:
        submit(client, csrf(client))
        add_user(app, "fuzz-operator", "operator")
        login(client, "fuzz-operator")
        session_cookie = client.cookies.get(SESSION_COOKIE)
    assert session_cookie
    csrf_cookie = "c" * 43
    token = token_for_cookie(app.state.settings.secret_key.get_secret_value(), csrf_cookie)
    cookies = {CSRF_COOKIE: csrf_cookie, SESSION_COOKIE: session_cookie}
    headers = {"X-CSRF-Token": token}

    schema = schemathesis.openapi.from_asgi("/openapi.json", app).include(path_regex="^/api/v1/(complaints|open311)")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 8, [op.label for op in operations]
    failures: list[str] = []
    statuses: dict[int, int] = {}
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
        def run(case) -> None:  # type: ignore[no-untyped-def]
            response = case.call(headers=headers, cookies=cookies)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            if response.status_code >= 500:
                failures.append(f"{case.operation.label}: {response.status_code} {response.text[:200]} for {case.as_curl_command()}")

        run()
    assert failures == []
    # The run must reach the handlers, not only bounce off validation.
    assert sum(count for status, count in statuses.items() if 200 <= status < 300) > 20, statuses
