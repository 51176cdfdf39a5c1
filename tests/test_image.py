"""The appliance image: layout, signature, reproducibility, and that tampering with any byte
stops the kernel before any module runs."""
import concurrent.futures
import hashlib
import shutil
import subprocess

import pytest

from conftest import ROOT, build_py, make
from azoth import alko, image as image_module, qemu, signing
from azoth.alko import ObjectFile

HELLO = ROOT / "appliances" / "hello"


@pytest.fixture(scope="module")
def hello_image(tools, tmp_path_factory):
    out = tmp_path_factory.mktemp("hello")
    tools.build(HELLO, iso=False, images=out)
    return out / "hello.azi"


FILES_MANIFEST = """[appliance]
name = "withfiles"

[[app]]
name = "reader"
source = "a.wat"
grants = ["files", "args", "env"]
args = ["--one", "two"]
env = { LANG = "C", B = "2" }

[[file]]
host = "motd.txt"
guest = "/etc/motd"

[[file]]
host = "empty.txt"
guest = "/data/empty"
"""


@pytest.fixture(scope="module")
def files_image(tools, tmp_path_factory):
    """An image with files (one of them empty), args and env: everything in the string pool
    and the file table gets corrupted too."""
    from conftest import write_appliance
    directory = write_appliance(tmp_path_factory.mktemp("withfiles"), FILES_MANIFEST,
                                {"a.wat": '(module (func (export "_start")))',
                                 "motd.txt": "Welcome to Azoth\n", "empty.txt": ""})
    tools.build(directory, iso=False, images=directory / "out")
    return directory / "out" / "withfiles.azi"


def test_layout_and_signature(hello_image):
    data = hello_image.read_bytes()
    image = image_module.Image(data)
    assert image.name == "hello" and image.version == "0.1.0" and image.bounds == "guard"
    assert len(data) % 4096 == 0 and image.size == len(data)
    assert image.check_blobs() == []
    key = signing.public_key_raw(signing.key_path())
    assert signing.verify(key, image.signed_message(), image.signature)
    obj = image.object_of(0)
    assert [i.name for i in obj.imports()] == ["athanor.log", "athanor.exit"]
    code = obj.sections[alko.SECTION_IDS["code"]]
    assert (image.modules[0].object_offset + code.offset) % 4096 == 0, "code must be page-aligned"
    # every blob is one section of the object (or its header), and they tile the object
    kinds = [b.kind for b in image.blobs]
    assert kinds[0] == 0 and alko.SECTION_IDS["code"] in kinds and sorted(set(kinds)) == sorted(kinds)


