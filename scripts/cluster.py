"""TaxGuide scaled out on one machine: two of each process behind nginx, sharing Redis and PostgreSQL.

    python -m scripts.cluster run [--port 8080]   # `make run-cluster`: start everything, wait until healthy

It makes sure Redis and PostgreSQL run (``scripts/services.sh``) and nginx is installed (``scripts/nginx.sh``),
creates the database ``taxguide_cluster`` when missing and migrates it once, then starts two action servers,
two Rasa workers (each with its own action server, both on Redis tracker and lock stores), two gateway
instances (each listing both Rasa workers) and nginx in front, on one port. The generated files (endpoints,
shared secrets, nginx.conf, logs) are in ``var/cluster/``. Ctrl-C or SIGTERM stops everything.

The integration test (``tests/integration/test_cluster.py``) starts the same on free ports with ``running_cluster()``.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple
from urllib.parse import unquote, urlparse

from knowledge.env import Env
from scripts import stack
from scripts.supervisor import terminate

ROOT = stack.ROOT
STATE = stack.VAR / "cluster"
DEFAULT_PORT = 8080
DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/taxguide_cluster"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/3"  # a database of its own: `make run` with Redis keeps db 0
GATEWAYS = ("a", "b")
SECRETS = ("SESSION_SECRET", "SESSION_KEY", "RASA_TOKEN")
#: What a member inherits from the caller's environment but must not: each member gets its own.
PER_MEMBER = ("PORT", "HOST", "RASA_URL", "RASA_URLS", "ACTION_SERVER_URL", "ACTION_SERVER_PORT", "RASA_PORT",
              "ANALYTICS_SPOOL_PATH", "RUN_MIGRATIONS")


@dataclass(frozen=True)
class ClusterPorts:
    """The ports of one cluster: nginx's, and the loopback ports of the members behind it."""

    proxy: int
    gateways: Tuple[int, int]
    rasa: Tuple[int, int]
    actions: Tuple[int, int]

    @classmethod
    def free(cls, proxy: Optional[int] = None) -> "ClusterPorts":
        """Ports nothing listens on now (``proxy`` as given when set)."""
        taken = {proxy} if proxy else set()
        ports: List[int] = []
        while len(ports) < 7:
            port = stack.free_port()
            if port not in taken:
                taken.add(port)
                ports.append(port)
        return cls(proxy or ports[6], (ports[0], ports[1]), (ports[2], ports[3]), (ports[4], ports[5]))


@dataclass
class Member:
    """One process of the cluster: how to start it, where it logs, the URL that answers 200 when it is up."""

    name: str
    command: List[str]
    env: Dict[str, str]
    health: str
    log: Path
    process: Optional["subprocess.Popen[bytes]"] = field(default=None, repr=False)

    def start(self) -> None:
        """Start the process in its own session (so that it and its children stop together), logging to ``log``."""
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(self.command, cwd=ROOT, env=self.env, start_new_session=True,
                                            stdout=out, stderr=subprocess.STDOUT)
            out.write(f"== {time.strftime('%Y-%m-%d %H:%M:%S')} started {self.name} as pid {self.process.pid}: "
                      f"{' '.join(self.command[:3])} ...\n".encode())

    @property
    def alive(self) -> bool:
        """Whether the process was started and has not exited."""
        return self.process is not None and self.process.poll() is None

    def kill(self, signum: int = signal.SIGKILL) -> None:
        """Send ``signum`` to the process and its children; wait for it when it is SIGKILL."""
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signum)
        if signum == signal.SIGKILL:
            self.process.wait(timeout=10)

    def tail(self, lines: int = 30) -> str:
        """The last ``lines`` lines of the log."""
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def nginx_binary() -> Optional[str]:
    """The nginx executable (Debian puts it in /usr/sbin, which a normal user's PATH may lack), or None."""
    found = shutil.which("nginx")
    if found:
        return found
    return "/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None


