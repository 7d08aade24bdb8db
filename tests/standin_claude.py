#!/usr/bin/env python3
"""A stand-in for the `claude` executable, for tests that need its output, not its mind:
it reads the prompt on stdin and prints stream-json lines shaped like the real CLI's
(`system/init`, `assistant` lines, a `result`), as fast as the pipe takes them.

What it prints is set by environment variables (the `standin_claude` fixture sets them):

  STANDIN_LINES        assistant lines before the result (default 1)
  STANDIN_LINE_BYTES   bytes of text in each of them (default 100)
  STANDIN_TOTAL_BYTES  instead of STANDIN_LINES: print lines until this many bytes
  STANDIN_RATE         print the assistant lines at about this many a second (default: at once)
  STANDIN_RESULT       success (default), error, or none (no result line at all)
  STANDIN_EXIT         the exit code (default 0)
  STANDIN_SLEEP        seconds to wait before the result line
  STANDIN_LOG          a file to which one JSON line per invocation is appended: argv, cwd,
                       the prompt
"""

from __future__ import annotations

import json
import os
import sys
import time


def main() -> int:
    env = os.environ
    prompt = sys.stdin.read()
    if env.get("STANDIN_LOG"):
        with open(env["STANDIN_LOG"], "a", encoding="utf-8") as log:
            log.write(json.dumps({"argv": sys.argv[1:], "cwd": os.getcwd(),
                                  "prompt": prompt}) + "\n")
    out = sys.stdout.buffer
    session = "00000000-0000-4000-8000-000000000001"

    def emit(event: dict[str, object]) -> bytes:
        return (json.dumps(event) + "\n").encode()

    out.write(emit({"type": "system", "subtype": "init", "session_id": session,
                    "model": "claude-standin", "cwd": os.getcwd(), "tools": []}))
    size = int(env.get("STANDIN_LINE_BYTES", "100"))
    line = emit({"type": "assistant", "session_id": session,
                 "message": {"model": "claude-standin",
                             "content": [{"type": "text", "text": "x" * size}]}})
    total = env.get("STANDIN_TOTAL_BYTES")
    count = int(total) // len(line) if total else int(env.get("STANDIN_LINES", "1"))
    rate = float(env.get("STANDIN_RATE", "0"))
    per_write = max(1, int(rate / 20)) if rate else 256  # paced: twenty writes a second
    block = line * per_write
    for _ in range(count // per_write):
        out.write(block)
        if rate:
            out.flush()
            time.sleep(per_write / rate)
    out.write(line * (count % per_write))
    out.flush()
    if env.get("STANDIN_SLEEP"):
        time.sleep(float(env["STANDIN_SLEEP"]))
    result = env.get("STANDIN_RESULT", "success")
    if result != "none":
        out.write(emit({
            "type": "result", "subtype": "success", "is_error": result == "error",
            "result": "done" if result == "success" else "API Error: 500", "num_turns": 1,
            "session_id": session, "total_cost_usd": 0.0123, "duration_ms": 1000,
            "duration_api_ms": 900,
            "usage": {"input_tokens": 10, "output_tokens": 20,
                      "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0},
            **({"api_error_status": 500} if result == "error" else {}),
        }))
    out.flush()
    return int(env.get("STANDIN_EXIT", "0"))


if __name__ == "__main__":
    sys.exit(main())
