"""Attack class: the kernel's limits. Every limit the kernel has is defined once
(manifest/limits.toml) and known to build.py, which refuses an appliance over any of them
with AZ-L001 naming the module and the limit, so that the kernel never meets one at boot; an
image that went over one anyway (built by other means) is refused at boot naming the module,
never with a panic.
"""
import itertools
import re

import pytest

from attacks import BOUNDS, appliance, assert_clean_exit, boot, lines_of, text_of, with_a64
from azoth import limits, qemu
from azoth.errors import AzothError

VALUE_TYPES = ("i32", "i64", "f32", "f64")


def signatures(first, count):
    """WAT type declarations of `count` distinct function signatures, numbered from `first`."""
    out = []
    for n in range(first, first + count):
        params, k = [], n
        while True:
            params.append(VALUE_TYPES[k % 4])
            k //= 4
            if not k:
                break
        out.append(f"(type (func (param {' '.join(params)}) (result i32)))")
    return "\n  ".join(out)


def module_with_types(first, count, exits=None):
    code = f"(call $exit (i32.const {exits}))" if exits is not None else ""
    return f"""(module
  {signatures(first, count)}
  (import "athanor" "exit" (func $exit (param i32)))
  (func (export "_start") {code}))
"""


def two_modules(first_b, count_b):
    return """
[[app]]
name = "alfa"
source = "alfa.wat"
grants = []

[[app]]
name = "bravo"
source = "bravo.wat"
grants = []
""", {"alfa.wat": module_with_types(0, 300), "bravo.wat": module_with_types(first_b, count_b, 0)}


@pytest.mark.parametrize("bounds", with_a64(BOUNDS))
def test_six_hundred_signatures_boot_and_run(tmp_path, tools, bounds):
    body, files = two_modules(250, 350)               # 600 distinct in all
    result = boot(appliance(tmp_path, "sigs", bounds, body, files), tools)
    assert_clean_exit(result, 0)


def test_more_signatures_than_the_kernel_holds_fail_to_build_naming_the_module(tmp_path, tools):
    over = limits.LIMITS.signatures + 1 - 300
    body, files = two_modules(300, over)
    with pytest.raises(AzothError) as caught:
        tools.build(appliance(tmp_path, "sigs-over", "guard", body, files), iso=False,
                    images=tmp_path / "images")
    assert caught.value.code == "AZ-L001"
    assert "module 'bravo'" in str(caught.value) and "signatures" in str(caught.value)


def test_the_kernel_refuses_an_image_over_its_signature_limit_naming_the_module(
        tmp_path, tools, monkeypatch):
    """An image built past build.py's check (as one made by other means could be): the kernel
    refuses it at boot, naming the module, with the boot-error status; no panic."""
    monkeypatch.setattr(limits, "check_appliance", lambda *args, **kwargs: None)
    body, files = two_modules(300, limits.LIMITS.signatures + 1 - 300)
    result = boot(appliance(tmp_path, "sigs-kernel", "guard", body, files), tools)
    text = text_of(result)
    assert result.exit.outcome is qemu.Outcome.KERNEL_FAILURE and result.exit.failure == "boot", \
        (result.exit, text[-2000:])
    assert "boot error: module bravo:" in text and "signatures" in text
    assert "panic" not in text


def test_more_imports_than_the_kernel_links_fail_to_build(tmp_path, tools):
    count = limits.LIMITS.imports + 1
    imports = "\n  ".join(f'(import "athanor" "yield" (func $y{i}))' for i in range(count))
    body = '\n[[app]]\nname = "greedy"\nsource = "greedy.wat"\ngrants = []\n'
    directory = appliance(tmp_path, "imports", "guard", body,
                          {"greedy.wat": f'(module {imports} (func (export "_start")))'})
    with pytest.raises(AzothError) as caught:
        tools.build(directory, iso=False, images=tmp_path / "images")
    assert caught.value.code == "AZ-L001" and "module 'greedy'" in str(caught.value)
    assert f"imports {count}" in str(caught.value)


def test_more_grants_than_handles_fail_to_build(tmp_path, tools):
    count = limits.LIMITS.handles + 1
    ports = ", ".join(f'"port:{0x2f8 + (i % 8) + 0x100 * (i // 8):#x}"' for i in range(count))
    body = f'\n[[app]]\nname = "hoarder"\nsource = "h.wat"\ngrants = [{ports}]\n'
    directory = appliance(tmp_path, "handles", "guard", body,
                          {"h.wat": '(module (func (export "_start")))'})
    with pytest.raises(AzothError) as caught:
        tools.build(directory, iso=False, images=tmp_path / "images")
    assert caught.value.code == "AZ-L001" and "module 'hoarder'" in str(caught.value)
    assert "handles" in str(caught.value)


def test_modules_that_cannot_fit_in_the_appliance_memory_fail_to_build(tmp_path, tools):
    body = """memory = "32M"

[[app]]
name = "small"
source = "small.wat"
grants = []

[[app]]
name = "large"
source = "large.wat"
grants = []
memory = "64M"
"""
    directory = appliance(tmp_path, "memory", "guard", body, {
        "small.wat": '(module (memory 1) (func (export "_start")))',
        "large.wat": '(module (memory 512) (func (export "_start")))'})      # 32 MiB at start
    with pytest.raises(AzothError) as caught:
        tools.build(directory, iso=False, images=tmp_path / "images")
    assert caught.value.code == "AZ-L001" and "module 'large'" in str(caught.value)
    assert "raise [appliance] memory" in str(caught.value)


def test_limits_have_one_definition():
    """Every limit of manifest/limits.toml is what the kernel's generated header says, and
    build.py's copies are those values (no second definition anywhere)."""
    from conftest import ROOT
    import subprocess
    out = ROOT / "athanor" / "build" / "kernel_limits.h"
    subprocess.run(["python3", str(ROOT / "formats" / "generate.py"), "kernel-limits", str(out)],
                   check=True)
    defined = dict(re.findall(r"^#define (\w+)\s+(\d+)", out.read_text(), re.M))
    for limit in limits.load().values():
        assert defined.get(limit.macro) == str(limit.value), limit
    param = (ROOT / "athanor" / "param.h").read_text()
    for limit in limits.load().values():
        assert f"#define {limit.macro} " not in param, f"{limit.macro} defined again in param.h"
    from azoth import manifest
    assert manifest.MODULES_MAX == limits.LIMITS.modules
    assert manifest.CHANNELS_MAX == limits.LIMITS.channels
    assert list(itertools.islice(limits.load(), 1)) == ["modules"]
