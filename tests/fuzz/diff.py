#!/usr/bin/env python3
"""Differential execution: Alkahest's machine code against Binaryen's interpreter.

For each seed: `wasm-opt -ttf` turns random bytes into a module (MVP plus sign extension,
saturating conversions, bulk memory, multi-value, mutable globals and reference types),
optimised four ways by seed. Binaryen 108's reference types are a pre-standard variant (typed
function references, funcref as a subtype of anyref), so some of its modules are not
WebAssembly 2.0: WABT's `wasm-validate` (an independent validator) decides which; those are
regenerated from the same seed without reference types when Alkahest rejects them too, and count
as a divergence when Alkahest accepts them (or rejects what WABT accepts). `--fuzz-exec-before`
calls every export in order, with zero arguments, and prints results, traps and the values
logged through the "fuzzing-support" imports. The same calls, on one instance, become a
wast2json-style script for `alkahest spec`:

  - each result: assert_return (exact bits, floats included: Binaryen prints them exactly);
  - each trap: assert_trap with the spec's message for Binaryen's wording;
  - the logged values: "fuzzing-support" is a Wasm module of ours that folds them into a hash
    (below), compared after every call. Binaryen prints f32/f64 logs as numbers that may look
    like integers, so both sides fold an integral float below 2^31 in magnitude as that
    integer and any other float as a fixed marker.

A seed whose run reaches Binaryen's call-depth limit stops being compared there (Alkahest's
stack is deeper). `hangLimitInitializer` is called before each export, as Binaryen does.

    tests/fuzz/diff.py --count N --seed S [--bounds checked|guard|both]
                       [--tier baseline|opt|both] [--simd] [--alkahest PATH]
                       [--target x86_64|aarch64|x86_64,aarch64]

Runs seeds S .. S+N-1, each module in both bounds modes and through both tiers by default
(the single pass and the optimizing tier, `alkahest spec -O`): each against Binaryen's
interpreter, so the tiers agree with each other through it. --simd lets Binaryen generate SIMD
too; the single pass has none, so those modules go through the optimizing tier only, each
rewritten first so that no v128.const lane is a NaN (denan_constants: a NaN's bits are Wasm's
to choose, and Binaryen's --denan leaves those constants). On the
host's target by default, or on others (--target aarch64: the replays run in the CLI
cross-built for it under qemu-aarch64, tests/targets.py; validation and the exports are the
host CLI's; several targets comma-separated replay each module on each of them, generated
once; the optimizing tier runs in the host's CLI only (it links the host's LLVM), so for
another target the host's CLI compiles the script's modules with `-O --target T` and that
target's CLI replays the objects: tests/targets.py's precompiled_script).
Prints each divergence
(its files stay in build/fuzz-exec/SEED/ and are copied to tests/fuzz/regressions/ as a
regression test), a progress line every 100 seeds, then `N modules, D divergences` (and how
many were skipped); exits 1 on any divergence or harness failure.
"""
import argparse
import concurrent.futures
import json
import random
import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
WORK = ROOT / "build" / "fuzz-exec"
REGRESSIONS = Path(__file__).resolve().parent / "regressions"
TIERS = {"baseline": [], "opt": ["-O"]}
FEATURES = ["--disable-simd", "--enable-reference-types", "--enable-bulk-memory",
            "--enable-multivalue", "--enable-sign-ext", "--enable-nontrapping-float-to-int",
            "--enable-mutable-globals"]
OPTIMISATIONS = [[], ["-O3"], ["-Oz"], ["--flatten", "--rereloop", "-O1"]]
MASK64 = (1 << 64) - 1
MARKER = 0x5eed
TYPES = {"i": "i32", "I": "i64", "f": "f32", "F": "f64", "v": "v128", "r": "funcref",
         "e": "externref"}

