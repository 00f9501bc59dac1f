"""Where the gateway's own CPU goes per message: the gateway alone, profiled, in front of a stand-in Rasa.

    python -m scripts.profile_gateway [--users 20] [--messages 50] [--rasa-ms 50]
    make profile-gateway

Starts the stand-in Rasa of the gateway tests (tests/bot/conftest.py: each turn answered after
``--rasa-ms`` with a text, buttons and the answer's custom data) and the gateway (`python -m bot`, SQLite,
no Redis) as processes, sends ``--users`` conversations of ``--messages`` new texts each (closed loop),
then prints the gateway's CPU per message (without the profiler) and, from a second, profiled run, its
share per part: the database (SQLAlchemy, aiosqlite), HTTP and the event loop (aiohttp, asyncio), the
call to Rasa, masking (bot.privacy), metrics (prometheus-client), JSON, the rest of the gateway's code.
The target (issue 11): at most 5 ms of CPU per message. Real Rasa and the action server are not
involved (`make bench-gateway` measures the whole stack).
"""
from __future__ import annotations

import argparse
import asyncio
import pstats
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Dict, List, Tuple

import aiohttp
from aiohttp.test_utils import unused_port

from scripts import stack
from scripts.bench_gateway import cpu_seconds, machine

ROOT = Path(__file__).resolve().parents[1]
TARGET_MS = 5.0

STAND_IN = """
import asyncio, sys
from tests.bot.conftest import FakeRasa
async def main() -> None:
    rasa = FakeRasa(); rasa.port = int(sys.argv[1]); rasa.url = f"http://127.0.0.1:{rasa.port}"
    rasa.delay = float(sys.argv[2])
    await rasa.start(); await asyncio.Event().wait()
asyncio.run(main())
"""

GATEWAY = """
import cProfile, os, signal, sys
import bot.__main__
profile = cProfile.Profile() if len(sys.argv) > 1 else None
def stop(*_: object) -> None:
    if profile is not None:
        profile.disable(); profile.dump_stats(sys.argv[1])
    os._exit(0)
signal.signal(signal.SIGUSR1, stop)
if profile is not None:
    profile.enable()
bot.__main__.main()
"""

#: Parts of the gateway's time, by where the code lives (first match wins).
PARTS: Tuple[Tuple[str, Tuple[str, ...]], ...] = (
    ("database", ("sqlalchemy", "aiosqlite", "asyncpg", "sqlite3", "greenlet", "queue.SimpleQueue")),
    ("masking", ("bot/privacy.py",)),
    ("metrics", ("prometheus_client",)),
    ("JSON", ("json/", "json.")),
    ("call to Rasa", ("bot/rasa_client.py", "aiohttp/client", "aiohttp/connector")),
    ("HTTP server + event loop", ("aiohttp", "asyncio", "selectors", "socket", "multidict", "yarl", "epoll",
                                  "_contextvars")),
    ("gateway code", ("/bot/",)),
)


def part_of(filename: str, function: str) -> str:
    """The part a profiled function belongs to."""
    where = f"{filename}:{function}"
    for part, markers in PARTS:
        if any(marker in where for marker in markers):
            return part
    return "built-ins called from many places (regexes, ids, dicts)"


