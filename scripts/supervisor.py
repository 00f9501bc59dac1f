"""Keeps a set of processes running: a crashed one is restarted with exponential backoff while the others serve.

``make run`` (scripts/stack.py) supervises the Rasa workers, the action server and the gateway with it::

    supervisor = Supervisor([Child("gateway", [python, "-m", "bot"], env, ROOT)], status_path=run_dir / "status.json")
    supervisor.start()
    while not stopping.wait(0.5):
        supervisor.poll()
    supervisor.stop()

A child that exits (any exit code: these are servers) is started again after 1 s, then 2, 4, ... up to 30 s
while it keeps failing; a run of a minute resets the delay. Every exit is reported on stderr, and loudly when
a child failed 5 times within a minute. Each child runs in its own session, so that stopping it stops its
own children too. The supervisor's view of each child is written as JSON to ``status_path`` when it changes.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Callable, Deque, Dict, List, Mapping, Optional, Sequence, TextIO


@dataclass(frozen=True)
class Child:
    """How to start one supervised process; ``output`` None means the supervisor's terminal."""

    name: str
    command: Sequence[str]
    env: Mapping[str, str]
    cwd: Path
    output: Optional[IO[str]] = None

    def spawn(self) -> "subprocess.Popen[bytes]":
        """Start the process in a session of its own."""
        return subprocess.Popen(list(self.command), cwd=self.cwd, env=dict(self.env), start_new_session=True,
                                stdout=self.output, stderr=None if self.output is None else subprocess.STDOUT)


@dataclass(frozen=True)
class Backoff:
    """Restart delays: ``initial`` doubling to ``maximum``; a run of ``stable_after`` seconds resets them."""

    initial: float = 1.0
    maximum: float = 30.0
    stable_after: float = 60.0

    def delay(self, failures: int) -> float:
        """The wait before the restart that follows ``failures`` quick exits in a row (1 or more)."""
        return float(min(self.maximum, self.initial * 2 ** max(0, failures - 1)))


@dataclass(frozen=True)
class Alarm:
    """When repeated exits are reported loudly: ``crashes`` exits within ``window`` seconds."""

    crashes: int = 5
    window: float = 60.0


@dataclass
class _Slot:
    child: Child
    process: Optional["subprocess.Popen[bytes]"] = None
    started: float = 0.0
    failures: int = 0  # quick exits in a row
    restarts: int = 0
    last_exit_code: Optional[int] = None
    restart_at: Optional[float] = None
    exits: Deque[float] = field(default_factory=deque)


def describe(code: int) -> str:
    """An exit status in words: ``code 1`` or ``signal SIGKILL``."""
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"signal {signal.Signals(-code).name}"
        return f"signal {-code}"
    return f"code {code}"