HELPER_WAT = """
(module
  (global $hash (export "hash") (mut i64) (i64.const 0))
  (func $mix (param i64)
    (global.set $hash (i64.add (i64.mul (global.get $hash) (i64.const 31)) (local.get 0))))
  (func (export "log-i32") (param i32) (call $mix (i64.extend_i32_u (local.get 0))))
  (func (export "log-i64") (param i64) (call $mix (local.get 0)))
  (func $float (param f64)
    (if (i32.and (f64.eq (f64.trunc (local.get 0)) (local.get 0))
                 (i32.and (f64.ge (local.get 0) (f64.const -2147483648))
                          (f64.lt (local.get 0) (f64.const 2147483648))))
      (then (call $mix (i64.extend_i32_u (i32.trunc_f64_s (local.get 0)))))
      (else (call $mix (i64.const %d)))))
  (func (export "log-f32") (param f32) (call $float (f64.promote_f32 (local.get 0))))
  (func (export "log-f64") (param f64) (call $float (local.get 0)))
  %s)
""" % (MARKER, "%s")
# With --simd: a v128 folds as its two 64-bit halves, low first, once every half that is an f64
# NaN and then every lane that is an f32 NaN became the marker (NaN signs and payloads are
# nondeterministic in Wasm: Binaryen's are positive, x86's negative).
LOG_V128 = """(func (export "log-v128") (param v128)
    (local.set 0 (v128.bitselect (v128.const i64x2 %d %d) (local.get 0)
                                 (f64x2.ne (local.get 0) (local.get 0))))
    (local.set 0 (v128.bitselect (v128.const i32x4 %d %d %d %d) (local.get 0)
                                 (f32x4.ne (local.get 0) (local.get 0))))
    (call $mix (i64x2.extract_lane 0 (local.get 0)))
    (call $mix (i64x2.extract_lane 1 (local.get 0))))""" % ((MARKER,) * 6)


def is_nan_bits(bits, width):
    exponent, fraction = (11, 52) if width == 64 else (8, 23)
    return (bits >> fraction) & ((1 << exponent) - 1) == (1 << exponent) - 1 and \
        bits & ((1 << fraction) - 1) != 0


def map_v128_nans(lanes, half, lane):
    """Four i32 lanes with every 64-bit half that is an f64 NaN replaced by half(it), then
    every lane that is an f32 NaN by lane(it)."""
    halves = [lanes[0] | lanes[1] << 32, lanes[2] | lanes[3] << 32]
    halves = [half(h) if is_nan_bits(h, 64) else h for h in halves]
    lanes = [halves[0] & 0xffffffff, halves[0] >> 32, halves[1] & 0xffffffff, halves[1] >> 32]
    return [lane(x) if is_nan_bits(x, 32) else x for x in lanes]


def denan_v128(lanes):
    """LOG_V128's marking, on four i32 lanes."""
    return map_v128_nans(lanes, lambda h: MARKER, lambda x: MARKER)


def denan_constants(wasm):
    """With --simd: every v128.const lane that is a NaN as an f64 half or as an f32 lane loses
    its exponent's top bit, so is no NaN. Binaryen's --denan leaves v128 constants alone, and a
    NaN's payload through f32x4.min and the like is Wasm's to choose (Binaryen's interpreter
    gives the canonical NaN, x86 the input's): stored and hashed with the memory, it made
    Binaryen and Alkahest differ with neither wrong. Both run the module rewritten. The
    constants are found in Binaryen's text and patched in the binary, where each is `fd 0c`
    and its 16 bytes (assembling the text again would not give back a WebAssembly 2.0
    module: Binaryen's reference types are its own). Returns an error message, or None."""
    text = run(["wasm-dis", str(wasm)])
    if text.returncode != 0:
        return "wasm-dis: " + text.stderr.strip()[-300:]
    binary = wasm.read_bytes()
    for match in set(re.findall(r"v128\.const i32x4((?: 0x[0-9a-f]{8}){4})", text.stdout)):
        lanes = [int(t, 16) for t in match.split()]
        fixed = map_v128_nans(lanes, lambda h: h & ~(1 << 62), lambda x: x & ~(1 << 30))
        if fixed != lanes:
            binary = binary.replace(b"\xfd\x0c" + struct.pack("<4I", *lanes),
                                    b"\xfd\x0c" + struct.pack("<4I", *fixed))
    wasm.write_bytes(binary)
    return None


