"""The optimizing tier's own promises (docs/opt-tier.md): the object is the same byte for byte
whatever the number of compile threads (a module of several chunks, each its own LLVM context),
and build.py's object cache compiles an unchanged module once, keyed by what decides the
object (its bytes, the bounds mode, the tier, the compiler)."""
import os
import subprocess

import pytest

from conftest import ROOT, logging_app, write_appliance
from azoth import alko, appliance
from azoth.errors import AzothError

ALKAHEST = ROOT / "alkahest" / "build" / "alkahest"


def many_functions(count):
    """WAT: `count` functions of loads, arithmetic and stores, each calling the one before, and
    padded with `(drop (i64.const MAX))` (11 bytes of code, no IR): about 630 bytes of code each
    but cheap for LLVM, so that 300 of them make two or three chunks (CHUNK_BYTES) in seconds."""
    padding = "(drop (i64.const 0x7fffffffffffffff))" * 50
    functions = []
    for i in range(count):
        body = "".join(
            f"(local.set $a (i32.add (i32.mul (local.get $a) (i32.const {i * 31 + j + 3}))"
            f" (i32.load offset={j * 4} (local.get $p))))"
            f"(i32.store offset={j * 4 + 100} (local.get $p) (i32.xor (local.get $a)"
            f" (i32.shr_u (local.get $a) (i32.const {j % 31 + 1}))))" for j in range(2))
        call = f"(local.set $a (i32.add (local.get $a) (call $f{i - 1} (local.get $p))))" \
            if i else ""
        functions.append(f'(func $f{i} (export "f{i}") (param $p i32) (result i32) '
                         f'(local $a i32) {padding} {body} {call} (local.get $a))')
    return f"(module (memory 1) {' '.join(functions)})"


def test_the_object_is_the_same_whatever_the_thread_count(tmp_path, tools):
    from attacks import wat2wasm
    wasm = tmp_path / "many.wasm"
    wasm.write_bytes(wat2wasm(many_functions(300)))
    assert len(wasm.read_bytes()) > 2 * 96 * 1024          # two chunks at least
    objects = []
    for jobs in ("1", "3"):
        out = tmp_path / f"many.{jobs}.alko"
        done = subprocess.run([str(ALKAHEST), "compile", str(wasm), "-o", str(out), "-O",
                               "--bounds", "checked"], capture_output=True, text=True,
                              timeout=300, env={**os.environ, "ALKAHEST_JOBS": jobs})
        assert done.returncode == 0, done.stderr
        objects.append(out.read_bytes())
    assert objects[0] == objects[1]
    obj = alko.ObjectFile(objects[0], "many")
    assert (obj.tier, obj.bounds, obj.function_count) == ("speed", "checked", 300)


def test_the_object_cache_compiles_an_unchanged_module_once(tmp_path, tools, monkeypatch):
    compiles = []
    real_run = appliance.run

    def counting_run(argv, *args, **kwargs):
        if str(argv[0]) == str(appliance.ALKAHEST) and argv[1] == "compile":
            compiles.append(argv)
        return real_run(argv, *args, **kwargs)

    monkeypatch.setattr(appliance, "run", counting_run)
    monkeypatch.setattr(appliance, "OBJECT_CACHE", tmp_path / "cache")
    app = logging_app("cached")
    for folder in ("one", "two"):                   # two appliances, one module
        write_appliance(tmp_path / folder, '[appliance]\nname = "cached"\nopt = "speed"\n'
                        '[[app]]\nname = "a"\nsource = "a.wat"\ngrants = ["log"]\n',
                        {"a.wat": app})
        tools.build(tmp_path / folder, make=False, iso=False, images=tmp_path)
    assert len(compiles) == 1 and "-O" in compiles[0]
    # another bounds mode, another tier, other bytes: each compiled once more
    for head in ('bounds = "checked"\nopt = "speed"\n', 'opt = "none"\n'):
        write_appliance(tmp_path / "one", f'[appliance]\nname = "cached"\n{head}'
                        '[[app]]\nname = "a"\nsource = "a.wat"\ngrants = ["log"]\n',
                        {"a.wat": app})
        result = tools.build(tmp_path / "one", make=False, iso=False, images=tmp_path)
        assert result.objects[0].tier == ("speed" if "speed" in head else "none")
    assert len(compiles) == 3
    keys = {appliance.cache_key(b"x", bounds, tier)
            for bounds in ("guard", "checked") for tier in ("none", "speed")}
    assert len(keys) == 4 and appliance.cache_key(b"y", "guard", "none") not in keys
    assert len(list((tmp_path / "cache").glob("*.alko"))) == 3


