"""Turns a module's sources into one Wasm binary, by the language its file names say (LANGUAGES,
the one table of them), then runs wasm-opt when the manifest asks for it.

    .wat                  WABT's wat2wasm (names kept: a trap names the function)
    .c                    clang --target=wasm32-wasi -O2, wasi-libc; several files link together
                          (-g: DWARF line information, so that a trap names file:line)
    .cpp .cc .cxx         clang++ the same, libc++ and libc++abi, -fno-exceptions
    .rs                   Debian's rustc --target wasm32-wasi -C opt-level=2, one crate root
    Cargo.toml            Debian's cargo build --offline --release (crates from the network: no)
    .ts                   AssemblyScript's asc with its WASI shim, from npm, in build/assemblyscript/
    .wasm                 as is
"""
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from .errors import AzothError
from .tools import atomic_write, ensure_packages, progress, run

ROOT = Path(__file__).resolve().parent.parent
# clang runs Binaryen's wasm-opt -O2 on what it links whenever it finds one beside itself or in
# PATH (LLVM's WebAssembly driver). That pass strips the name section (a trap could not name its
# functions) and leaves DWARF stale (file:line would lie), and the design runs wasm-opt only where
# the manifest asks (`wasm_opt`). So clang runs from LLVM's own folder, with that folder as PATH
# and the linker named outright: it finds no wasm-opt.
LLVM_BIN = "/usr/lib/llvm-14/bin"
CLANG_ENV = {"PATH": LLVM_BIN}
CLANG_LINKER = "-fuse-ld=/usr/bin/wasm-ld"
RUSTC = "/usr/bin/rustc"             # Debian's, with libstd-rust-dev-wasm32 (not a rustup one)
CARGO = "/usr/bin/cargo"
WASI_TARGET = "wasm32-wasi"
# AssemblyScript from npm, pinned, installed once into a folder of the checkout (git ignores it).
# 0.27 is the last line that runs on Debian 12's node 18.
ASSEMBLYSCRIPT = {"assemblyscript": "0.27.31", "@assemblyscript/wasi-shim": "0.1.0"}
NODE_FOLDER = ROOT / "build" / "assemblyscript"


@dataclass(frozen=True)
class Language:
    key: str                 # what `./build.py new --lang` takes
    name: str
    suffixes: tuple          # file names ending so are this language ("Cargo.toml": a crate)
    packages: str = None     # tools.PACKAGES group that its compiler needs
    several: bool = False    # several sources compile and link into one module
    flags: str = None        # the manifest key of extra compiler flags, if it has one
    note: str = ""


LANGUAGES = (
    Language("wat", "WebAssembly text", (".wat",)),
    Language("c", "C", (".c",), several=True, flags="cflags"),
    Language("cpp", "C++", (".cpp", ".cc", ".cxx"), packages="cpp", several=True, flags="cflags",
             note="no exceptions: wasm32-wasi has none in clang 14, so sources compile with "
                  "-fno-exceptions (a throw is a compile error; a failed new aborts, a trap)"),
    Language("rust", "Rust", (".rs", "Cargo.toml"), packages="rust", flags="rustflags"),
    Language("as", "AssemblyScript", (".ts",), packages="as"),
    Language("wasm", "WebAssembly binary", (".wasm",)),
)


def language_of(path):
    """The Language of a source file name, or None."""
    name = Path(path).name
    for language in LANGUAGES:
        if any(name == s if not s.startswith(".") else name.endswith(s) for s in language.suffixes):
            return language
    return None


def language(key):
    return next((lang for lang in LANGUAGES if lang.key == key), None)


def up_to_date(output, inputs):
    if not output.exists():
        return False
    newest = max(Path(i).stat().st_mtime_ns for i in inputs)
    return output.stat().st_mtime_ns >= newest


def _tree(folder, suffixes):
    """Files under FOLDER with those suffixes, build outputs left out (a change rebuilds)."""
    return [p for p in Path(folder).rglob("*") if p.suffix in suffixes and p.is_file() and
            "target" not in p.relative_to(folder).parts and "node_modules" not in p.parts]


def inputs_of(module):
    """Every file whose change makes the module's Wasm stale: its sources, and for languages
    whose sources import others (Rust modules, AssemblyScript imports), the folder's files."""
    first = module.sources[0]
    lang = language_of(first)
    if first.name == "Cargo.toml":
        return [first, *_tree(first.parent, {".rs", ".toml", ".lock"})]
    if lang.key == "rust":
        return [*module.sources, *_tree(first.parent, {".rs"})]
    if lang.key == "as":
        return [*module.sources, *_tree(first.parent, {".ts"})]
    return list(module.sources)


def _asc():
    """AssemblyScript's compiler and the WASI shim's config, installing them the first time."""
    asc = NODE_FOLDER / "node_modules" / "assemblyscript" / "bin" / "asc.js"
    config = NODE_FOLDER / "node_modules" / "@assemblyscript" / "wasi-shim" / "asconfig.json"
    if asc.exists() and config.exists():
        return asc, config
    NODE_FOLDER.mkdir(parents=True, exist_ok=True)
    (NODE_FOLDER / "package.json").write_text(json.dumps(
        {"private": True, "description": "AssemblyScript for Azoth's .ts modules (build.py)",
         "dependencies": ASSEMBLYSCRIPT}, indent=2) + "\n")
    packages = " ".join(f"{k}@{v}" for k, v in ASSEMBLYSCRIPT.items())
    with progress(f"installing {packages} from npm into {NODE_FOLDER.relative_to(ROOT)}"):
        try:
            run(["npm", "install", "--no-audit", "--no-fund", "--no-update-notifier",
                 "--prefix", NODE_FOLDER], capture=True)
        except AzothError as e:
            raise AzothError("AZ-T008", f"npm could not install {packages} (AssemblyScript "
                             "needs the npm registry once)", detail=e.detail) from None
    return asc, config


