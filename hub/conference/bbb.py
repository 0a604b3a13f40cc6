"""Small BigBlueButton API client: ``create`` and ``end`` over HTTP, join URLs built locally."""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET

import httpx

from hub.conference import tokens
from hub.conference.settings import ConferenceSettings

log = logging.getLogger(__name__)


class BbbError(RuntimeError):
    """A BBB call failed: unreachable, an HTTP error, or ``returncode`` FAILED."""

    def __init__(self, call: str, message_key: str, message: str) -> None:
        super().__init__(f"BigBlueButton {call} failed ({message_key}): {message}")
        self.call = call
        self.message_key = message_key


def parse_response(call: str, body: str) -> dict[str, str]:
    """Return the top-level elements of a BBB XML reply; raise BbbError unless SUCCESS."""
    try:
        root = ET.fromstring(body)  # noqa: S314 - replies come from the city's own BBB server only
    except ET.ParseError as exc:
        raise BbbError(call, "invalidXml", f"the reply is not XML ({exc})") from exc
    fields = {child.tag: (child.text or "").strip() for child in root}
    if fields.get("returncode") != "SUCCESS":
        raise BbbError(call, fields.get("messageKey", "unknown"), fields.get("message", "no message"))
    return fields


class BbbClient:
    """Calls the BBB API with checksums from ``tokens``; the secret never leaves the hub."""

    def __init__(self, settings: ConferenceSettings, transport: httpx.BaseTransport | None = None) -> None:
        self._base_url = settings.bbb_base_url
        self._secret = settings.bbb_secret.get_secret_value()
        self._algorithm: tokens.ChecksumAlgorithm = settings.bbb_checksum_algorithm
        self._timeout_s = settings.bbb_timeout_s
        self._transport = transport

    def url(self, call: str, params: list[tuple[str, str]]) -> str:
        return tokens.bbb_url(self._base_url, call, params, self._secret, self._algorithm)

    def _get(self, call: str, params: list[tuple[str, str]]) -> dict[str, str]:
        try:
            with httpx.Client(timeout=self._timeout_s, transport=self._transport) as client:
                response = client.get(self.url(call, params))
        except httpx.HTTPError as exc:
            raise BbbError(call, "unreachable", f"{type(exc).__name__}: {exc}") from exc
        if response.status_code != 200:
            raise BbbError(call, f"http{response.status_code}", response.text[:200])
        return parse_response(call, response.text)

    def create(self, meeting_id: str, *, lobby: bool, duration_minutes: int) -> int:
        """Create the meeting (idempotent in BBB) and return its ``createTime``, milliseconds."""
        fields = self._get("create", tokens.bbb_create_params(meeting_id, lobby=lobby, duration_minutes=duration_minutes))
        try:
            return int(fields["createTime"])
        except (KeyError, ValueError) as exc:
            raise BbbError("create", "noCreateTime", f"createTime missing or invalid: {fields.get('createTime')!r}") from exc

    def end(self, meeting_id: str) -> None:
        """End the meeting for everyone. A meeting that BBB reports as not found counts as ended."""
        try:
            self._get("end", tokens.bbb_end_params(meeting_id))
        except BbbError as exc:
            if exc.message_key in ("notFound", "invalidMeetingIdentifier"):
                log.info("BBB meeting %s was already gone when ending it", meeting_id)
                return
            raise

    def join_url(
        self, meeting_id: str, *, display_name: str, user_id: str, role: tokens.BbbRole, create_time: int, guest: bool
    ) -> str:
        params = tokens.bbb_join_params(
            meeting_id, display_name=display_name, user_id=user_id, role=role, create_time=create_time, guest=guest
        )
        return self.url("join", params)
