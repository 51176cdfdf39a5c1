"""Shared helpers for the tests: running build.py, and writing throw-away appliances."""
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BUILD_PY = ROOT / "build.py"
# Throw-away appliances must not land in the project's images/.
# Each parallel worker (pytest-xdist) has its own: two tests' appliances may share a name.
os.environ.setdefault("AZOTH_IMAGES", str(
    Path(os.environ.get("TMPDIR", "/tmp")) /
    f"azoth-test-images-{os.getuid()}-{hashlib.sha256(str(ROOT).encode()).hexdigest()[:8]}"
    f"{os.environ.get('PYTEST_XDIST_WORKER', '')}"))


def build_py(*args, timeout=120, env=None):
    """Runs ./build.py ARGS; returns the CompletedProcess (text, both streams captured). Its
    stdin is /dev/null: `run` hands its stdin to the appliance's serial console. `run` and
    `boot` have no time limit of their own: they get TIMEOUT less a margin for the build."""
    args = [str(a) for a in args]
    command = next((a for a in args if not a.startswith("-")), None)
    if command in ("run", "boot") and "--timeout" not in args:
        args += ["--timeout", str(max(timeout - 30, timeout / 2))]
    return subprocess.run([sys.executable, str(BUILD_PY), *args], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT, env=env, stdin=subprocess.DEVNULL)


def make(*args, check=True, capture_output=False):
    """Runs make ARGS while holding the checkout's make lock (azoth.tools.locked), as build.py
    does: the tests run in parallel processes, and two makes in one folder would race."""
    from azoth import tools
    with tools.locked("make"):
        return subprocess.run(["make", *map(str, args)], check=check, text=True,
                              capture_output=capture_output)


def write_appliance(directory, manifest, files):
    """Writes appliance.toml and its sources into DIRECTORY; returns the directory."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "appliance.toml").write_text(manifest)
    for name, text in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text)
    return directory


def tampered(image, directory, name="tampered.azi"):
    """A copy of IMAGE in DIRECTORY with one bit of its middle byte flipped (inside what the
    signature covers); returns its path."""
    data = bytearray(Path(image).read_bytes())
    data[len(data) // 2] ^= 0x40
    bad = Path(directory) / name
    bad.write_bytes(bytes(data))
    return bad


def long_run():
    """`./build.py test --long` (AZOTH_LONG=1): the tests that have a longer version run it."""
    return os.environ.get("AZOTH_LONG") == "1"


@pytest.fixture(scope="session")
def tools():
    """The compiler and a kernel built with the signing key in use (as build.py does)."""
    from azoth import appliance, signing
    appliance.make_tools(signing.ensure_key())
    return appliance


@pytest.fixture(scope="session")
def testsuite():
    """The WebAssembly spec testsuite's folder; skips in one line when it is absent
    (tests/testdata.py: where it looks, how to fetch it; a failure under .ci/run)."""
    import testdata
    return testdata.require(testdata.TESTSUITE)


@pytest.fixture(scope="session")
def spec_text():
    """The spec's document/core folder (binary/, valid/, ...), as testsuite."""
    import testdata
    return testdata.require(testdata.SPEC)


@pytest.fixture
def out_dir(tmp_path):
    path = tmp_path / "images"
    path.mkdir()
    return path


# A WAT app: logs MESSAGE, then exits with CODE (or returns when CODE is None).
def logging_app(message, code=None, extra=""):
    exit_call = f"(call $exit (i32.const {code}))" if code is not None else ""
    return f"""(module
  (import "athanor" "log" (func $log (param i32 i32)))
  (import "athanor" "exit" (func $exit (param i32)))
  (memory 1)
  (data (i32.const 0) "{message}")
  {extra}
  (func (export "_start")
    (call $log (i32.const 0) (i32.const {len(message.encode())}))
    {exit_call}))
"""


def manifest_for(name, apps, bounds="guard", extra=""):
    """apps: list of (module name, source, grants)."""
    text = f'[appliance]\nname = "{name}"\nbounds = "{bounds}"\n{extra}\n'
    for module, source, grants in apps:
        grant_list = ", ".join(f'"{g}"' for g in grants)
        text += f'\n[[app]]\nname = "{module}"\nsource = "{source}"\ngrants = [{grant_list}]\n'
    return text


__all__ = ["ROOT", "build_py", "write_appliance", "logging_app", "manifest_for"]
