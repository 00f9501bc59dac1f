"""Serving the gateway over TCP with a deadline for each connection's first request head.

aiohttp 3.9 closes an idle keep-alive connection after ``keepalive_timeout`` (also one stuck half-way
through a later request), but it waits for the first request's headers for ever, and has no
setting for it: ``web.run_app``, ``AppRunner`` and ``TCPSite`` pass only ``keepalive_timeout``,
``lingering_time`` and size limits down to the protocol. So the listening socket is opened here
with :class:`HeadDeadline` around aiohttp's own protocol (``AppRunner.server``): a connection whose
first request head (up to the blank line) has not arrived within ``header_timeout`` is closed.
Request bodies have their own deadline where they are read (``bot.http.read_body``).
"""
from __future__ import annotations

import asyncio
import logging
import signal
from dataclasses import dataclass
from typing import Optional

from aiohttp import web

log = logging.getLogger(__name__)

_HEAD_END = b"\r\n\r\n"


class HeadDeadline(asyncio.Protocol):
    """Wraps one connection's aiohttp protocol; closes the connection when its first head is late."""

    def __init__(self, inner: asyncio.Protocol, timeout: float) -> None:
        self._inner = inner
        self._timeout = timeout
        self._timer: Optional[asyncio.TimerHandle] = None
        self._transport: Optional[asyncio.BaseTransport] = None
        self._tail = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Start the clock, then hand the connection to aiohttp."""
        self._transport = transport
        self._timer = asyncio.get_running_loop().call_later(self._timeout, self._expire)
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        """Stop the clock at the end of the first head; pass every byte on."""
        if self._timer is not None:
            seen = self._tail + data
            if _HEAD_END in seen:
                self._stop()
            else:
                self._tail = seen[-(len(_HEAD_END) - 1):]
        self._inner.data_received(data)

    def eof_received(self) -> Optional[bool]:
        """Pass the client's end of stream on."""
        return self._inner.eof_received()

    def connection_lost(self, exc: Optional[Exception]) -> None:
        """Stop the clock and tell aiohttp."""
        self._stop()
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        """Pass flow control on."""
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        """Pass flow control on."""
        self._inner.resume_writing()

    def _stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expire(self) -> None:
        self._timer = None
        if self._transport is not None and not self._transport.is_closing():
            log.info("closing a connection that sent no complete request head in %s s", self._timeout)
            self._transport.close()


@dataclass
class Listener:
    """A running gateway: the aiohttp runner and the listening socket."""

    runner: web.AppRunner
    server: asyncio.Server

    @property
    def port(self) -> int:
        """The port it listens on (useful with port 0)."""
        return int(self.server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        """Stop accepting, let requests finish (up to the shutdown timeout), close the app's resources."""
        self.server.close()
        await self.server.wait_closed()
        await self.runner.cleanup()


async def start(
    app: web.Application, host: str, port: int, header_timeout: float, body_timeout: float,
    shutdown_timeout: float = 10.0,
) -> Listener:
    """Start ``app`` (its startup and cleanup contexts) and listen on ``host``:``port``."""
    runner = web.AppRunner(
        app, shutdown_timeout=shutdown_timeout, keepalive_timeout=header_timeout, lingering_time=body_timeout,
    )
    await runner.setup()
    protocol = runner.server
    assert protocol is not None  # set by setup()
    try:
        server = await asyncio.get_running_loop().create_server(
            lambda: HeadDeadline(protocol(), header_timeout), host, port, reuse_address=True, backlog=128,
        )
    except BaseException:
        await runner.cleanup()
        raise
    return Listener(runner, server)


async def serve(app: web.Application, host: str, port: int, header_timeout: float, body_timeout: float) -> None:
    """Serve ``app`` until SIGINT or SIGTERM, then shut down gracefully."""
    listener = await start(app, host, port, header_timeout, body_timeout)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.info("serving on http://%s:%s", host, listener.port)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await listener.close()
