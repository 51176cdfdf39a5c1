"""The runtime's side of the manifest and the image, without QEMU: grants with parameters,
channels, supervisors, what build.py refuses, what the image carries, and that the generated
headers and the docs stay in step with the capability catalogue."""
import re
import subprocess
import sys

import pytest

from conftest import ROOT, build_py, manifest_for, write_appliance
from azoth import catalogue as catalogue_module, image as image_module, manifest as manifest_module
from azoth.errors import AzothError

APP = '(module (func (export "_start")))'
CHANNEL_APP = """(module
  (import "athanor" "channel_open" (func $open (param i32 i32) (result i32)))
  (memory 1) (data (i32.const 0) "c")
  (func (export "_start") (drop (call $open (i32.const 0) (i32.const 1)))))"""


def load_error(tmp_path, text, files=None):
    write_appliance(tmp_path, text, files if files is not None else {"a.wat": APP, "b.wat": APP})
    with pytest.raises(AzothError) as info:
        manifest_module.load(tmp_path)
    return info.value


def two_apps(extra="", grants_a=(), grants_b=()):
    return manifest_for("x", [("a", "a.wat", list(grants_a)), ("b", "b.wat", list(grants_b))],
                        extra="") + extra


# ---- Grants with parameters --------------------------------------------------------------------

def test_grants_with_parameters_parse(tmp_path):
    write_appliance(tmp_path, two_apps(grants_a=["port:0x3f8-0x3ff", "irq:4", "port:0x60",
                                                 "mmio:0xfed00000-0xfed003ff", "log"]),
                    {"a.wat": APP, "b.wat": APP})
    a = manifest_module.load(tmp_path).modules[0]
    parsed = {(g.capability.name, g.first, g.last) for g in a.parsed_grants}
    assert parsed == {("port", 0x3f8, 0x3ff), ("irq", 4, 4), ("port", 0x60, 0x60),
                      ("mmio", 0xfed00000, 0xfed003ff), ("log", 0, 0)}
    assert a.capabilities == {"port", "irq", "mmio", "log"}


@pytest.mark.parametrize("grant, words", [
    ("port", "needs a parameter"),
    ("log:1", "takes no parameter"),
    ("port:0x3ff-0x3f8", "FIRST-LAST"),
    ("port:lots", "FIRST-LAST"),
    ("port:0x10000", "beyond the largest port value"),
    ("port:0x20", "overlaps port 0x20-0x21, which the kernel keeps"),
    ("port:0xf0-0xff", "0xf4-0xf7"),
    ("irq:0", "overlaps irq 0"),
    ("irq:2", "overlaps irq 2"),
    ("irq:16", "beyond the largest irq value 15"),
    ("mmio:0xfee00000-0xfee00fff", "the kernel keeps"),
    ("channel:c", "channel grants come from [[channel]]"),
])
def test_bad_grant_parameters(tmp_path, grant, words):
    e = load_error(tmp_path, two_apps(grants_a=[grant]))
    assert e.code == "AZ-M015" and words in e.message and e.key == "app[0].grants", e
    assert e.line == 9


def test_what_the_kernel_keeps_is_per_machine(tmp_path):
    """x86-64's kernel keeps ISA lines 0 and 2 and the APICs' windows; on AArch64 those lines
    are the device tree's shared interrupts, which the kernel does not keep, and the APIC
    addresses are plain MMIO (the boot refuses the GIC's windows)."""
    grants = ["irq:0", "irq:2", "mmio:0xfee00000-0xfee00fff"]
    write_appliance(tmp_path, two_apps(grants_a=grants), {"a.wat": APP, "b.wat": APP})
    a = manifest_module.load(tmp_path, arch="aarch64").modules[0]
    assert {(g.capability.name, g.first) for g in a.parsed_grants} == \
        {("irq", 0), ("irq", 2), ("mmio", 0xfee00000)}
    with pytest.raises(AzothError) as info:
        manifest_module.load(tmp_path)                      # x86_64
    e = info.value
    assert e.code == "AZ-M015" and e.key == "app[0].grants" and e.line == 9
    assert "overlaps irq 0, which the kernel keeps for itself on x86_64" in e.message


