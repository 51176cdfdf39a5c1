"""PVH boot (the x86/HVM direct boot ABI that Firecracker, Cloud Hypervisor and QEMU use):
athanor-pvh.elf, entered at its Xen PHYS32_ENTRY note with the hvm_start_info, takes the image
as its first module, the command line and the RSDP from the start info, runs the appliance and
powers the machine off; a tampered image is refused on this path as on the others.

    /usr/bin/python3 -m pytest tests/test_pvh.py
"""
import subprocess

import pytest

import conftest
from conftest import manifest_for, logging_app, write_appliance
from azoth import appliance as appliance_module
from azoth import qemu
from azoth.qemu import Outcome


@pytest.fixture(scope="module")
def images(tools, tmp_path_factory):
    root = tmp_path_factory.mktemp("pvh")
    out = {}
    for bounds in ("guard", "checked"):
        name = f"pvh-{bounds}"
        app = write_appliance(root / name, manifest_for(name, [("main", "main.wat", ["log"])],
                                                         bounds=bounds),
                              {"main.wat": logging_app("hello through PVH", code=3)})
        out[bounds] = appliance_module.build(app, iso=False, images=root / "images").image
    return out


def boot(tools, image, machine, cmdline="", debug_exit=False):
    return qemu.boot("kernel", kernel=appliance_module.KERNEL_PVH, image=image, cmdline=cmdline,
                     machine=machine, debug_exit=debug_exit, timeout=60)


def test_the_pvh_kernel_has_the_note_and_no_multiboot_header(tools):
    notes = subprocess.run(["readelf", "-nW", appliance_module.KERNEL_PVH], capture_output=True,
                           text=True, check=True).stdout
    assert "Xen" in notes and "0x00000012" in notes    # XEN_ELFNOTE_PHYS32_ENTRY
    head = appliance_module.KERNEL_PVH.read_bytes()[:32768]
    assert (0x1BADB002).to_bytes(4, "little") not in head
    assert (0xE85250D6).to_bytes(4, "little") not in head


@pytest.mark.parametrize("machine", ["microvm", "q35", "pc"])
@pytest.mark.parametrize("bounds", ["guard", "checked"])
def test_pvh_boot_runs_and_powers_off(tools, images, machine, bounds):
    r = boot(tools, images[bounds], machine)
    assert r.banner is not None and "(pvh," in r.banner.text, r.output
    assert "hello through PVH" in r.output
    assert r.returncode == 0 and r.exit.outcome is Outcome.EXIT and r.exit.code == 3, r.output


def test_pvh_with_the_debug_exit_device(tools, images):
    r = boot(tools, images["guard"], "microvm", debug_exit=True)
    assert r.returncode == qemu.status_for_exit_code(3)


def test_pvh_command_line_reaches_the_kernel(tools, images):
    """athanor.exit=halt from the start info's command line: the machine stays up."""
    r = qemu.boot("kernel", kernel=appliance_module.KERNEL_PVH, image=images["guard"],
                  cmdline="athanor.exit=halt", machine="microvm", debug_exit=False, timeout=8)
    assert r.exit.outcome is Outcome.TIMEOUT and "[athanor] exit code 3" in r.output


def test_the_clock_keeps_time_on_microvm(tools, tmp_path):
    """A module's one-second sleep lasts a second of the host's time: the TSC is calibrated
    against PIT channel 0, which microvm has (it has no port 0x61 for channel 2)."""
    wat = """(module
  (import "athanor" "sleep" (func $sleep (param i64)))
  (import "athanor" "log" (func $log (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "awake")
  (func (export "_start")
    (call $sleep (i64.const 1000000000))
    (call $log (i32.const 0) (i32.const 5))))"""
    app = write_appliance(tmp_path / "sleeper", manifest_for("sleeper", [("main", "main.wat",
                                                                         ["log", "clock"])]),
                          {"main.wat": wat})
    image = appliance_module.build(app, iso=False, images=tmp_path / "images").image
    r = boot(tools, image, "microvm")
    assert "awake" in r.output and r.exit.ok, r.output
    awake = r.first(lambda t: t == "awake").time
    banner = r.banner.time
    assert awake - banner >= 1.0, f"slept {awake - banner:.3f} s of the host's time"


def test_pvh_refuses_a_tampered_image(tools, images, tmp_path):
    r = boot(tools, conftest.tampered(images["guard"], tmp_path), "microvm")
    assert r.exit.outcome is Outcome.KERNEL_FAILURE and r.exit.failure == "verify", r.output
    assert "hello through PVH" not in r.output
