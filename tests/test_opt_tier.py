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