def test_the_same_grant_twice(tmp_path):
    e = load_error(tmp_path, two_apps(grants_a=["irq:4", "irq:4"]))
    assert e.code == "AZ-M006" and "'irq:4'" in e.message


# ---- Channels ----------------------------------------------------------------------------------

def test_channel_ends_get_the_channel_grant(tmp_path):
    write_appliance(tmp_path, two_apps('\n[[channel]]\nname = "c.1"\nfrom = "a"\nto = "b"\n'),
                    {"a.wat": APP, "b.wat": APP})
    m = manifest_module.load(tmp_path)
    (c,) = m.channels
    assert (c.name, c.sender, c.receiver, c.depth, c.message_size) == ("c.1", "a", "b", 16, 256)
    assert all("channel" in mod.capabilities for mod in m.modules)


@pytest.mark.parametrize("channel, code, key, words", [
    ('name = "c"\nfrom = "a"\nto = "nobody"', "AZ-M014", "to", "no module named 'nobody'"),
    ('name = "c"\nto = "a"', "AZ-M004", None, "'from'"),
    ('name = "c"\nfrom = "a"\nto = "b"\ndepth = 0', "AZ-M019", "depth", "1 to 1024"),
    ('name = "c"\nfrom = "a"\nto = "b"\nmessage_size = "128K"', "AZ-M019", "message_size", "65536"),
    ('name = "c"\nfrom = "a"\nto = "b"\ndepth = 1024\nmessage_size = "64K"', "AZ-M019", "depth",
     "at most 1048576"),
    ('name = "Bad"\nfrom = "a"\nto = "b"', "AZ-M018", "name", "invalid channel name"),
    ('name = "c"\nfrom = "a"\nto = "b"\nsize = 3', "AZ-M002", "size", "unknown key 'size'"),
])
def test_bad_channels(tmp_path, channel, code, key, words):
    e = load_error(tmp_path, two_apps(f"\n[[channel]]\n{channel}\n"))
    assert e.code == code and words in e.message, e
    assert e.key == (f"channel[0].{key}" if key else "channel[0]"), e.key


def test_duplicate_channel(tmp_path):
    text = two_apps('\n[[channel]]\nname = "c"\nfrom = "a"\nto = "b"\n'
                    '\n[[channel]]\nname = "c"\nfrom = "b"\nto = "a"\n')
    e = load_error(tmp_path, text)
    assert e.code == "AZ-M006" and e.key == "channel[1].name"


def test_channel_import_without_being_an_end_fails_the_build(tmp_path, out_dir, tools):
    app = write_appliance(tmp_path / "app", two_apps() , {"a.wat": CHANNEL_APP, "b.wat": APP})
    result = build_py("build", app, "--out", out_dir, "--no-iso")
    assert result.returncode == 1 and "AZ-M008" in result.stderr
    assert "athanor.channel_open" in result.stderr and "capability 'channel'" in result.stderr
    assert "[[channel]]" in result.stderr and list(out_dir.iterdir()) == []


def test_port_import_names_the_grant_to_add(tmp_path, out_dir, tools):
    wat = ('(module (import "athanor" "port_open" (func (param i32 i32) (result i32)))'
           ' (func (export "_start")))')
    app = write_appliance(tmp_path / "app", two_apps(), {"a.wat": wat, "b.wat": APP})
    result = build_py("build", app, "--out", out_dir, "--no-iso")
    assert result.returncode == 1 and "AZ-M008" in result.stderr
    assert "'port:FIRST-LAST'" in result.stderr


# ---- Supervisors ---------------------------------------------------------------------------------