def test_the_object_cache_is_pruned_oldest_used_first(tmp_path, monkeypatch):
    """Over its cap, the cache loses the objects used longest ago until it is under three
    quarters of the cap; dead compiles' temporary files go after an hour; under the cap,
    nothing goes."""
    cache = tmp_path / "cache"
    cache.mkdir()
    monkeypatch.setattr(appliance, "OBJECT_CACHE", cache)
    now = 1_000_000_000
    for age in range(10):                           # 10 objects of 100 bytes, used age s ago
        entry = cache / f"{age}.alko"
        entry.write_bytes(bytes(100))
        os.utime(entry, (now - age, now - age))
    for name, age in (("x.alko.7.tmp", 7200), ("y.alko.8.tmp", 60)):
        (cache / name).write_bytes(bytes(10))
        os.utime(cache / name, (now - age, now - age))
    assert appliance.prune_object_cache(limit=1000, now=now) == (1, 10)    # only the old tmp
    assert appliance.prune_object_cache(limit=800, now=now) == (4, 400)    # down to <= 600
    assert sorted(p.name for p in cache.iterdir()) == \
        ["0.alko", "1.alko", "2.alko", "3.alko", "4.alko", "5.alko", "y.alko.8.tmp"]
    assert appliance.prune_object_cache(limit=0, now=now) == (0, 0)        # 0: no cap
    monkeypatch.setenv("AZOTH_CACHE_MB", "3")
    assert appliance.cache_limit() == 3 << 20
    for bad in ("-1", "lots", "1.5"):
        monkeypatch.setenv("AZOTH_CACHE_MB", bad)
        with pytest.raises(AzothError) as info:
            appliance.cache_limit()
        assert info.value.code == "AZ-T012" and bad in str(info.value)


def test_a_hit_marks_the_object_used_and_a_pruned_one_is_compiled_again(tmp_path, tools,
                                                                         monkeypatch):
    monkeypatch.setattr(appliance, "OBJECT_CACHE", tmp_path / "cache")
    write_appliance(tmp_path / "x", '[appliance]\nname = "pruned"\n'
                    '[[app]]\nname = "a"\nsource = "a.wat"\ngrants = ["log"]\n',
                    {"a.wat": logging_app("pruned")})
    first = tools.build(tmp_path / "x", make=False, iso=False, images=tmp_path)
    [entry] = (tmp_path / "cache").glob("*.alko")
    os.utime(entry, (1, 1))
    tools.build(tmp_path / "x", make=False, iso=False, images=tmp_path)
    assert entry.stat().st_mtime > 1                # used: the pruning keeps it longest
    entry.unlink()                                  # pruned by another build.py
    again = tools.build(tmp_path / "x", make=False, iso=False, images=tmp_path)
    assert entry.exists() and again.objects[0].data == first.objects[0].data


@pytest.mark.parametrize("tier", ["none", "speed"])
def test_a_cached_object_of_the_wrong_tier_is_refused(tmp_path, tools, monkeypatch, tier):
    """A cache entry that does not hold what its key says (a hand-made or stale file) is not
    put into an image."""
    monkeypatch.setattr(appliance, "OBJECT_CACHE", tmp_path / "cache")
    for step, opt in enumerate(("none", "speed", tier)):
        write_appliance(tmp_path / "x", f'[appliance]\nname = "wrong"\nopt = "{opt}"\n'
                        '[[app]]\nname = "a"\nsource = "a.wat"\ngrants = ["log"]\n',
                        {"a.wat": logging_app("wrong tier")})
        if step == 2:
            # swap the two entries: each key now names the other tier's object
            entries = sorted((tmp_path / "cache").glob("*.alko"))
            assert len(entries) == 2
            first, second = (e.read_bytes() for e in entries)
            entries[0].write_bytes(second)
            entries[1].write_bytes(first)
            with pytest.raises(AzothError) as info:
                tools.build(tmp_path / "x", make=False, iso=False, images=tmp_path)
            other = "speed" if tier == "none" else "none"
            assert info.value.code == "AZ-C012"
            assert f"compiled with opt = '{other}', the manifest asks for '{tier}'" in \
                str(info.value)
        else:
            tools.build(tmp_path / "x", make=False, iso=False, images=tmp_path)


