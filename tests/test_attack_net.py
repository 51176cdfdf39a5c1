"""Hostile use of the sockets between apps and the TCP/IP stack (docs/kernel-abi.md, "Sockets";
docs/kernel-abi.md): a fake stack misuses every athanor.net_* function (tests/devices/
net_stack_attacker.c) and an app every WASI socket function (tests/devices/net_socket_app.c);
each misuse is refused with its error and changes nothing, and the real uses still work, with
the bytes arriving whole; in both bounds modes."""
import pytest

import attacks
from conftest import ROOT

DEVICES = ROOT / "tests" / "devices"


def manifest(bounds):
    return f"""memory = "64M"

[[driver]]
name = "stack"
source = "{DEVICES / 'net_stack_attacker.c'}"
grants = ["stdout", "netstack"]
memory = "1M"

[[app]]
name = "app"
source = "{DEVICES / 'net_socket_app.c'}"
grants = ["stdout", "tcp-listen:80"]
memory = "1M"
"""


@pytest.mark.parametrize("bounds", attacks.BOUNDS)
def test_hostile_stack_and_app(tmp_path, tools, bounds):
    directory = attacks.appliance(tmp_path, "netattack", bounds, manifest(bounds), {})
    result = attacks.boot(directory, tools, timeout=120)
    text = attacks.text_of(result)
    assert "FAIL" not in text, text[-4000:]
    assert "stack checks done: 0 failures" in text and "app checks done: 0 failures" in text, \
        text[-4000:]
    attacks.assert_clean_exit(result, 0)
