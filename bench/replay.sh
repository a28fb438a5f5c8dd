#!/usr/bin/env bash
# trajkit replay against NVIDIA AIPerf and agentperf-local's per-request path: the same fake SSE
# server (bench/sse_server.rs, one thread), the same load (concurrent streams, tokens per
# response, token rate), one client after the other, in one run; a table of client CPU per
# streamed token, streams sustained, TTFT measurement error, and the ratios. A script, not a test.
#
#   bench/replay.sh [--agents 1000] [--tokens 32] [--ttft-ms 200] [--itl-ms 100] [--seconds 30]
#                   [--runs 1] [--clients trajkit,aiperf,agentperf]
#
# Installs (once) AIPerf and agentperf-local in their own Python 3.12 venvs under
# ~/.cache/trajkit/, and seeds tiktoken's cache with o200k_base from the copy the tiktoken-rs
# crate ships (both peers count tokens with it, and nothing may be downloaded).
set -euo pipefail
cd "$(dirname "$0")/.."
cache="$HOME/.cache/trajkit"
mkdir -p "$cache/bench"

python312() { PYENV_VERSION=3.12.1 python3.12 "$@"; }
for venv in aiperf agentperf; do
    package=$([ "$venv" = aiperf ] && echo "aiperf==0.13.0" || echo "agentperf-local==0.3.4")
    if [ ! -x "$cache/$venv-venv/bin/python" ] || ! "$cache/$venv-venv/bin/pip" show -q "${package%%=*}" >/dev/null 2>&1; then
        python312 -m venv "$cache/$venv-venv"
        "$cache/$venv-venv/bin/pip" install -q "$package"
    fi
done

cargo build --release --locked --quiet --bin trajkit --example sse_server
target="${CARGO_TARGET_DIR:-target}/release"

# tiktoken looks its files up by the SHA-1 of their URL; the file is checked against its SHA-256.
tiktoken_dir="$cache/bench/tiktoken"
mkdir -p "$tiktoken_dir"
asset=$(ls "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/tiktoken-rs-*/assets/o200k_base.tiktoken | tail -1)
key=$(printf '%s' "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken" | sha1sum | cut -d' ' -f1)
[ -f "$tiktoken_dir/$key" ] || cp "$asset" "$tiktoken_dir/$key"

TIKTOKEN_CACHE_DIR="$tiktoken_dir" python3 bench/replay_bench.py \
    --trajkit "$target/trajkit" --server "$target/examples/sse_server" \
    --work "$cache/bench/replay" \
    --aiperf-venv "$cache/aiperf-venv" --agentperf-venv "$cache/agentperf-venv" "$@"