def run(command, **options):
    return subprocess.run(command, capture_output=True, text=True, **options)


def fold_logs(logs, start=0):
    """The helper's hash over Binaryen's logged values (one list of tokens per call)."""
    h = start
    for tokens in logs:
        if tokens and tokens[0] == "i32x4":  # a v128, its four i32 lanes, lane 0 first
            lanes = denan_v128([int(t, 16) for t in tokens[1:5]])
            for v in (lanes[0] | lanes[1] << 32, lanes[2] | lanes[3] << 32):
                h = (h * 31 + v) & MASK64
            continue
        if len(tokens) == 2:  # an i64, printed as its low and high halves
            v = (int(tokens[0]) & 0xffffffff) | ((int(tokens[1]) & 0xffffffff) << 32)
        else:
            try:
                x = float(tokens[0])
            except ValueError:
                x = float("nan")
            integral = x == x and abs(x) != float("inf") and x == int(x)
            v = int(x) & 0xffffffff if integral and -2**31 <= x < 2**31 else MARKER
        h = (h * 31 + v) & MASK64
    return h


def trap_message(binaryen):
    """The spec's message for a trap as Binaryen words it; None for its call-depth limit."""
    m = binaryen.lower()
    if "stack limit" in m or "call stack" in m:
        return None
    rules = [
        (("unreachable", "hang limit"), "unreachable"),
        (("calltable overflow", "callindirect: overflow"), "undefined element"),
        (("uninitialized", "null"), "uninitialized element"),
        (("signature", "bad type", "types don't match"), "indirect call type mismatch"),
        (("by 0", "by zero"), "integer divide by zero"),
        (("nan", "invalid conversion"), "invalid conversion to integer"),
        (("overflow",), "integer overflow"),
        (("table",), "out of bounds table access"),
        (("memory", "final >", "offset", "out of bounds"), "out of bounds memory access"),
    ]
    for words, message in rules:
        if any(w in m for w in words):
            return message
    return "(unknown: " + binaryen + ")"


def value(letter, text):
    """wast2json's encoding of a result Binaryen printed, or None when not comparable."""
    if letter in "iI":
        bits = 32 if letter == "i" else 64
        return {"type": TYPES[letter], "value": str(int(text) & ((1 << bits) - 1))}
    if letter == "v":
        if not text.startswith("i32x4 "):
            return None
        # Quiet NaN lanes (what float operations make) compare as any arithmetic NaN; other
        # bits, signalling-NaN patterns of integer data included, exactly.
        lanes = [int(t, 16) for t in text.split()[1:5]]
        halves = [lanes[0] | lanes[1] << 32, lanes[2] | lanes[3] << 32]
        quiet64 = [is_nan_bits(h, 64) and h >> 51 & 1 for h in halves]
        quiet32 = [is_nan_bits(x, 32) and x >> 22 & 1 for x in lanes]
        if any(quiet64):
            if any(quiet32):
                return None                              # f32 or f64 NaNs? not comparable
            return {"type": "v128", "lane_type": "f64",
                    "value": ["nan:arithmetic" if q else str(h) for q, h in zip(quiet64, halves)]}
        return {"type": "v128", "lane_type": "f32" if any(quiet32) else "i32",
                "value": ["nan:arithmetic" if q else str(x) for q, x in zip(quiet32, lanes)]}
    if letter in "fF":
        if "nan" in text:
            return {"type": TYPES[letter], "value": "nan:arithmetic"}
        packed = struct.pack("<f" if letter == "f" else "<d", float(text))
        return {"type": TYPES[letter], "value": str(int.from_bytes(packed, "little"))}
    return None  # references and v128: Binaryen prints no identity / no lanes to compare


