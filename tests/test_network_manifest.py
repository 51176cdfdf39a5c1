"""[network] and the network grants in the manifest (manifest/README.md): the build adds the
virtio-net driver and the TCP/IP stack, with their channels, when an app is granted
tcp-listen, tcp-connect or udp, and `inspect` shows them; the stack's arguments come from
[network]; every malformed value is an error naming its key."""
import pytest

from conftest import build_py, logging_app, write_appliance
from azoth import manifest as manifest_module
from azoth.errors import AzothError

HELLO = logging_app("hi")


def manifest(grants, network=""):
    return (f'[appliance]\nname = "x"\n{network}\n[[app]]\nname = "a"\nsource = "a.wat"\n'
            f'grants = {grants}\n')


def load(tmp_path, text):
    write_appliance(tmp_path, text, {"a.wat": HELLO})
    return manifest_module.load(tmp_path)


def error(tmp_path, text):
    with pytest.raises(AzothError) as info:
        load(tmp_path, text)
    return info.value


def test_a_network_grant_adds_the_driver_and_the_stack(tmp_path):
    m = load(tmp_path, manifest('["tcp-listen:80"]'))
    assert [x.name for x in m.modules] == ["virtio-net", "tcpip", "a"]
    assert m.network == "virtio-net"
    assert [c.name for c in m.channels] == ["net.rx", "net.tx", "net.status"]
    stack = m.modules[1]
    assert "netstack" in stack.capabilities and stack.args == ["--dhcp", "--hostname", "x"]


def test_no_network_grant_no_stack(tmp_path):
    m = load(tmp_path, manifest('["log"]'))
    assert [x.name for x in m.modules] == ["a"]


def test_a_static_network_gives_the_stack_its_arguments(tmp_path):
    m = load(tmp_path, manifest('["udp:10.0.2.3:53"]', '[network]\nmode = "static"\n'
                                'address = "10.1.2.3/16"\ngateway = "10.1.0.1"\n'
                                'dns = ["10.1.0.2", "9.9.9.9"]\nmtu = 1400\n'))
    assert m.modules[1].args == ["--address", "10.1.2.3/16", "--gateway", "10.1.0.1", "--dns",
                                 "10.1.0.2", "--dns", "9.9.9.9", "--mtu", "1400", "--hostname", "x"]


@pytest.mark.parametrize("network, key", [
    ('mode = "static"', "mode"),
    ('mode = "static"\naddress = "10.1.2.3"', "address"),
    ('mode = "static"\naddress = "10.1.2.300/24"', "address"),
    ('address = "10.1.2.3/24"', "address"),
    ('mode = "static"\naddress = "10.1.2.3/24"\ngateway = "router"', "gateway"),
    ('dns = ["1.1.1.1", "8.8.8.8", "9.9.9.9"]', "dns"),
    ('dns = ["one"]', "dns"),
    ("mtu = 100", "mtu"),
    ('hostname = "no spaces here"', "hostname"),
    ('mode = "bootp"', "mode"),
])
def test_malformed_network_values(tmp_path, network, key):
    e = error(tmp_path, manifest('["tcp-listen:80"]', "[network]\n" + network + "\n"))
    assert e.code in ("AZ-M019", "AZ-M018", "AZ-M005"), str(e)
    assert key in (e.key or ""), str(e)


@pytest.mark.parametrize("grant", ["tcp-listen:0", "tcp-listen:70000", "tcp-connect:10.0.2.2",
                                   "tcp-connect:10.0.2.2:0", "udp:10.0.2.300:53",
                                   "tcp-connect:10.0.2.0/33:80", "udp:*:1-70000"])
def test_malformed_network_grants(tmp_path, grant):
    e = error(tmp_path, manifest(f'["{grant}"]'))
    assert grant.split(":")[0] in str(e), str(e)


def test_a_module_named_as_the_build_s_own(tmp_path):
    text = manifest('["tcp-listen:80"]').replace('name = "a"', 'name = "tcpip"')
    e = error(tmp_path, text)
    assert e.code == "AZ-M006" and "tcpip" in str(e)


def test_inspect_shows_the_modules_the_build_added(tmp_path):
    write_appliance(tmp_path / "app", manifest('["log", "tcp-connect:10.0.2.0/24:80-443"]'),
                    {"a.wat": HELLO})
    built = build_py("build", tmp_path / "app", "--no-iso", "--out", tmp_path / "images",
                     timeout=300)
    assert built.returncode == 0, built.stderr
    image = next(line for line in built.stdout.splitlines() if line.endswith(".azi"))
    shown = build_py("inspect", image)
    assert shown.returncode == 0, shown.stderr
    for text in ("virtio-net", "tcpip", "net.rx", "net.tx", "net.status", "netstack",
                 "tcp-connect:10.0.2.0/24:80-443"):
        assert text in shown.stdout, (text, shown.stdout)
