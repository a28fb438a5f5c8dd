#!/usr/bin/env bash
# Times `trajkit verify` on synthetic runs: SESSIONS × TURNS turns (default 5,000 × 20 = 100,000),
# three references and one candidate, on RAYON_NUM_THREADS threads (default 2). Inputs are built
# once under ~/.cache/trajkit/bench/verify-<sessions>x<turns>/ (bench/verify_runs.py, then
# `trajkit ingest --tokenizer none`). Prints the wall and CPU time and peak RSS of each round and
# checks that every round's JSON report is byte-identical.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
sessions="${1:-5000}"
turns="${2:-20}"
rounds="${3:-3}"
threads="${RAYON_NUM_THREADS:-2}"
cache="$HOME/.cache/trajkit/bench/verify-${sessions}x${turns}"
cargo build --release --locked --manifest-path "$here/../Cargo.toml" >&2
trajkit="$here/../target/release/trajkit"
if ! [ -d "$cache/bench.trajkit" ]; then
    echo "building inputs in $cache" >&2
    python3 "$here/verify_runs.py" "$cache" "$sessions" "$turns"
    "$trajkit" ingest "$cache/chats.jsonl" --format openai-jsonl --tokenizer none \
        --name verify-bench -o "$cache/bench.trajkit" --force -q
fi
echo "trajkit verify: $((sessions * turns)) turns x 3 references + candidate, $threads threads"
for round in $(seq 1 "$rounds"); do
    set +e
    RAYON_NUM_THREADS="$threads" /usr/bin/time -f "round $round: %e s wall, %U s user, %S s sys, %M KB peak RSS" \
        "$trajkit" verify --dataset "$cache/bench.trajkit" \
        --reference "$cache/reference1" "$cache/reference2" "$cache/reference3" \
        --candidate "$cache/candidate" --format json -o "$cache/report-$round.json"
    status=$?
    set -e
    if [ "$status" -eq 2 ]; then
        echo "verify rejected the input" >&2
        exit 2
    fi
done
for round in $(seq 2 "$rounds"); do
    cmp -s "$cache/report-1.json" "$cache/report-$round.json" || {
        echo "report of round $round differs from round 1" >&2
        exit 1
    }
done
echo "reports byte-identical across $rounds rounds"
