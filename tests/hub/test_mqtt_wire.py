"""MQTT packet encoding and stream parsing of the hub's broker connection, without a broker."""

from __future__ import annotations

import struct

import pytest

from hub.ingest import wire


def _publish_packet(topic: str, payload: bytes, packet_id: int, *, version: int, properties: bytes = b"\x00",
                    qos: int = 1, dup: bool = False) -> bytes:
    """Build a PUBLISH as a broker sends it (the hub's encoder only covers what the hub sends)."""
    body = struct.pack("!H", len(topic.encode())) + topic.encode()
    if qos:
        body += struct.pack("!H", packet_id)
    if version == wire.MQTT_5:
        body += properties
    first = 0x30 | qos << 1 | (0x08 if dup else 0)
    return bytes((first,)) + wire.encode_varint(len(body + payload)) + body + payload


@pytest.mark.parametrize("value", [0, 1, 127, 128, 16_383, 16_384, 2_097_151, 2_097_152, 268_435_455])
def test_varint_round_trip(value: int) -> None:
    encoded = wire.encode_varint(value)
    assert wire._read_varint(encoded, 0) == (value, len(encoded))


def test_varint_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match="268435456"):
        wire.encode_varint(268_435_456)


def test_connect_311_bytes() -> None:
    packet = wire.encode_connect("hub-1", version=wire.MQTT_311, keepalive_s=30, clean_start=False,
                                 username="hub", password="s3cret")
    # Fixed header, protocol name, level 4, flags (user + password, clean session off), keep-alive.
    assert packet[:2] == bytes((0x10, len(packet) - 2))
    assert packet[2:12] == b"\x00\x04MQTT\x04\xc0\x00\x1e"
    assert packet[12:] == b"\x00\x05hub-1\x00\x03hub\x00\x06s3cret"


def test_connect_5_carries_session_expiry_and_receive_maximum() -> None:
    packet = wire.encode_connect("hub-1", version=wire.MQTT_5, keepalive_s=30, clean_start=False,
                                 session_expiry_s=604_800, receive_maximum=2000)
    assert packet[2:12] == b"\x00\x04MQTT\x05\x00\x00\x1e"
    properties, end = wire._read_properties(packet, 12)
    assert properties == {wire.PROP_MAXIMUM_PACKET_SIZE: wire.MAX_INCOMING_PACKET,
                          wire.PROP_SESSION_EXPIRY: 604_800, wire.PROP_RECEIVE_MAXIMUM: 2000}
    assert packet[end:] == b"\x00\x05hub-1"


def test_connect_refuses_other_protocol_levels() -> None:
    with pytest.raises(ValueError, match="level 3"):
        wire.encode_connect("hub", version=3, keepalive_s=30, clean_start=True)


def test_subscribe_and_unsubscribe_bytes() -> None:
    assert wire.encode_subscribe(7, [("metro/+/event", 1)], version=wire.MQTT_311) == (
        b"\x82\x12\x00\x07\x00\x0dmetro/+/event\x01"
    )
    assert wire.encode_subscribe(7, [("a", 1)], version=wire.MQTT_5) == b"\x82\x07\x00\x07\x00\x00\x01a\x01"
    assert wire.encode_unsubscribe(8, ["a"], version=wire.MQTT_5) == b"\xa2\x06\x00\x08\x00\x00\x01a"


def test_publish_qos1_with_expiry_parses_back() -> None:
    packet = wire.encode_publish("metro/cam-07/command", b'{"x":1}', qos=1, packet_id=513, dup=True,
                                 version=wire.MQTT_5, message_expiry_s=30)
    assert packet[0] == 0x3A  # PUBLISH, DUP, QoS 1
    # The broker's view of it: parse with the same reader.
    parsed = wire.PacketReader(wire.MQTT_5).feed(packet)
    assert parsed == [wire.Publish("metro/cam-07/command", b'{"x":1}', 1, 513, dup=True)]


def test_publish_refuses_qos_2() -> None:
    with pytest.raises(ValueError, match="QoS 0 or 1"):
        wire.encode_publish("t", b"", qos=2, packet_id=1, version=wire.MQTT_5)


def test_pubacks_are_joined_in_order() -> None:
    assert wire.encode_pubacks([1, 258]) == b"\x40\x02\x00\x01\x40\x02\x01\x02"
    assert wire.encode_pubacks([]) == b""


@pytest.mark.parametrize("version", [wire.MQTT_311, wire.MQTT_5])
def test_reader_splits_a_stream_fed_byte_by_byte(version: int) -> None:
    payload = b"x" * 300  # remaining length needs two bytes
    stream = (_publish_packet("metro/cam-01/event", payload, 1, version=version)
              + _publish_packet("metro/cam-02/stats", b"{}", 2, version=version)
              + b"\xd0\x00")
    reader = wire.PacketReader(version)
    packets: list[wire.Packet] = []
    for index in range(len(stream)):
        packets.extend(reader.feed(stream[index:index + 1]))
    assert packets == [
        wire.Publish("metro/cam-01/event", payload, 1, 1),
        wire.Publish("metro/cam-02/stats", b"{}", 1, 2),
        wire.Control(wire.PINGRESP),
    ]


