"""MQTT 3.1.1 and 5 packets for the hub's consumer connection, without any I/O.

The hub subscribes at QoS 1, acknowledges after storing and publishes commands at
QoS 1. This module covers the packets of that client role. Out: CONNECT, SUBSCRIBE,
UNSUBSCRIBE, PUBLISH, PUBACK, PINGREQ and DISCONNECT. In: CONNACK, SUBACK, UNSUBACK,
PUBLISH, PUBACK, PINGRESP and DISCONNECT. ``PacketReader`` parses every complete
packet of a received chunk in one pass, which is where the hub's ingestion spends its
network time: reading one packet at a time costs several system calls per message.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Final

MQTT_311: Final = 4
MQTT_5: Final = 5

CONNECT, CONNACK, PUBLISH, PUBACK = 1, 2, 3, 4
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK = 8, 9, 10, 11
PINGREQ, PINGRESP, DISCONNECT = 12, 13, 14

# Largest packet accepted from the broker. Contract payloads are far smaller. The
# margin lets an oversized payload arrive, fail the contract check and be
# acknowledged, so it does not break the connection again on every redelivery.
MAX_INCOMING_PACKET = 4 * 1024 * 1024

PINGREQ_PACKET: Final = b"\xc0\x00"
DISCONNECT_PACKET: Final = b"\xe0\x00"

# MQTT 5 property identifiers the hub sends or reads.
PROP_MESSAGE_EXPIRY = 0x02
PROP_SESSION_EXPIRY = 0x11
PROP_ASSIGNED_CLIENT_ID = 0x12
PROP_SERVER_KEEP_ALIVE = 0x13
PROP_REASON_STRING = 0x1F
PROP_RECEIVE_MAXIMUM = 0x21
PROP_TOPIC_ALIAS = 0x23
PROP_MAXIMUM_PACKET_SIZE = 0x27

# Encoding of each MQTT 5 property (section 2.2.2.2 of the standard).
_BYTE, _TWO, _FOUR, _VARINT, _STRING, _BINARY, _PAIR = range(7)
_PROPERTY_TYPES: Final = {
    0x01: _BYTE, 0x02: _FOUR, 0x03: _STRING, 0x08: _STRING, 0x09: _BINARY, 0x0B: _VARINT,
    0x11: _FOUR, 0x12: _STRING, 0x13: _TWO, 0x15: _STRING, 0x16: _BINARY, 0x17: _BYTE,
    0x18: _FOUR, 0x19: _BYTE, 0x1A: _STRING, 0x1C: _STRING, 0x1F: _STRING, 0x21: _TWO,
    0x22: _TWO, 0x23: _TWO, 0x24: _BYTE, 0x25: _BYTE, 0x26: _PAIR, 0x27: _FOUR,
    0x28: _BYTE, 0x29: _BYTE, 0x2A: _BYTE,
}

# CONNACK return codes of MQTT 3.1.1 and the MQTT 5 reason codes a broker refuses with.
CONNACK_REASONS: Final = {
    1: "Unacceptable protocol version", 2: "Client identifier not valid", 3: "Server unavailable",
    4: "Bad user name or password", 5: "Not authorized",
    0x80: "Unspecified error", 0x81: "Malformed Packet", 0x82: "Protocol Error",
    0x83: "Implementation specific error", 0x84: "Unsupported Protocol Version",
    0x85: "Client identifier not valid", 0x86: "Bad user name or password", 0x87: "Not authorized",
    0x88: "Server unavailable", 0x89: "Server busy", 0x8A: "Banned", 0x8C: "Bad authentication method",
    0x90: "Topic Name invalid", 0x95: "Packet too large", 0x97: "Quota exceeded",
    0x99: "Payload format invalid", 0x9A: "Retain not supported", 0x9B: "QoS not supported",
    0x9C: "Use another server", 0x9D: "Server moved", 0x9F: "Connection rate exceeded",
}


class ProtocolError(ValueError):
    """The broker sent bytes that are not a valid MQTT packet for this client."""


# Not frozen: a frozen dataclass sets every field through object.__setattr__, a cost paid per message.
@dataclass(slots=True)
class Publish:
    topic: str
    payload: bytes
    qos: int
    packet_id: int
    dup: bool = False
    retain: bool = False


@dataclass(frozen=True, slots=True)
class Connack:
    session_present: bool
    reason_code: int
    properties: dict[int, object] = field(default_factory=dict)

    @property
    def accepted(self) -> bool:
        return self.reason_code == 0

    @property
    def reason(self) -> str:
        if self.reason_code == 0:
            return "Success"
        return CONNACK_REASONS.get(self.reason_code, f"reason code {self.reason_code:#x}")


@dataclass(frozen=True, slots=True)
class Ack:
    """PUBACK, SUBACK or UNSUBACK: the packet id and the reason codes it carries."""

    kind: int
    packet_id: int
    reason_codes: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Control:
    """PINGRESP or a DISCONNECT from the broker."""

    kind: int
    reason_code: int = 0
    reason: str = ""


Packet = Publish | Connack | Ack | Control


# Encoding.


def encode_varint(value: int) -> bytes:
    if not 0 <= value <= 268_435_455:
        raise ValueError(f"{value} does not fit an MQTT variable byte integer")
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | 0x80 if value else byte)
        if not value:
            return bytes(out)


def _string(value: str) -> bytes:
    data = value.encode("utf-8")
    if len(data) > 65535:
        raise ValueError(f"invalid MQTT string of {len(data)} bytes: the limit is 65535")
    return struct.pack("!H", len(data)) + data


def _packet(first_byte: int, body: bytes) -> bytes:
    return bytes((first_byte,)) + encode_varint(len(body)) + body


def _properties(values: dict[int, int]) -> bytes:
    """Encode integer properties; the hub sends no other kind."""
    out = bytearray()
    for identifier, value in values.items():
        kind = _PROPERTY_TYPES[identifier]
        out.append(identifier)
        if kind == _TWO:
            out += struct.pack("!H", value)
        elif kind == _FOUR:
            out += struct.pack("!I", value)
        else:
            raise ValueError(f"property {identifier:#x} is not an integer property the hub sends")
    return encode_varint(len(out)) + bytes(out)


def encode_connect(
    client_id: str,
    *,
    version: int,
    keepalive_s: int,
    clean_start: bool,
    username: str | None = None,
    password: str | None = None,
    session_expiry_s: int | None = None,
    receive_maximum: int | None = None,
) -> bytes:
    if version not in (MQTT_311, MQTT_5):
        raise ValueError(f"MQTT protocol level {version} is not supported; use 4 (3.1.1) or 5")
    flags = 0x02 if clean_start else 0
    if username is not None:
        flags |= 0x80
    if password is not None:
        flags |= 0x40
    body = _string("MQTT") + bytes((version, flags)) + struct.pack("!H", keepalive_s)
    if version == MQTT_5:
        properties: dict[int, int] = {PROP_MAXIMUM_PACKET_SIZE: MAX_INCOMING_PACKET}
        if session_expiry_s is not None:
            properties[PROP_SESSION_EXPIRY] = session_expiry_s
        if receive_maximum is not None:
            properties[PROP_RECEIVE_MAXIMUM] = receive_maximum
        body += _properties(properties)
    body += _string(client_id)
    if username is not None:
        body += _string(username)
    if password is not None:
        body += _string(password)
    return _packet(CONNECT << 4, body)


def encode_subscribe(packet_id: int, filters: list[tuple[str, int]], *, version: int) -> bytes:
    body = struct.pack("!H", packet_id)
    if version == MQTT_5:
        body += b"\x00"
    for topic_filter, qos in filters:
        body += _string(topic_filter) + bytes((qos,))
    return _packet(SUBSCRIBE << 4 | 0x02, body)


def encode_unsubscribe(packet_id: int, filters: list[str], *, version: int) -> bytes:
    body = struct.pack("!H", packet_id)
    if version == MQTT_5:
        body += b"\x00"
    for topic_filter in filters:
        body += _string(topic_filter)
    return _packet(UNSUBSCRIBE << 4 | 0x02, body)


def encode_publish(
    topic: str, payload: bytes, *, qos: int, packet_id: int = 0, dup: bool = False,
    version: int, message_expiry_s: int | None = None,
) -> bytes:
    if qos not in (0, 1):
        raise ValueError(f"the hub publishes at QoS 0 or 1, not {qos}")
    body = _string(topic)
    if qos:
        body += struct.pack("!H", packet_id)
    if version == MQTT_5:
        body += _properties({PROP_MESSAGE_EXPIRY: message_expiry_s} if message_expiry_s is not None else {})
    first = PUBLISH << 4 | qos << 1 | (0x08 if dup else 0)
    return _packet(first, body + payload)


def encode_pubacks(packet_ids: list[int]) -> bytes:
    """PUBACKs for ``packet_ids`` as one buffer; a success PUBACK is the same in 3.1.1 and 5."""
    return b"".join(b"\x40\x02" + struct.pack("!H", packet_id) for packet_id in packet_ids)


# Decoding.


class PacketReader:
    """Splits a byte stream from the broker into packets.

    ``feed`` takes whatever ``recv`` returned and returns every packet completed by
    it, in order; an incomplete tail waits for the next chunk.
    """

    def __init__(self, version: int) -> None:
        self.version = version
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Packet]:
        buffer = self._buffer
        buffer += data
        packets: list[Packet] = []
        offset = 0
        end = len(buffer)
        while end - offset >= 2:
            first = buffer[offset]
            length = 0
            shift = 0
            position = offset + 1
            complete = False
            while position < end:
                byte = buffer[position]
                position += 1
                length |= (byte & 0x7F) << shift
                if not byte & 0x80:
                    complete = True
                    break
                shift += 7
                if shift > 21:
                    raise ProtocolError("remaining length longer than 4 bytes")
            if not complete:
                break  # the length itself is incomplete
            if length > MAX_INCOMING_PACKET:
                raise ProtocolError(f"packet of {length} bytes exceeds the {MAX_INCOMING_PACKET}-byte limit")
            if end - position < length:
                break
            body = bytes(buffer[position:position + length])
            offset = position + length
            packets.append(self._parse(first, body))
        if offset:
            del buffer[:offset]
        return packets

    def _parse(self, first: int, body: bytes) -> Packet:
        kind = first >> 4
        if kind == PUBLISH:
            return self._publish(first, body)
        if kind == PUBACK:
            return Ack(PUBACK, _packet_id(body), (body[2],) if len(body) > 2 else ())
        if kind in (SUBACK, UNSUBACK):
            packet_id = _packet_id(body)
            start = 2
            if self.version == MQTT_5:
                _props, start = _read_properties(body, start)
            return Ack(kind, packet_id, tuple(body[start:]))
        if kind == CONNACK:
            return self._connack(body)
        if kind == PINGRESP:
            return Control(PINGRESP)
        if kind == DISCONNECT:
            if not body:
                return Control(DISCONNECT)
            properties, _end = _read_properties(body, 1) if len(body) > 1 else ({}, 1)
            return Control(DISCONNECT, body[0], str(properties.get(PROP_REASON_STRING, "")))
        raise ProtocolError(f"unexpected packet type {kind} from the broker")

    def _publish(self, first: int, body: bytes) -> Publish:
        qos = (first >> 1) & 0x03
        if qos == 3:
            raise ProtocolError("PUBLISH with QoS 3")
        if len(body) < 2:
            raise ProtocolError("PUBLISH too short for its topic")
        topic_length = body[0] << 8 | body[1]
        start = 2 + topic_length
        try:
            topic = body[2:start].decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ProtocolError("PUBLISH topic is not UTF-8") from exc
        packet_id = 0
        if qos:
            if len(body) < start + 2:
                raise ProtocolError("PUBLISH too short for its packet id")
            packet_id = body[start] << 8 | body[start + 1]
            start += 2
        if self.version == MQTT_5:
            if start < len(body) and body[start] == 0:
                start += 1  # no properties: the common case, skipped without parsing
            else:
                properties, start = _read_properties(body, start)
                if PROP_TOPIC_ALIAS in properties:
                    raise ProtocolError("PUBLISH uses a topic alias, which this client never allowed")
        if not topic:
            raise ProtocolError("PUBLISH with an empty topic")
        return Publish(topic, body[start:], qos, packet_id, bool(first & 0x08), bool(first & 0x01))

    def _connack(self, body: bytes) -> Connack:
        if len(body) < 2:
            raise ProtocolError("CONNACK too short")
        properties: dict[int, object] = {}
        if self.version == MQTT_5 and len(body) > 2:
            properties, _end = _read_properties(body, 2)
        return Connack(bool(body[0] & 0x01), body[1], properties)


def _packet_id(body: bytes) -> int:
    if len(body) < 2:
        raise ProtocolError("acknowledgement too short for its packet id")
    return body[0] << 8 | body[1]


def _read_varint(data: bytes, start: int) -> tuple[int, int]:
    value = 0
    for index in range(4):
        if start + index >= len(data):
            raise ProtocolError("variable byte integer runs past the packet")
        byte = data[start + index]
        value |= (byte & 0x7F) << (7 * index)
        if not byte & 0x80:
            return value, start + index + 1
    raise ProtocolError("variable byte integer longer than 4 bytes")


def _read_properties(data: bytes, start: int) -> tuple[dict[int, object], int]:
    """Parse an MQTT 5 property list starting at ``start``; return it and the offset after it."""
    length, position = _read_varint(data, start)
    end = position + length
    if end > len(data):
        raise ProtocolError("property list runs past the packet")
    properties: dict[int, object] = {}
    while position < end:
        identifier = data[position]
        position += 1
        kind = _PROPERTY_TYPES.get(identifier)
        value: object
        if kind is None:
            raise ProtocolError(f"unknown MQTT 5 property {identifier:#x}")
        if kind == _BYTE:
            value, position = data[position], position + 1
        elif kind == _TWO:
            value, position = int.from_bytes(data[position:position + 2], "big"), position + 2
        elif kind == _FOUR:
            value, position = int.from_bytes(data[position:position + 4], "big"), position + 4
        elif kind == _VARINT:
            value, position = _read_varint(data, position)
        elif kind == _PAIR:
            key, position = _read_bytes(data, position)
            item, position = _read_bytes(data, position)
            value = (key.decode("utf-8", "replace"), item.decode("utf-8", "replace"))
        else:
            raw, position = _read_bytes(data, position)
            value = raw.decode("utf-8", "replace") if kind == _STRING else raw
        if position > end:
            raise ProtocolError(f"property {identifier:#x} runs past the property list")
        properties[identifier] = value
    return properties, end


def _read_bytes(data: bytes, start: int) -> tuple[bytes, int]:
    if start + 2 > len(data):
        raise ProtocolError("length-prefixed field runs past the packet")
    length = data[start] << 8 | data[start + 1]
    return data[start + 2:start + 2 + length], start + 2 + length
