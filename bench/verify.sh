#!/usr/bin/env bash
# Times `trajkit verify` on synthetic runs: SESSIONS × TURNS turns (default 5,000 × 20 = 100,000),
# three references and one candidate, on RAYON_NUM_THREADS threads (default 2). Inputs are built
# once under ~/.cache/trajkit/bench/verify-v2-<sessions>x<turns>/ (bench/verify_runs.py, then
# `trajkit ingest --tokenizer none`). Prints the wall and CPU time and peak RSS of each round and
# checks that every round's JSON report is byte-identical. With BASELINE=/path/to/other/trajkit,
# each round runs that binary first and then this build, so that both are timed under the same
# machine load (this host's speed drifts by up to 1.5× within an hour), and prints the means.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
sessions="${1:-5000}"
turns="${2:-20}"
rounds="${3:-3}"
threads="${RAYON_NUM_THREADS:-2}"
# The cache name says which generator made it: v2 records carry chunk times and seeds.
cache="$HOME/.cache/trajkit/bench/verify-v2-${sessions}x${turns}"
cargo build --release --locked --manifest-path "$here/../Cargo.toml" >&2
trajkit="$here/../target/release/trajkit"
if ! [ -d "$cache/bench.trajkit" ]; then
    echo "building inputs in $cache" >&2
    python3 "$here/verify_runs.py" "$cache" "$sessions" "$turns"
    "$trajkit" ingest "$cache/chats.jsonl" --format openai-jsonl --tokenizer none \
        --name verify-bench -o "$cache/bench.trajkit" --force -q
fi
echo "trajkit verify: $((sessions * turns)) turns x 3 references + candidate, $threads threads"
time_round() { # LABEL BINARY REPORT
    set +e
    RAYON_NUM_THREADS="$threads" /usr/bin/time -f "$1: %e s wall, %U s user, %S s sys, %M KB peak RSS" \
        "$2" verify --dataset "$cache/bench.trajkit" \
        --reference "$cache/reference1" "$cache/reference2" "$cache/reference3" \
        --candidate "$cache/candidate" --format json -o "$3" 2>&1 | tee -a "$cache/times.txt"
    status=${PIPESTATUS[0]}
    set -e
    if [ "$status" -eq 2 ]; then
        echo "verify rejected the input" >&2
        exit 2
    fi
}
: > "$cache/times.txt"
for round in $(seq 1 "$rounds"); do
    if [ -n "${BASELINE:-}" ]; then
        time_round "round $round baseline" "$BASELINE" "$cache/baseline-$round.json"
    fi
    time_round "round $round" "$trajkit" "$cache/report-$round.json"
done
if [ -n "${BASELINE:-}" ]; then
    awk '/: [0-9.]+ s wall/ { label = ($3 == "baseline:") ? "baseline" : "this build";
        for (i = 1; i <= NF; i++) { if ($(i + 1) == "s" && $(i + 2) == "wall,") wall[label] += $i;
        if ($(i + 1) == "s" && $(i + 2) == "user,") user[label] += $i }; count[label]++ }
        END { for (label in wall) printf "mean %s: %.2f s wall, %.2f s user\n", label,
        wall[label] / count[label], user[label] / count[label];
        printf "ratio (this build / baseline): %.2f wall, %.2f user\n",
        wall["this build"] / wall["baseline"], user["this build"] / user["baseline"] }' \
        "$cache/times.txt"
fi
for round in $(seq 2 "$rounds"); do
    cmp -s "$cache/report-1.json" "$cache/report-$round.json" || {
        echo "report of round $round differs from round 1" >&2
        exit 1
    }
done
echo "reports byte-identical across $rounds rounds"