def nginx_config(ports: ClusterPorts, state: Path, host: str = "0.0.0.0") -> str:
    """The nginx configuration of the cluster: one port in front of the gateways, files under ``state``.

    Paths are absolute, so the file works with ``nginx -c`` from anywhere (and with ``nginx -t``).
    """
    state = state.resolve()
    logs = state / "logs"
    temp = state / "nginx-temp"
    gateways = [f"127.0.0.1:{port}" for port in ports.gateways]
    # when started by root, nginx would hand its workers to "nobody": they run as the caller instead
    user = f"user {pwd.getpwuid(os.geteuid()).pw_name};\n" if os.geteuid() == 0 else ""
    servers = "\n".join(f"        server {address} max_fails=1 fail_timeout=10s;" for address in gateways)
    names = "\n".join(f"        ~:{port}$ {name};" for name, port in zip(GATEWAYS, ports.gateways))
    return f"""\
# TaxGuide's local cluster (scripts/cluster.py writes this file on every start: edit the generator, not this).
{user}worker_processes 1;
daemon off;  # the supervisor, scripts/cluster.py, owns the process and stops it
pid {state / "nginx.pid"};
error_log {logs / "nginx-error.log"} warn;

events {{
    worker_connections 1024;
}}

http {{
    access_log {logs / "nginx-access.log"};
    client_body_temp_path {temp / "client_body"};
    proxy_temp_path {temp / "proxy"};
    fastcgi_temp_path {temp / "fastcgi"};
    uwsgi_temp_path {temp / "uwsgi"};
    scgi_temp_path {temp / "scgi"};
    client_max_body_size 1m;  # the gateway refuses more than MAX_BODY_BYTES (64 KiB) itself
    server_tokens off;

    # "Connection: upgrade" only when the client asks for a websocket
    map $http_upgrade $connection_upgrade {{
        default upgrade;
        ''      close;
    }}

    # Pages, REST, the console's API and its websocket: any instance will do. The gateways keep no
    # per-client state in memory (sessions are signed or encrypted with the shared secrets; the queue,
    # routes, rate limits and survey state are in Redis; transcripts in PostgreSQL), so requests are
    # spread and a dead instance's requests go to the other (proxy_next_upstream, on refused connections).
    upstream taxguide_gateways {{
        least_conn;
{servers}
    }}

    # socket.io needs stickiness: with long-polling every poll is a new HTTP request that must reach the
    # instance holding that engine.io session (until a websocket upgrade, which must land there too).
    # Open-source nginx has no cookie stickiness ("sticky" is NGINX Plus), so the client address is hashed.
    # Not ip_hash: it hashes only the first three bytes of an IPv4 address, so a whole /24 (and every taxpayer
    # behind one carrier NAT) would land on one instance. "consistent" (ketama): losing an instance moves
    # only its own clients, which reconnect to the other and rejoin their conversation (its room is shared
    # through python-socketio's Redis manager; the history is in PostgreSQL).
    upstream taxguide_socketio {{
        hash $remote_addr consistent;
{servers}
    }}

    # which gateway answered, for the cluster test and for debugging (the last address tried is the answer's)
    map $upstream_addr $taxguide_gateway {{
        default -;
{names}
    }}

    server {{
        listen {host}:{ports.proxy};

        # Every proxy_set_header is here: a location with one of its own would inherit none of these.
        proxy_http_version 1.1;
        # $http_host keeps the port: the console's same-origin check compares Origin with Host
        proxy_set_header Host $http_host;
        # the gateways trust the last hop (TRUST_PROXY=true): the address nginx saw
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
        # websockets (/socket.io/, /agent/ws) are upgraded; other requests close the upstream connection
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection $connection_upgrade;
        proxy_connect_timeout 2s;
        proxy_next_upstream error timeout;
        add_header X-TaxGuide-Gateway $taxguide_gateway always;

        location /socket.io/ {{
            proxy_pass http://taxguide_socketio;
            proxy_buffering off;
            proxy_read_timeout 3600s;  # an open websocket; a long-poll returns within engine.io's ping interval
            proxy_send_timeout 3600s;
        }}

        location = /agent/ws {{
            proxy_pass http://taxguide_gateways;
            proxy_read_timeout 3600s;  # the console's websocket; the gateway pings it every 20 s
            proxy_send_timeout 3600s;
        }}

        location / {{
            proxy_pass http://taxguide_gateways;
            proxy_read_timeout 60s;  # a turn takes at most UPSTREAM_TIMEOUT (30 s at most)
        }}
    }}
}}
"""


def write_nginx_config(ports: ClusterPorts, state: Path, host: str = "0.0.0.0") -> Path:
    """Write ``state``/nginx.conf and make the folders it names; returns its path."""
    (state / "logs").mkdir(parents=True, exist_ok=True)
    (state / "nginx-temp").mkdir(exist_ok=True)  # nginx makes the folders inside
    path = state / "nginx.conf"
    path.write_text(nginx_config(ports, state, host))
    return path


