"""Room names, Jitsi join tokens and BigBlueButton API URLs, without any I/O.

Jitsi side: Prosody's token authentication (``authentication = "token"``) accepts an
HS256 JWT signed with the shared app secret and checks ``iss``, ``aud``, ``sub``,
``room``, ``nbf`` and ``exp``. ``verify_jitsi_token`` repeats those checks so tests
and the hub's own verifier reject what Prosody would reject, and a bit more (the hub
never issues the wildcard room ``*``).

BigBlueButton side: every API call carries ``checksum`` = hash(call name + query
string + shared secret), where the query string is the exact text sent, without the
checksum parameter. The API reference shows SHA-1. BBB's own 2.7 test suite also signs
with SHA-256 and SHA-512, and the hub uses SHA-256 unless configured otherwise.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import string
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from urllib.parse import quote_plus, urlencode

import jwt

# Jitsi lower-cases room names and strips several characters, so the alphabet is a-z only.
ROOM_ALPHABET = string.ascii_lowercase
ROOM_BITS_MIN = 128
ROOM_NAME_LENGTH = math.ceil(ROOM_BITS_MIN / math.log2(len(ROOM_ALPHABET)))  # 28 letters, about 131.6 bits
LINK_ID_BYTES = 16

JWT_ALGORITHM = "HS256"
BbbRole = Literal["MODERATOR", "VIEWER"]
ChecksumAlgorithm = Literal["sha1", "sha256", "sha384", "sha512"]
# Hex length of a checksum -> algorithm; each hash has a distinct length, so the length identifies it.
_CHECKSUM_BY_LENGTH: dict[int, ChecksumAlgorithm] = {40: "sha1", 64: "sha256", 96: "sha384", 128: "sha512"}


class TokenRejected(ValueError):
    """A join token that Prosody (or the hub's verifier) would reject; ``reason`` is a stable code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


# Rooms -------------------------------------------------------------------------------


def new_room_name() -> str:
    """Return a fresh room name: ``ROOM_NAME_LENGTH`` letters a-z from the OS CSPRNG."""
    return "".join(secrets.choice(ROOM_ALPHABET) for _ in range(ROOM_NAME_LENGTH))


def is_valid_room_name(name: str) -> bool:
    """Return True for a name that ``new_room_name`` could have produced."""
    return len(name) == ROOM_NAME_LENGTH and all(char in ROOM_ALPHABET for char in name)


def new_link_id() -> str:
    """Return a fresh link id (the JWT ``jti``): 128 random bits as hex."""
    return secrets.token_hex(LINK_ID_BYTES)


# Jitsi -------------------------------------------------------------------------------


@dataclass(frozen=True)
class JitsiTokenRequest:
    """Claims of one participant's join token. ``display_name`` must contain no personal data."""

    app_id: str
    audience: str
    subject: str
    room: str
    user_id: str
    display_name: str
    moderator: bool
    lobby: bool
    link_id: str
    issued_at: datetime
    not_before: datetime
    expires_at: datetime

    def __post_init__(self) -> None:
        if not is_valid_room_name(self.room):
            raise ValueError(f"invalid room name {self.room!r}: expected {ROOM_NAME_LENGTH} letters a-z")
        if self.expires_at <= self.not_before:
            raise ValueError(f"token would never be valid: expires_at {self.expires_at} is not after not_before {self.not_before}")
        for field_name in ("issued_at", "not_before", "expires_at"):
            if getattr(self, field_name).tzinfo is None:
                raise ValueError(f"{field_name} is a naive datetime; pass an aware UTC datetime")


def jitsi_claims(request: JitsiTokenRequest) -> dict[str, Any]:
    """Build the JWT claims for one participant; recording and streaming stay off."""
    return {
        "iss": request.app_id,
        "aud": request.audience,
        "sub": request.subject,
        "room": request.room,
        "jti": request.link_id,
        "iat": int(request.issued_at.timestamp()),
        "nbf": int(request.not_before.timestamp()),
        "exp": int(request.expires_at.timestamp()),
        "context": {
            "user": {
                "id": request.user_id,
                "name": request.display_name,
                "moderator": request.moderator,
                "affiliation": "owner" if request.moderator else "member",
            },
            "features": {"recording": False, "livestreaming": False, "transcription": False},
            "room": {"lobby": request.lobby},
        },
    }


def encode_jitsi_token(request: JitsiTokenRequest, secret: str) -> str:
    """Sign the claims of ``request`` with HS256 under the app secret."""
    if not secret:
        raise ValueError("the Jitsi app secret is empty; set METRO_HUB_CONFERENCE_JITSI_APP_SECRET")
    return jwt.encode(jitsi_claims(request), secret, algorithm=JWT_ALGORITHM)


def jitsi_join_url(base_url: str, room: str, token: str) -> str:
    """Return the room URL with the token in the fragment, which browsers never send to servers."""
    if not is_valid_room_name(room):
        raise ValueError(f"invalid room name {room!r}: expected {ROOM_NAME_LENGTH} letters a-z")
    return f"{base_url.rstrip('/')}/{room}#jwt={token}"


def verify_jitsi_token(
    token: str,
    *,
    secret: str,
    accepted_issuers: Sequence[str],
    accepted_audiences: Sequence[str],
    subject: str,
    room: str,
    now: datetime,
) -> dict[str, Any]:
    """Check ``token`` the way Prosody's token auth does and return its claims.

    Checks: HS256 signature, ``iss`` and ``aud`` among the accepted values, ``nbf`` and
    ``exp`` against ``now`` (no leeway), ``sub`` equal to the domain or tenant, and
    ``room`` equal to the room being joined after both are lower-cased. Unlike Prosody,
    the wildcard ``*`` is rejected for ``room`` and ``sub``. Raises TokenRejected.
    """
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            secret,
            algorithms=[JWT_ALGORITHM],
            options={"verify_exp": False, "verify_nbf": False, "verify_aud": False, "verify_iss": False, "verify_iat": False},
        )
    except jwt.InvalidSignatureError as exc:
        raise TokenRejected("bad_signature", "the token is not signed with the app secret") from exc
    except jwt.InvalidTokenError as exc:
        raise TokenRejected("malformed", f"the token cannot be decoded ({exc})") from exc

    for claim in ("iss", "aud", "sub", "room", "exp", "nbf"):
        if claim not in claims:
            raise TokenRejected("missing_claim", f"claim {claim!r} is missing")
    if claims["iss"] not in accepted_issuers:
        raise TokenRejected("wrong_issuer", f"issuer {claims['iss']!r} is not accepted")
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if not any(audience in accepted_audiences for audience in audiences):
        raise TokenRejected("wrong_audience", f"audience {claims['aud']!r} is not accepted")

    timestamp = now.timestamp()
    if not isinstance(claims["exp"], int | float) or not isinstance(claims["nbf"], int | float):
        raise TokenRejected("malformed", "exp and nbf must be numbers")
    if timestamp >= claims["exp"]:
        raise TokenRejected("expired", f"the token expired at {claims['exp']}")
    if timestamp < claims["nbf"]:
        raise TokenRejected("not_yet_valid", f"the token is valid from {claims['nbf']}")

    if not isinstance(claims["sub"], str) or claims["sub"] == "*" or claims["sub"].lower() != subject.lower():
        raise TokenRejected("wrong_subject", f"subject {claims['sub']!r} does not match {subject!r}")
    claimed_room = claims["room"]
    if not isinstance(claimed_room, str) or claimed_room == "*" or claimed_room.lower() != room.lower():
        raise TokenRejected("wrong_room", f"the token is for room {claimed_room!r}, not {room.lower()!r}")
    return claims