def test_without_the_optimizing_tier_minus_o_is_alk_e104(tmp_path, tools):
    """A build without LLVM (no alkahest-opt.so) compiles with the single pass only: -O fails
    with its code and the reason, and writes nothing."""
    from attacks import wat2wasm
    wasm = tmp_path / "m.wasm"
    wasm.write_bytes(wat2wasm("(module (func (export \"f\")))"))
    out = tmp_path / "m.alko"
    done = subprocess.run([str(ALKAHEST), "compile", str(wasm), "-o", str(out), "-O"],
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "ALKAHEST_OPT_LIBRARY": str(tmp_path / "none.so")})
    assert done.returncode == 1 and "ALK-E104" in done.stderr, done.stderr
    assert "optimizing tier is not available" in done.stderr and not out.exists()
    done = subprocess.run([str(ALKAHEST), "compile", str(wasm), "-o", str(out)],
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "ALKAHEST_OPT_LIBRARY": str(tmp_path / "none.so")})
    assert done.returncode == 0 and alko.ObjectFile(out.read_bytes(), "m").tier == "none"


# ---- AArch64 (docs/opt-tier.md, "AArch64") ------------------------------------------------------

def pressure_module(count=48):
    """A function that keeps `count` i64 values and two f64 ones live across calls, loads and
    stores (every callee-saved register and spills), and calls itself and an import."""
    loads = "\n".join(f"    (local.set {i + 1} (i64.load offset={8 * i} (local.get $p)))"
                      for i in range(count))
    mix = "\n".join(f"    (local.set {i + 1} (i64.add (local.get {i + 1}) "
                    f"(local.get {(i * 7 + 3) % count + 1})))" for i in range(count))
    stores = "\n".join(f"    (i64.store offset={8 * i} (local.get $p) (local.get {i + 1}))"
                       for i in range(count))
    return f"""(module
  (import "env" "g" (func $g (param i32) (result i32)))
  (memory 1)
  (table 1 funcref)
  (func $f (export "f") (param $p i32) (result i64)
    (local {" ".join(["i64"] * count)}) (local $x f64)
{loads}
    (local.set $x (f64.convert_i64_s (local.get 1)))
    (if (i32.gt_u (local.get $p) (i32.const 8))
      (then (drop (call $f (i32.sub (local.get $p) (i32.const 8))))
            (drop (call $g (local.get $p)))
            (drop (call_indirect (param i32) (result i32) (local.get $p) (i32.const 0)))))
{mix}
{stores}
    (i64.add (local.get 1) (i64.trunc_f64_s (f64.mul (local.get $x) (local.get $x))))))
"""


PINNED = {"x18", "w18", "x26", "w26", "x27", "w27", "x28", "w28"}
NO_DESTINATION = ("st", "cmp", "cmn", "tst", "b", "b.", "bl", "blr", "br", "ret", "cb", "tb",
                  "prfm", "nop", "udf", "fcmp", "fccmp", "ccmp", "ccmn", "dmb", "dsb", "isb")


def pinned_writes(code: bytes):
    """The instructions of AArch64 `code` that write x18, x27 or x28 (their w halves too), as
    (offset, text): objdump's first operand is the destination of every instruction but
    stores, compares and branches (a load pair's first two)."""
    import tempfile
    with tempfile.NamedTemporaryFile(suffix=".bin") as f:
        f.write(code)
        f.flush()
        listing = subprocess.run(["aarch64-linux-gnu-objdump", "-D", "-b", "binary", "-m",
                                  "aarch64", f.name], capture_output=True, text=True,
                                 check=True).stdout
    writes = []
    for line in listing.splitlines():
        parts = line.split("\t")
        if len(parts) < 3 or not parts[0].strip().endswith(":"):
            continue
        mnemonic = parts[2].strip()
        operands = [o.strip() for o in (parts[3] if len(parts) > 3 else "").split("//")[0]
                    .replace("[", ",").replace("]", ",").split(",")]
        if mnemonic.startswith(NO_DESTINATION) and not mnemonic.startswith(("bic", "bfi",
                                                                              "bfxil", "bsl",
                                                                              "bif", "bit")):
            continue
        written = operands[:2] if mnemonic.startswith(("ldp", "ldnp", "ldaxp", "ldxp")) \
            else operands[:1]
        if PINNED & set(written):
            writes.append((int(parts[0].strip()[:-1], 16), f"{mnemonic} {parts[3].strip()}"))
    return writes


