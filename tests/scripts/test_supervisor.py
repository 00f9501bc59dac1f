"""The process supervisor (scripts/supervisor.py) with tiny real child processes.

The restart schedule runs on a clock the test moves, so that no test waits for a backoff delay; the
processes, their exits and the signals are real.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Iterator, List

import pytest

from scripts.stack import free_port
from scripts.supervisor import Alarm, Backoff, Child, Supervisor

PYTHON = sys.executable
SLEEPER = [PYTHON, "-c", "import time; time.sleep(120)"]
FAILING = [PYTHON, "-c", "import sys; sys.exit(3)"]


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def child(name: str, command: List[str], tmp_path: Path) -> Child:
    return Child(name, command, dict(os.environ), tmp_path)


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


@pytest.fixture
def supervisors() -> Iterator[List[Supervisor]]:
    """Supervisors made by a test; whatever still runs is stopped at its end."""
    made: List[Supervisor] = []
    yield made
    for supervisor in made:
        supervisor.stop(grace=1)


def test_a_killed_child_is_restarted_and_the_others_keep_running(
        tmp_path: Path, supervisors: List[Supervisor]) -> None:
    status = tmp_path / "status.json"
    report = io.StringIO()
    supervisor = Supervisor([child("rasa", SLEEPER, tmp_path), child("gateway", SLEEPER, tmp_path)],
                            backoff=Backoff(initial=0.05), status_path=status, report=report)
    supervisors.append(supervisor)
    supervisor.start()
    first, gateway = supervisor.processes["rasa"], supervisor.processes["gateway"]
    assert first is not None and gateway is not None
    os.kill(first.pid, signal.SIGKILL)
    first.wait()

    def restarted() -> bool:
        supervisor.poll()
        current = supervisor.processes["rasa"]
        return current is not None and current.pid != first.pid

    wait_until(restarted)
    second = supervisor.processes["rasa"]
    assert second is not None and second.poll() is None
    assert supervisor.processes["gateway"] is gateway and gateway.poll() is None  # untouched meanwhile
    written = json.loads(status.read_text())["children"]
    assert written["rasa"] == {"state": "up", "pid": second.pid, "restarts": 1, "last_exit_code": -signal.SIGKILL}
    assert written["gateway"] == {"state": "up", "pid": gateway.pid, "restarts": 0, "last_exit_code": None}
    assert "rasa: exited with signal SIGKILL" in report.getvalue()


def exit_and_poll(supervisor: Supervisor, name: str) -> None:
    """Wait for the child's real exit, then let the supervisor notice it."""
    process = supervisor.processes[name]
    assert process is not None
    process.wait(timeout=10)
    supervisor.poll()
    assert supervisor.processes[name] is None


def test_a_child_failing_again_and_again_backs_off_to_30_seconds_and_is_reported_loudly(
        tmp_path: Path, supervisors: List[Supervisor]) -> None:
    clock, report = Clock(), io.StringIO()
    supervisor = Supervisor([child("actions", FAILING, tmp_path)], clock=clock, report=report)
    supervisors.append(supervisor)
    supervisor.start()
    delays = []
    for _ in range(7):
        exit_and_poll(supervisor, "actions")
        delay = supervisor.status()["actions"]["restart_in"]
        delays.append(delay)
        clock.advance(delay - 0.1)
        supervisor.poll()
        assert supervisor.processes["actions"] is None, "restarted before its delay"
        clock.advance(0.1)
        supervisor.poll()
        assert supervisor.processes["actions"] is not None, "not restarted after its delay"
    assert delays == [1, 2, 4, 8, 16, 30, 30]
    state = supervisor.status()["actions"]
    assert state["restarts"] == 7 and state["last_exit_code"] == 3
    lines = report.getvalue().splitlines()
    assert "actions: exited with code 3 after 0s; restarting in 1s (the others keep serving)" in lines
    loud = [line for line in lines if line.startswith("!!! actions has failed")]
    assert loud and loud[0].startswith("!!! actions has failed 5 times in 60s (last: code 3)")


def test_a_minute_of_good_running_resets_the_backoff(tmp_path: Path, supervisors: List[Supervisor]) -> None:
    clock = Clock()
    supervisor = Supervisor([child("rasa", SLEEPER, tmp_path)], clock=clock, report=io.StringIO(),
                            alarm=Alarm(crashes=100))
    supervisors.append(supervisor)
    supervisor.start()
    for expected in (1, 2, 4):  # quick crashes
        process = supervisor.processes["rasa"]
        assert process is not None
        process.kill()
        exit_and_poll(supervisor, "rasa")
        assert supervisor.status()["rasa"]["restart_in"] == expected
        clock.advance(expected)
        supervisor.poll()
    clock.advance(61)  # then it serves for a minute
    supervisor.poll()
    process = supervisor.processes["rasa"]
    assert process is not None
    process.kill()
    exit_and_poll(supervisor, "rasa")
    assert supervisor.status()["rasa"]["restart_in"] == 1


STUBBORN = """
import signal, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
open(sys.argv[1], "w").write("ready")
time.sleep(120)
"""

PARENT = """
import subprocess, sys, time
grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
open(sys.argv[1], "w").write(str(grandchild.pid))
time.sleep(120)
"""


