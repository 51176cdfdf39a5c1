"""The outbound path of the apps' sockets (Azoth's socket extension, docs/kernel-abi.md):
appliances/fetch asks a DNS server the test runs on the host for a name (UDP, a udp grant),
connects to the address it answered (TCP, a tcp-connect grant) and GETs a file from an HTTP
server the test runs on the host, through QEMU's user networking (10.0.2.2 is the host's
loopback). The body arrives whole; a connection no grant names is refused with ENOTCAPABLE,
and the console says which grant would allow it. Guard mode; both with ./build.py test --long
(the attack tests run the socket calls in both always)."""
import http.server
import os
import re
import socket
import struct
import threading

import pytest

import nethttp
from azoth import qemu
from conftest import ROOT, write_appliance

FETCH = ROOT / "appliances" / "fetch" / "fetch.c"
NAME = "web.azoth.test"


def fnv1a64(data):
    value = 0xcbf29ce484222325
    for byte in data:
        value = ((value ^ byte) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return value


class DnsServer:
    """Answers A queries for NAME with 10.0.2.2 (and counts them); NXDOMAIN for the rest."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.queries = []
        self.running = True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while self.running:
            try:
                query, peer = self.sock.recvfrom(512)
            except OSError:
                continue
            if len(query) < 12:
                continue
            at, labels = 12, []
            while at < len(query) and query[at]:
                labels.append(query[at + 1:at + 1 + query[at]].decode(errors="replace"))
                at += 1 + query[at]
            name = ".".join(labels)
            self.queries.append(name)
            question = query[12:at + 5]
            found = name == NAME
            header = query[:2] + struct.pack("!HHHHH", 0x8180 if found else 0x8183, 1,
                                             1 if found else 0, 0, 0)
            answer = (b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + bytes([10, 0, 2, 2])
                      if found else b"")
            self.sock.sendto(header + question + answer, peer)

    def close(self):
        self.running = False
        self.thread.join(2)
        self.sock.close()


def http_server(body):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path != "/data.bin" or self.headers.get("Host", "").split(":")[0] != NAME:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.mark.parametrize("bounds", nethttp.LONG_BOUNDS)
def test_fetch_resolves_a_name_and_gets_a_file_through_its_grants(tmp_path, tools, bounds):
    body = os.urandom(200_000)
    dns, web = DnsServer(), http_server(body)
    forbidden = nethttp.free_port()
    try:
        directory = write_appliance(tmp_path / f"fetch-{bounds}", f"""[appliance]
name = "fetch"
bounds = "{bounds}"
memory = "64M"

[[app]]
name = "fetch"
source = "{FETCH}"
grants = ["stdout", "args", "clock", "udp:10.0.2.2:{dns.port}",
          "tcp-connect:10.0.2.2:{web.server_port}"]
memory = "4M"
args = ["--dns", "10.0.2.2:{dns.port}", "--try-forbidden", "10.0.2.2:{forbidden}",
        "http://{NAME}:{web.server_port}/data.bin"]
""", {})
        built = tools.build(directory, iso=False, images=tmp_path / "images")
        result = qemu.boot("kernel", kernel=tools.KERNEL, image=built.image, memory_mib=64,
                           timeout=180, extra=qemu.network_argv("virtio-net", "user"))
        text = "\n".join(line.text for line in result.lines)
    finally:
        dns.close()
        web.shutdown()
    assert f"fetch: {NAME} is 10.0.2.2 (DNS" in text, text[-3000:]
    assert NAME in dns.queries
    got = re.search(r"fetch: (HTTP/1\.\d 200 OK), (\d+) bytes, fnv1a64 ([0-9a-f]{16})", text)
    assert got, text[-3000:]
    assert int(got.group(2)) == len(body) and int(got.group(3), 16) == fnv1a64(body)
    # no grant names the forbidden port: the app hears ENOTCAPABLE, the console says why
    assert f"fetch: connect 10.0.2.2:{forbidden}: Capabilities insufficient" in text, text[-3000:]
    assert f"tcp-connect:10.0.2.2:{forbidden}" in text, text[-3000:]
    assert "panic" not in text and "trapped" not in text
    # fetch returned 0: every app has finished, the appliance ends with 0
    assert result.exit.ok, (str(result.exit), text[-3000:])