def _cargo_package(manifest_path):
    import tomllib
    try:
        data = tomllib.loads(manifest_path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise AzothError("AZ-S002", f"cannot read the crate's manifest: {e}",
                         file=manifest_path) from None
    bins = data.get("bin")
    name = bins[0].get("name") if isinstance(bins, list) and bins else \
        (data.get("package") or {}).get("name")
    if not isinstance(name, str):
        raise AzothError("AZ-S002", "expected [package] name (or a [[bin]] name)",
                         file=manifest_path)
    return name


def command(module, out, work):
    """(argv, environment, where the Wasm lands) that turn MODULE's sources into Wasm at OUT;
    argv None: a copy."""
    sources = module.sources
    first = sources[0]
    lang = language_of(first)
    if lang.key == "wat":
        return ["wat2wasm", "--debug-names", first, "-o", out], None, out
    if lang.key in ("c", "cpp"):
        clang = [f"{LLVM_BIN}/clang"] if lang.key == "c" else \
            [f"{LLVM_BIN}/clang++", "-fno-exceptions"]
        # DWARF names the sources relative to the module's folder, not the build machine's
        return [*clang, f"--target={WASI_TARGET}", "-O2", CLANG_LINKER,
                f"-fdebug-prefix-map={first.parent}/=", *module.cflags, *sources, "-o", out], \
            dict(os.environ, **CLANG_ENV), out
    if lang.key == "rust" and first.name == "Cargo.toml":
        target = Path(work) / f"{module.name}.cargo"
        env = dict(os.environ, RUSTC=RUSTC, RUSTFLAGS=" ".join(module.rustflags))
        landed = target / WASI_TARGET / "release" / f"{_cargo_package(first)}.wasm"
        return [CARGO, "build", "--offline", "--release", "--quiet", "--target", WASI_TARGET,
                "--manifest-path", first, "--target-dir", target], env, landed
    if lang.key == "rust":
        return [RUSTC, "--target", WASI_TARGET, "--edition", "2021", "-C", "opt-level=2",
                "--remap-path-prefix", f"{first.parent}/=",
                "--crate-type", "bin", "--crate-name", module.name.replace("-", "_"),
                *module.rustflags, first, "-o", out], None, out
    if lang.key == "as":
        asc, config = _asc()
        # asc 0.27 resolves the shim's "lib" wrongly from an absolute --config: relative paths
        return ["node", asc, first, "--config", os.path.relpath(config), "--path",
                os.path.relpath(NODE_FOLDER / "node_modules"), "-O2", "--debug", "--outFile", out],\
            None, out
    if lang.key == "wasm":
        return None, None, out
    raise AssertionError(first)


def to_wasm(module, out_dir, extra_inputs=()):
    """Returns the path of MODULE's Wasm binary in OUT_DIR, rebuilding it only when stale: a
    source is newer, or the command changed (flags, wasm_opt)."""
    out = Path(out_dir) / f"{module.name}.wasm"
    sources = module.sources
    lang = language_of(sources[0])
    if lang.packages:
        ensure_packages([lang.packages])
    # The command as recorded names NAME.wasm.tmp; it runs with a file of this process's own,
    # so that two builds sharing a folder (the modules the build adds) never write one file.
    described_argv = command(module, out.with_name(out.name + ".tmp"), out_dir)[0]
    tmp = out.with_name(f"{out.name}.{os.getpid()}.tmp")
    argv, env, landed = command(module, tmp, out_dir)
    stamp = out.with_name(out.name + ".cmd")
    # --debuginfo keeps the name section (and what DWARF it can): a trap still names functions
    optimise = ["wasm-opt", "--debuginfo", *module.wasm_opt, tmp, "-o", tmp] \
        if module.wasm_opt else None
    described = repr([str(a) for a in described_argv] if argv else ["copy", str(sources[0])]) + \
        (repr(optimise[:-3]) if optimise else "")
    inputs = [*inputs_of(module), *extra_inputs]
    if up_to_date(out, inputs) and stamp.exists() and stamp.read_text() == described:
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        with progress(f"compiling {module.name} ({lang.name})"):
            if argv:
                run(argv, capture=True, env=env)
                if landed != tmp:
                    shutil.copyfile(landed, tmp)
            else:
                shutil.copyfile(sources[0], tmp)
    except AzothError as e:
        tmp.unlink(missing_ok=True)
        raise AzothError("AZ-S001", f"{module.key} ({module.name}): cannot turn "
                         f"{sources[0].name} into Wasm", file=sources[0], detail=e.detail) from None
    if optimise:
        try:
            with progress(f"optimising {module.name} (wasm-opt {' '.join(module.wasm_opt)})"):
                run(optimise, capture=True)
        except AzothError as e:
            tmp.unlink(missing_ok=True)
            raise AzothError("AZ-S003", f"{module.key} ({module.name}): wasm-opt "
                             f"{' '.join(module.wasm_opt)} failed", file=sources[0],
                             detail=e.detail) from None
    tmp.replace(out)
    atomic_write(stamp, described.encode())
    return out
