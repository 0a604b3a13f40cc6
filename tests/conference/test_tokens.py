"""Room names, Jitsi join tokens and BBB checksums, tested without servers."""

from __future__ import annotations

import math
from collections import Counter
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

import jwt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.conference import tokens

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
SECRET = "a-test-secret-that-is-long-enough-for-hs256"
ROOM = "abcdefghijklmnopqrstuvwxyzab"


def _request(**overrides: object) -> tokens.JitsiTokenRequest:
    values: dict[str, object] = {
        "app_id": "metro-command-center",
        "audience": "jitsi",
        "subject": "meet.example.invalid",
        "room": ROOM,
        "user_id": "hub-7",
        "display_name": "Operator 7",
        "moderator": True,
        "lobby": True,
        "link_id": "0" * 32,
        "issued_at": NOW,
        "not_before": NOW,
        "expires_at": NOW + timedelta(minutes=15),
    }
    values.update(overrides)
    return tokens.JitsiTokenRequest(**values)  # type: ignore[arg-type]


def _verify(token: str, *, room: str = ROOM, now: datetime = NOW, secret: str = SECRET) -> dict[str, object]:
    return tokens.verify_jitsi_token(
        token,
        secret=secret,
        accepted_issuers=["metro-command-center"],
        accepted_audiences=["jitsi"],
        subject="meet.example.invalid",
        room=room,
        now=now,
    )


# Room names --------------------------------------------------------------------------


def test_room_name_alphabet_and_length() -> None:
    for _ in range(200):
        name = tokens.new_room_name()
        assert len(name) == tokens.ROOM_NAME_LENGTH
        assert set(name) <= set("abcdefghijklmnopqrstuvwxyz")
        assert name == name.lower()
        assert tokens.is_valid_room_name(name)


def test_room_name_entropy_at_least_128_bits() -> None:
    bits = tokens.ROOM_NAME_LENGTH * math.log2(len(tokens.ROOM_ALPHABET))
    assert bits >= 128
    assert tokens.ROOM_NAME_LENGTH == 28


def test_room_names_unique_and_spread() -> None:
    names = [tokens.new_room_name() for _ in range(2000)]
    assert len(set(names)) == len(names)
    letters = Counter("".join(names))
    expected = 2000 * tokens.ROOM_NAME_LENGTH / 26
    # Each letter appears about 2,154 times; a biased generator would fall far outside ±15%.
    assert set(letters) == set(tokens.ROOM_ALPHABET)
    assert all(abs(count - expected) < 0.15 * expected for count in letters.values())


@pytest.mark.parametrize("name", ["", "ABCDEFGHIJKLMNOPQRSTUVWXYZAB", "abc", ROOM + "a", "abcdefghijklmnopqrstuvwxy1a_"])
def test_room_name_invalid(name: str) -> None:
    assert not tokens.is_valid_room_name(name)


# Jitsi tokens ------------------------------------------------------------------------


def test_jitsi_claims_verified_by_pyjwt() -> None:
    token = tokens.encode_jitsi_token(_request(), SECRET)
    claims = jwt.decode(
        token, SECRET, algorithms=["HS256"], audience="jitsi", issuer="metro-command-center",
        options={"verify_exp": False, "verify_nbf": False, "verify_iat": False},
    )
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    assert claims["room"] == ROOM
    assert claims["sub"] == "meet.example.invalid"
    assert claims["jti"] == "0" * 32
    assert claims["nbf"] == int(NOW.timestamp())
    assert claims["exp"] - claims["nbf"] == 900
    assert claims["context"]["user"] == {"id": "hub-7", "name": "Operator 7", "moderator": True, "affiliation": "owner"}
    assert claims["context"]["features"]["recording"] is False
    assert claims["context"]["room"]["lobby"] is True


def test_jitsi_guest_claims_not_moderator() -> None:
    token = tokens.encode_jitsi_token(_request(moderator=False, user_id="guest-3", display_name="Tamu 3"), SECRET)
    claims = _verify(token)
    assert claims["context"]["user"]["moderator"] is False  # type: ignore[index]
    assert claims["context"]["user"]["affiliation"] == "member"  # type: ignore[index]


def test_jitsi_url_puts_token_in_fragment() -> None:
    token = tokens.encode_jitsi_token(_request(), SECRET)
    url = tokens.jitsi_join_url("https://meet.example.invalid/", ROOM, token)
    parts = urlsplit(url)
    assert parts.query == ""
    assert parts.path == "/" + ROOM
    assert parts.fragment == "jwt=" + token


def test_verifier_accepts_upper_case_room_join() -> None:
    token = tokens.encode_jitsi_token(_request(), SECRET)
    # Jitsi lower-cases the room a user types, so a join to the upper-case form still matches.
    assert _verify(token, room=ROOM.upper())["room"] == ROOM


