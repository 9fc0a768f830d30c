"""``switchboard serve``: run one Switchboard process."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from aiohttp import web

from router import heap, logs
from router.app import create_app
from router.config import DEMO_CREDENTIALS, Config, demo_config
from router.errors import ConfigError
from router.provisioning import check_config
from router.settings import Settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="switchboard", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser(
        "serve", help="run the engine (embedded mode when nothing is configured)"
    )
    serve.add_argument("--config", type=Path, help="YAML file of tenants, queues, agents, streams")
    serve.add_argument("--host", help="interface to listen on (default 0.0.0.0)")
    serve.add_argument("--port", type=int, help="port to listen on (default 8080)")
    return parser


def load(args: argparse.Namespace, environ: dict[str, str]) -> tuple[Settings, Config, bool]:
    settings = Settings.from_env(environ, config_path=args.config, host=args.host, port=args.port)
    if settings.config_path is not None:
        config, demo = Config.load(settings.config_path), False
    else:
        config, demo = demo_config(), True
    check_config(config)
    return settings, config, demo


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings, config, demo = load(args, dict(os.environ))
    except ConfigError as exc:
        print(f"switchboard: configuration error:\n{exc}", file=sys.stderr)
        return 2
    # JSON lines in production mode, text in embedded mode, unless SWITCHBOARD_LOG_FORMAT says.
    logs.configure(settings.log_level, settings.effective_log_format)
    mode = "embedded" if settings.embedded else "production"
    print(
        f"switchboard: {mode} mode, node {settings.node_id}, http://{settings.host}:{settings.port}/"
    )
    if demo:
        print("switchboard: no config given; loaded the demo tenant 'demo'. Demo agent logins:")
        for cred in DEMO_CREDENTIALS:
            print(
                f"  tenant={cred['tenant']} username={cred['username']} password={cred['password']}"
            )
    loop = _new_loop()
    asyncio.set_event_loop(loop)
    web.run_app(
        serve_app(settings, config, demo),
        host=settings.host,
        port=settings.port,
        loop=loop,
        print=lambda _: print(f"switchboard: ready on port {settings.port}", flush=True),
        access_log=None,
        # SIGTERM: the app drains (router.runtime.Runtime.drain), then requests still
        # running get this long before the process exits 0.
        shutdown_timeout=settings.shutdown_grace_seconds + 5,
    )
    return 0


def serve_app(settings: Settings, config: Config, demo: bool) -> web.Application:
    """The application ``serve`` runs: start-up objects frozen once it has started."""
    app = create_app(settings, config, demo=demo)
    app.on_startup.append(heap.freeze_startup_objects)
    return app


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


if __name__ == "__main__":
    raise SystemExit(main())
