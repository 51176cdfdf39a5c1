"""WASI preview1 in the hosted runtime: an ordinary C program prints under Alkahest exactly
what its native build prints; hostile calls get their errno and change nothing."""
import subprocess

import pytest

from conftest import ROOT, make

ALKAHEST = ROOT / "alkahest" / "build" / "alkahest"
HERE = ROOT / "tests" / "wasi"
SHOWCASE = ROOT / "appliances" / "showcase" / "showcase.c"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    make("-s", "-C", ROOT / "alkahest")
    out = tmp_path_factory.mktemp("wasi")
    subprocess.run(["gcc", "-O2", str(SHOWCASE), "-o", str(out / "showcase")],
                   check=True)
    subprocess.run(["clang", "--target=wasm32-wasi", "-O2", str(SHOWCASE), "-o",
                    str(out / "showcase.wasm")], check=True)
    subprocess.run(["wat2wasm", str(HERE / "hostile.wat"), "-o", str(out / "hostile.wasm")],
                   check=True)
    (out / "motd.txt").write_text("Welcome to Azoth\nsecond line\nthird\n")
    return out


@pytest.mark.parametrize("bounds", ["checked", "guard"])
def test_c_program_matches_its_native_build(built, bounds):
    native = subprocess.run([str(built / "showcase"), str(built / "motd.txt"), "alpha", "beta"],
                            capture_output=True, text=True, env={"GREETING": "hi there"})
    ours = subprocess.run([str(ALKAHEST), "run", str(built / "showcase.wasm"), "--bounds", bounds,
                           "--env", "GREETING=hi there", "--file",
                           f"/data/motd.txt={built / 'motd.txt'}", "--", "/data/motd.txt",
                           "alpha", "beta"], capture_output=True, text=True)
    assert native.returncode == 7 and ours.returncode == 7, ours.stderr
    assert ours.stdout == native.stdout
    assert "first line: Welcome to Azoth" in ours.stdout and "lines 3, bytes 35" in ours.stdout


def test_missing_file_and_no_arguments(built):
    ours = subprocess.run([str(ALKAHEST), "run", str(built / "showcase.wasm"), "--",
                           "/data/none.txt"], capture_output=True, text=True)
    assert ours.returncode == 3 and "cannot open /data/none.txt" in ours.stdout
    bare = subprocess.run([str(ALKAHEST), "run", str(built / "showcase.wasm")],
                          capture_output=True, text=True)
    assert bare.returncode == 7 and "argc=1" in bare.stdout and "GREETING=(unset)" in bare.stdout


@pytest.mark.parametrize("bounds", ["checked", "guard"])
def test_hostile_calls_get_errors_and_harm_nothing(built, bounds):
    result = subprocess.run([str(ALKAHEST), "run", str(built / "hostile.wasm"), "--bounds",
                             bounds], capture_output=True, text=True)
    assert result.returncode == 0, f"check {result.returncode - 100} failed"
    assert result.stdout == "ok\n"
