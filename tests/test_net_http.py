"""appliances/httpd behind the TCP/IP stack module, as users reach it: curl through QEMU's user
networking (`--forward`'s hostfwd) fetches every file byte for byte; 64 keep-alive clients make
20,000 requests with no error (ab, from a network namespace on a tap: QEMU's user networking
delays new connections by seconds under such a burst, the stack does not); the stack is killed
under load and its supervisor brings it back, and the server answers new connections. Both
bounds modes (the restart under load: guard mode, both with ./build.py test --long);
`./build.py run --forward` itself."""
import hashlib
import os
import re
import subprocess
import threading

import pytest

import attacks
import nethttp
import netdump as net

pytestmark = pytest.mark.skipif(not os.path.exists("/usr/bin/curl"), reason="curl is missing")


def site_with_binary(size=300_000):
    files = dict(nethttp.SITE)
    files["/www/data/blob.bin"] = os.urandom(size)
    return files


@pytest.mark.parametrize("bounds", attacks.BOUNDS)
def test_curl_fetches_every_file_byte_for_byte(tmp_path, tools, bounds):
    files = site_with_binary()
    directory = nethttp.httpd(tmp_path, f"curl-{bounds}", bounds, files=files)
    port = nethttp.free_port()
    with nethttp.Running(directory, tools, net=f"user,hostfwd=tcp:127.0.0.1:{port}-:80") as run:
        base = f"http://127.0.0.1:{port}"
        outputs = []
        argv = []
        for i, guest in enumerate(sorted(files)):
            out = tmp_path / f"got{i}"
            outputs.append((guest, out))
            argv += [f"{base}{guest[len('/www'):]}", "-o", str(out)]
        # one curl, one connection kept alive across every file
        done = subprocess.run(["curl", "-s", "-S", "--max-time", "60", *argv],
                              capture_output=True, timeout=90)
        assert done.returncode == 0, done.stderr
        for guest, out in outputs:
            want = files[guest] if isinstance(files[guest], bytes) else files[guest].read_bytes()
            assert hashlib.sha256(out.read_bytes()).digest() == hashlib.sha256(want).digest(), guest
        root = nethttp.curl(f"{base}/")
        assert root.stdout == (nethttp.WWW / "index.html").read_bytes()
        head = nethttp.curl(f"{base}/css/site.css", "-I")
        assert b"HTTP/1.1 200 OK" in head.stdout and b"Content-Type: text/css" in head.stdout
        assert f"Content-Length: {(nethttp.WWW / 'css' / 'site.css').stat().st_size}".encode() \
            in head.stdout
        missing = nethttp.curl(f"{base}/no/such/file", "-w", "%{http_code}", "-o", "/dev/null")
        assert missing.stdout == b"404"
        svg = nethttp.curl(f"{base}/img/azoth.svg", "-w", "%{content_type}", "-o", "/dev/null")
        assert svg.stdout == b"image/svg+xml"
        text = run.text()
    assert "panic" not in text and "trapped" not in text, text[-3000:]
    assert re.search(r"\[net\] up: address 10\.0\.2\.15 .*\(dhcp\)", text), text[-3000:]


def ab(namespace, url, concurrency, requests, timeout=120):
    done = namespace.run("ab", "-q", "-k", "-r", "-s", "20", "-c", str(concurrency), "-n",
                         str(requests), url, check=False, timeout=timeout)
    return done.stdout + done.stderr


STATIC = 'mode = "static"\naddress = "10.211.0.2/24"\ngateway = "10.211.0.1"\n'


