"""Turns a module's sources into one Wasm binary: .wat with wat2wasm, .c with clang, .wasm as is."""
import shutil
from pathlib import Path

from .errors import AzothError
from .tools import run

CLANG_FLAGS = ["--target=wasm32-wasi", "-O2"]


def up_to_date(output, inputs):
    if not output.exists():
        return False
    newest = max(Path(i).stat().st_mtime_ns for i in inputs)
    return output.stat().st_mtime_ns >= newest


def to_wasm(module, out_dir, extra_inputs=()):
    """Returns the path of MODULE's Wasm binary in OUT_DIR, rebuilding it only when stale."""
    out = Path(out_dir) / f"{module.name}.wasm"
    sources = module.sources
    if up_to_date(out, [*sources, *extra_inputs]):
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    suffix = sources[0].suffix
    try:
        if suffix == ".wat":
            run(["wat2wasm", sources[0], "-o", tmp], capture=True)
        elif suffix == ".wasm":
            shutil.copyfile(sources[0], tmp)
        elif suffix == ".c":
            run(["clang", *CLANG_FLAGS, *sources, "-o", tmp], capture=True)
        else:
            raise AssertionError(suffix)
    except AzothError as e:
        tmp.unlink(missing_ok=True)
        raise AzothError("AZ-S001", f"{module.key} ({module.name}): cannot turn "
                         f"{sources[0].name} into Wasm", file=sources[0], detail=e.detail) from None
    tmp.replace(out)
    return out