def test_implicit_root_supervises_every_module(tmp_path):
    write_appliance(tmp_path, two_apps(), {"a.wat": APP, "b.wat": APP})
    m = manifest_module.load(tmp_path)
    (root,) = m.supervisors
    assert (root.name, root.strategy, root.max_restarts, root.within_ns, root.children,
            root.on_exhausted) == ("root", "one_for_one", 3, 5_000_000_000, ["a", "b"], "escalate")


def test_a_tree_and_the_modules_it_leaves_out(tmp_path):
    text = two_apps('\n[[supervisor]]\nname = "top"\nchildren = ["sub"]\n'
                    '\n[[supervisor]]\nname = "sub"\nstrategy = "rest_for_one"\nwithin = "250ms"\n'
                    'children = ["b"]\n')
    write_appliance(tmp_path, text, {"a.wat": APP, "b.wat": APP})
    m = manifest_module.load(tmp_path)
    top, sub = m.supervisors
    assert (top.name, top.children, top.parent) == ("top", ["sub", "a"], None)
    assert (sub.name, sub.parent, sub.strategy, sub.within_ns) == ("sub", "top", "rest_for_one",
                                                                    250_000_000)
    assert [mod.supervisor for mod in m.modules] == ["top", "sub"]


@pytest.mark.parametrize("supervisors, code, words", [
    ('name = "s"\nchildren = ["ghost"]', "AZ-M014", "neither a module nor a supervisor"),
    ('name = "s"\nchildren = ["a"]\n\n[[supervisor]]\nname = "t"\nchildren = ["a"]', "AZ-M016",
     "listed by two supervisors"),
    ('name = "s"\n\n[[supervisor]]\nname = "t"', "AZ-M016", "exactly one root"),
    ('name = "s"\n\n[[supervisor]]\nname = "t"\nchildren = ["u"]\n\n'
     '[[supervisor]]\nname = "u"\nchildren = ["t"]', "AZ-M016", "not below the root"),
    ('name = "s"\nchildren = ["s"]', "AZ-M016", "supervises itself"),
    ('name = "a"', "AZ-M006", "duplicate name 'a'"),
    ('name = "s"\nstrategy = "all_for_one"', "AZ-M005", "'one_for_one'"),
    ('name = "s"\nwithin = "soon"', "AZ-M003", "a duration"),
    ('name = "s"\nwithin = "0ms"', "AZ-M019", "between 1ms and 60m"),
    ('name = "s"\nmax_restarts = 20000', "AZ-M019", "at most 10000"),
])
def test_bad_supervisors(tmp_path, supervisors, code, words):
    e = load_error(tmp_path, two_apps(f"\n[[supervisor]]\n{supervisors}\n"))
    assert e.code == code and words in e.message, e
    assert e.key.startswith("supervisor["), e.key


# ---- The image --------------------------------------------------------------------------------

