"""`alkahest validate` over the spec testsuite, and the command's own behaviour.

  - every binary module of the 146 .wast files gets the testsuite's verdict (valid / rejected),
    from the -O2 build and from the ASan+UBSan build; a single wrong verdict fails;
  - the checker can fail: feeding it a wrong expectation is reported as a failure;
  - exit statuses 0/1/2, the one-line diagnostic on stderr, the batch mode's lines;
  - the library core calls nothing outside itself (make check-freestanding).

    /usr/bin/python3 -m pytest tests/test_alkahest_validate.py
"""
import subprocess

import pytest

import spec_validate
from spec_validate import ROOT, built
from conftest import make

def wasm(*sections):
    return b"\0asm\1\0\0\0" + b"".join(sections)


def section(section_id, payload):
    return bytes([section_id]) + leb(len(payload)) + payload


def leb(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


# (module (func (result i32) i32.const 1)) and the same with an f32 result: valid / invalid
VALID = wasm(section(1, b"\x01\x60\x00\x01\x7f"), section(3, b"\x01\x00"),
             section(10, b"\x01\x04\x00\x41\x01\x0b"))
INVALID = wasm(section(1, b"\x01\x60\x00\x01\x7d"), section(3, b"\x01\x00"),
               section(10, b"\x01\x04\x00\x41\x01\x0b"))


@pytest.fixture(scope="module")
def alkahest():
    return built()


@pytest.fixture(scope="module")
def alkahest_asan():
    return built(asan=True)


def report(failures):
    return "\n".join(f"{case.wast}.wast line {case.line} ({case.command}, {case.path.name}): "
                     f"got {verdict}" for case, verdict in failures)


def test_testsuite_verdicts(alkahest, capsys, testsuite):
    passed, failures = spec_validate.run(alkahest)
    assert not failures, report(failures)
    assert passed == 4592, "expected the 4,592 binary modules of the 146 files"


def test_testsuite_verdicts_under_sanitizers(alkahest_asan, testsuite):
    passed, failures = spec_validate.run(alkahest_asan)
    assert not failures, report(failures)
    assert passed == 4592


def test_a_wrong_expectation_is_a_failure(alkahest, monkeypatch, testsuite):
    """The conformance check can fail: flip what `module` commands expect."""
    monkeypatch.setattr(spec_validate, "ACCEPT", spec_validate.ACCEPT - {"module"})
    monkeypatch.setattr(spec_validate, "REJECT", spec_validate.REJECT | {"module"})
    passed, failures = spec_validate.run(alkahest, names=["fac"])
    assert failures and passed == 0


def test_valid_module_exits_0_silently(alkahest, tmp_path):
    path = tmp_path / "ok.wasm"
    path.write_bytes(VALID)
    result = subprocess.run([alkahest, "validate", path], capture_output=True, text=True)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_invalid_module_exits_1_with_one_diagnostic_line(alkahest, tmp_path):
    path = tmp_path / "bad.wasm"
    path.write_bytes(INVALID)
    result = subprocess.run([alkahest, "validate", path], capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("ALK-E040 at 0x1a in function 0: type mismatch"), lines[0]


def test_unreadable_file_and_usage_exit_2(alkahest, tmp_path):
    missing = subprocess.run([alkahest, "validate", tmp_path / "missing.wasm"],
                             capture_output=True, text=True)
    assert missing.returncode == 2 and "cannot read" in missing.stderr
    assert subprocess.run([alkahest, "validate"], capture_output=True).returncode == 2
    assert subprocess.run([alkahest, "validate", "-x", "f"], capture_output=True).returncode == 2
    assert subprocess.run([alkahest, "frobnicate"], capture_output=True).returncode == 2


def test_batch_mode_prints_one_verdict_per_file(alkahest, tmp_path):
    ok, bad = tmp_path / "ok.wasm", tmp_path / "bad.wasm"
    ok.write_bytes(VALID)
    bad.write_bytes(INVALID)
    result = subprocess.run([alkahest, "validate", ok, bad, ok], capture_output=True, text=True)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0] == f"{ok}: ok"
    assert lines[1].startswith(f"{bad}: ALK-E040 at 0x1a")
    assert lines[2] == f"{ok}: ok"
    missing = subprocess.run([alkahest, "validate", ok, tmp_path / "nope.wasm"],
                             capture_output=True, text=True)
    assert missing.returncode == 2


def test_quiet_and_verbose(alkahest, tmp_path):
    bad = tmp_path / "bad.wasm"
    bad.write_bytes(INVALID)
    quiet = subprocess.run([alkahest, "validate", "-q", bad], capture_output=True, text=True)
    assert (quiet.returncode, quiet.stdout, quiet.stderr) == (1, "", "")
    ok = tmp_path / "ok.wasm"
    ok.write_bytes(VALID)
    verbose = subprocess.run([alkahest, "validate", "-v", ok], capture_output=True, text=True)
    assert verbose.returncode == 0
    assert verbose.stdout == f"{ok}: ok (1 functions, 5 bytes of code in {len(VALID)} bytes)\n"


def test_core_is_freestanding():
    result = make("-s", "-C", ROOT / "alkahest", "check-freestanding", check=False,
                  capture_output=True)
    assert result.returncode == 0, result.stdout + result.stderr
