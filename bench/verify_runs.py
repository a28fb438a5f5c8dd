"""Synthetic inputs for bench/verify.sh: an OpenAI-chat JSONL dataset of SESSIONS sessions of
TURNS turns, and replay run records (run.json + requests.jsonl) of three references and one
candidate over it, each a seeded perturbation of a per-turn base answer (like the test suite's
synthetic runs). Records carry what a real streamed run records besides the outputs: the arrival
time of every output chunk (one per output token, at full float precision, as `trajkit replay`
writes them) and the per-request seed, so that reading them costs what reading a real run costs.
Usage: verify_runs.py OUT_DIR SESSIONS TURNS."""

import json
import os
import random
import sys

VOCABULARY = (
    "the file function returns value error test fix check list open read write path line code "
    "run module class import call result string number loop index patch diff change update "
    "config option parse token output input print return assert django model query field cache "
    "server request response status"
).split()


def main() -> None:
    out, sessions, turns = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "chats.jsonl"), "w", encoding="utf-8") as handle:
        for session in range(sessions):
            messages = [
                {"role": "system", "content": "You are a coding agent."},
                {"role": "user", "content": f"Fix issue {session}."},
            ]
            for turn in range(turns - 1):
                messages.append({"role": "assistant", "content": f"step {turn}", "tool_calls": [
                    {"id": f"c{turn}", "type": "function",
                     "function": {"name": "bash", "arguments": "{\"command\":\"ls\"}"}}]})
                messages.append({"role": "tool", "tool_call_id": f"c{turn}", "content": f"out {turn}"})
            messages.append({"role": "assistant", "content": "Done."})
            handle.write(json.dumps({"id": f"s{session:06d}", "model": "m", "messages": messages}) + "\n")
    for name, seed in (("reference1", 1), ("reference2", 2), ("reference3", 3), ("candidate", 4)):
        directory = os.path.join(out, name)
        os.makedirs(directory, exist_ok=True)
        with open(os.path.join(directory, "requests.jsonl"), "w", encoding="utf-8") as handle:
            for session in range(sessions):
                for turn in range(turns):
                    base = random.Random(session * 100_003 + turn)
                    difficulty = 0.05 + base.random() * 0.4
                    words = [base.choice(VOCABULARY) for _ in range(20 + base.randrange(120))]
                    command = [base.choice(VOCABULARY) for _ in range(4)]
                    calls_tool = base.random() < 0.6
                    rng = random.Random(f"{seed}:{session}:{turn}")
                    words = [rng.choice(VOCABULARY) if rng.random() < difficulty else w for w in words]
                    command = [rng.choice(VOCABULARY) if rng.random() < difficulty / 6 else w for w in command]
                    if rng.random() < difficulty / 20:
                        calls_tool = not calls_tool
                    tool_calls = [{"id": "c", "name": "bash", "arguments": json.dumps(
                        {"command": " ".join(command), "timeout": 30})}] if calls_tool else []
                    output_tokens = len(words) * 4 // 3 + 12 * len(tool_calls)
                    send_ms = (session * turns + turn) * 1_000.0 + rng.random()
                    ttft_ms = 150.0 + rng.random() * 2_000.0
                    chunk_ms = [ttft_ms]
                    for _ in range(output_tokens - 1):
                        chunk_ms.append(chunk_ms[-1] + 10.0 + rng.random() * 30.0)
                    record = {
                        "session_id": f"s{session:06d}", "turn_index": turn, "agent": 0,
                        "send_ms": send_ms, "ttft_ms": ttft_ms, "chunk_ms": chunk_ms,
                        "end_ms": chunk_ms[-1] + 1.0 + rng.random(),
                        "http_status": 200, "error_kind": None, "error": None,
                        "seed": rng.randrange(1 << 31), "max_tokens": 512,
                        "target_output_tokens": None,
                        "finish_reason": "tool_calls" if tool_calls else "stop",
                        "content": " ".join(words), "reasoning": None, "tool_calls": tool_calls,
                        "prompt_tokens": 100, "cached_tokens": 0,
                        "output_tokens": output_tokens,
                        "output_tokens_source": "usage",
                    }
                    handle.write(json.dumps(record) + "\n")
        manifest = {
            "record": "trajkit-replay-run", "record_version": "1", "trajkit_version": "0.1.0",
            "dataset": {"path": "bench.trajkit", "name": "verify-bench", "sessions": sessions,
                        "turns": sessions * turns},
            "base_url": f"http://127.0.0.1:{8000 + seed}/v1", "model": "bench", "agents": 8,
            "output_policy": "recorded", "tool_delay_policy": "none", "salt": f"salt-{seed}",
            "sampling": {"temperature": 1.0, "seed": seed}, "server": {"models": None, "props": None},
            "started_unix_ms": 0, "finished_unix_ms": 1, "complete": True,
            "incomplete_reason": None, "requests": sessions * turns, "failed_requests": 0,
        }
        with open(os.path.join(directory, "run.json"), "w", encoding="utf-8") as handle:
            json.dump(manifest, handle, indent=2)


if __name__ == "__main__":
    main()