def test_aarch64_pinned_registers_are_never_allocated(tmp_path, tools):
    """LLVM never writes x27 (memory base), x28 (vmctx), x26 (the single pass's memory size,
    which a callee of another instance changes) or x18 (the platform's) in AArch64 code of this
    tier, however high the register pressure: the only writes are the external entries'
    `mov x28, x0; ldr x27, [x28]` and, after a call through a function reference, the
    restore `mov x28, xN; ldr x27, [x28]`. The detector sees the entries' writes (so it can
    fail)."""
    import shutil
    if not shutil.which("aarch64-linux-gnu-objdump"):
        pytest.skip("aarch64-linux-gnu-objdump absent (Debian's binutils-aarch64-linux-gnu)")
    from attacks import wat2wasm
    wasm = tmp_path / "p.wasm"
    wasm.write_bytes(wat2wasm(pressure_module()))
    for bounds in ("guard", "checked"):
        out = tmp_path / f"p.{bounds}.alko"
        subprocess.run([str(ALKAHEST), "compile", str(wasm), "-o", str(out), "-O", "--target",
                        "aarch64", "--bounds", bounds], check=True, capture_output=True)
        obj = alko.ObjectFile(out.read_bytes(), "p")
        assert (obj.target, obj.tier) == ("aarch64", "speed")
        assert obj.flags >> 8 & 0xFF == 0, "CPU features beyond ARMv8.0-A recorded"
        section = obj.sections[alko.SECTION_IDS["code"]]
        writes = pinned_writes(obj.data[section.offset:section.offset + section.size])
        entries = [w for w in writes if w[1] == "mov x28, x0"]
        assert len(entries) == obj.function_count - obj.imported_function_count, writes
        texts = [w[1] for w in writes]
        for i, (at, text) in enumerate(writes):
            if text.startswith("mov x28, x"):
                assert i + 1 < len(writes) and writes[i + 1] == (at + 4, "ldr x27, [x28]"), \
                    f"{bounds}: x28 written at {at:#x} without the memory base after it"
            else:
                assert text == "ldr x27, [x28]" and i > 0 and writes[i - 1][0] == at - 4, \
                    f"{bounds}: LLVM wrote a pinned register at {at:#x}: {text}\n{texts}"
        restores = [t for t in texts if t.startswith("mov x28, x") and t != "mov x28, x0"]
        assert restores, f"{bounds}: no restore after the calls through references: {texts}"


