"""The machines Alkahest compiles for, and how the tests run the CLI built for each.

The host's own target runs alkahest/build/alkahest. Another target runs the CLI cross-built for
it (`make -C alkahest aarch64`: aarch64-linux-gnu-gcc, static) under QEMU's user mode
(`qemu-aarch64`), so that the very same compiler and hosted runtime, and the machine code they
produce, run as they would on an ARM board. Without the cross tools (Debian's
gcc-aarch64-linux-gnu and qemu-user, which `./build.py test` installs) the tests of that target
are skipped, in one line saying what is missing.

    cli("aarch64")      -> ["qemu-aarch64", ".../build/aarch64/alkahest"]
    cli("x86_64")       -> [".../build/alkahest"]   (on an x86-64 host)

"""
import os
import platform
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGETS = ("x86_64", "aarch64")
HOST = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}.get(
    platform.machine().lower(), platform.machine())
CROSS_CLI = {"aarch64": ROOT / "alkahest" / "build" / "aarch64" / "alkahest"}
CROSS_TOOLS = {"aarch64": ("aarch64-linux-gnu-gcc", "qemu-aarch64")}
EMULATOR = {"aarch64": "qemu-aarch64"}


def missing_tools(target):
    """The cross tools a target's CLI needs that are not installed (none for the host's)."""
    if target == HOST:
        return []
    return [tool for tool in CROSS_TOOLS.get(target, (f"a {target} toolchain",))
            if not shutil.which(tool)]


def cli(target):
    """The command (argv prefix) that runs the alkahest CLI built for `target`, made up to
    date. The host's through spec_validate.built(); ALKAHEST_BUILD=DIR uses DIR/alkahest and
    DIR/aarch64/alkahest as they are (a private or frozen build, for long runs)."""
    if target == HOST:
        from spec_validate import built
        return [str(built())]
    if os.environ.get("ALKAHEST_BUILD"):
        return [EMULATOR[target], str(Path(os.environ["ALKAHEST_BUILD"]) / target / "alkahest")]
    import sys
    sys.path.insert(0, str(ROOT))
    from azoth import tools
    with tools.locked("make"):   # tests run in parallel processes (conftest.make)
        subprocess.run(["make", "-s", "-C", str(ROOT / "alkahest"), target], check=True,
                       capture_output=True)
    return [EMULATOR[target], str(CROSS_CLI[target])]


def require_cli(target):
    """For tests: cli(target), or a skip in one line naming the missing tools."""
    import pytest
    missing = missing_tools(target)
    if missing:
        pytest.skip(f"{target}: {' and '.join(missing)} not installed (Debian's "
                    "gcc-aarch64-linux-gnu and qemu-user; ./build.py test installs them)")
    return cli(target)


def precompiled_script(json_path, mode, target, out_dir, alkahest, *options):
    """For a target whose CLI cannot compile with the optimizing tier itself (it runs in the
    host's CLI only, linked with the host's libLLVM): a copy of the spec script `json_path` in
    `out_dir` whose modules are objects the host's `alkahest` compiled for `target` in bounds
    `mode` with `options` (e.g. -O); the target's CLI then runs them as they are
    (`alkahest spec` loads a .alko like a .wasm). The other files (modules that must fail to
    validate, to link...) are linked into `out_dir` unchanged. Returns the new JSON's path;
    RuntimeError, with the compiler's message, if the host cannot compile a module (every
    module a script instantiates is valid)."""
    import json
    json_path, out_dir = Path(json_path), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for f in json_path.parent.iterdir():
        link = out_dir / f.name
        if f.is_file() and f.suffix != ".json" and not link.exists():
            link.symlink_to(f.resolve())
    data = json.loads(json_path.read_text())
    for command in data["commands"]:
        if command["type"] not in ("module", "assert_uninstantiable", "assert_unlinkable") \
                or command.get("module_type", "binary") != "binary" or "filename" not in command:
            continue
        obj = f"{Path(command['filename']).stem}.{mode}.{target}.alko"
        result = subprocess.run([str(alkahest), "compile", str(json_path.parent / command["filename"]),
                                 "-o", str(out_dir / obj), "--target", target, "--bounds", mode,
                                 *options], capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"{json_path.name}: {command['filename']} for {target} "
                               f"({mode}): {(result.stdout + result.stderr).strip()[-500:]}")
        command["filename"] = obj
    out = out_dir / json_path.name
    out.write_text(json.dumps(data))
    return out