def test_reproducible(tools, tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    # A copy of hello, whose work folder (keyed by its path) no other test shares: removing it
    # leaves the parallel workers' builds alone (removing all of build/appliances once broke
    # another worker's link step).
    source = tmp_path / "hello"
    shutil.copytree(HELLO, source)
    tools.build(source, iso=False, images=first)
    where = hashlib.sha256(str(source.resolve()).encode()).hexdigest()[:10]
    work = tools.WORK / f"hello-{where}"
    assert work.is_dir()
    shutil.rmtree(work)                                # nothing cached but the objects
    tools.build(source, iso=False, images=second)
    assert (first / "hello.azi").read_bytes() == (second / "hello.azi").read_bytes()


def test_inspect(hello_image):
    result = build_py("inspect", hello_image)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "signature  valid" in out and "all hashes match" in out
    assert "module hello  (app)" in out and "grants    log" in out
    assert "athanor.log (i32, i32) -> () -> kernel #1 athanor.log" in out
    assert any(line.split()[:1] == ["code"] for line in out.splitlines())


def test_inspect_reports_tampering(hello_image, tmp_path):
    data = bytearray(hello_image.read_bytes())
    image = image_module.Image(bytes(data))
    code = next(b for b in image.blobs if b.kind == alko.SECTION_IDS["code"])
    data[code.offset + 5] ^= 0xFF
    bad = tmp_path / "bad.azi"
    bad.write_bytes(data)
    result = build_py("inspect", bad)
    assert result.returncode == 2
    assert "module hello, blob code: SHA-256 mismatch" in result.stdout


@pytest.mark.parametrize("which", ["hello", "files"])
def test_every_flipped_byte_is_refused_by_the_kernel_verifier(hello_image, files_image, tmp_path,
                                                              which):
    """athanor/image.c built for the host, tried on every single-byte corruption."""
    image = hello_image if which == "hello" else files_image
    make("-s", "-C", ROOT / "tests" / "kernel_host")
    key = tmp_path / "key.raw"
    key.write_bytes(signing.public_key_raw(signing.key_path()))
    tool = str(ROOT / "build" / "kernel_host" / "verify_image")
    assert subprocess.run([tool, str(image), str(key)]).returncode == 0
    result = subprocess.run([tool, str(image), str(key), "--flip-all"],
                            capture_output=True, text=True)
    assert result.stdout.strip().endswith(f"0 of {image.stat().st_size} corrupted images "
                                          "accepted"), result.stdout[-2000:]
    assert result.returncode == 0


def test_files_in_the_image(files_image):
    image = image_module.Image(files_image.read_bytes())
    assert image.check_blobs() == []
    assert [(f.path, f.data) for f in image.files] == [("/etc/motd", b"Welcome to Azoth\n"),
                                                       ("/data/empty", b"")]
    file_blobs = [b for b in image.blobs if b.module == image_module.NO_MODULE]
    assert [b.kind for b in file_blobs] == [image_module.BLOB_FILE] * 2
    assert file_blobs[0].offset >= max(b.offset + b.size for b in image.blobs if b.module == 0)
    rec = image.modules[0]
    assert image.strings(rec.args_offset, rec.args_count) == ["--one", "two"]
    assert image.strings(rec.env_offset, rec.env_count) == ["B=2", "LANG=C"]
    shown = build_py("inspect", files_image).stdout
    assert "files      2, read-only, for reader" in shown
    assert "file /etc/motd  17 B at" in shown and "file /data/empty  0 B at" in shown
    assert "args      ['--one', 'two']" in shown


def test_a_tampered_file_does_not_boot(files_image, tmp_path, tools):
    data = bytearray(files_image.read_bytes())
    image = image_module.Image(bytes(data))
    blob = next(b for b in image.blobs if b.module == image_module.NO_MODULE and b.size)
    data[blob.offset + 3] ^= 0x20
    bad = tmp_path / "bad.azi"
    bad.write_bytes(data)
    result = qemu.boot("kernel", kernel=tools.KERNEL, image=bad, memory_mib=64, timeout=30)
    assert result.exit.failure == "verify", result.output
    index = image.blobs.index(blob)
    assert f"file contents (blob {index}): SHA-256 mismatch" in result.output


def regions(image):
    """One offset in each distinct region of the image, named."""
    header, module = image_module.HEADER.offsets, image_module.MODULE.offsets
    named = {
        "magic": header["magic"], "version": header["version"],
        "image size": header["image_size"], "flags": header["flags"],
        "module count": header["module_count"], "tables size": header["tables_size"],
        "payload offset": header["payload_offset"], "name": header["name"],
        "reserved": (header["file_count"] + header["signature"]) // 2,
        "signature R": header["signature"], "signature S": image_module.HEADER.size - 1,
        "module table name": image.tables_offset + module["name"],
        "module grants": image.tables_offset + module["grants"],
        "module object offset": image.tables_offset + module["object_offset"],
        "blob table": image.tables_offset + image_module.MODULE.size * len(image.modules) + 30,
        "import map": image.import_map_offset,
        "string pool": image.tables_offset + image.strings_offset + 4,
        "gap after tables": image.tables_offset + image.tables_size + 10,
    }
    for blob in image.blobs:
        named[f"blob {image_module.blob_name(blob.kind)}"] = blob.offset + blob.size // 2
    last = image.blobs[-1]
    if last.offset + last.size < image.size:
        named["padding at the end"] = image.size - 1
    return named


def test_tampered_images_do_not_boot(hello_image, tmp_path, tools):
    """Boot the real kernel on corruptions of every region: each is refused with the
    verification status, and nothing of the module runs."""
    data = hello_image.read_bytes()
    image = image_module.Image(data)
    cases = regions(image)

    def boot(item):
        name, offset = item
        bad = bytearray(data)
        bad[offset] ^= 0xFF
        path = tmp_path / f"{offset}.azi"
        path.write_bytes(bad)
        return name, qemu.boot("kernel", kernel=tools.KERNEL, image=path, memory_mib=64,
                               timeout=30)

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        results = list(pool.map(boot, cases.items()))
    for name, result in results:
        assert result.exit.failure == "verify", f"{name}: {result.exit}\n{result.output}"
        assert "[athanor] verify:" in result.output, name
        assert "Hello from Azoth" not in result.output, name
    by_name = dict(results)
    assert "module hello, blob code: SHA-256 mismatch" in by_name["blob code"].output
    assert "signature does not match" in by_name["signature S"].output


def test_truncated_and_foreign_files_do_not_boot(hello_image, tmp_path, tools):
    data = hello_image.read_bytes()
    for name, content in {"truncated": data[:-4096], "empty": b"\0" * 4096,
                          "random": hashlib.sha256(b"x").digest() * 256}.items():
        path = tmp_path / f"{name}.azi"
        path.write_bytes(content)
        result = qemu.boot("kernel", kernel=tools.KERNEL, image=path, memory_mib=64, timeout=30)
        assert result.exit.failure == "verify", f"{name}: {result.exit}"
