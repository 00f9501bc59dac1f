"""python-socketio test clients: connect by long-polling, leave at once (the gateway, handoff and cluster tests).

python-engineio 4.15's websocket *client* needs aiohttp >= 3.10 (``ClientWSTimeout``) and Rasa pins 3.9,
so test clients poll; the websocket server path has tests of its own.
"""

from __future__ import annotations

import asyncio
import contextlib

import socketio


async def connect_polling(sio: socketio.AsyncClient, url: str, wait_timeout: float = 5) -> None:
    """Connect ``sio`` to the gateway at ``url`` over long-polling."""
    await sio.connect(url, socketio_path="/socket.io", transports=["polling"], wait_timeout=wait_timeout)


async def leave(sio: socketio.AsyncClient) -> None:
    """Disconnect at once, from a dead server too, leaving no request or HTTP connection behind.

    A graceful polling disconnect waits ~30 s for the last long-poll. This one says goodbye if it can,
    aborts, cancels the long-poll in flight and closes the client's HTTP session, so no half-read
    response is left for the garbage collector to warn about in some later test.
    """
    if sio.connected:
        for namespace in list(sio.namespaces):
            with contextlib.suppress(Exception):  # python-socketio has no public "say goodbye, then abort"
                await sio._send_packet(sio.packet_class(socketio.packet.DISCONNECT, namespace=namespace))
    http = sio.eio.http
    await sio.eio.disconnect(abort=True)
    for task in (sio.eio.read_loop_task, sio.eio.write_loop_task):
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    for session in (http, sio.eio.http):
        if session is not None and not session.closed:
            await session.close()