def test_image_carries_resources_channels_and_the_tree(tools, tmp_path):
    text = ('[appliance]\nname = "tables"\n'
            '\n[[driver]]\nname = "dev"\nsource = "a.wat"\ngrants = ["port:0x2f8-0x2ff", "irq:3"]\n'
            'stack = "128K"\nrestart = "always"\n'
            '\n[[app]]\nname = "app"\nsource = "b.wat"\n'
            '\n[[channel]]\nname = "up"\nfrom = "dev"\nto = "app"\ndepth = 8\nmessage_size = 64\n'
            '\n[[channel]]\nname = "loop"\nfrom = "app"\nto = "app"\n'
            '\n[[supervisor]]\nname = "top"\nstrategy = "one_for_all"\nmax_restarts = 7\n'
            'within = "2s"\non_exhausted = "fail"\nchildren = ["sub", "app"]\n'
            '\n[[supervisor]]\nname = "sub"\nchildren = ["dev"]\n')
    d = write_appliance(tmp_path / "tables", text, {"a.wat": APP, "b.wat": APP})
    out = tmp_path / "out"
    result = tools.build(d, iso=False, images=out)
    image = image_module.Image(result.image.read_bytes())
    assert image.check_blobs() == []
    port, irq, channel = catalogue_module.load().capabilities["port"].resource, \
        catalogue_module.load().capabilities["irq"].resource, \
        catalogue_module.load().capabilities["channel"].resource
    send, receive = image_module.RESOURCE_SEND, image_module.RESOURCE_RECEIVE
    assert [(r.kind, r.first, r.last, r.flags) for r in image.resources_of(0)] == \
        [(port, 0x2f8, 0x2ff, 0), (irq, 3, 3, 0), (channel, 0, 0, send)]
    assert [(r.kind, r.first, r.flags) for r in image.resources_of(1)] == \
        [(channel, 0, receive), (channel, 1, send | receive)]
    assert [(c.name, c.sender, c.receiver, c.depth, c.message_size) for c in image.channels] == \
        [("up", 0, 1, 8, 64), ("loop", 1, 1, 16, 256)]
    top, sub = image.supervisors
    assert (top.name, top.parent, top.strategy, top.max_restarts, top.window_ns,
            top.on_exhausted, top.children) == ("top", image_module.NO_PARENT, "one_for_all", 7,
                                                2_000_000_000, "fail", [(True, 1), (False, 1)])
    assert (sub.name, sub.parent, sub.children) == ("sub", 0, [(False, 0)])
    first = image.modules[0]
    assert (first.supervisor, first.resource_first, first.resource_count, first.stack_size) == \
        (1, 0, 3, 128 << 10)
    assert image.modules[1].supervisor == 0

    shown = build_py("inspect", result.image).stdout
    assert "resource  port:0x2f8-0x2ff" in shown and "resource  irq:3" in shown
    assert "resource  channel:up (send)" in shown and "channel:loop (send, receive)" in shown
    assert "channel up  dev -> app, depth 8, messages up to 64 B" in shown
    assert "supervisor top  one_for_all, at most 7 restarts in 2 s, then fail: sub, app" in shown
    assert "stack 128.0 KiB" in shown or "stack 131072 B" in shown


# ---- Docs in step with the catalogue (the generated files: tests/test_generated.py) -------------

def test_kernel_abi_doc_lists_every_function_and_error():
    doc = (ROOT / "docs" / "kernel-abi.md").read_text()
    cat = catalogue_module.load()
    for imp in cat.imports.values():
        row = re.search(rf"^\| `{re.escape(imp.name)}` \| {imp.id} \| `\(([^)]*)\) -> \(?([^`)]*)\)?` "
                        rf"\| ((?:`?[a-z][a-z-]*`?)(?: or `[a-z][a-z-]*`)*) \|", doc, re.M)
        assert row, f"{imp.name} is not in docs/kernel-abi.md"
        params = [p.split(": ")[1] for p in row.group(1).split(", ") if p]
        assert tuple(params) == imp.params, imp.name
        assert row.group(2) == ", ".join(imp.results), imp.name
        assert tuple(g.strip("`") for g in row.group(3).split(" or ")) == imp.grants, imp.name
    for error in cat.errors:
        assert re.search(rf"^\| {error.value} \| `{error.name}` \|", doc, re.M), error.name


def test_manifest_readme_lists_every_capability():
    readme = (ROOT / "manifest" / "README.md").read_text()
    for name in catalogue_module.load().capabilities:
        assert re.search(rf"^\| `{name}` \|", readme, re.M), name


def test_every_wasi_function_wasi_c_provides_is_in_the_catalogue():
    """alkahest/runtime/wasi.c takes every preview1 signature from the catalogue (through the
    generated wasi_functions.h); the functions it provides are named in a table of its own, and a
    name there that is not in the catalogue would never be found."""
    source = (ROOT / "alkahest" / "runtime" / "wasi.c").read_text()
    table = source[source.index("} provided[] = {"):]
    provided = re.findall(r'\{ "(\w+)", \(const void \*\)', table[:table.index("};")])
    listed = {imp.field for imp in catalogue_module.load().imports.values() if imp.is_wasi}
    assert len(provided) == 29 and set(provided) <= listed, set(provided) - listed
