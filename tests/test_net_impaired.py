"""A transfer over a bad link: frames between QEMU and the tap go through a relay of our own
(tests/net/relay.py) that drops 2%, duplicates 2% and reorders 2% of them, both ways; curl in
a network namespace fetches a file of random bytes from httpd and its SHA-256 is right.
2 MiB by default; 20 MiB, and in both bounds modes, with ./build.py test --long (AZOTH_LONG=1)."""
import hashlib
import os
import sys

import pytest

import nethttp
import netdump as net
from conftest import ROOT

sys.path.insert(0, str(ROOT / "tests" / "net"))
from relay import Relay  # noqa: E402

SIZE = (20 if nethttp.LONG else 2) << 20


@pytest.mark.parametrize("bounds", nethttp.LONG_BOUNDS)
def test_a_file_arrives_whole_over_a_lossy_duplicating_reordering_link(tmp_path, tools, bounds):
    data = os.urandom(SIZE)
    files = dict(nethttp.SITE)
    files["/www/payload.bin"] = data
    network = 'mode = "static"\naddress = "10.211.0.2/24"\ngateway = "10.211.0.1"'
    directory = nethttp.httpd(tmp_path, f"impaired-{bounds}", bounds, files=files, memory="256M",
                              network=network)
    with net.namespace() as namespace:
        # the relay opens the tap in place of QEMU
        relay = Relay(namespace.tap, drop=0.02, duplicate=0.02, reorder=0.02, seed=7)
        relay.start()
        try:
            with nethttp.Running(directory, tools, netdev=relay.qemu_argv()) as run:
                out = tmp_path / "payload.got"
                got = namespace.run("curl", "-s", "-S", "--max-time", "600", "-o", str(out),
                                    "http://10.211.0.2/payload.bin", check=False, timeout=660)
                text = run.text()
        finally:
            relay.stop()
    print(f"\n{SIZE >> 20} MiB through the relay: {relay.counts}")
    assert relay.counts["dropped"] > 10 and relay.counts["duplicated"] > 10 and \
        relay.counts["reordered"] > 10, relay.counts
    assert got.returncode == 0, (got.stderr, text[-2000:])
    assert hashlib.sha256(out.read_bytes()).hexdigest() == hashlib.sha256(data).hexdigest()
    assert "restarted" not in text and "panic" not in text