def test_reader_returns_every_packet_of_one_chunk() -> None:
    stream = b"".join(_publish_packet(f"metro/cam-{n:02d}/event", b"{}", n + 1, version=wire.MQTT_5) for n in range(50))
    packets = wire.PacketReader(wire.MQTT_5).feed(stream)
    assert [packet.packet_id for packet in packets if isinstance(packet, wire.Publish)] == list(range(1, 51))


def test_reader_skips_publish_properties_and_reads_qos0() -> None:
    properties = b"\x05\x02\x00\x00\x00\x3c"  # message expiry 60 s
    packet = _publish_packet("metro/cam-01/event", b"{}", 0, version=wire.MQTT_5, properties=properties, qos=0)
    assert wire.PacketReader(wire.MQTT_5).feed(packet) == [wire.Publish("metro/cam-01/event", b"{}", 0, 0)]


def test_reader_refuses_a_topic_alias_it_never_allowed() -> None:
    properties = b"\x03\x23\x00\x01"
    packet = _publish_packet("metro/cam-01/event", b"{}", 1, version=wire.MQTT_5, properties=properties)
    with pytest.raises(wire.ProtocolError, match="topic alias"):
        wire.PacketReader(wire.MQTT_5).feed(packet)


def test_reader_refuses_an_oversized_packet_before_buffering_it() -> None:
    header = b"\x30" + wire.encode_varint(wire.MAX_INCOMING_PACKET + 1)
    with pytest.raises(wire.ProtocolError, match="exceeds"):
        wire.PacketReader(wire.MQTT_5).feed(header)


def test_reader_refuses_a_five_byte_length() -> None:
    with pytest.raises(wire.ProtocolError, match="longer than 4 bytes"):
        wire.PacketReader(wire.MQTT_5).feed(b"\x30\xff\xff\xff\xff\x01")


def test_reader_refuses_a_non_utf8_topic() -> None:
    body = b"\x00\x02\xff\xfe\x00\x01"
    with pytest.raises(wire.ProtocolError, match="UTF-8"):
        wire.PacketReader(wire.MQTT_311).feed(b"\x32" + bytes((len(body),)) + body)


def test_reader_refuses_packets_a_client_never_receives() -> None:
    with pytest.raises(wire.ProtocolError, match="type 1"):
        wire.PacketReader(wire.MQTT_5).feed(b"\x10\x00")


def test_connack_311_refusal_names_the_reason() -> None:
    (connack,) = wire.PacketReader(wire.MQTT_311).feed(b"\x20\x02\x00\x05")
    assert isinstance(connack, wire.Connack)
    assert not connack.accepted
    assert connack.reason == "Not authorized"


def test_connack_5_server_keep_alive() -> None:
    properties = b"\x06\x13\x00\x3c\x21\x00\x14"  # server keep-alive 60, receive maximum 20
    body = b"\x01\x00" + properties
    (connack,) = wire.PacketReader(wire.MQTT_5).feed(b"\x20" + bytes((len(body),)) + body)
    assert isinstance(connack, wire.Connack)
    assert connack.accepted and connack.session_present
    assert connack.properties[wire.PROP_SERVER_KEEP_ALIVE] == 60
    assert connack.properties[wire.PROP_RECEIVE_MAXIMUM] == 20


def test_connack_5_unknown_reason_hex() -> None:
    (connack,) = wire.PacketReader(wire.MQTT_5).feed(b"\x20\x03\x00\xa0\x00")
    assert isinstance(connack, wire.Connack)
    assert connack.reason == "reason code 0xa0"


def test_suback_and_unsuback_carry_reason_codes() -> None:
    reader = wire.PacketReader(wire.MQTT_5)
    packets = reader.feed(b"\x90\x05\x00\x07\x00\x01\x87" + b"\xb0\x04\x00\x08\x00\x00")
    assert packets == [wire.Ack(wire.SUBACK, 7, (0x01, 0x87)), wire.Ack(wire.UNSUBACK, 8, (0x00,))]


def test_disconnect_from_the_broker_keeps_its_reason() -> None:
    reason = b"session taken over"
    properties = bytes((3 + len(reason), 0x1F)) + struct.pack("!H", len(reason)) + reason
    body = b"\x8e" + properties
    (packet,) = wire.PacketReader(wire.MQTT_5).feed(b"\xe0" + bytes((len(body),)) + body)
    assert packet == wire.Control(wire.DISCONNECT, 0x8E, "session taken over")