def test_stop_terminates_every_child_and_its_children_and_kills_one_ignoring_sigterm(
        tmp_path: Path) -> None:
    ready, grandchild_file, status = tmp_path / "ready", tmp_path / "grandchild", tmp_path / "status.json"
    supervisor = Supervisor([child("gateway", SLEEPER, tmp_path),
                             child("rasa", [PYTHON, "-c", STUBBORN, str(ready)], tmp_path),
                             child("actions", [PYTHON, "-c", PARENT, str(grandchild_file)], tmp_path)],
                            status_path=status, report=io.StringIO())
    supervisor.start()
    wait_until(lambda: ready.exists() and grandchild_file.exists() and grandchild_file.read_text() != "")
    grandchild = int(grandchild_file.read_text())
    processes = dict(supervisor.processes)
    supervisor.stop(grace=1)
    codes = {name: process.returncode for name, process in processes.items() if process is not None}
    assert codes == {"gateway": -signal.SIGTERM, "rasa": -signal.SIGKILL, "actions": -signal.SIGTERM}
    wait_until(lambda: not alive(grandchild))  # its whole session got the SIGTERM
    supervisor.poll()  # nothing comes back after a stop
    assert all(p is None or p.poll() is not None for p in supervisor.processes.values())
    states = json.loads(status.read_text())["children"]
    assert {name: state["state"] for name, state in states.items()} == dict.fromkeys(codes, "stopped")


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_child_names_must_be_unique(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        Supervisor([child("rasa", SLEEPER, tmp_path), child("rasa", SLEEPER, tmp_path)])


def test_a_child_writes_to_the_given_output(tmp_path: Path) -> None:
    log = tmp_path / "out.log"
    with log.open("w") as output:
        process = Child("echo", [PYTHON, "-c", "import sys; print('hi'); print('err', file=sys.stderr)"],
                        dict(os.environ), tmp_path, output).spawn()
        assert process.wait(timeout=10) == 0
    assert log.read_text().split() == ["hi", "err"]


# --------------------------------------------------------------------------- `make run` supervising for real

SERVER = """
import http.server, sys
class Ok(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers(); self.wfile.write(b"{}")
    do_POST = do_GET
    def log_message(self, *args): pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Ok).serve_forever()
"""

STACK = """
import sys
from pathlib import Path
from scripts import stack
from scripts.supervisor import Child

def children(env, ports, model, directory, gateway=True, log=None):
    ports_by_name = {"action server": ports.actions, "rasa": ports.rasa, "gateway": ports.gateway}
    return [Child(name, [sys.executable, "-c", sys.argv[2], str(port)], env, stack.ROOT)
            for name, port in ports_by_name.items()]

stack.VAR = Path(sys.argv[1])
stack.train = lambda env, force=False: Path("model.tar.gz")
stack.stack_children = children
sys.exit(stack.run(stack.environment()))
"""


def test_make_run_restarts_a_killed_process_and_stops_everything_on_sigterm(tmp_path: Path) -> None:
    """`scripts.stack.run` with stand-ins for Rasa, the action server and the gateway (no model needed)."""
    env = dict(os.environ, RASA_PORT=str(free_port()), ACTION_SERVER_PORT=str(free_port()), PORT=str(free_port()),
               RASA_WORKERS="1", SESSION_SECRET="s" * 32, STARTUP_TIMEOUT="60")
    out = (tmp_path / "out.log").open("w")
    stack_process = subprocess.Popen([PYTHON, "-c", STACK, str(tmp_path), SERVER], cwd=Path(__file__).parents[2],
                                     env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    status = tmp_path / f"run-{stack_process.pid}" / "status.json"
    try:
        wait_until(lambda: "TaxGuide is ready" in (tmp_path / "out.log").read_text(), timeout=60)
        before = json.loads(status.read_text())["children"]
        assert {name: c["state"] for name, c in before.items()} == dict.fromkeys(
            ["action server", "rasa", "gateway"], "up")
        os.kill(before["rasa"]["pid"], signal.SIGKILL)

        def rasa_restarted() -> bool:
            rasa = json.loads(status.read_text())["children"]["rasa"]
            return bool(rasa["state"] == "up" and rasa["restarts"] == 1)

        wait_until(rasa_restarted)
        after = json.loads(status.read_text())["children"]
        assert after["rasa"]["last_exit_code"] == -signal.SIGKILL and after["rasa"]["pid"] != before["rasa"]["pid"]
        for name in ("action server", "gateway"):
            assert after[name]["pid"] == before[name]["pid"]  # kept serving
        os.kill(stack_process.pid, signal.SIGTERM)
        assert stack_process.wait(timeout=20) == 0
    finally:
        if stack_process.poll() is None:
            os.killpg(stack_process.pid, signal.SIGKILL)
            stack_process.wait()
        out.close()
    log = (tmp_path / "out.log").read_text()
    assert "rasa: exited with signal SIGKILL" in log and log.rstrip().endswith("Stopped.")
    assert not any(alive(after[name]["pid"]) for name in after)
    assert not status.parent.exists()  # the run's files (the endpoints file holds a secret) are gone
