"""The null server: answers every webhook with 200 and does nothing else.

It shows the load generator's own ceiling on the machine: the same load process that drives
Switchboard and the bare stack posts to it, and whatever it reaches here is the most any
server could be measured at. The handler reads the body and notes the send time stamped in
the message text (``bench t=<ns>``) with the time it arrived; ``GET /stats?start=`` returns
what it noted for messages sent since the window's start (``bench/receiver.py``; its
"delivered" are webhooks answered, its latency ends at the handler).

    python -m bench.null --port 8091
"""

from __future__ import annotations

import argparse
import time

from aiohttp import web

from bench.receiver import RECORDED, receiver_app, serve

STAMP = b"bench t="


def sent_ns(body: bytes) -> int | None:
    """The send time in a webhook body's ``bench t=<ns>`` stamp, without parsing the JSON."""
    at = body.find(STAMP)
    if at < 0:
        return None
    start = at + len(STAMP)
    end = start
    while end < len(body) and 0x30 <= body[end] <= 0x39:
        end += 1
    return int(body[start:end]) if end > start else None


async def hook(request: web.Request) -> web.Response:
    body = await request.read()
    sent = sent_ns(body)
    if sent is not None:
        request.app[RECORDED].append((sent, time.time_ns()))
    return web.Response(status=200)


def make_app() -> web.Application:
    app = receiver_app()
    app.router.add_post("/hook", hook)
    app.router.add_post("/webhooks/{media}/{account}", hook)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8091)
    args = parser.parse_args()
    serve(make_app(), args.port, "null")


if __name__ == "__main__":
    main()