def shared_secrets(state: Path) -> Dict[str, str]:
    """The secrets every gateway instance (and Rasa's API) must share, generated once into ``state``/secrets.env.

    The file is created with mode 0600 and kept, so sessions and console sign-ins survive a restart.
    """
    path = state / "secrets.env"
    state.mkdir(parents=True, exist_ok=True)
    values: Dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            name, sep, value = line.partition("=")
            if sep and name in SECRETS:
                values[name] = value.strip()
    missing = [name for name in SECRETS if not values.get(name)]
    if missing:
        values.setdefault("SESSION_SECRET", secrets.token_hex(32))
        values.setdefault("SESSION_KEY", base64.urlsafe_b64encode(secrets.token_bytes(32)).decode("ascii"))
        values.setdefault("RASA_TOKEN", secrets.token_urlsafe(24))
        fresh = path.with_suffix(".tmp")
        fresh.unlink(missing_ok=True)
        descriptor = os.open(fresh, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as out:
            out.write("".join(f"{name}={values[name]}\n" for name in SECRETS))
        fresh.replace(path)
    path.chmod(0o600)
    return {name: values[name] for name in SECRETS}


def ensure_database(database_url: str) -> bool:
    """Create the PostgreSQL database of ``database_url`` when it is missing; True when it was created."""
    import psycopg2  # only the cluster needs it here (the gateway talks asyncpg)

    url = urlparse(database_url)
    name = unquote(url.path.lstrip("/"))
    if not name:
        raise ValueError(f"no database name in {database_url}")
    connection = psycopg2.connect(host=url.hostname or "127.0.0.1", port=url.port or 5432,
                                  user=unquote(url.username or "postgres"),
                                  password=unquote(url.password) if url.password else None, dbname="postgres")
    try:
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if cursor.fetchone():
                return False
            quoted = name.replace('"', '""')
            cursor.execute(f'CREATE DATABASE "{quoted}"')
            return True
    finally:
        connection.close()


def migrate(env: Dict[str, str], database_url: str) -> None:
    """Bring the schema to the newest revision once, before the gateways start (they then skip it).

    Two instances migrating a fresh database at the same moment would both create the tables.
    """
    subprocess.run([str(stack.VENV_BIN / "alembic"), "-c", "bot/alembic.ini", "upgrade", "head"],
                   cwd=ROOT, env=dict(env, DATABASE_URL=database_url), check=True, stdout=subprocess.DEVNULL)


class Cluster:
    """The members of one cluster and their supervision: start in stages, wait for health, kill, restart, stop."""

    def __init__(self, env: Dict[str, str], model: Path, ports: ClusterPorts, state: Path, database_url: str,
                 redis_url: str, host: str = "0.0.0.0") -> None:
        self.ports = ports
        self.state = state.resolve()
        self.database_url = database_url
        self.redis_url = redis_url
        self.host = host
        self.secrets = shared_secrets(self.state)
        base = {k: v for k, v in env.items() if k not in PER_MEMBER}
        base.update(self.secrets, REDIS_URL=redis_url, DATABASE_URL=database_url)
        #: what Rasa shows the action servers (endpoints files, mode 0600); new for each cluster
        self.action_token = Env(env).text("ACTION_SERVER_TOKEN") or secrets.token_urlsafe(24)
        python = str(stack.VENV_BIN / "python")
        logs = self.state / "logs"
        self.members: Dict[str, Member] = {}
        for index, port in enumerate(ports.actions, start=1):
            self._add(Member(f"actions-{index}", [python, "-m", "actions.server", "--port", str(port)],
                             dict(base, ACTION_SERVER_PORT=str(port), ACTION_SERVER_TOKEN=self.action_token),
                             f"http://127.0.0.1:{port}/health",
                             logs / f"actions-{index}.log"))
        worker_env = dict(base)
        # one TensorFlow thread per worker: the workers share the cores instead of each taking all of them
        worker_env.setdefault("TF_INTRA_OP_PARALLELISM_THREADS", "1")
        worker_env.setdefault("TF_INTER_OP_PARALLELISM_THREADS", "1")
        worker_env.setdefault("TICKET_LOCK_LIFETIME", "5")  # a hung worker's Redis lock: seconds, not Rasa's minute
        for index, (port, actions) in enumerate(zip(ports.rasa, ports.actions), start=1):
            endpoints = stack.write_endpoints(stack.Ports(port, actions, 0), redis_url,
                                              self.state / f"endpoints-{index}.yml", self.action_token)
            command = stack.rasa_command(model, endpoints, port)  # the API token comes from RASA_TOKEN
            self._add(Member(f"rasa-{index}", command, worker_env, f"http://127.0.0.1:{port}/",
                             logs / f"rasa-{index}.log"))
        rasa_urls = ",".join(f"http://127.0.0.1:{port}" for port in ports.rasa)
        for name, port, actions in zip(GATEWAYS, ports.gateways, ports.actions):
            gateway_env = dict(base, PORT=str(port), HOST="127.0.0.1", RASA_URLS=rasa_urls,
                               ACTION_SERVER_URL=f"http://127.0.0.1:{actions}", TRUST_PROXY="true",
                               RUN_MIGRATIONS="false", ANALYTICS_SPOOL_PATH=str(self.state / f"spool-{name}.jsonl"))
            self._add(Member(f"gateway-{name}", [python, "-m", "bot"], gateway_env,
                             f"http://127.0.0.1:{port}/health", logs / f"gateway-{name}.log"))
        config = self.state / "nginx.conf"
        nginx = nginx_binary() or "nginx"
        self._add(Member("nginx", [nginx, "-p", str(self.state), "-e", str(logs / "nginx-error.log"),
                                   "-c", str(config)],
                         dict(base), f"http://127.0.0.1:{ports.proxy}/health", logs / "nginx.log"))

    def _add(self, member: Member) -> None:
        self.members[member.name] = member

    @property
    def proxy_url(self) -> str:
        """The URL of nginx (on the loopback address)."""
        return f"http://127.0.0.1:{self.ports.proxy}"

    @property
    def gateway_urls(self) -> Dict[str, str]:
        """Each gateway instance's own URL, by name ("a", "b")."""
        return {name: f"http://127.0.0.1:{port}" for name, port in zip(GATEWAYS, self.ports.gateways)}

    @property
    def rasa_urls(self) -> List[str]:
        """The Rasa workers' URLs, as the gateways list them (RASA_URLS)."""
        return [f"http://127.0.0.1:{port}" for port in self.ports.rasa]

    def _processes(self) -> List["subprocess.Popen[bytes]"]:
        return [m.process for m in self.members.values() if m.process is not None]

    def wait(self, names: Sequence[str], timeout: float) -> None:
        """Wait until the named members answer 200; RuntimeError (with the log's tail) when one exits or is late."""
        try:
            stack.wait_healthy({n: self.members[n].health for n in names}, self._processes(), timeout)
        except RuntimeError as error:
            dead = [m for m in self.members.values() if m.process is not None and m.process.poll() is not None]
            for member in dead or [self.members[n] for n in names]:
                print(f"--- {member.name} ({member.log}):\n{member.tail()}", file=sys.stderr)
            raise RuntimeError(f"{error} (logs in {self.state / 'logs'})") from None

    def start(self, timeout: float = 600) -> None:
        """Start everything in stages and wait until it is healthy, then warm the Rasa workers up.

        The second action server starts once the first is up: a cold knowledge index is then built (and
        written to the shared cache) by one process, not by two at once.
        """
        write_nginx_config(self.ports, self.state, self.host)
        deadline = time.monotonic() + timeout
        first = ["actions-1", "rasa-1", "rasa-2", "gateway-a", "gateway-b"]
        for name in first:
            self.members[name].start()
        self.wait(["actions-1"], deadline - time.monotonic())
        self.members["actions-2"].start()
        self.wait(["actions-2", "rasa-1", "rasa-2", "gateway-a", "gateway-b"], deadline - time.monotonic())
        self.members["nginx"].start()
        self.wait(["nginx"], max(10.0, deadline - time.monotonic()))
        for port in self.ports.rasa:
            stack.warm_up(port)

    def kill(self, name: str, signum: int = signal.SIGKILL) -> None:
        """Kill one member (SIGKILL by default: no clean-up, as when a machine dies)."""
        self.members[name].kill(signum)

    def restart(self, name: str, timeout: float = 300) -> None:
        """Start a stopped member again and wait until it is healthy."""
        member = self.members[name]
        if member.alive:
            return
        member.start()
        self.wait([name], timeout)

    def alive(self) -> bool:
        """Whether every started member still runs."""
        return all(m.alive for m in self.members.values() if m.process is not None)

    def stop(self, grace: float = 15) -> None:
        """Stop the proxy first, then the gateways, then Rasa and the action servers.

        Each stage gets SIGTERM and ``grace`` seconds to finish what it serves, then SIGKILL; every process is
        reaped (no zombie is left behind).
        """
        stages = (["nginx"], ["gateway-a", "gateway-b"], ["rasa-1", "rasa-2", "actions-1", "actions-2"])
        for stage in stages:
            terminate([p for p in (self.members[n].process for n in stage) if p is not None], grace)


def prepare(env: Dict[str, str], database_url: str) -> None:
    """Redis and PostgreSQL running, the database present and migrated.

    Raises:
        RuntimeError: a service could not be started.
    """
    services = subprocess.run(["bash", str(ROOT / "scripts" / "services.sh")], cwd=ROOT)
    if services.returncode != 0:
        raise RuntimeError("Redis or PostgreSQL is not running (scripts/services.sh failed)")
    if ensure_database(database_url):
        print(f"Created the database {urlparse(database_url).path.lstrip('/')}")
    migrate(env, database_url)


@contextlib.contextmanager
def running_cluster(env: Dict[str, str], *, state: Path, database_url: str, redis_url: str,
                    model: Optional[Path] = None, timeout: float = 600) -> Iterator[Cluster]:
    """A cluster on free ports (nginx on the loopback address) until the block ends; yields it.

    The services must run and the database exist (the caller owns them); it is migrated here. The model is
    ``model``, else TAXGUIDE_MODEL, else the current one (trained if needed).

    Raises:
        RuntimeError: nginx is not installed, or the cluster did not become healthy.
    """
    if nginx_binary() is None:
        raise RuntimeError("nginx is not installed (bash scripts/nginx.sh installs it)")
    given = Env(env).text("TAXGUIDE_MODEL")
    model = model or (Path(given) if given else stack.train(env))
    migrate(env, database_url)
    cluster = Cluster(env, model, ClusterPorts.free(), state, database_url, redis_url, host="127.0.0.1")
    try:
        cluster.start(timeout)
        yield cluster
    finally:
        cluster.stop()


def run(port: int, host: str, database_url: str, redis_url: str) -> int:
    """`make run-cluster`: prepare, start, wait until healthy, then until Ctrl-C or SIGTERM; the exit status."""
    env = stack.environment()
    try:
        timeout = Env(env).number("STARTUP_TIMEOUT", 600.0, positive=True)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    if nginx_binary() is None:
        subprocess.run(["bash", str(ROOT / "scripts" / "nginx.sh")], cwd=ROOT, check=False)
        if nginx_binary() is None:
            print("nginx is not installed and could not be installed (bash scripts/nginx.sh, as root)",
                  file=sys.stderr)
            return 1
    try:
        prepare(env, database_url)
    except (RuntimeError, subprocess.CalledProcessError) as error:
        print(f"Start-up failed: {error}", file=sys.stderr)
        return 1
    model = stack.train(env)
    cluster = Cluster(env, model, ClusterPorts.free(port), STATE, database_url, redis_url, host)

    def on_signal(signum: int, frame: object) -> None:  # SIGTERM stops the cluster as Ctrl-C does
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    try:
        print(f"Starting two action servers, two Rasa workers, two gateways and nginx (logs: {STATE / 'logs'}) ...",
              flush=True)
        cluster.start(timeout)
        shown = "localhost" if host in ("0.0.0.0", "127.0.0.1") else host
        print(f"\nTaxGuide's cluster is ready (Ctrl-C stops everything):\n"
              f"  chat              http://{shown}:{port}/\n"
              f"  agent console     http://{shown}:{port}/agent/\n"
              f"  dashboard         http://{shown}:{port}/agent/analytics/\n"
              f"  health            http://{shown}:{port}/health\n"
              f"  gateways          {', '.join(cluster.gateway_urls.values())}\n"
              f"  Rasa workers      {', '.join(cluster.rasa_urls)}\n"
              f"  PostgreSQL        {database_url}\n"
              f"  Redis             {redis_url}\n"
              f"Console accounts: DATABASE_URL={database_url} {stack.VENV_BIN / 'python'} -m bot.accounts create "
              "--username NAME --role agent", flush=True)
        while cluster.alive():
            time.sleep(1)
        dead = [m.name for m in cluster.members.values() if m.process is not None and not m.alive]
        print(f"{', '.join(dead)} stopped unexpectedly; stopping the others (logs: {STATE / 'logs'}).",
              file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nStopping ...", flush=True)
        return 0
    except RuntimeError as error:
        print(f"Start-up failed: {error}", file=sys.stderr)
        return 1
    finally:
        cluster.stop()
        print("Stopped.")


def main() -> int:
    """The command line; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["run"])
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="nginx's port (default %(default)s)")
    parser.add_argument("--host", default="0.0.0.0", help="nginx's listening address (default %(default)s)")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL, help="PostgreSQL (default %(default)s)")
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL, help="Redis (default %(default)s)")
    args = parser.parse_args()
    if not 1 <= args.port <= 65535:
        parser.error("--port must be between 1 and 65535")
    return run(args.port, args.host, args.database_url, args.redis_url)


if __name__ == "__main__":
    sys.exit(main())
