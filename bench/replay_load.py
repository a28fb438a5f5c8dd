#!/usr/bin/env python3
"""Writes the synthetic load of bench/replay.sh, one workload in two forms, from a fixed seed.

- An agentperf-local replay directory (`manifest.json` + `traces/<task>.jsonl`, the AA open
  format): trajkit ingests it (format aa-replay) and agentperf-local's per-request path sends its
  rows, so both replay the very same requests.
- An AIPerf `single_turn` JSONL: one `{"text", "output_length"}` line per request, the text
  being the request's messages joined (AIPerf's single_turn takes text, not a message list), so
  AIPerf sends prompts of the same sizes asking for the same output length.

Each of SESSIONS sessions has TURNS turns; turn k's request is a system prompt plus k + 1 user
messages and k assistant answers, so contexts grow as an agent's do (a few hundred tokens: the
benchmark measures the client's streaming path, not prompt upload).

usage: replay_load.py OUT_DIR SESSIONS TURNS OUTPUT_TOKENS
"""

import json
import os
import random
import sys

WORDS = (
    "read the file then run the tests and fix the failing assertion in the parser module "
    "check the output of grep for the symbol and open the config before editing the handler"
).split()


def sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words))


def main() -> None:
    out_dir, sessions, turns, output_tokens = (
        sys.argv[1],
        int(sys.argv[2]),
        int(sys.argv[3]),
        int(sys.argv[4]),
    )
    rng = random.Random(7)
    traces = os.path.join(out_dir, "replay", "traces")
    os.makedirs(traces, exist_ok=True)
    tasks = []
    single_turn = []
    for session in range(sessions):
        task_id = f"bench-{session:05d}"
        messages = [
            {"role": "system", "content": "You are a coding agent. " + sentence(rng, 40)},
            {"role": "user", "content": sentence(rng, 30)},
        ]
        lines = []
        for turn in range(turns):
            row = {
                "version": 1,
                "turn_id": f"{task_id}:{turn:04d}",
                "task_id": task_id,
                "conversation_id": task_id,
                "conversation_idx": turn,
                "messages": list(messages),
                "simulated_tool_delay_ms_after": 0,
                "target_output_tokens": output_tokens,
                "recorded_completion_tokens": output_tokens,
            }
            lines.append(json.dumps(row, separators=(",", ":")))
            text = "\n\n".join(message["content"] for message in messages)
            single_turn.append(
                json.dumps({"text": text, "output_length": output_tokens}, separators=(",", ":"))
            )
            messages = messages + [
                {"role": "assistant", "content": sentence(rng, 20)},
                {"role": "user", "content": sentence(rng, 20)},
            ]
        trace = f"traces/{task_id}.jsonl"
        with open(os.path.join(out_dir, "replay", trace), "w") as file:
            file.write("\n".join(lines) + "\n")
        tasks.append(
            {
                "task_id": task_id,
                "trace": trace,
                "source_recording": "trajkit-bench-synthetic",
                "model_calls": turns,
                "tool_calls": 0,
                "total_recorded_tool_delay_ms": 0,
                "family": "synthetic",
                "adapter": "openai",
                "required_context_tokens": 8192,
            }
        )
    manifest = {
        "name": "trajkit replay benchmark load",
        "source": "bench/replay_load.py",
        "mode": "single_user_agentic_replay",
        "version": 1,
        "tasks": tasks,
    }
    with open(os.path.join(out_dir, "replay", "manifest.json"), "w") as file:
        json.dump(manifest, file, indent=1)
    with open(os.path.join(out_dir, "aiperf.jsonl"), "w") as file:
        file.write("\n".join(single_turn) + "\n")


if __name__ == "__main__":
    main()