class Supervisor:
    """Starts children, restarts the ones that exit, and stops them all."""

    def __init__(self, children: Sequence[Child], *, backoff: Backoff = Backoff(), alarm: Alarm = Alarm(),
                 status_path: Optional[Path] = None, report: Optional[TextIO] = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        names = [child.name for child in children]
        if len(set(names)) != len(names):
            raise ValueError(f"child names must be unique: {names}")
        self._slots = {child.name: _Slot(child) for child in children}
        self._backoff = backoff
        self._alarm = alarm
        self._status_path = status_path
        self._report = report
        self._clock = clock
        self._stopped = False

    @property
    def processes(self) -> Dict[str, Optional["subprocess.Popen[bytes]"]]:
        """Each child's current process, None while it waits for its restart."""
        return {name: slot.process for name, slot in self._slots.items()}

    def start(self) -> None:
        """Start every child."""
        for slot in self._slots.values():
            self._spawn(slot)
        self._write_status()

    def poll(self) -> None:
        """Notice exited children, report them and schedule their restart; start the ones that are due."""
        now = self._clock()
        changed = False
        for slot in self._slots.values():
            if slot.process is not None and slot.process.poll() is not None:
                self._exited(slot, slot.process.returncode, now)
                changed = True
            elif slot.process is None and slot.restart_at is not None and now >= slot.restart_at:
                slot.restarts += 1
                pid = self._spawn(slot)
                self._say(f"{slot.child.name}: restarted (pid {pid}, restart {slot.restarts})")
                changed = True
            elif slot.failures and slot.process is not None and now - slot.started >= self._backoff.stable_after:
                slot.failures = 0  # it has run long enough: the next exit restarts after the shortest delay
                changed = True
        if changed:
            self._write_status()

    def status(self) -> Dict[str, Dict[str, Any]]:
        """Each child's state (``up``, ``restarting`` or ``stopped``), pid, restarts and last exit code."""
        now = self._clock()
        view: Dict[str, Dict[str, Any]] = {}
        for name, slot in self._slots.items():
            if slot.process is not None and slot.process.poll() is None:
                state = "up"
            else:
                state = "stopped" if self._stopped else "restarting"
            entry: Dict[str, Any] = {"state": state, "pid": slot.process.pid if state == "up" and slot.process
                                     else None, "restarts": slot.restarts, "last_exit_code": slot.last_exit_code}
            if state == "restarting" and slot.restart_at is not None:
                entry["restart_in"] = round(max(0.0, slot.restart_at - now), 1)
            view[name] = entry
        return view

    def stop(self, grace: float = 8.0) -> None:
        """SIGTERM every child's process group, wait up to ``grace`` seconds, SIGKILL the rest; reap them all."""
        self._stopped = True
        running = [slot.process for slot in self._slots.values() if slot.process is not None]
        for slot in self._slots.values():
            slot.restart_at = None
        terminate(running, grace)
        for slot in self._slots.values():
            if slot.process is not None and slot.process.returncode is not None:
                slot.last_exit_code = slot.process.returncode
        self._write_status()

    # ----------------------------------------------------------------------------------------- internals

    def _spawn(self, slot: _Slot) -> int:
        slot.restart_at = None
        slot.started = self._clock()
        slot.process = slot.child.spawn()
        return slot.process.pid

    def _exited(self, slot: _Slot, code: int, now: float) -> None:
        ran = now - slot.started
        slot.process = None
        slot.last_exit_code = code
        if ran >= self._backoff.stable_after:
            slot.failures = 0
        slot.failures += 1
        delay = self._backoff.delay(slot.failures)
        slot.restart_at = now + delay
        slot.exits.append(now)
        while slot.exits and now - slot.exits[0] > self._alarm.window:
            slot.exits.popleft()
        name = slot.child.name
        self._say(f"{name}: exited with {describe(code)} after {ran:.0f}s; restarting in {delay:.0f}s "
                  "(the others keep serving)")
        if len(slot.exits) >= self._alarm.crashes:
            self._say(f"!!! {name} has failed {len(slot.exits)} times in {self._alarm.window:.0f}s "
                      f"(last: {describe(code)}); it keeps being retried every {delay:.0f}s at most. "
                      "Look at its output above.")

    def _say(self, line: str) -> None:
        print(line, file=self._report or sys.stderr, flush=True)

    def _write_status(self) -> None:
        if self._status_path is None:
            return
        document = {"updated": time.time(), "supervisor_pid": os.getpid(), "children": self.status()}
        fresh = self._status_path.with_name(self._status_path.name + ".tmp")
        fresh.write_text(json.dumps(document, indent=1) + "\n")
        fresh.replace(self._status_path)  # readers never see half a file


def terminate(processes: Sequence["subprocess.Popen[bytes]"], grace: float) -> None:
    """SIGTERM each process's group, SIGKILL the groups still there after ``grace`` seconds, reap every process.

    Each process must lead its own session or process group (``start_new_session=True``).
    """
    alive: List["subprocess.Popen[bytes]"] = [p for p in processes if p.poll() is None]
    for process in alive:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for process in alive:
        try:
            process.wait(timeout=max(0.05, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()  # reap it: no zombie left behind