@pytest.mark.parametrize("bounds", attacks.BOUNDS)
def test_64_keepalive_clients_make_20000_requests_without_error(tmp_path, tools, bounds):
    directory = nethttp.httpd(tmp_path, f"ab-{bounds}", bounds, network=STATIC)
    with net.namespace() as namespace:
        with nethttp.Running(directory, tools, net=f"tap:{namespace.tap}") as run:
            report = ab(namespace, "http://10.211.0.2/", 64, 20000)
            text = run.text()
    assert re.search(r"Complete requests:\s+20000\b", report), report
    assert re.search(r"Failed requests:\s+0\b", report), report
    assert re.search(r"Keep-Alive requests:\s+20000\b", report), report
    assert "Non-2xx" not in report, report
    rate = re.search(r"Requests per second:\s+([\d.]+)", report)
    print(f"\n{bounds}: {rate.group(1)} requests/s, 64 keep-alive clients")
    assert "trapped" not in text and "restarted" not in text, text[-3000:]


@pytest.mark.parametrize("bounds", nethttp.LONG_BOUNDS)
def test_the_stack_killed_under_load_comes_back(tmp_path, tools, bounds):
    """The stack traps after 1,500 frames, while ab keeps 16 clients busy: its supervisor
    restarts it, its connections are reset for httpd (ECONNRESET), the listening socket is
    announced to the new stack, and new connections are answered."""
    directory = nethttp.httpd(tmp_path, f"restart-{bounds}", bounds, network=STATIC +
                              'stack_args = ["--trap-after", "1500"]')
    with net.namespace() as namespace:
        with nethttp.Running(directory, tools, net=f"tap:{namespace.tap}") as run:
            report = ab(namespace, "http://10.211.0.2/", 16, 4000, timeout=120)
            assert run.wait_for("[supervisor] restarted tcpip"), run.text()[-3000:]
            assert run.wait_for("[net] restarted (1)"), run.text()[-3000:]
            after = namespace.run("curl", "-s", "--max-time", "20", "http://10.211.0.2/",
                                  check=False, timeout=30)
            again = ab(namespace, "http://10.211.0.2/", 16, 2000)
            text = run.text()
    assert after.returncode == 0 and after.stdout == (nethttp.WWW / "index.html").read_text(), \
        (after.stderr, text[-3000:])
    assert re.search(r"Complete requests:\s+2000\b", again) and \
        re.search(r"Failed requests:\s+0\b", again), again
    restart = re.search(r"\[supervisor\] restarted tcpip \(trap: unreachable\) in (\d+) us", text)
    assert restart, text[-3000:]
    assert len(re.findall(r"^\[supervisor\] restarted tcpip", text, re.M)) == 1
    assert "panic" not in text and "httpd: trapped" not in text
    done = re.search(r"Complete requests:\s+(\d+)", report)
    print(f"\nthe stack restarted under load in {restart.group(1)} us; "
          f"{done.group(1) if done else '?'} of 4000 requests done meanwhile")


def test_build_py_run_forward_serves_the_appliance(tmp_path):
    """The issue's own words: `./build.py run appliances/httpd --forward PORT:80`, then curl
    from another shell returns the page."""
    import sys
    import time
    from conftest import BUILD_PY, ROOT
    port = nethttp.free_port()
    proc = subprocess.Popen([sys.executable, str(BUILD_PY), "run", "appliances/httpd",
                             "--forward", f"{port}:80", "--timeout", "240"], cwd=ROOT,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    seen = []
    reader = threading.Thread(target=lambda: seen.extend(proc.stdout), daemon=True)
    reader.start()
    try:
        got = None
        end = time.monotonic() + 180
        while time.monotonic() < end and proc.poll() is None:
            if any("httpd: serving" in line for line in seen):
                got = nethttp.curl(f"http://127.0.0.1:{port}/", timeout=30)
                if got.returncode == 0:
                    break
            time.sleep(0.2)
    finally:
        proc.terminate()
        proc.wait(30)
        reader.join(10)
    assert got is not None and got.returncode == 0, "".join(seen)[-3000:]
    assert got.stdout == (nethttp.WWW / "index.html").read_bytes()


def test_build_py_run_forward_refuses_a_bad_pair():
    from conftest import build_py
    done = build_py("run", "appliances/httpd", "--forward", "8080")
    assert done.returncode != 0 and "AZ-T009" in done.stderr and "HOST:GUEST" in done.stderr, \
        done.stderr