# BigBlueButton -----------------------------------------------------------------------


def bbb_query_string(params: Sequence[tuple[str, str]]) -> str:
    """Encode parameters in order, spaces as '+', the form BBB's own examples use."""
    return urlencode(list(params), quote_via=quote_plus)


def bbb_checksum(call: str, query_string: str, secret: str, algorithm: ChecksumAlgorithm = "sha256") -> str:
    """Return hex(hash(call + query_string + secret)) for a BBB API call."""
    if not secret:
        raise ValueError("the BigBlueButton shared secret is empty; set METRO_HUB_CONFERENCE_BBB_SECRET")
    return hashlib.new(algorithm, (call + query_string + secret).encode("utf-8")).hexdigest()


def bbb_url(
    base_url: str, call: str, params: Sequence[tuple[str, str]], secret: str, algorithm: ChecksumAlgorithm = "sha256"
) -> str:
    """Return the signed URL of one API call; ``base_url`` ends in /bigbluebutton/api/."""
    query = bbb_query_string(params)
    checksum = bbb_checksum(call, query, secret, algorithm)
    separator = "&" if query else ""
    return f"{base_url.rstrip('/')}/{call}?{query}{separator}checksum={checksum}"


def strip_checksum(query_string: str) -> tuple[str, str | None]:
    """Split a received query string into (query without checksum, checksum), as BBB does."""
    kept: list[str] = []
    checksum: str | None = None
    for part in query_string.split("&"):
        if part.startswith("checksum=") and checksum is None:
            checksum = part[len("checksum=") :]
        elif part:
            kept.append(part)
    return "&".join(kept), checksum


def verify_bbb_checksum(call: str, query_string: str, secret: str) -> bool:
    """Return True when the query string's checksum matches, with the hash chosen by its length."""
    query, checksum = strip_checksum(query_string)
    if checksum is None:
        return False
    algorithm = _CHECKSUM_BY_LENGTH.get(len(checksum))
    if algorithm is None:
        return False
    expected = bbb_checksum(call, query, secret, algorithm)
    return hmac.compare_digest(expected, checksum.lower())


def bbb_create_params(meeting_id: str, *, lobby: bool, duration_minutes: int) -> list[tuple[str, str]]:
    """Parameters of ``create``: recording off, a guest lobby when asked, a duration cap.

    The meeting name is fixed because the query string lands in proxy logs.
    """
    if not is_valid_room_name(meeting_id):
        raise ValueError(f"invalid meeting id {meeting_id!r}: expected {ROOM_NAME_LENGTH} letters a-z")
    if duration_minutes < 1:
        raise ValueError(f"invalid duration {duration_minutes} minutes: it must be at least 1")
    return [
        ("meetingID", meeting_id),
        ("name", "Telekonferensi Metro Command Center"),
        ("record", "false"),
        ("autoStartRecording", "false"),
        ("allowStartStopRecording", "false"),
        ("guestPolicy", "ASK_MODERATOR" if lobby else "ALWAYS_ACCEPT"),
        ("duration", str(duration_minutes)),
    ]


def bbb_join_params(
    meeting_id: str, *, display_name: str, user_id: str, role: BbbRole, create_time: int, guest: bool
) -> list[tuple[str, str]]:
    """Parameters of ``join`` for one participant; guests wait in the lobby when it is on."""
    params = [
        ("meetingID", meeting_id),
        ("fullName", display_name),
        ("role", role),
        ("createTime", str(create_time)),
        ("userID", user_id),
        ("redirect", "true"),
    ]
    if guest:
        params.append(("guest", "true"))
    return params


def bbb_end_params(meeting_id: str) -> list[tuple[str, str]]:
    """Parameters of ``end``, which closes the meeting for everyone in it."""
    return [("meetingID", meeting_id)]

