"""The end of an appliance where QEMU's debug-exit device is absent, as on a cloud VM or a
microVM: the kernel prints its last line and powers the machine off through ACPI (PM1 control
on pc and q35, the hardware-reduced sleep register on microvm), QEMU exits because the guest
powered off, and the host reads the outcome from that line. A failure powers off the same way.

    /usr/bin/python3 -m pytest tests/test_power.py
"""
import pytest

from conftest import manifest_for, logging_app, write_appliance
from azoth import appliance as appliance_module
from azoth import qemu
from azoth.qemu import Outcome

MACHINES = ["pc", "q35", "microvm"]


@pytest.fixture(scope="module")
def images(tools, tmp_path_factory):
    """Two images: an app that exits with code 7, and one that traps (appliance failed)."""
    root = tmp_path_factory.mktemp("power")
    out = {}
    for name, source in [("exits", logging_app("bye", code=7)),
                         ("traps", "(module (func (export \"_start\") unreachable))")]:
        app = write_appliance(root / name, manifest_for(name, [("main", "main.wat", ["log"])]),
                              {"main.wat": source})
        out[name] = appliance_module.build(app, iso=False, images=root / "images").image
    return out


def boot(tools, image, machine, cmdline="", timeout=60):
    return qemu.boot("kernel", kernel=tools.KERNEL, image=image, cmdline=cmdline,
                     machine=machine, debug_exit=False, timeout=timeout)


@pytest.mark.parametrize("machine", MACHINES)
def test_exit_code_by_power_off(tools, images, machine):
    r = boot(tools, images["exits"], machine)
    assert r.returncode == 0, "QEMU exits because the guest powered off"
    assert r.exit.outcome is Outcome.EXIT and r.exit.code == 7 and r.exit.powered_off, r.output
    assert r.lines[-1].text == "[athanor] exit code 7"


@pytest.mark.parametrize("machine", MACHINES)
def test_failure_by_power_off(tools, images, machine):
    r = boot(tools, images["traps"], machine)
    assert r.returncode == 0
    assert r.exit.outcome is Outcome.KERNEL_FAILURE and r.exit.failure == "appliance", r.output


def test_debug_exit_still_wins_where_present(tools, images):
    """With the device, QEMU's status carries the code (and the line is printed first)."""
    r = qemu.boot("kernel", kernel=tools.KERNEL, image=images["exits"], timeout=60)
    assert r.returncode == qemu.status_for_exit_code(7) and r.exit.code == 7
    assert not r.exit.powered_off


def test_halt_when_asked(tools, images):
    """athanor.exit=halt: the machine stays up after the last line (QEMU is killed)."""
    r = boot(tools, images["exits"], "q35", "athanor.exit=halt", timeout=8)
    assert r.exit.outcome is Outcome.TIMEOUT
    assert "[athanor] exit code 7" in r.output


def test_reboot_when_asked(tools, images):
    """athanor.exit=reboot: a reset, which -no-reboot turns into QEMU's exit (status 0) with
    nothing after the last line to say it powered off."""
    r = boot(tools, images["exits"], "q35", "athanor.exit=reboot")
    assert r.returncode == 0
    assert r.lines[-1].text == "[athanor] exit code 7"