def exports_of(alkahest, wasm, work, *options):
    """{export name: signature ("if:I")} of the module's exported functions."""
    alko = work / "module.alko"
    result = run([str(alkahest), "compile", str(wasm), "-o", str(alko), *options])
    if result.returncode:
        raise RuntimeError(result.stderr.strip())
    listing = run([str(alkahest), "inspect", str(alko)], check=True).stdout
    signature = {int(m[1]): m[2] for m in
                 re.finditer(r"^function\s+(\d+)\s+code\S+\s+\d+ bytes\s+(\S*)$", listing, re.M)}
    return {m[1]: signature.get(int(m[2])) for m in
            re.finditer(r"^export\s+(.*) \(function (\d+)\)$", listing, re.M)}


def binaryen_calls(wasm, features=FEATURES):
    """Binaryen's run: [{name, result, trap, logs}] in call order."""
    out = run(["wasm-opt", str(wasm), "--fuzz-exec-before", *features], timeout=120).stdout
    calls = []
    for line in out.splitlines():
        if m := re.match(r"\[fuzz-exec\] calling (.*)$", line):
            calls.append({"name": m[1], "result": None, "trap": None, "logs": []})
        elif calls and (m := re.match(r"\[fuzz-exec\] note result: .* => (.*)$", line)):
            calls[-1]["result"] = m[1]
        elif calls and (m := re.match(r"\[trap (.*)\]$", line)):
            calls[-1]["trap"] = m[1]
        elif calls and (m := re.match(r"\[LoggingExternalInterface logging (.*)\]$", line)):
            calls[-1]["logs"].append(m[1].split())
    return calls


def script(calls, exports):
    """The commands of the script that replays `calls` (modules "helper" and "module")."""
    commands = [{"type": "module", "line": 1, "filename": "helper.wasm", "name": "$helper"},
                {"type": "register", "line": 2, "name": "$helper", "as": "fuzzing-support"},
                {"type": "module", "line": 3, "filename": "module.wasm", "name": "$m"}]
    line, logged = 3, 0

    def add(command):
        nonlocal line
        line += 1
        command["line"] = line
        commands.append(command)

    def invoke(name, args=()):
        return {"type": "invoke", "module": "$m", "field": name, "args": list(args)}

    for call in calls:
        signature = exports.get(call["name"])
        if signature is None or (call["trap"] and trap_message(call["trap"]) is None):
            if call["trap"]:
                break  # Binaryen's call-depth limit: its state diverges from here
            continue
        if "hangLimitInitializer" in exports:
            add({"type": "action", "action": invoke("hangLimitInitializer"), "expected": []})
        params, results = signature.split(":")
        args = [{"type": "v128", "lane_type": "i32", "value": ["0"] * 4} if p == "v" else
                {"type": TYPES[p], "value": "null" if p in "re" else "0"} for p in params]
        action = invoke(call["name"], args)
        if call["trap"]:
            add({"type": "assert_trap", "action": action, "text": trap_message(call["trap"]),
                 "expected": []})
        else:
            text = call["result"]
            printed = [] if text is None else (
                [v.strip() for v in text.strip("()").split(",")] if text.startswith("(") else [text])
            expected = [value(t, v) for t, v in zip(results, printed)]
            if len(printed) == len(results) and None not in expected:
                add({"type": "assert_return", "action": action, "expected": expected})
            else:
                add({"type": "action", "action": action, "expected": []})
        logged = fold_logs(call["logs"], logged)
        add({"type": "assert_return", "action": {"type": "get", "module": "$helper",
                                                  "field": "hash"},
             "expected": [{"type": "i64", "value": str(logged)}]})
    return commands


def generate(seed, d, features):
    """The seed's module, or None when Binaryen cannot make one (its flattening pass does not
    handle every reference type: then without the optimisations)."""
    rng = random.Random(seed)
    (d / "input.dat").write_bytes(rng.randbytes(rng.randint(500, 30000)))
    wasm = d / "module.wasm"
    for passes in (OPTIMISATIONS[seed % len(OPTIMISATIONS)], []):
        generated = run(["wasm-opt", "-ttf", str(d / "input.dat"), "-o", str(wasm), *features,
                         "--denan", *passes])
        if generated.returncode == 0:
            return wasm
    return None