def shares(stats_path: Path) -> Dict[str, float]:
    """Seconds of own time (``tottime``) per part in a saved profile, the event loop's idle wait left out."""
    stats = pstats.Stats(str(stats_path))
    totals: Dict[str, float] = {}
    for (filename, _, function), (_, _, tottime, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        if "poll" in function and "epoll" in function:
            continue  # waiting for the network, not work
        part = part_of(filename, function)
        totals[part] = totals.get(part, 0.0) + tottime
    return totals


async def load(port: int, users: int, messages: int) -> List[float]:
    """Each user sends ``messages`` new texts one after the other; returns the reply times."""
    url = f"http://127.0.0.1:{port}/webhooks/rest/webhook"
    times: List[float] = []
    async with aiohttp.ClientSession() as http:
        async def user(n: int) -> None:
            sender = f"profile-{n}-{uuid.uuid4().hex[:8]}"
            for m in range(messages):
                started = time.perf_counter()
                body = {"sender": sender, "message": f"how is tax worked out on bonus number {m} of {n}"}
                async with http.post(url, json=body) as response:
                    if response.status != 200:
                        raise RuntimeError(f"gateway answered {response.status}: {await response.text()}")
                    await response.read()
                times.append(time.perf_counter() - started)
        await asyncio.gather(*(user(n) for n in range(users)))
    return times


async def wait_for(port: int, seconds: float = 60.0) -> None:
    """Wait until the gateway serves."""
    async with aiohttp.ClientSession() as http:
        for _ in range(int(seconds * 10)):
            try:
                async with http.get(f"http://127.0.0.1:{port}/openapi.yaml") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("the gateway did not start")


def run(users: int, messages: int, rasa_ms: float, profile_to: Path | None) -> Tuple[float, float, List[float]]:
    """One run: (gateway CPU seconds, wall seconds, reply times) for ``users`` x ``messages`` messages."""
    rasa_port, gateway_port = unused_port(), unused_port()
    work = Path(tempfile.mkdtemp(prefix="profile-gateway-"))
    env = dict(stack.environment(), RASA_URL=f"http://127.0.0.1:{rasa_port}", ACTION_SERVER_URL=f"http://127.0.0.1:{rasa_port}",
               DATABASE_URL=f"sqlite+aiosqlite:///{work}/gateway.db", PORT=str(gateway_port), LOG_LEVEL="WARNING",
               SESSION_SECRET=uuid.uuid4().hex, ANALYTICS_SPOOL_PATH=str(work / "spool.jsonl"),
               RATE_LIMIT_SENDER_BURST="1000000", RATE_LIMIT_SENDER_PER_MINUTE="1000000",
               RATE_LIMIT_IP_BURST="1000000", RATE_LIMIT_IP_PER_MINUTE="1000000", PYTHONPATH=str(ROOT))
    env.pop("REDIS_URL", None)
    stand_in = subprocess.Popen([sys.executable, "-c", STAND_IN, str(rasa_port), str(rasa_ms / 1000)], cwd=ROOT,
                                env=env)
    gateway = subprocess.Popen([sys.executable, "-c", GATEWAY, *([str(profile_to)] if profile_to else [])],
                               cwd=ROOT, env=env)
    try:
        asyncio.run(wait_for(gateway_port))
        asyncio.run(load(gateway_port, users, 3))  # warm-up: connections, caches
        before, started = cpu_seconds(gateway.pid), time.perf_counter()
        times = asyncio.run(load(gateway_port, users, messages))
        return cpu_seconds(gateway.pid) - before, time.perf_counter() - started, times
    finally:
        gateway.send_signal(signal.SIGUSR1)
        gateway.wait(30)
        stand_in.kill()
        stand_in.wait()


def main() -> None:
    """Measure, then profile, and print the figures next to the target."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--messages", type=int, default=50)
    parser.add_argument("--rasa-ms", type=float, default=50.0, help="the stand-in Rasa's time per turn")
    args = parser.parse_args()
    print(machine(), flush=True)
    n = args.users * args.messages
    cpu, wall, times = run(args.users, args.messages, args.rasa_ms, None)
    times.sort()
    per_message = cpu / n * 1000
    verdict = "met" if per_message <= TARGET_MS else "NOT met"
    print(f"gateway alone, {args.users} conversations x {args.messages} new texts, stand-in Rasa {args.rasa_ms:.0f} ms:"
          f" {n / wall:.0f} msg/s, reply p50/p95 {times[n // 2] * 1000:.0f}/{times[int(n * 0.95)] * 1000:.0f} ms",
          flush=True)
    print(f"gateway CPU per message: {per_message:.2f} ms (target <= {TARGET_MS:.0f} ms: {verdict})", flush=True)
    stats = Path(tempfile.mkdtemp(prefix="profile-gateway-")) / "gateway.pstats"
    run(args.users, args.messages, args.rasa_ms, stats)
    totals = shares(stats)
    whole = sum(totals.values()) or 1.0
    print("where it goes (profiled run; the profiler slows every part, the shares are what counts):")
    for part, seconds in sorted(totals.items(), key=lambda item: -item[1]):
        print(f"   {part:<54} {100 * seconds / whole:5.1f} %")


if __name__ == "__main__":
    main()
