"""Chaos: conversations go on while a Rasa worker, the action server, PostgreSQL and Redis are killed and
restarted one at a time; every taxpayer message gets a reply or an apology within 5 s, and once all is
back every transcript line, rating and handoff event is in the database exactly once (issue 14).

The test starts PostgreSQL and Redis of its own on free ports (never the machine's shared ones), then the
stack (two Rasa workers, the action server, the gateway) over them with ``scripts.stack.stack_children``.
In each phase one component is killed, a wave of conversations runs against the rest, and the component
is restarted; a last wave runs with everything up. It prints the figures (messages, replies, apologies,
latency, rows) as one ``chaos summary`` line.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import aiohttp
import psycopg2
import pytest

from scripts import stack
from tests.ci import unavailable

pytestmark = pytest.mark.integration

REPLY_BOUND = 5.0  # seconds: the spec's bound for a reply or an apology (a correctness bound, not a benchmark)
CONVERSATIONS_PER_WAVE = 3
QUESTIONS = (
    "how much can I earn before income tax kicks in",
    "个人所得税年度汇算怎么办理",
    "what is the VAT rate for small-scale taxpayers",
)
HANDOFF_TEXT = "i want to talk to a human"


def _pg_bin() -> Optional[Path]:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    return found[-1].parent if found else None


def _as_postgres(command: List[str]) -> List[str]:
    """Run ``command`` as the postgres user (PostgreSQL refuses to run as root)."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


def _wait(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} not up after {timeout:.0f}s")
        time.sleep(0.3)


class PrivatePostgres:
    """A throwaway PostgreSQL cluster on a free port (trust authentication, no fsync)."""

    def __init__(self, root: Path) -> None:
        bin_dir = _pg_bin()
        if bin_dir is None:
            unavailable("PostgreSQL server binaries are not installed (/usr/lib/postgresql/*/bin)", required=True)
        self.bin = bin_dir
        self.root = root
        self.data = root / "data"
        self.port = stack.free_port()
        self.dsn = f"host=127.0.0.1 port={self.port} user=postgres dbname=taxguide"
        self.url = f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/taxguide"
        root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(root, "postgres")
        subprocess.run(_as_postgres([str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres",
                                     "--auth=trust", "-E", "UTF8", "--no-sync"]),
                       check=True, capture_output=True)

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} -c fsync=off -c full_page_writes=off"
        subprocess.run(_as_postgres([str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "log"),
                                     "-o", options, "-w", "start"]), check=True, capture_output=True)

    def kill(self) -> None:
        """Stop at once, as a crash would (no checkpoint; every connection dropped)."""
        subprocess.run(_as_postgres([str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w",
                                     "stop"]), check=True, capture_output=True)

    def create_database(self) -> None:
        admin = psycopg2.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres")
        admin.autocommit = True
        admin.cursor().execute("CREATE DATABASE taxguide")
        admin.close()

    def query(self, sql: str) -> List[Tuple[Any, ...]]:
        with psycopg2.connect(self.dsn) as conn, conn.cursor() as cur:
            cur.execute(sql)
            rows = cur.fetchall()
        conn.close()
        return rows


class PrivateRedis:
    """A redis-server on a free port that keeps nothing on disk."""

    def __init__(self, root: Path) -> None:
        if shutil.which("redis-server") is None:
            unavailable("redis-server is not installed", required=True)
        self.root = root
        self.port = stack.free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: Optional["subprocess.Popen[bytes]"] = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.root)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait(lambda: _listening(self.port), 20, "redis")

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


class Stack:
    """Two Rasa workers, the action server and the gateway, each killable and restartable by name."""

    def __init__(self, env: Dict[str, str], model: Path, directory: Path, log: Any) -> None:
        self.ports = stack.Ports(stack.free_port(), stack.free_port(), stack.free_port(), workers=2)
        self.ports.rasa = _consecutive_free_ports(2)
        self.children = {child.name: child for child in stack.stack_children(env, self.ports, model, directory,
                                                                               log=log)}
        self.checks = stack.health_checks(self.ports, gateway=True)
        self.processes: Dict[str, "subprocess.Popen[bytes]"] = {}

    def start(self, name: Optional[str] = None, wait: bool = True, timeout: float = 300) -> None:
        """Start one process (all without ``name``); with ``wait``, until it is healthy."""
        names = [name] if name else list(self.children)
        for n in names:
            self.processes[n] = self.children[n].spawn()
        if wait:
            self.wait_healthy(names, timeout)

    def wait_healthy(self, names: Optional[List[str]] = None, timeout: float = 300) -> None:
        names = names or list(self.processes)
        stack.wait_healthy({n: self.checks[n] for n in names}, [self.processes[n] for n in names], timeout)

    def kill(self, name: str) -> None:
        process = self.processes.pop(name)
        os.killpg(process.pid, signal.SIGKILL)  # each child runs in a session of its own
        process.wait()

    def stop(self) -> None:
        stack.stop(list(self.processes.values()))
        self.processes.clear()


