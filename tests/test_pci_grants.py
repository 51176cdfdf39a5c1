"""The pci and dma grants as the build reads them (manifest/README.md, "PCI devices and DMA"):
the selector syntax, what the image records, and the refusals, each with its code and line."""
import pytest

from conftest import build_py, write_appliance
from azoth import catalogue as catalogue_module
from azoth import manifest as manifest_module
from azoth.errors import AzothError, AzothErrors

SOURCE = '(module (func (export "_start")))'


def manifest(*modules, memory="64M"):
    text = f'[appliance]\nname = "grants"\nmemory = "{memory}"\n'
    for index, (grants, module_memory) in enumerate(modules):
        listed = ", ".join(f'"{g}"' for g in grants)
        text += (f'\n[[driver]]\nname = "d{index}"\nsource = "m.wat"\ngrants = [{listed}]\n'
                 f'memory = "{module_memory}"\n')
    return text


def load(tmp_path, *modules, **options):
    directory = write_appliance(tmp_path / "grants", manifest(*modules, **options),
                                {"m.wat": SOURCE})
    return manifest_module.load(directory)


def errors_of(tmp_path, *modules):
    with pytest.raises((AzothError, AzothErrors)) as caught:
        load(tmp_path, *modules)
    error = caught.value
    return error.errors if isinstance(error, AzothErrors) else [error]


@pytest.mark.parametrize("grant,flags,key,mask", [
    ("pci:1af4:1041", 1, 0x1af41041, 0xffffffff),
    ("pci:1AF4:1041?", 0x101, 0x1af41041, 0xffffffff),
    ("pci:00:03.0", 3, 0x0018, 0xffff),
    ("pci:01:1f.7", 3, 0x01ff, 0xffff),
    ("pci:class=02", 2, 0x020000, 0xff0000),
    ("pci:class=02.00", 2, 0x020000, 0xffff00),
    ("pci:class=0c.03.30?", 0x102, 0x0c0330, 0xffffff),
])
def test_selectors(tmp_path, grant, flags, key, mask):
    m = load(tmp_path, ([grant], "64M"))
    (parsed,) = m.modules[0].parsed_grants
    assert (parsed.flags, parsed.first, parsed.last) == (flags, key, mask)
    assert catalogue_module.format_pci_selector(flags, key, mask) == grant[4:].lower()


@pytest.mark.parametrize("grant", [
    "pci", "pci:1af4", "pci:1af4:104", "pci:xyz1:1041", "pci:1af4:1041:0", "pci:00:20.0",
    "pci:00:03.8", "pci:0:3.0", "pci:class=2", "pci:class=02.00.00.00", "pci:class=", "pci:??",
    "dma", "dma:3K", "dma:0", "dma:1X", "dma:65M", "dma:-4K",
    "port:0xcf8", "port:0xcf0-0xcff", "mmio:0xfec00000-0xfec00fff",
])
def test_malformed_or_reserved_grants(tmp_path, grant):
    errors = errors_of(tmp_path, ([grant, "pci:1af4:1041"] if grant.startswith("dma")
                                  else [grant], "64M"))
    assert [e.code for e in errors] == ["AZ-M015"], [str(e) for e in errors]
    assert errors[0].line == 8 and errors[0].key == "driver[0].grants", str(errors[0])


def test_two_modules_claiming_one_device(tmp_path):
    errors = errors_of(tmp_path, (["pci:1af4:1041"], "64M"), (["pci:1AF4:1041?"], "64M"))
    assert [e.code for e in errors] == ["AZ-M026"]
    assert "'pci:1AF4:1041?': driver[0] (d0) claims the same device ('pci:1af4:1041'); a device " \
        "belongs to one driver" in str(errors[0])
    assert errors[0].line == 14 and errors[0].key == "driver[1].grants"
    # one module, the same device twice (written differently)
    errors = errors_of(tmp_path, (["pci:00:03.0", "pci:00:03.0?"], "64M"))
    assert [e.code for e in errors] == ["AZ-M006"], [str(e) for e in errors]
    # different selectors may name one function: only the boot can tell (tests/test_pci.py)
    load(tmp_path, (["pci:1af4:1041"], "64M"), (["pci:00:03.0"], "64M"))


def test_a_dma_region_needs_a_device_fits_the_memory_and_is_one(tmp_path):
    for modules, words in [
            ((["dma:1M"], "64M"), "a DMA region serves the module's devices: grant one too"),
            ((["pci:1af4:1041", "dma:1M", "dma:2M"], "64M"), "a module has one DMA region"),
            ((["pci:1af4:1041", "dma:2M"], "1M"), "the region is mapped into the module's "
                                                  "linear memory, which holds at most 1024 KiB")]:
        errors = errors_of(tmp_path, modules)
        assert [e.code for e in errors] == ["AZ-M015"] and words in str(errors[0]), \
            [str(e) for e in errors]
    m = load(tmp_path, (["pci:1af4:1041", "dma:1M"], "64M"))
    assert [(g.capability.name, g.first) for g in m.modules[0].parsed_grants] == \
        [("pci", 0x1af41041), ("dma", 1 << 20)]


def test_the_image_records_them_and_inspect_shows_them(tmp_path, out_dir, tools):
    directory = write_appliance(tmp_path / "rec", manifest((["pci:1af4:1041?", "dma:512K",
                                                             "pci:class=02.00"], "64M")),
                                {"m.wat": SOURCE})
    result = tools.build(directory, iso=False, images=out_dir)
    from azoth.image import Image
    image = Image(result.image.read_bytes())
    pci, dma = (catalogue_module.load().capabilities[c].resource for c in ("pci", "dma"))
    assert [(r.kind, r.flags, r.first, r.last) for r in image.resources] == [
        (pci, 0x101, 0x1af41041, 0xffffffff), (dma, 0, 512 << 10, 512 << 10),
        (pci, 2, 0x020000, 0xffff00)]
    shown = build_py("inspect", result.image).stdout
    assert "resource  pci:1af4:1041?" in shown and "resource  dma:512K" in shown
    assert "resource  pci:class=02.00" in shown


def test_the_dma_region_counts_against_the_appliance_memory(tmp_path, out_dir):
    directory = write_appliance(tmp_path / "big", manifest((["pci:1af4:1041", "dma:12M"], "16M"),
                                                           memory="16M"), {"m.wat": SOURCE})
    done = build_py("build", directory, "--no-iso", "--out", out_dir)
    assert done.returncode == 1 and "AZ-L001" in done.stderr, done.stderr
    assert "DMA regions" in done.stderr
