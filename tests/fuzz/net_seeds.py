#!/usr/bin/env python3
"""Writes the seed inputs of tests/fuzz/net_corpus/ (the format: tests/fuzz/net_input.c): an
HTTP exchange on port 80 with the apps reading, sending and closing, an answer to the stack's
own connection, a UDP datagram, an ICMP echo, ARP, fragments, timers. The fuzzer's finds join
them in the corpus."""
import struct
from pathlib import Path

CORPUS = Path(__file__).resolve().parent / "net_corpus"
US, PEER = bytes([10, 0, 2, 15]), bytes([10, 0, 2, 2])
OUR_MAC, PEER_MAC = bytes.fromhex("525400123456"), bytes.fromhex("52550a000202")


def chunk(op, data):
    return bytes([op]) + struct.pack("!H", len(data)) + data


def tcp(sport, dport, seq, ack, flags, payload=b"", window=16384, options=b""):
    offset = (20 + len(options)) // 4
    return struct.pack("!HHIIBBHHH", sport, dport, seq, ack, offset << 4, flags, window, 0, 0) \
        + options + payload


def ipv4_header(proto, length, ident=1, frag=0x4000):
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + length, ident, frag, 64, proto, 0,
                       PEER, US)


SYN, ACK, PSH, FIN, RST = 0x02, 0x10, 0x08, 0x01, 0x04
MSS_WS = bytes([2, 4, 0x05, 0xb4, 3, 3, 7, 1])
seeds = {
    "http_get": chunk(1, tcp(40000, 80, 1000, 0, SYN, options=MSS_WS)) +
    chunk(5, tcp(40000, 80, 1001, 0, ACK)) +
    chunk(5, tcp(40000, 80, 1001, 0, ACK | PSH, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")) +
    chunk(0x10, bytes([0, 4])) + chunk(0x10, bytes([1, 4, 40])) +
    chunk(0x85, tcp(40000, 80, 1028, 0, ACK)) + chunk(0x10, bytes([3, 4])) +
    chunk(0x85, tcp(40000, 80, 1028, 0, ACK | FIN)),
    "outbound": chunk(0x85, tcp(8000, 58288, 5000, 0, SYN | ACK, options=MSS_WS)) +
    chunk(0x10, bytes([1, 3, 10])) + chunk(0x85, tcp(8000, 58288, 5001, 0, ACK, b"hello")) +
    chunk(0x85, tcp(8000, 58288, 5006, 0, RST)),
    "udp": chunk(2, struct.pack("!HHHH", 53, 58288, 0, 0) + b"\x12\x34\x81\x80" + bytes(8)) +
    chunk(0x10, bytes([1, 2])) + chunk(0x80, b""),
    "ping": chunk(3, ipv4_header(1, 12) + bytes([8, 0, 0, 0, 0, 1, 0, 1]) + b"ping"),
    "arp": chunk(0, OUR_MAC + PEER_MAC + b"\x08\x06" + bytes([0, 1, 8, 0, 6, 4, 0, 1]) +
                 PEER_MAC + PEER + bytes(6) + US),
    "fragments": chunk(3, ipv4_header(17, 16, 7, 0x2000) + struct.pack("!HHHH", 9, 9, 24, 0) +
                       bytes(8)) +
    chunk(3, ipv4_header(17, 8, 7, 2) + bytes(8)) + chunk(0x80, b"") + chunk(0x80, b""),
    "syn_flood": b"".join(chunk(1, tcp(20000 + i, 80, i * 7919, 0, SYN)) for i in range(40)) +
    chunk(0x80, b""),
    "tiny_window": chunk(1, tcp(41000, 80, 1, 0, SYN, window=1)) +
    chunk(5, tcp(41000, 80, 2, 0, ACK, window=1)) +
    chunk(5, tcp(41000, 80, 2, 0, ACK | PSH, b"GET /big HTTP/1.1\r\n\r\n", window=1)) +
    chunk(0x10, bytes([1, 5, 255])) + chunk(0x80, b"") + chunk(0x80, b""),
}
CORPUS.mkdir(exist_ok=True)
for name, data in seeds.items():
    (CORPUS / f"seed_{name}").write_bytes(data)
print(f"{len(seeds)} seeds in {CORPUS}")
