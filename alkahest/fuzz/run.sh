#!/bin/sh
# Fuzzes the Alkahest front end (decode + validate) with libFuzzer, ASan and UBSan.
#
#   alkahest/fuzz/run.sh [SECONDS]       default: until interrupted
#
# Seeds: every binary module of the spec testsuite when it is there (converted into
# build/spectest/ as the conformance run does; tests/testdata.py says where it is looked for),
# and of our own scripts in tests/alkahest_spec/. The corpus grows in build/fuzz/corpus/ from run to run; a crashing
# input lands in build/fuzz/artifacts/ -- fix the bug, then keep the input in
# alkahest/fuzz/regressions/ (the tests replay every file there).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
seconds=${1:-0}

make -s -C "$root/alkahest" fuzz
# the spec testsuite's modules when it is there (tests/testdata.py), and always our own scripts'
python3 "$root/tests/spec_validate.py" --convert-only
mkdir -p "$root/build/fuzz/corpus" "$root/build/fuzz/seeds" "$root/build/fuzz/artifacts" \
         "$root/build/spectest" "$root/build/fuzz/own"
for wast in "$root"/tests/alkahest_spec/*.wast; do
    name=$(basename "$wast" .wast)
    mkdir -p "$root/build/fuzz/own/$name"
    wast2json "$wast" -o "$root/build/fuzz/own/$name/$name.json"
done
find "$root/build/spectest" "$root/build/fuzz/own" -name '*.wasm' \
    -exec cp -u -t "$root/build/fuzz/seeds" {} +

exec "$root/alkahest/build/fuzz_validate" \
    -max_total_time="$seconds" -max_len=100000 -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$root/build/fuzz/artifacts/" \
    "$root/build/fuzz/corpus" "$root/build/fuzz/seeds" "$root/alkahest/fuzz/regressions"