def _consecutive_free_ports(count: int) -> int:
    while True:
        first = stack.free_port()
        if all(not _listening(first + i) for i in range(count)) and first + count < 65535:
            return first


@dataclass
class Conversation:
    """One REST conversation of the load and what it got."""

    tag: str
    session: str = ""
    sent: List[str] = field(default_factory=list)
    replies: int = 0
    apologies: int = 0
    latencies: List[float] = field(default_factory=list)
    unanswered: List[str] = field(default_factory=list)  # "text -> what came back" of each message left without one
    rated: bool = False
    handed_off: bool = False


async def _say(http: aiohttp.ClientSession, base: str, conv: Conversation, text: str) -> List[Dict[str, Any]]:
    started = time.monotonic()
    outcome = ""
    try:
        async with http.post(f"{base}/webhooks/rest/webhook", json={"sender": conv.session, "message": text},
                             timeout=aiohttp.ClientTimeout(total=30)) as resp:
            body = await resp.json(content_type=None) if resp.status == 200 else []
            outcome = f"HTTP {resp.status}, {len(body)} message(s)"
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        body, outcome = [], type(exc).__name__
    conv.latencies.append(time.monotonic() - started)
    conv.sent.append(text)
    if not body:
        conv.unanswered.append(f"{text} -> {outcome}")
    kinds = [(m.get("custom") or {}).get("kind") for m in body]
    conv.apologies += kinds.count("apology")
    conv.replies += len(body)
    return list(body)


async def _conversation(http: aiohttp.ClientSession, base: str, conv: Conversation) -> None:
    """Two questions, a rating, a request for a person: each message tagged with the conversation."""
    async with http.post(f"{base}/sessions", timeout=aiohttp.ClientTimeout(total=10)) as resp:
        conv.session = (await resp.json())["session_id"]
    for question in QUESTIONS[:2]:
        await _say(http, base, conv, f"{question} ({conv.tag})")
        await asyncio.sleep(0.3)
    rating = '/rate{"score": 4, "comment": "' + conv.tag + '"}'
    replies = await _say(http, base, conv, rating)
    conv.rated = any((m.get("custom") or {}).get("kind") == "survey_thanks" for m in replies)
    replies = await _say(http, base, conv, f"{HANDOFF_TEXT} ({conv.tag})")
    conv.handed_off = any(str((m.get("custom") or {}).get("kind", "")).startswith("handoff_") for m in replies)


async def _wave(base: str, name: str) -> List[Conversation]:
    convs = [Conversation(f"{name}-c{i}") for i in range(CONVERSATIONS_PER_WAVE)]
    async with aiohttp.ClientSession() as http:
        await asyncio.gather(*(_conversation(http, base, c) for c in convs))
    return convs


