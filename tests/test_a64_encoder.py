"""The AArch64 encoder (alkahest/src/aarch64/asm.c) checked against independent references:
every instruction form the back end emits, disassembled by binutils (aarch64-linux-gnu-objdump)
and compared with the text written beside it in tests/a64/encodings.c; and the logical
immediates against the architecture's own decoding, every encoding (tests/a64/bitmask.c).
Both are built for this host: the encoder is plain C and runs anywhere."""
import re
import shutil
import subprocess

import pytest

from conftest import ROOT

SOURCES = [ROOT / "alkahest" / "src" / "aarch64" / "asm.c", ROOT / "alkahest" / "src" / "code.c",
           ROOT / "alkahest" / "src" / "util.c"]
INCLUDES = ["-I", str(ROOT / "alkahest" / "src"), "-I", str(ROOT / "alkahest" / "include")]
OBJDUMP = "aarch64-linux-gnu-objdump"


def build(tmp_path, name):
    binary = tmp_path / name
    subprocess.run(["gcc", "-std=c11", "-O1", "-Wall", "-Wextra", "-Werror", *INCLUDES,
                    str(ROOT / "tests" / "a64" / f"{name}.c"), *map(str, SOURCES), "-o",
                    str(binary)], check=True)
    return binary


def normalise(text):
    return re.sub(r"\s+", " ", text.split("//")[0]).strip().replace(" ,", ",")


def test_every_form_disassembles_as_written(tmp_path):
    if not shutil.which(OBJDUMP):
        pytest.skip(f"{OBJDUMP} not installed (Debian's binutils-aarch64-linux-gnu; "
                    "./build.py test installs it)")
    binary = build(tmp_path, "encodings")
    code = tmp_path / "code.bin"
    code.write_bytes(subprocess.run([str(binary)], capture_output=True, check=True).stdout)
    listing = subprocess.run([OBJDUMP, "-D", "-b", "binary", "-m", "aarch64", str(code)],
                             capture_output=True, text=True, check=True).stdout
    got = [(int(m[1], 16), normalise(m[2])) for m in
           re.finditer(r"^\s*([0-9a-f]+):\s+[0-9a-f]{8}\s+(.*)$", listing, re.M)]
    source = (ROOT / "tests" / "a64" / "encodings.c").read_text()
    wanted = [normalise(m[1]) for m in
              re.finditer(r"//\s*(.+)$", source[source.index("int main"):], re.M)]
    label = next(address for address, text in got if text.startswith("b 0x"))
    wanted = [w.replace("LABEL", f"0x{label:x}") for w in wanted]
    assert len(got) == len(wanted), f"{len(got)} instructions for {len(wanted)} expected"
    wrong = [f"{address:#x}: {text!r}, expected {want!r}"
             for (address, text), want in zip(got, wanted) if text != want]
    assert not wrong, "\n".join(wrong)


def test_logical_immediates_round_trip(tmp_path):
    result = subprocess.run([str(build(tmp_path, "bitmask"))], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
    checked = int(re.search(r"(\d+) encodings checked, 0 bad", result.stdout)[1])
    assert checked > 5000