def check(seed, alkahest, bounds, work=WORK, keep_files=False, tiers=("baseline",),
          simd=False, runner=None, runners=None, runner_target=None):
    """Runs one seed in the given modes ("checked", "guard" or "both") through the given tiers
    (TIERS' names); returns (status, detail): "ok", "FAIL" (a divergence), "skip" (not
    WebAssembly 2.0, or no module) or "error" (the harness itself failed). An agreeing seed's
    files are removed unless keep_files. With simd, Binaryen may generate SIMD (FEATURES with
    --enable-simd), run by the optimizing tier only. `runner`: the argv of the CLI that
    replays the script (default: alkahest, the host's; tests/targets.py's cli() for another
    target, named `runner_target`); `runners`: {target: argv} to replay the same script on
    each (the optimizing tier through objects the host's CLI compiles for the target)."""
    d = work / str(seed)
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    # With reference types first; Binaryen's may not be WebAssembly 2.0 (both validators must
    # then reject the module), and the seed is tried again without them.
    base = [f if f != "--disable-simd" or not simd else "--enable-simd" for f in FEATURES]
    if simd:
        tiers = [t for t in tiers if t != "baseline"]
    for features in (base, [f for f in base if f != "--enable-reference-types"] +
                     ["--disable-reference-types"]):
        wasm = generate(seed, d, features)
        if wasm is None:
            continue
        wabt = run(["wasm-validate", str(wasm)])
        ours = run([str(alkahest), "validate", str(wasm)])
        if wabt.returncode == 0 and ours.returncode != 0:
            return "FAIL", f"rejected: {ours.stderr.strip()}"
        if wabt.returncode != 0 and ours.returncode == 0:
            return "FAIL", "Alkahest accepts a module WABT rejects: " + wabt.stderr.strip()[-300:]
        if wabt.returncode == 0:
            break
    else:
        shutil.rmtree(d, ignore_errors=True)
        return "skip", "no WebAssembly 2.0 module from this seed"
    if simd:
        error = denan_constants(wasm)
        if error:
            return "error", f"harness: {error}"
    (d / "helper.wat").write_text(HELPER_WAT % (LOG_V128 if simd else ""))
    try:
        run(["wat2wasm", str(d / "helper.wat"), "-o", str(d / "helper.wasm")], check=True)
        exports = exports_of(alkahest, wasm, d, *TIERS[tiers[0]])
    except (RuntimeError, subprocess.CalledProcessError) as error:
        return "error", f"harness: {error}"
    commands = script(binaryen_calls(wasm, base), exports)
    (d / "module.json").write_text(json.dumps({"source_filename": f"seed{seed}.wast",
                                               "commands": commands}, indent=0))
    failures, harness = [], []
    for target, argv in (runners or {runner_target or "": runner or [str(alkahest)]}).items():
        host = argv == [str(alkahest)]
        for tier in (tiers if host or target else [t for t in tiers if t != "opt"]):
            for mode in (("checked", "guard") if bounds == "both" else (bounds,)):
                replayed = d / "module.json"
                if tier == "opt" and not host:
                    from targets import precompiled_script
                    try:
                        replayed = precompiled_script(replayed, mode, target,
                                                      d / f"{target}.{mode}", alkahest,
                                                      *TIERS[tier])
                    except RuntimeError as error:
                        failures.append(f"[{target}, {tier}, {mode}] compile: {error}")
                        continue
                result = run([*argv, "spec", str(replayed), "--bounds", mode,
                              *TIERS[tier]], timeout=600)
                where = ", ".join(w for w in (target, tier, mode) if w)
                if result.returncode != 0 and not (result.stdout + result.stderr).strip():
                    # no word from the CLI at all: it did not run (a binary being relinked by
                    # another campaign's make) or died unseen. Not a divergence to keep; still
                    # a failure of the run.
                    harness.append(f"[{where}] exit {result.returncode}, no output")
                elif result.returncode != 0:
                    lines = [line for line in result.stdout.splitlines() if ": FAIL" in line]
                    failures.append(f"[{where}] " + ("\n".join(lines[:10]) or
                                                     (result.stdout + result.stderr)[-800:]))
    if failures:
        return "FAIL", "\n".join(failures + harness)
    if harness:
        return "error", "\n".join(harness)
    if not keep_files:
        shutil.rmtree(d, ignore_errors=True)
    return "ok", ""


