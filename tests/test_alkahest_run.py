"""`alkahest run --invoke`: reference values as the testsuite writes them, both ways
(funcref:null, externref:null, externref:N, funcref:N for this module's function N)."""
import subprocess

import pytest

from spec_validate import built

REFS_WAT = """(module
  (table 2 funcref)
  (func $f (result i32) (i32.const 7))
  (elem (i32.const 0) $f)
  (func (export "id_e") (param externref) (result externref) (local.get 0))
  (func (export "id_f") (param funcref) (result funcref) (local.get 0))
  (func (export "get") (param i32) (result funcref) (table.get 0 (local.get 0)))
  (func (export "is_null") (param externref) (result i32) (ref.is_null (local.get 0))))
"""


@pytest.fixture(scope="module")
def refs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("refs")
    (folder / "refs.wat").write_text(REFS_WAT)
    subprocess.run(["wat2wasm", folder / "refs.wat", "-o", folder / "refs.wasm"], check=True)
    return folder / "refs.wasm"


@pytest.mark.parametrize("call, printed", [
    ("id_e externref:null", "externref:null"),
    ("id_e externref:5", "externref:5"),
    ("id_f funcref:null", "funcref:null"),
    ("id_f funcref:0", "funcref:0"),
    ("get i32:0", "funcref:0"),
    ("get i32:1", "funcref:null"),
    ("is_null externref:null", "i32:1"),
    ("is_null externref:0", "i32:0"),
])
def test_references_round_trip(refs, call, printed):
    result = subprocess.run([str(built()), "run", str(refs), "--invoke", *call.split()],
                            capture_output=True, text=True, timeout=30)
    assert (result.returncode, result.stdout) == (0, printed + "\n"), result.stderr


@pytest.mark.parametrize("argument", ["funcref:9", "externref:x", "externref:-1", "i32:null"])
def test_bad_reference_arguments(refs, argument):
    function = "id_f" if argument.startswith("funcref") else "id_e"
    if argument.startswith("i32"):
        function = "get"
    result = subprocess.run([str(built()), "run", str(refs), "--invoke", function, argument],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and f"got {argument}" in result.stderr
