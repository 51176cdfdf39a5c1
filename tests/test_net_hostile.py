"""Malformed and hostile traffic never crashes the TCP/IP stack and never grows its memory: from
a network namespace, random frames, mutated valid frames, a SYN flood from a whole subnet and
clients with tiny windows that never read (tests/net/hostile.py) hit httpd's appliance; the
stack is never restarted, its memory (the stats line's `memory N KiB`) stays what it was at
start, its pools drain again, and the server answers afterwards. With ./build.py test --long only
(20 s a phase, both bounds modes): the default suite fuzzes the same input path on the host,
tests/test_net_fuzz.py."""
import re
import sys

import pytest

import nethttp
import netdump as net
from conftest import ROOT

HOSTILE = ROOT / "tests" / "net" / "hostile.py"
SECONDS = 20

pytestmark = pytest.mark.skipif(not nethttp.LONG, reason="hostile traffic in QEMU: ./build.py "
                                "test --long (the default suite fuzzes the same input path "
                                "on the host)")


@pytest.mark.parametrize("bounds", nethttp.LONG_BOUNDS)
def test_hostile_traffic(tmp_path, tools, bounds):
    files = dict(nethttp.SITE)
    files["/www/big.bin"] = bytes(range(256)) * 4096            # 1 MiB
    directory = nethttp.httpd(tmp_path, f"hostile-{bounds}", bounds, files=files, network=
                              'mode = "static"\naddress = "10.211.0.2/24"\n'
                              'gateway = "10.211.0.1"\nstats_every = "1s"')
    with net.namespace() as namespace:
        with nethttp.Running(directory, tools, net=f"tap:{namespace.tap}") as run:
            attack = namespace.run(sys.executable, str(HOSTILE), namespace.peer,
                                   "52:54:00:12:34:56", namespace.appliance_ip, str(SECONDS),
                                   check=False, timeout=SECONDS * 6 + 60)
            after = namespace.run("curl", "-s", "--max-time", "30", "http://10.211.0.2/",
                                  check=False, timeout=40)
            ab = namespace.run("ab", "-q", "-k", "-s", "20", "-c", "8", "-n", "500",
                               "http://10.211.0.2/", check=False, timeout=120)
            run.wait_for("[net] stats", 5)
            marks = len([line for line in run.lines() if "[net] stats" in line])
            assert run.wait_for_count("[net] stats", marks + 2, 10)
            text = run.text()
    assert attack.returncode == 0, attack.stdout + attack.stderr
    print("\n" + attack.stdout.strip())
    assert "restarted" not in text and "trapped" not in text and "panic" not in text, text[-3000:]
    assert after.stdout == (nethttp.WWW / "index.html").read_text(), (after.stderr, text[-2000:])
    assert re.search(r"Failed requests:\s+0\b", ab.stdout), ab.stdout
    stats = re.findall(r"\[net\] stats: memory (\d+) KiB, pool (\d+) used \((\d+) at most\)", text)
    assert len(stats) >= 3, text[-3000:]
    memories = {int(m) for m, _, _ in stats}
    assert len(memories) == 1, f"the stack's memory changed: {sorted(memories)} KiB"
    assert int(stats[-1][1]) < 16, stats[-1]            # the pool drained again
    print(f"the stack's memory: {memories.pop()} KiB throughout; pool at most {stats[-1][2]} "
          "buffers of 256")
