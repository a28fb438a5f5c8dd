#!/usr/bin/env bash
# AgentPerf's capacity search against the real CPU llama-server (SmolLM2-135M, scripts/llama-server),
# on short sessions in real agents' formats (AA's bundled mini replay and a real Codex session):
# shows the ramp, the bisection and a finite maximum for a loose tier. A script, not a test: the
# CPU server makes each step take warm-up + window seconds.
#
#   bench/capacity.sh [TIER ...]      default tiers: 20:5 and 5:15 (tok/s : seconds)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/llama-server setup
cargo build --release --locked --quiet
trajkit=target/release/trajkit
work="$(mktemp -d)"
trap 'kill "${server_pid:-}" 2>/dev/null || true; rm -rf "$work"' EXIT
"$trajkit" ingest ../shared/data/real/aa-replay/aa-mini-v1 \
    ../shared/data/real/codex/agent-history_real_redacted_codex_session-01.jsonl \
    -o "$work/short.trajkit" -q
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
server_pid=$(scripts/llama-server start "$port" -t 2 --alias smollm2)
tiers=("$@")
[ ${#tiers[@]} -gt 0 ] || tiers=(20:5 5:15)
tier_flags=()
for tier in "${tiers[@]}"; do tier_flags+=(--tier "$tier"); done
"$trajkit" capacity "$work/short.trajkit" --base-url "http://127.0.0.1:$port/v1" --model smollm2 \
    "${tier_flags[@]}" --warmup 5s --window 20s --max-agents 64 --output-policy exact \
    --max-tokens 64 --tool-delay none --temperature 0 --seed 1 --accelerators 1 \
    -o "$work/capacity.json"
python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(json.dumps(r['tiers'], indent=1))" "$work/capacity.json"