@pytest.mark.parametrize(
    ("kwargs", "verify_kwargs", "reason"),
    [
        ({}, {"now": NOW + timedelta(minutes=15)}, "expired"),
        ({}, {"now": NOW - timedelta(seconds=1)}, "not_yet_valid"),
        ({}, {"room": "zzzzzzzzzzzzzzzzzzzzzzzzzzzz"}, "wrong_room"),
        ({}, {"secret": "another-secret-another-secret-another"}, "bad_signature"),
        ({"app_id": "someone-else"}, {}, "wrong_issuer"),
        ({"audience": "other"}, {}, "wrong_audience"),
        ({"subject": "other.example"}, {}, "wrong_subject"),
    ],
)
def test_verifier_rejects(kwargs: dict[str, object], verify_kwargs: dict[str, object], reason: str) -> None:
    token = tokens.encode_jitsi_token(_request(**kwargs), SECRET)
    with pytest.raises(tokens.TokenRejected) as caught:
        _verify(token, **verify_kwargs)  # type: ignore[arg-type]
    assert caught.value.reason == reason


@pytest.mark.parametrize("claim", ["room", "exp", "nbf", "aud", "iss", "sub"])
def test_verifier_rejects_missing_claim(claim: str) -> None:
    claims = tokens.jitsi_claims(_request())
    del claims[claim]
    token = jwt.encode(claims, SECRET, algorithm="HS256")
    with pytest.raises(tokens.TokenRejected) as caught:
        _verify(token)
    assert caught.value.reason == "missing_claim"


def test_verifier_rejects_wildcard_room() -> None:
    claims = tokens.jitsi_claims(_request())
    claims["room"] = "*"
    with pytest.raises(tokens.TokenRejected) as caught:
        _verify(jwt.encode(claims, SECRET, algorithm="HS256"))
    assert caught.value.reason == "wrong_room"


def test_verifier_rejects_none_algorithm() -> None:
    unsigned = jwt.encode(tokens.jitsi_claims(_request()), None, algorithm="none")
    with pytest.raises(tokens.TokenRejected) as caught:
        _verify(unsigned)
    assert caught.value.reason == "malformed"


def test_token_request_rejects_bad_window() -> None:
    with pytest.raises(ValueError, match="never be valid"):
        _request(expires_at=NOW)
    with pytest.raises(ValueError, match="invalid room name"):
        _request(room="Room-With-Caps")


# BigBlueButton -----------------------------------------------------------------------


def test_bbb_checksum_documented_vector() -> None:
    # Example of the "API Security Model" section of the BigBlueButton API reference,
    # https://docs.bigbluebutton.org/development/api#api-security-model (SHA-1 there).
    query = "name=Test+Meeting&meetingID=abc123&attendeePW=111222&moderatorPW=333444"
    secret = "639259d4-9dd8-4b25-bf01-95f9567eaf4b"
    assert tokens.bbb_checksum("create", query, secret, "sha1") == "1fcbb0c4fc1f039f73aa6d697d2db9ba7f803f17"
    assert tokens.verify_bbb_checksum("create", query + "&checksum=1fcbb0c4fc1f039f73aa6d697d2db9ba7f803f17", secret)


def test_bbb_query_matches_documented_encoding() -> None:
    params = [("name", "Test Meeting"), ("meetingID", "abc123"), ("attendeePW", "111222"), ("moderatorPW", "333444")]
    assert tokens.bbb_query_string(params) == "name=Test+Meeting&meetingID=abc123&attendeePW=111222&moderatorPW=333444"


def test_bbb_url_sha256_checksum() -> None:
    url = tokens.bbb_url("https://bbb.example.invalid/bigbluebutton/api/", "end", [("meetingID", ROOM)], "s3cret")
    parts = urlsplit(url)
    assert parts.path == "/bigbluebutton/api/end"
    checksum = dict(parse_qsl(parts.query))["checksum"]
    assert len(checksum) == 64
    assert tokens.verify_bbb_checksum("end", parts.query, "s3cret")
    assert not tokens.verify_bbb_checksum("end", parts.query, "wrong")
    assert not tokens.verify_bbb_checksum("create", parts.query, "s3cret")


def test_bbb_create_params_recording_off() -> None:
    params = dict(tokens.bbb_create_params(ROOM, lobby=True, duration_minutes=240))
    assert params["record"] == "false"
    assert params["autoStartRecording"] == "false"
    assert params["allowStartStopRecording"] == "false"
    assert params["guestPolicy"] == "ASK_MODERATOR"
    assert params["duration"] == "240"
    assert params["meetingID"] == ROOM


def test_bbb_join_params_role_and_create_time() -> None:
    params = dict(
        tokens.bbb_join_params(ROOM, display_name="Tamu 4", user_id="guest-4", role="VIEWER", create_time=1531155809613, guest=True)
    )
    assert params["role"] == "VIEWER"
    assert params["createTime"] == "1531155809613"
    assert params["guest"] == "true"
    moderator = dict(
        tokens.bbb_join_params(ROOM, display_name="Operator 1", user_id="hub-1", role="MODERATOR", create_time=1, guest=False)
    )
    assert moderator["role"] == "MODERATOR"
    assert "guest" not in moderator


@given(st.lists(st.tuples(st.text(min_size=1, max_size=12), st.text(max_size=20)), max_size=6), st.text(min_size=1, max_size=30))
def test_bbb_checksum_roundtrip(params: list[tuple[str, str]], secret: str) -> None:
    query = tokens.bbb_query_string(params)
    url = tokens.bbb_url("http://127.0.0.1:1/bigbluebutton/api/", "join", params, secret)
    received = urlsplit(url).query
    assert tokens.strip_checksum(received)[0] == query
    assert tokens.verify_bbb_checksum("join", received, secret)
