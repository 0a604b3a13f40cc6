"""A tiny BigBlueButton API stand-in on 127.0.0.1 that checks checksums like BBB.

As the BBB API reference describes, the server takes the raw query string, removes
the ``checksum`` parameter, hashes call name + rest + shared secret, and returns
``checksumError`` on a mismatch. The hash is picked by the checksum's hex length. The check here is written
independently of ``hub.conference.tokens`` so that it can catch a mistake there.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

_ALGORITHMS = {40: "sha1", 64: "sha256", 96: "sha384", 128: "sha512"}


def _xml(**fields: str) -> Response:
    body = "".join(f"<{key}>{value}</{key}>" for key, value in fields.items())
    return Response(f"<response>{body}</response>", media_type="text/xml")


@dataclass
class FakeBbb:
    """State of the fake server: meetings by id and every call received."""

    secret: str
    meetings: dict[str, dict[str, str]] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)
    next_create_time: int = 1_764_800_000_000

    def checksum_ok(self, call: str, raw_query: str) -> bool:
        parts = raw_query.split("&")
        supplied = next((part[len("checksum="):] for part in parts if part.startswith("checksum=")), None)
        if supplied is None or len(supplied) not in _ALGORITHMS:
            return False
        rest = "&".join(part for part in parts if not part.startswith("checksum="))
        digest = hashlib.new(_ALGORITHMS[len(supplied)], (call + rest + self.secret).encode()).hexdigest()
        return hmac.compare_digest(digest, supplied)

    async def handle(self, request: Request) -> Response:
        call = request.path_params["call"]
        raw_query = request.url.query
        self.calls.append((call, raw_query))
        if not self.checksum_ok(call, raw_query):
            return _xml(returncode="FAILED", messageKey="checksumError", message="Checksums do not match")
        params = dict(parse_qsl(raw_query))
        meeting_id = params.get("meetingID", "")
        if call == "create":
            meeting = self.meetings.get(meeting_id)
            if meeting is None:
                self.next_create_time += 1000
                meeting = {"createTime": str(self.next_create_time), **params}
                self.meetings[meeting_id] = meeting
            return _xml(returncode="SUCCESS", meetingID=meeting_id, createTime=meeting["createTime"])
        if call == "end":
            if self.meetings.pop(meeting_id, None) is None:
                return _xml(returncode="FAILED", messageKey="notFound", message="We could not find a meeting with that meeting ID")
            return _xml(returncode="SUCCESS", messageKey="sentEndMeetingRequest", message="")
        if call == "join":
            meeting = self.meetings.get(meeting_id)
            if meeting is None or params.get("createTime") != meeting["createTime"]:
                return _xml(returncode="FAILED", messageKey="invalidMeetingIdentifier", message="meeting not found")
            return _xml(returncode="SUCCESS", messageKey="successfullyJoined", message="")
        return _xml(returncode="FAILED", messageKey="unsupportedRequest", message=f"{call} is not faked")


class FakeBbbServer:
    """Runs a FakeBbb under uvicorn in a thread; use as a context manager."""

    def __init__(self, port: int, secret: str) -> None:
        self.state = FakeBbb(secret)
        self.port = port
        app = Starlette(routes=[Route("/bigbluebutton/api/{call}", self.state.handle)])
        self._server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bigbluebutton/api/"

    def __enter__(self) -> FakeBbbServer:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"fake BBB server did not start on 127.0.0.1:{self.port}")
            time.sleep(0.02)
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
