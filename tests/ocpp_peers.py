"""A central system written with the `ocpp` package alone, served on its own event loop and thread:
the independent peer the interoperability tests hold the simulated wallbox against (1.6 and 2.0.1,
plain or TLS)."""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import Callable
from typing import Any

import websockets
from websockets.typing import Subprotocol


def serve_peer(port: int, point_class: Any, heard: list[tuple[str, dict[str, Any]]], subprotocol: str,
               context: ssl.SSLContext | None = None,
               on_connect: Callable[[Any], None] | None = None) -> tuple[Callable[[], None], threading.Thread]:
    """Serve `point_class` (an `ocpp` ChargePoint subclass with a `heard` list) on 127.0.0.1:`port`;
    `on_connect` sees each WebSocket connection first.  Returns (stop, thread): call stop() to end it."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    done: asyncio.Future[None] = loop.create_future()

    async def handler(ws: Any) -> None:
        if on_connect is not None:
            on_connect(ws)
        point = point_class(ws.request.path.strip("/"), ws)
        point.heard = heard
        try:
            await point.start()
        except websockets.ConnectionClosed:
            pass

    async def main() -> None:
        async with websockets.serve(handler, "127.0.0.1", port, subprotocols=[Subprotocol(subprotocol)], ssl=context):
            ready.set()
            await done

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(10)
    def stop() -> None:
        loop.call_soon_threadsafe(done.set_result, None)
    return stop, thread
