"""What the servers that count deliveries themselves share: the null server and the bare stack.

Each notes a (send time, arrival time) pair in nanoseconds for every message it takes in, the
send time read from the ``bench t=<ns>`` stamp in the message text. ``GET /stats?start=<s>``
returns the messages sent since ``start`` (seconds since the epoch): how many, and each one's
latency in milliseconds. The load process (``bench/load.py --bare``) reads them back there.
"""

from __future__ import annotations

from aiohttp import web

from bench.event_loop import use_uvloop

RECORDED = web.AppKey("recorded", list[tuple[int, int]])  # (sent ns, received ns)


async def stats(request: web.Request) -> web.Response:
    # Every message sent from the window's start (the load's last sends may start a little
    # after its end), as the Switchboard side counts them.
    start = float(request.query["start"]) * 1e9
    window = [(s, r) for s, r in request.app[RECORDED] if start <= s]
    return web.json_response(
        {"delivered": len(window), "latency_ms": [(r - s) / 1e6 for s, r in window]}
    )


def receiver_app() -> web.Application:
    """An application with nothing recorded yet and its ``GET /stats``."""
    app = web.Application()
    app[RECORDED] = []
    app.router.add_get("/stats", stats)
    return app


def serve(app: web.Application, port: int, name: str) -> None:
    """Serve ``app`` on the loopback interface; ``<name>: ready`` is printed once it listens."""
    use_uvloop()
    web.run_app(
        app,
        host="127.0.0.1",
        port=port,
        access_log=None,
        print=lambda _: print(f"{name}: ready on port {port}", flush=True),
    )
