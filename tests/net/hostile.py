"""Hostile traffic at an appliance, from a network namespace (tests/test_net_hostile.py runs it
there): random frames, mutated valid frames (half with their checksums made right again, so
that they reach deeper), a SYN flood from a whole subnet, and clients that advertise tiny
windows and never read. Standard library only; root (raw sockets).

    hostile.py INTERFACE APPLIANCE_MAC APPLIANCE_IP SECONDS_PER_PART
"""
import os
import random
import socket
import struct
import sys
import time

interface, mac_text, target, seconds = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
rng = random.Random(1234)
dst_mac = bytes.fromhex(mac_text.replace(":", ""))
raw = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
raw.bind((interface, 0))
src_mac = raw.getsockname()[4][:6]
target_ip = socket.inet_aton(target)
sent = {}


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ip_packet(src, proto, payload, ttl=64, ident=0, flags_frag=0x4000):
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, flags_frag, ttl,
                         proto, 0, src, target_ip)
    header = header[:10] + struct.pack("!H", checksum(header)) + header[12:]
    return header + payload


def tcp_segment(src, sport, dport, seq, ack, flags, window, payload=b"", options=b""):
    offset = (20 + len(options)) // 4
    header = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, offset << 4, flags, window, 0, 0)
    header += options
    pseudo = src + target_ip + struct.pack("!BBH", 0, 6, len(header) + len(payload))
    cs = checksum(pseudo + header + payload)
    return header[:16] + struct.pack("!H", cs) + header[18:] + payload


def frame(payload, ethertype=0x0800, dst=None):
    return (dst or dst_mac) + src_mac + struct.pack("!H", ethertype) + payload


def send(f, part):
    try:
        raw.send(f)
        sent[part] = sent.get(part, 0) + 1
    except OSError:
        time.sleep(0.001)


def valid_frames():
    """Frames the stack takes seriously: SYNs to its port, data on no connection, ARP, ICMP
    echo, UDP, IP fragments, TCP options of every length."""
    src = bytes([10, 211, 0, rng.randrange(3, 250)])
    sport = rng.randrange(1024, 65535)
    kind = rng.randrange(7)
    if kind == 0:
        options = bytes([2, 4, 5, 180, 3, 3, 7, 4, 2, 1, 1, 0])  # MSS, window scale, SACK ok
        return frame(ip_packet(src, 6, tcp_segment(src, sport, 80, rng.getrandbits(32), 0, 0x02,
                                                   rng.randrange(65536), options=options)))
    if kind == 1:
        return frame(ip_packet(src, 6, tcp_segment(src, sport, 80, rng.getrandbits(32),
                                                   rng.getrandbits(32), 0x18, 1,
                                                   b"GET / HTTP/1.1\r\n\r\n")))
    if kind == 2:
        arp = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, rng.choice([1, 2]), src_mac, src,
                          b"\0" * 6, target_ip)
        return frame(arp, 0x0806, b"\xff" * 6)
    if kind == 3:
        icmp = struct.pack("!BBHHH", 8, 0, 0, rng.randrange(65536), 1) + os.urandom(rng.randrange(64))
        icmp = icmp[:2] + struct.pack("!H", checksum(icmp)) + icmp[4:]
        return frame(ip_packet(src, 1, icmp))
    if kind == 4:
        data = os.urandom(rng.randrange(600))
        udp = struct.pack("!HHHH", sport, rng.choice([53, 67, 68, 80, 9999]), 8 + len(data), 0)
        return frame(ip_packet(src, 17, udp + data))
    if kind == 5:    # a fragment of a datagram that never completes
        return frame(ip_packet(src, 17, os.urandom(rng.randrange(8, 1400) & ~7),
                               ident=rng.randrange(65536),
                               flags_frag=0x2000 | rng.randrange(0, 8000)))
    options = bytes(rng.randrange(256) for _ in range(rng.choice([4, 8, 20, 40])))
    return frame(ip_packet(src, 6, tcp_segment(src, sport, 80, rng.getrandbits(32), 0, 0x02,
                                               1024, options=options)))


def mutate(f):
    f = bytearray(f)
    for _ in range(rng.randrange(1, 9)):
        at = rng.randrange(14, len(f))
        f[at] = rng.randrange(256)
    if rng.random() < 0.2:
        f = f[:rng.randrange(14, len(f) + 1)]
    if rng.random() < 0.5 and len(f) >= 34 and f[12:14] == b"\x08\x00":
        ihl = (f[14] & 15) * 4
        if 20 <= ihl <= len(f) - 14:
            f[24:26] = b"\0\0"
            f[24:26] = struct.pack("!H", checksum(bytes(f[14:14 + ihl])))
    return bytes(f)


def timed(part, make):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for _ in range(32):
            send(make(), part)
        time.sleep(0.002)


timed("random", lambda: frame(os.urandom(rng.randrange(0, 1500)),
                              rng.choice([0x0800, 0x0806, 0x86dd, rng.randrange(65536)])))
timed("mutated", lambda: mutate(valid_frames()))


def syn():
    src = bytes([10, 211, 0, rng.randrange(3, 250)])
    return frame(ip_packet(src, 6, tcp_segment(src, rng.randrange(1024, 65535), 80,
                                               rng.getrandbits(32), 0, 0x02, 65535)))


timed("syn flood", syn)

# Clients that ask for a large file with a tiny receive window, and never read.
clients = []
for _ in range(24):
    try:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1)
        s.settimeout(5)
        s.connect((target, 80))
        s.sendall(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        clients.append(s)
    except OSError:
        pass
sent["tiny-window clients"] = len(clients)
time.sleep(seconds)
for s in clients:
    s.close()
print(" ".join(f"{k}={v}" for k, v in sent.items()), flush=True)
