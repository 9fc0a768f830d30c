"""The bare stack: what a webhook-to-consumer path costs with nothing else in it.

One aiohttp handler verifies the webhook's HMAC-SHA256 (``X-Hub-Signature-256``, on the raw
bytes, constant time), does two Redis operations (a de-duplication ``SET NX EX`` on the
message id and an ``HINCRBY`` of the sender's message count), and publishes one persistent
message to RabbitMQ with a publisher confirm before answering 200. A consumer in the same
process takes the messages off the queue and records the webhook-to-consumer latency from
the send time in the text. ``GET /stats?start=`` returns what it recorded for messages
sent since the window's start (``bench/receiver.py``).

    python -m bench.bare --port 8090 --amqp amqp://guest:guest@127.0.0.1:5672/ \\
        --redis redis://127.0.0.1:6379/13
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator

import aio_pika
import redis.asyncio as redis
from aiohttp import web

from bench.load import APP_SECRET, sent_of
from bench.receiver import RECORDED, receiver_app, serve

QUEUE = "bench.bare"
STORE = web.AppKey("store", redis.Redis)
EXCHANGE = web.AppKey("exchange", aio_pika.abc.AbstractExchange)


async def hook(request: web.Request) -> web.Response:
    body = await request.read()
    given = request.headers.get("X-Hub-Signature-256", "")
    expected = "sha256=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(given, expected):
        return web.Response(status=401)
    event = json.loads(body)["entry"][0]["messaging"][0]
    store: redis.Redis = request.app[STORE]
    mid, sender = event["message"]["mid"], event["sender"]["id"]
    if not await store.set(f"bare:dedupe:{mid}", 1, nx=True, ex=3600):
        return web.Response(status=200)
    await store.hincrby("bare:senders", sender, 1)
    exchange: aio_pika.abc.AbstractExchange = request.app[EXCHANGE]
    message = aio_pika.Message(
        json.dumps(event).encode(), delivery_mode=aio_pika.DeliveryMode.PERSISTENT
    )
    await exchange.publish(message, routing_key=QUEUE)  # waits for the broker's confirm
    return web.Response(status=200)


def make_app(amqp_url: str, redis_url: str) -> web.Application:
    app = receiver_app()

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        app[STORE] = redis.from_url(redis_url)
        connection = await aio_pika.connect_robust(amqp_url)
        channel = await connection.channel(publisher_confirms=True)
        await channel.set_qos(prefetch_count=256)
        queue = await channel.declare_queue(QUEUE, durable=True)
        await queue.purge()
        app[EXCHANGE] = channel.default_exchange

        async def consume(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            received = time.time_ns()
            event = json.loads(message.body)
            sent = sent_of(event["message"]["text"])
            if sent is not None:
                app[RECORDED].append((sent, received))
            await message.ack()

        await queue.consume(consume)
        yield
        await connection.close()
        await app[STORE].aclose()

    app.cleanup_ctx.append(lifecycle)
    app.router.add_post("/hook", hook)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--amqp", default="amqp://guest:guest@127.0.0.1:5672/")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/13")
    args = parser.parse_args()
    serve(make_app(args.amqp, args.redis), args.port, "bare")


if __name__ == "__main__":
    main()
