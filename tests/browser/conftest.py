"""Browser tests: the real app on a real port (embedded mode: in-memory broker, in-process
Redis double), driven by Debian's headless Chromium through Playwright.

Chromium is never downloaded: the tests launch ``/usr/bin/chromium`` (``apt-get install
chromium``; ``.ci/run`` installs it). Without it they fail in CI (``CI`` set) and are skipped
elsewhere, saying why. With ``SWITCHBOARD_SCREENSHOTS=1`` they save a screenshot of each page
to ``docs/screenshots/``.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from queues.memory import InMemoryBroker
from router.app import create_app
from router.config import Config
from router.settings import Settings
from router.store import RedisStore
from router.store.memory import MemoryRedis

CHROMIUM = Path(os.environ.get("SWITCHBOARD_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
PASSWORD = "correct horse battery"
INITIAL = "Hi{% if customer.name %} {{ customer.name }}{% endif %}, thanks for writing."

try:
    from playwright.async_api import Browser, Page, async_playwright
except ImportError:  # pragma: no cover - the test extra installs it
    async_playwright = None


def _missing() -> str | None:
    if async_playwright is None:
        return "the playwright package is not installed (pip install -e '.[test]')"
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing: apt-get install chromium"
    return None


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    problem = _missing()
    if problem is not None:
        if os.environ.get("CI"):
            pytest.fail(f"browser tests cannot run in CI: {problem}")
        pytest.skip(problem)
    assert async_playwright is not None
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield launched
        finally:
            await launched.close()


def config_data() -> dict[str, Any]:
    def person(aid: str, role: str, name: str) -> dict[str, Any]:
        return {"id": aid, "username": aid, "password": PASSWORD, "role": role, "name": name,
                "queues": ["support"], "capacity": 2}  # fmt: skip

    return {
        "tenants": [
            {
                "id": "acme",
                "name": "Acme",
                "queues": [{"id": "support", "name": "Support", "offer_timeout_seconds": 60}],
                "agents": [
                    person("ann", "agent", "Ann Agent"),
                    person("root", "tenant_admin", "Rita Admin"),
                ],
                "media_streams": [
                    {"id": "web", "name": "Acme", "queue": "support", "initial_reply": INITIAL},
                ],
            }
        ]
    }


@pytest.fixture
async def base_url() -> AsyncIterator[str]:
    """The app on 127.0.0.1 (a free port), as ``switchboard serve`` runs it."""
    settings = Settings(tick_seconds=0.05, partitions=2)
    store = RedisStore(MemoryRedis())
    app = create_app(settings, Config.parse(config_data()), store=store, broker=InMemoryBroker())
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


async def screenshot(page: Page, name: str) -> None:
    """Keep a screenshot of the page under docs/screenshots when asked to."""
    if os.environ.get("SWITCHBOARD_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=False)
