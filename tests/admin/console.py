"""A signed-in admin console user over real HTTP: the login form, the session cookie and the
CSRF token every form carries."""

from __future__ import annotations

import html as html_lib
import re
from dataclasses import dataclass, field
from typing import Any

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')

Client = TestClient[Any, Any]


def csrf_of(page: str) -> str:
    found = CSRF.search(page)
    assert found, "no CSRF token on the page"
    return found.group(1)


def error_of(page: str, name: str) -> str:
    """The error message shown next to the field ``name``."""
    found = re.search(rf'data-testid="error-{re.escape(name)}">([^<]*)<', page)
    assert found, f"no error shown for {name}"
    return html_lib.unescape(found.group(1))


def input_value(page: str, name: str) -> str:
    found = re.search(rf'<input id="f-{re.escape(name)}" name="{re.escape(name)}"[^>]*>', page)
    assert found, f"no input {name}"
    value = re.search(r'value="([^"]*)"', found.group(0))
    return html_lib.unescape(value.group(1)) if value else ""


def hidden_value(page: str, name: str) -> str:
    found = re.search(rf'<input type="hidden" name="{re.escape(name)}" value="([^"]*)">', page)
    assert found, f"no hidden {name}"
    return html_lib.unescape(found.group(1))


@dataclass
class Console:
    client: Client
    csrf: str = ""
    pages: list[str] = field(default_factory=list)

    async def login(self, username: str = "root", tenant: str = "acme") -> Console:
        self.client.session.cookie_jar.clear()
        form = await self.client.get("/admin/login")
        resp = await self.client.post(
            "/admin/login",
            data={"csrf_token": csrf_of(await form.text()), "tenant": tenant,
                  "username": username, "password": PASSWORD},
            allow_redirects=False,
        )  # fmt: skip
        assert resp.status == 303, await resp.text()
        self.csrf = csrf_of(await self.page("/admin"))
        return self

    async def page(self, path: str, status: int = 200) -> str:
        resp = await self.client.get(path)
        text = await resp.text()
        assert resp.status == status, text
        return text

    async def form(self, path: str) -> str:
        """GET a form page and take the CSRF token from it, as a browser would."""
        text = await self.page(path)
        self.csrf = csrf_of(text)
        return text

    async def post(
        self, path: str, data: dict[str, Any] | list[tuple[str, str]], *, csrf: bool = True
    ) -> ClientResponse:
        items = list(data.items()) if isinstance(data, dict) else list(data)
        if csrf:
            items.append(("csrf_token", self.csrf))
        return await self.client.post(path, data=items, allow_redirects=False)

    async def edit(self, path: str, data: dict[str, Any]) -> ClientResponse:
        """Open an edit form and send it back with ``data`` and the form's version."""
        page = await self.form(path)
        return await self.post(path, {**data, "form_version": hidden_value(page, "form_version")})
