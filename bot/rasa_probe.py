"""Which Rasa workers are in the rotation: a prober GETs each worker's ``/`` every second.

A worker leaves the rotation after ``misses`` probes in a row fail (a refused connection, an error
status or no answer within the probe timeout), or after one failed probe once a turn sent to it timed
out (``suspect``). It rejoins as soon as a probe succeeds. One prober runs per gateway process.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Dict, Iterable, List, Sequence, Set

import aiohttp

log = logging.getLogger(__name__)

_CLOSE = {"Connection": "close"}


class WorkerPool:
    """The rotation state of each Rasa worker, fed by probes and by timed-out turns."""

    def __init__(self, workers: Sequence[str], misses: int = 3) -> None:
        self.workers = tuple(w.rstrip("/") for w in workers)
        self.misses = max(1, misses)
        self._missed: Dict[str, int] = {w: 0 for w in self.workers}
        self._down: Set[str] = set()
        self._suspect: Set[str] = set()
        self.wake = asyncio.Event()  # set by ``suspect``: probe at once instead of at the next tick

    def in_rotation(self, worker: str) -> bool:
        """Whether new turns may go to ``worker``."""
        return worker not in self._down

    def available(self, workers: Iterable[str]) -> List[str]:
        """``workers`` in their order, without those out of the rotation."""
        return [w for w in workers if w not in self._down]

    def suspect(self, worker: str) -> None:
        """A turn sent to ``worker`` timed out: the next failed probe takes it out of the rotation."""
        self._suspect.add(worker)
        self.wake.set()

    def record(self, worker: str, ok: bool) -> None:
        """Count one probe of ``worker``."""
        if ok:
            self._missed[worker] = 0
            self._suspect.discard(worker)
            if worker in self._down:
                self._down.discard(worker)
                log.warning("rasa worker %s answers again; back in the rotation", worker)
            return
        self._missed[worker] = self._missed.get(worker, 0) + 1
        if worker not in self._down and (worker in self._suspect or self._missed[worker] >= self.misses):
            self._down.add(worker)
            log.warning("rasa worker %s does not answer; out of the rotation", worker)

    def status(self) -> Dict[str, str]:
        """``{worker: "in" | "suspect" | "out"}``."""
        return {w: "out" if w in self._down else ("suspect" if w in self._suspect else "in") for w in self.workers}


class RasaProber:
    """Probes every worker of a ``WorkerPool`` each ``interval`` seconds (``run`` is the background task)."""

    def __init__(self, session: aiohttp.ClientSession, pool: WorkerPool, interval: float = 1.0) -> None:
        self._session = session
        self.pool = pool
        self.interval = interval
        # a probe must end before the next one starts; connecting to a live worker takes a millisecond
        self._timeout = aiohttp.ClientTimeout(total=interval * 0.8, connect=interval * 0.8)

    async def _probe(self, worker: str) -> bool:
        try:
            # a fresh connection each time: it also tells a closed listening socket from a kept-alive one
            async with self._session.get(worker + "/", timeout=self._timeout, headers=_CLOSE) as resp:
                await resp.read()
                return resp.status == 200
        except (aiohttp.ClientError, asyncio.TimeoutError):
            return False

    async def probe_all(self) -> None:
        """Probe every worker once, concurrently, and record the results."""
        results = await asyncio.gather(*(self._probe(w) for w in self.pool.workers))
        for worker, ok in zip(self.pool.workers, results):
            self.pool.record(worker, ok)

    async def run(self) -> None:
        """Probe forever: every ``interval`` seconds (workers start in the rotation), at once on a suspect."""
        while True:
            try:
                await asyncio.wait_for(self.pool.wake.wait(), self.interval)
            except asyncio.TimeoutError:
                pass
            self.pool.wake.clear()
            await self.probe_all()
