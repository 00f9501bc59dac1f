"""Per-message latency of the knowledge action through a running action server (POST /webhook).

    python -m scripts.bench_actions      # also part of `make bench`

Starts one action server with the retrieval cache off on a free port, sends five questions 21 times
(the first round warms up) and prints the latency percentiles.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import urllib.request
from typing import List

from scripts import stack
from scripts.stats import percentile

QUESTIONS = [
    "how much can I earn before income tax kicks in",
    "is there a deducton for my daughters school fees",
    "deduction",
    "find me a flight to Chengdu",
    "I moved to Beijing for my first job and rent a flat near the office. What can I deduct?",
]


def payload(text: str) -> bytes:
    """The action server's request to run the knowledge action for ``text``."""
    message = {"text": text, "intent": {"name": "ask_tax_question", "confidence": 0.9}, "entities": []}
    tracker = {"sender_id": "bench", "slots": {"failed_turns": 0}, "latest_message": message, "events": [],
               "paused": False, "followup_action": None, "active_loop": {}, "latest_action_name": "action_listen"}
    return json.dumps({"next_action": "action_answer_knowledge", "sender_id": "bench", "tracker": tracker,
                       "domain": {}, "version": "3.6.21"}).encode()


def main() -> int:
    """Run the benchmark and print the report; returns the exit status."""
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    env = stack.environment()
    env["TAXGUIDE_RETRIEVAL_CACHE_SIZE"] = "0"  # measure real retrieval, not the cache of repeated questions
    port = stack.free_port()
    process = subprocess.Popen([str(stack.VENV_BIN / "python"), "-m", "actions.server", "--port", str(port)],
                               cwd=stack.ROOT, env=env, start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        stack.wait_healthy({"actions": f"http://127.0.0.1:{port}/health"}, [process], timeout=180)
        url = f"http://127.0.0.1:{port}/webhook"
        headers = {"Content-Type": "application/json"}
        if env.get("ACTION_SERVER_TOKEN"):  # the server then refuses requests without it, as Rasa's would be
            headers["Authorization"] = f"Bearer {env['ACTION_SERVER_TOKEN']}"
        timings: List[float] = []
        for round_ in range(21):
            for text in QUESTIONS:
                request = urllib.request.Request(url, payload(text), headers)
                started = time.perf_counter()
                with urllib.request.urlopen(request, timeout=30) as response:
                    response.read()
                if round_:  # the first round warms up
                    timings.append((time.perf_counter() - started) * 1000)
        print(f"knowledge action via action server (retrieval cache off): p50={percentile(timings, 50):.1f} ms "
              f"p95={percentile(timings, 95):.1f} ms max={max(timings):.1f} ms n={len(timings)}")
    finally:
        stack.stop([process])
    return 0


if __name__ == "__main__":
    sys.exit(main())
