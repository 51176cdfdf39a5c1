"""Turns a module's sources into one Wasm binary: .wat with wat2wasm, .c (one or several) with
clang --target=wasm32-wasi -O2 and the module's cflags, .wasm as is."""
import shutil
from pathlib import Path

from .errors import AzothError
from .tools import atomic_write, run

CLANG_FLAGS = ["--target=wasm32-wasi", "-O2"]


def up_to_date(output, inputs):
    if not output.exists():
        return False
    newest = max(Path(i).stat().st_mtime_ns for i in inputs)
    return output.stat().st_mtime_ns >= newest


def command(module, out):
    """The command that turns MODULE's sources into Wasm at OUT (None: a copy)."""
    sources = module.sources
    suffix = sources[0].suffix
    if suffix == ".wat":
        return ["wat2wasm", sources[0], "-o", out]
    if suffix == ".c":
        return ["clang", *CLANG_FLAGS, *module.cflags, *sources, "-o", out]
    if suffix == ".wasm":
        return None
    raise AssertionError(suffix)


def to_wasm(module, out_dir, extra_inputs=()):
    """Returns the path of MODULE's Wasm binary in OUT_DIR, rebuilding it only when stale: a
    source is newer, or the command changed (cflags)."""
    out = Path(out_dir) / f"{module.name}.wasm"
    sources = module.sources
    tmp = out.with_name(out.name + ".tmp")
    argv = command(module, tmp)
    stamp = out.with_name(out.name + ".cmd")
    described = repr([str(a) for a in argv] if argv else ["copy", str(sources[0])])
    if up_to_date(out, [*sources, *extra_inputs]) and stamp.exists() and \
            stamp.read_text() == described:
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        if argv:
            run(argv, capture=True)
        else:
            shutil.copyfile(sources[0], tmp)
    except AzothError as e:
        tmp.unlink(missing_ok=True)
        raise AzothError("AZ-S001", f"{module.key} ({module.name}): cannot turn "
                         f"{sources[0].name} into Wasm", file=sources[0], detail=e.detail) from None
    tmp.replace(out)
    atomic_write(stamp, described.encode())
    return out
