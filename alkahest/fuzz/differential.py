#!/usr/bin/env python3
"""Differential check of verdicts: `alkahest validate` against V8 (node's WebAssembly.Module)
on a pile of modules -- by default the fuzz corpus, the regressions and the testsuite's binary
modules. The fuzzer finds crashes; this finds wrong verdicts.

    alkahest/fuzz/differential.py [--alkahest PATH] [FILE_OR_DIR...]

Exits 1 on a disagreement that is not a known difference: V8's implementation limits (it
refuses tables over 10,000,000 elements at compile time; Alkahest only fails table.grow), and
the proposals after 2.0 that node 20's V8 ships (exception handling: try, catch, throw,
rethrow, delegate, catch_all and the tag section; tail calls: return_call,
return_call_indirect; threads: shared memories), which Alkahest rightly rejects.
"""
import argparse
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_INPUTS = [ROOT / "build" / "fuzz" / "corpus", ROOT / "alkahest" / "fuzz" / "regressions",
                  ROOT / "build" / "spectest"]
V8_SCRIPT = r"""
const fs = require('fs');
for (const f of fs.readFileSync(0, 'utf8').split('\n').filter(Boolean)) {
  let verdict = 'ok';
  try { new WebAssembly.Module(fs.readFileSync(f)); }
  catch (e) { verdict = 'invalid: ' + e.message.replace(/\s+/g, ' '); }
  console.log(f + '\t' + verdict);
}
"""
# Disagreements that are not bugs: V8 refusing for a limit, or accepting a post-2.0 feature.
V8_LIMIT = re.compile(r"table size|initial table|implementation limit")
POST_2_0 = re.compile(r"illegal opcode: 0x(6|7|8|9|12|13|18|19)$|malformed section id: 13$"
                      r"|limits flag 0x3$")


def inputs(paths):
    files = []
    for path in map(Path, paths):
        if path.is_dir():
            files += [p for p in path.rglob("*") if p.is_file() and p.suffix != ".json"]
        elif path.is_file():
            files.append(path)
    return sorted(set(map(str, files)))


def alkahest_verdicts(alkahest, files):
    verdicts = {}
    for i in range(0, len(files), 500):
        chunk = files[i:i + 500]
        if len(chunk) == 1:
            chunk = chunk * 2  # batch mode needs two files
        result = subprocess.run([str(alkahest), "validate", *chunk], capture_output=True,
                                text=True)
        if result.returncode not in (0, 1, 2):
            sys.exit(f"alkahest validate crashed ({result.returncode}): {result.stderr[-2000:]}")
        for line in result.stdout.splitlines():
            path, _, verdict = line.partition(": ")
            verdicts[path] = verdict
    return verdicts


def v8_verdicts(files):
    result = subprocess.run(["node", "-e", V8_SCRIPT], input="\n".join(files),
                            capture_output=True, text=True, check=True)
    return dict(line.split("\t", 1) for line in result.stdout.splitlines())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alkahest", type=Path, default=ROOT / "alkahest" / "build" / "alkahest")
    parser.add_argument("paths", nargs="*", default=DEFAULT_INPUTS)
    args = parser.parse_args()
    files = inputs(args.paths)
    ours, theirs = alkahest_verdicts(args.alkahest, files), v8_verdicts(files)
    known = unexplained = 0
    for path in files:
        a, b = ours.get(path, "no verdict"), theirs.get(path, "no verdict")
        if (a == "ok") == (b == "ok"):
            continue
        if (a == "ok" and V8_LIMIT.search(b)) or (b == "ok" and POST_2_0.search(a)):
            known += 1
            continue
        unexplained += 1
        print(f"{path}\n  alkahest: {a}\n  v8:       {b}")
    print(f"{len(files)} modules, {unexplained} disagreements, {known} known differences")
    return 1 if unexplained else 0


if __name__ == "__main__":
    sys.exit(main())