def test_aarch64_values_live_across_a_call_into_single_pass_code(tmp_path):
    """An opt-tier module keeps 30 values live across a call to an import that a single-pass
    module of another instance exports, run on AArch64 (the host compiles, the cross-built CLI
    runs under qemu-aarch64): that callee's external entry sets x26 (its memory size in checked
    mode) and x27/x28 for itself, so a value of the caller's in any of them would come back
    changed (x26 did, before the tier reserved it: the sum was off by 64529)."""
    from attacks import wat2wasm
    from targets import require_cli
    import json
    runner = require_cli("aarch64")
    count = 30
    values = [i * 1000 + 7 for i in range(count)]
    data = "".join(f"\\{b:02x}" for v in values for b in v.to_bytes(8, "little"))
    loads = "".join(f"(local.set {i + 2} (i64.load offset={8 * i} (i32.const 0)))"
                    for i in range(count))
    sums = "".join(f"(local.set $s (i64.add (local.get $s) (local.get {i + 2})))"
                   for i in range(count))
    (tmp_path / "a.wasm").write_bytes(wat2wasm(
        '(module (memory 1) (func (export "g") (param i32) (result i32) '
        '(i32.add (local.get 0) (i32.const 1))))'))
    (tmp_path / "b.wasm").write_bytes(wat2wasm(f"""(module
  (import "a" "g" (func $g (param i32) (result i32)))
  (memory 2)
  (data (i32.const 0) "{data}")
  (func (export "f") (param $p i32) (result i64) (local $s i64) (local {"i64 " * count})
    {loads}
    (local.set $s (i64.extend_i32_u (call $g (local.get $p))))
    {sums}
    (local.get $s)))"""))
    for mode in ("checked", "guard"):
        for name, tier in (("a", []), ("b", ["-O"])):
            subprocess.run([str(ALKAHEST), "compile", str(tmp_path / f"{name}.wasm"), "-o",
                            str(tmp_path / f"{name}.{mode}.alko"), "--target", "aarch64",
                            "--bounds", mode, *tier], check=True, capture_output=True)
        commands = [
            {"type": "module", "line": 1, "filename": f"a.{mode}.alko", "name": "$a"},
            {"type": "register", "line": 2, "name": "$a", "as": "a"},
            {"type": "module", "line": 3, "filename": f"b.{mode}.alko"},
            {"type": "assert_return", "line": 4,
             "action": {"type": "invoke", "field": "f", "args": [{"type": "i32", "value": "41"}]},
             "expected": [{"type": "i64", "value": str(sum(values) + 42)}]}]
        script = tmp_path / f"cross.{mode}.json"
        script.write_text(json.dumps({"source_filename": "cross.wast", "commands": commands}))
        done = subprocess.run([*runner, "spec", str(script), "--bounds", mode],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0 and "4 passed, 0 failed" in done.stdout, \
            f"{mode}: {done.stdout}{done.stderr}"


def test_aarch64_stack_check_covers_the_whole_frame(tmp_path, tools):
    """Each AArch64 function's internal entry checks sp less at least its whole frame and the
    margin (docs/opt-tier.md, "AArch64"): the movz/movk constant of the check, read back from
    the object, against the sp decrements of the function's own code counted here from the
    disassembly (sub sp, sp, #imm in either shift; pre-indexed stores on sp), on a function
    with a frame of about 128 KiB (multi-result call buffers: the attack of
    tests/test_attack_stack.py) and one with spills."""
    import re
    import shutil
    if not shutil.which("aarch64-linux-gnu-objdump"):
        pytest.skip("aarch64-linux-gnu-objdump absent (Debian's binutils-aarch64-linux-gnu)")
    from attacks import wat2wasm
    from test_attack_stack import OPT_DECLARATIONS, opt_huge_frame_function
    wat = pressure_module().rstrip()[:-1] + OPT_DECLARATIONS + \
        opt_huge_frame_function("wide", 4) + ")"
    wasm = tmp_path / "frames.wasm"
    wasm.write_bytes(wat2wasm(wat))
    out = tmp_path / "frames.alko"
    subprocess.run([str(ALKAHEST), "compile", str(wasm), "-o", str(out), "-O", "--target",
                    "aarch64", "--bounds", "guard"], check=True, capture_output=True)
    listing = subprocess.run([str(ALKAHEST), "inspect", str(out)], capture_output=True,
                             text=True, check=True).stdout
    functions = [(int(m[1], 16), int(m[2])) for m in
                 re.finditer(r"^function\s+\d+\s+code\+0x([0-9a-f]+)\s+(\d+) bytes", listing, re.M)]
    obj = alko.ObjectFile(out.read_bytes(), "frames")
    section = obj.sections[alko.SECTION_IDS["code"]]
    code = obj.data[section.offset:section.offset + section.size]
    biggest = 0
    for at, size in functions:
        words = [int.from_bytes(code[at + i:at + i + 4], "little") for i in range(0, size, 4)]
        movz, movk = words[5], words[6]
        assert movz & 0xFFE0001F == 0xD2800010 and movk & 0xFFE0001F == 0xF2A00010, hex(at)
        checked = (movz >> 5 & 0xFFFF) | (movk >> 5 & 0xFFFF) << 16
        body = tmp_path / "body.bin"
        body.write_bytes(code[at + 48:at + size - 28])
        text = subprocess.run(["aarch64-linux-gnu-objdump", "-D", "-b", "binary", "-m",
                               "aarch64", str(body)], capture_output=True, text=True,
                              check=True).stdout
        frame = 0
        for m in re.finditer(r"\tsub\tsp, sp, #0x([0-9a-f]+)(, lsl #12)?", text):
            frame += int(m[1], 16) << (12 if m[2] else 0)
        for m in re.finditer(r"\tst\S*\t[^\n]*\[sp, #-(\d+)\]!", text):
            frame += int(m[1])
        assert frame > 0, f"function at {at:#x}: no prologue found"
        assert checked >= frame + 128, f"function at {at:#x}: checks {checked}, frame {frame}"
        biggest = max(biggest, frame)
    assert biggest > 100_000, f"the wide frame is only {biggest} bytes"
