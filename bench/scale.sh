#!/usr/bin/env bash
# Ingest at corpus scale: replicates the shared mini-swe-agent sample (new session ids) to 91 MB
# (the size of the full corpus) and to 1 GB under ~/.cache/trajkit/bench, then measures, in one
# run: trajkit against the Python baseline with DeepSeek V4 at both sizes (memory must stay flat),
# and trajkit with `--tokenizer none` (provider counts only; target >= 100 MB/s on 2 cores).
#
# usage: bench/scale.sh [ROUNDS]   (ROUNDS default 1: the 1 GB baseline run takes minutes)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-1}"
source_dir=../shared/data/corpus/mini-swe-agent-gemini3pro
cache="$HOME/.cache/trajkit/bench"
for size in 91 1050; do
    [ -d "$cache/replica-$size" ] || python3 bench/replicate.py "$source_dir" "$cache/replica-$size" "$size"
done
for size in 91 1050; do
    echo "== $size MB replica, DeepSeek V4"
    bench/ingest.sh "$cache/replica-$size" "$rounds" deepseek-v4 | tail -4
done
target_dir="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
for size in 91 1050; do
    bytes="$(find "$cache/replica-$size" -name '*.traj.json' -printf '%s\n' | awk '{s+=$1} END {print s}')"
    /usr/bin/time -f "%e %U %S %M" -o "$work/time" "$target_dir/release/trajkit" ingest \
        "$cache/replica-$size" -o "$work/none.dataset" --force --quiet --tokenizer none 2>/dev/null
    read -r wall user system rss < <(tail -1 "$work/time")
    python3 -c "import sys; b,w,u,s,r=map(float,sys.argv[1:]); print(f'== {b/1e6:.0f} MB, --tokenizer none: wall {w:.2f} s, cpu {u+s:.2f} s, peak {r/1024:.0f} MiB, {b/1e6/w:.0f} MB/s')" \
        "$bytes" "$wall" "$user" "$system" "$rss"
done