@pytest.fixture(scope="module")
def services() -> Iterator[Tuple[PrivatePostgres, PrivateRedis]]:
    root = Path(tempfile.mkdtemp(prefix="taxguide-chaos-"))
    os.chmod(root, 0o755)
    postgres = PrivatePostgres(root / "pg")
    redis_server = PrivateRedis(root)
    try:
        postgres.start()
        postgres.create_database()
        redis_server.start()
        yield postgres, redis_server
    finally:
        redis_server.kill()
        subprocess.run(_as_postgres([str(postgres.bin / "pg_ctl"), "-D", str(postgres.data), "-m", "immediate",
                                     "stop"]), capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def test_chaos_nothing_lost(services: Tuple[PrivatePostgres, PrivateRedis], tmp_path: Path) -> None:
    postgres, redis_server = services
    env = stack.environment()
    env.update(
        DATABASE_URL=postgres.url,
        REDIS_URL=redis_server.url,
        SESSION_SECRET="chaos-test-secret",
        HANDOFF_ALWAYS_OPEN="true",
        RATE_LIMIT_IP_BURST="1000",
        RATE_LIMIT_IP_PER_MINUTE="10000",
        SURVEY_IDLE_SECONDS="0",
        ANALYTICS_SPOOL_PATH=str(tmp_path / "spool.jsonl"),
        ANALYTICS_RETRY_SECONDS="0.5",
        ANALYTICS_DB_TIMEOUT="1",
        UPSTREAM_TIMEOUT="4",
    )
    model = Path(env["TAXGUIDE_MODEL"]) if env.get("TAXGUIDE_MODEL") else stack.train(env)
    log_path = tmp_path / "stack.log"
    with open(log_path, "w") as log:
        running = Stack(env, model, tmp_path, log)
        base = f"http://127.0.0.1:{running.ports.gateway}"
        waves: Dict[str, List[Conversation]] = {}
        started = time.monotonic()
        try:
            running.start()
            stack.warm_up_all(running.ports.rasa_ports)
            phases: List[Tuple[str, Callable[[], None], Callable[[], None]]] = [
                # the worker loads its model while the next phases run; all is healthy before the last wave
                ("rasa-worker", lambda: running.kill("rasa worker 1"),
                 lambda: running.start("rasa worker 1", wait=False)),
                ("action-server", lambda: running.kill("action server"), lambda: running.start("action server")),
                ("postgresql", postgres.kill, postgres.start),
                ("redis", redis_server.kill, redis_server.start),
            ]
            for name, kill, restart in phases:
                kill()
                waves[name] = asyncio.run(_wave(base, name))
                restart()
            running.wait_healthy()
            waves["recovered"] = asyncio.run(_wave(base, "recovered"))
            _wait(lambda: _settled(postgres, waves), 60, "the buffered writes")
        finally:
            running.stop()
        elapsed = time.monotonic() - started

    convs = [c for wave in waves.values() for c in wave]
    latencies = [t for c in convs for t in c.latencies]
    rows = _rows(postgres)
    summary = {
        "conversations": len(convs), "messages": len(latencies), "replies": sum(c.replies for c in convs),
        "apologies": sum(c.apologies for c in convs), "unanswered": sum(len(c.unanswered) for c in convs),
        "max_latency_s": round(max(latencies), 2),
        "ratings_confirmed": sum(c.rated for c in convs), "handoffs_confirmed": sum(c.handed_off for c in convs),
        "rows": {k: len(v) for k, v in rows.items()}, "dead_letters": len(rows["dead_letters"]),
        "seconds": round(elapsed),
        "per_phase": {name: {"apologies": sum(c.apologies for c in wave),
                             "max_latency_s": round(max(t for c in wave for t in c.latencies), 2)}
                      for name, wave in waves.items()},
    }
    print("chaos summary " + json.dumps(summary, ensure_ascii=False))

    unanswered = [line for c in convs for line in c.unanswered]
    assert not unanswered, "messages without a reply or an apology:\n" + "\n".join(unanswered)
    slow = [(c.tag, round(t, 2)) for c in convs for t in c.latencies if t > REPLY_BOUND]
    assert not slow, f"replies slower than {REPLY_BOUND}s: {slow}"

    # every taxpayer line exactly once, in its conversation
    taxpayer = [text for (_, sender, text) in rows["messages"] if sender == "taxpayer"]
    for conv in convs:
        for text in conv.sent:
            assert taxpayer.count(text) == 1, (conv.tag, text, taxpayer.count(text))
    conv_of = {text: cid for (cid, sender, text) in rows["messages"] if sender == "taxpayer"}
    ids = {c.tag: conv_of[c.sent[0]] for c in convs}
    assert len(set(ids.values())) == len(convs)
    # every reply line exactly once: as many bot lines per conversation as replies the taxpayer got
    for conv in convs:
        stored = [r for r in rows["messages"] if r[0] == ids[conv.tag] and r[1] == "bot"]
        assert len(stored) == conv.replies, (conv.tag, len(stored), conv.replies)
    # every confirmed rating exactly once (with its comment), every confirmed handoff's request once
    ratings = {cid: comment for (cid, comment) in rows["ratings"]}
    for conv in convs:
        if conv.rated:
            assert ratings.get(ids[conv.tag]) == conv.tag, conv.tag
    requested = [cid for (cid, kind) in rows["handoff_events"] if kind == "requested"]
    for conv in convs:
        if conv.handed_off:
            assert requested.count(ids[conv.tag]) == 1, (conv.tag, requested.count(ids[conv.tag]))
    assert summary["ratings_confirmed"] == len(convs), "every rating should be confirmed (kept, if not stored)"
    assert not rows["dead_letters"], rows["dead_letters"]


def _rows(postgres: PrivatePostgres) -> Dict[str, List[Tuple[Any, ...]]]:
    return {
        "messages": postgres.query("SELECT conversation_id, sender_type, text FROM messages ORDER BY id"),
        "ratings": postgres.query("SELECT conversation_id, comment FROM conversation_ratings"),
        "handoff_events": postgres.query("SELECT conversation_id, event_type FROM handoff_events"),
        "dead_letters": postgres.query("SELECT kind, error FROM dead_letters"),
    }


def _settled(postgres: PrivatePostgres, waves: Dict[str, List[Conversation]]) -> bool:
    """Whether every line the taxpayers sent has reached the database (the spool has drained)."""
    try:
        stored = {text for (_, sender, text) in _rows(postgres)["messages"] if sender == "taxpayer"}
    except psycopg2.Error:
        return False
    return all(text in stored for wave in waves.values() for c in wave for text in c.sent)
