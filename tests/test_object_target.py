"""An object records the machine its code is for (docs/object-format.md, `target`), and every
loader refuses an object for another: build.py (AZ-C011) and the runtime core's
alk_object_open, shown here in the kernel, which names the module and both targets.
`alkahest inspect` reads any target's object and says which."""
import re
import subprocess

import pytest

from conftest import ROOT
from azoth import appliance, qemu
from azoth.alko import ObjectFile
from azoth.errors import AzothError

ALKAHEST = ROOT / "alkahest" / "build" / "alkahest"
HELLO = ROOT / "appliances" / "hello"
TARGET_OFFSET = 56          # formats/object.toml: header.target, u16
AARCH64, X86_64 = 183, 62   # formats/object.toml: enum.target
WAT = '(module (func (export "f") (result i32) (i32.const 7)))'


def retargeted(data: bytes, target: int) -> bytes:
    return data[:TARGET_OFFSET] + target.to_bytes(2, "little") + data[TARGET_OFFSET + 2:]


@pytest.fixture(scope="module")
def x86_object(tmp_path_factory):
    d = tmp_path_factory.mktemp("target")
    (d / "m.wat").write_text(WAT)
    subprocess.run(["wat2wasm", str(d / "m.wat"), "-o", str(d / "m.wasm")], check=True)
    subprocess.run([str(ALKAHEST), "compile", str(d / "m.wasm"), "-o", str(d / "m.alko"),
                    "--target", "x86_64"], check=True)
    return d / "m.alko"


def test_the_header_records_the_target(x86_object):
    data = x86_object.read_bytes()
    assert int.from_bytes(data[TARGET_OFFSET:TARGET_OFFSET + 2], "little") == X86_64
    assert ObjectFile(data).target == "x86_64"
    assert ObjectFile(retargeted(data, AARCH64)).target == "aarch64"
    listing = subprocess.run([str(ALKAHEST), "inspect", str(x86_object)], capture_output=True,
                             text=True, check=True).stdout
    assert re.search(r"^object .* target x86_64, bounds guard$", listing, re.M), listing


def test_inspect_reads_another_targets_object(x86_object, tmp_path):
    other = tmp_path / "other.alko"
    other.write_bytes(retargeted(x86_object.read_bytes(), AARCH64))
    listing = subprocess.run([str(ALKAHEST), "inspect", str(other)], capture_output=True,
                             text=True, check=True).stdout
    assert "target aarch64" in listing and "export     f (function 0)" in listing


def test_build_py_refuses_another_targets_object(x86_object):
    class Module:
        key, name = "app.m", "m"
    appliance.check_target(Module, ObjectFile(x86_object.read_bytes(), "m.alko"))
    with pytest.raises(AzothError) as refused:
        appliance.check_target(Module, ObjectFile(retargeted(x86_object.read_bytes(), AARCH64),
                                                  "m.alko"))
    assert refused.value.code == "AZ-C011"
    assert "compiled for aarch64, the kernel runs x86_64 code" in str(refused.value)


def test_the_kernel_refuses_another_targets_object(tools, tmp_path, monkeypatch):
    """An image whose module object says aarch64 (signed like any other: build.py's own check
    is bypassed) stops the kernel at boot, naming the module and both targets."""
    compile_for_x86 = appliance.compile_module

    def compile_for_aarch64(wasm, bounds, out_dir, module):
        path = compile_for_x86(wasm, bounds, out_dir, module)
        foreign = tmp_path / path.name
        foreign.write_bytes(retargeted(path.read_bytes(), AARCH64))
        return foreign

    monkeypatch.setattr(appliance, "compile_module", compile_for_aarch64)
    monkeypatch.setattr(appliance, "check_target", lambda module, obj: None)
    tools.build(HELLO, iso=False, images=tmp_path)
    result = qemu.boot("kernel", kernel=tools.KERNEL, image=tmp_path / "hello.azi",
                       memory_mib=64, timeout=60)
    assert result.exit.failure == "boot", f"{result.exit}\n{result.output}"
    assert "boot error: module hello: compiled for aarch64, this runtime runs x86_64 code" \
        in result.output, result.output
    assert "Hello from Azoth" not in result.output