def keep_regression(seed, work=WORK, regressions=None):
    """Copies a divergent seed's module and script into tests/fuzz/regressions/ (commit it:
    tests/test_fuzz_exec.py runs every kept one). Returns the folder."""
    source, target = work / str(seed), (regressions or REGRESSIONS) / f"seed{seed}"
    target.mkdir(parents=True, exist_ok=True)
    for name in ("module.wasm", "helper.wasm", "module.json"):
        if (source / name).exists():
            shutil.copyfile(source / name, target / name)
    return target


def run_kept(case, alkahest, bounds, tier="baseline", runner=None):
    """Runs a kept regression (a folder with module.json); returns (passed, output)."""
    result = run([*(runner or [str(alkahest)]), "spec", str(case / "module.json"), "--bounds",
                  bounds, *TIERS[tier]], cwd=case, timeout=600)
    return result.returncode == 0, result.stdout[-2000:] + result.stderr[-1000:]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alkahest", type=Path, default=ROOT / "alkahest" / "build" / "alkahest")
    parser.add_argument("--bounds", choices=("checked", "guard", "both"), default="both")
    parser.add_argument("--tier", choices=("baseline", "opt", "both"), default="both")
    parser.add_argument("--simd", action="store_true",
                        help="let Binaryen generate SIMD (then the optimizing tier only)")
    parser.add_argument("--seed", type=int, default=1, help="first seed")
    parser.add_argument("--count", type=int, default=100, help="modules to generate")
    parser.add_argument("--jobs", type=int, default=2, help="seeds run at once")
    parser.add_argument("--target", default=None,
                        help="replay on these targets, comma-separated (x86_64, aarch64; "
                        "default: the host's)")
    args = parser.parse_args()
    subprocess.run(["make", "-s", "-C", str(ROOT / "alkahest")], check=True)
    sys.path.insert(0, str(ROOT / "tests"))
    import targets
    chosen = [t for t in (args.target or targets.HOST).split(",") if t]
    for target in chosen:
        if target not in targets.TARGETS:
            sys.exit(f"diff.py: --target takes {', '.join(targets.TARGETS)} (comma-separated)")
        if targets.missing_tools(target):
            sys.exit(f"diff.py: {target} needs {' and '.join(targets.missing_tools(target))}")
    runners = {t: [str(args.alkahest)] if t == targets.HOST else targets.cli(t) for t in chosen}
    tiers = ("baseline", "opt") if args.tier == "both" else (args.tier,)
    tally = {"ok": 0, "FAIL": 0, "skip": 0, "error": 0}
    seeds = range(args.seed, args.seed + args.count)
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for done, (seed, (status, detail)) in enumerate(zip(seeds, pool.map(
                lambda s: check(s, args.alkahest, args.bounds, tiers=tiers, simd=args.simd,
                                runners=runners), seeds)), 1):
            tally[status] += 1
            if status in ("FAIL", "error"):
                print(f"seed {seed}: {status} ({WORK / str(seed)})\n{detail}\n", flush=True)
            if status == "FAIL":
                keep_regression(seed)
            if done % 100 == 0 and done < args.count:
                print(f"  {done} of {args.count} seeds (up to {seed}): {tally['FAIL']} "
                      f"divergences so far", flush=True)
    print(f"{','.join(chosen)}: {args.count} modules, {tally['FAIL']} divergences "
          f"({tally['skip']} seeds gave no WebAssembly 2.0 module, {tally['error']} harness "
          "failures)")
    sys.exit(0 if tally["FAIL"] == 0 and tally["error"] == 0 else 1)


if __name__ == "__main__":
    main()
