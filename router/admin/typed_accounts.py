"""Console pages of a kind of typed account (integration accounts, bot accounts): list, add
(the type is chosen first), edit, delete and Test Connection.

Tenant admins only. Forms validate with the API's model of the kind and save through the
same store; secrets are shown only as set / not set and kept when their input is left blank.
An ``AccountPages`` holds what the kinds do not share (models, store, texts, the list's
template and columns); ``accounts`` and ``bots`` each make one.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, Generic, Protocol, TypeVar

from aiohttp import web
from pydantic import BaseModel, TypeAdapter, ValidationError

from channels.accounts import random_token
from channels.base import ConnectionCheck
from router.admin import forms
from router.admin.session import AdminSession
from router.errors import ConflictError
from router.keys import RUNTIME
from router.pages import render_page
from router.runtime import Runtime
from router.store.named import Named, NamedObjects, StaleObject
from router.store.optimistic import Requirement

FIXED = ("id", "tenant", "type")
GENERATED = (
    "A random token is filled in below: copy it into the provider's console, then save."
    " Secrets typed before are not sent back; type them again."
)


class TypedAccount(Named, Protocol):
    @property
    def type(self) -> str: ...
    def public_view(self) -> dict[str, Any]: ...


A = TypeVar("A", bound=TypedAccount)


def _no_choices(rt: Runtime, tenant: str) -> Mapping[str, forms.Choices]:
    return {}


def _no_requirement(rt: Runtime, account: Any) -> Requirement | None:
    return None


def _no_problems(rt: Runtime, account: Any) -> dict[str, str]:
    return {}


@dataclass(frozen=True)
class AccountPages(Generic[A]):
    """The pages of one kind of typed account."""

    base: str  # the list's path
    nav: str
    noun: str  # "bot account"
    models: Mapping[str, type[BaseModel]]  # by type
    types: Mapping[str, str]  # the types' names
    adapter: TypeAdapter[A]
    dump: Callable[[A], str]  # with the secrets, as the store keeps it
    store: Callable[[Runtime], NamedObjects[A]]
    list_template: str
    columns: Callable[[Runtime, A], Awaitable[dict[str, Any]]]  # the list's own columns
    check: Callable[[Runtime, A], Awaitable[ConnectionCheck]]  # Test Connection
    lead: str  # after the type's name on the form
    deleted: str  # what deleting changes, after the confirmation's question
    labels: Mapping[str, str]
    help: Mapping[str, str]
    tail: tuple[str, ...] = ()  # rarely changed fields, shown last
    choices: Callable[[Runtime, str], Mapping[str, forms.Choices]] = _no_choices
    problems: Callable[[Runtime, A], dict[str, str]] = _no_problems  # beyond the model's
    token_buttons: tuple[str, ...] = ()  # secrets with a "Generate random token" button
    # What else a save must find in the store, checked with the write (its media stream).
    requires: Callable[[Runtime, A], Requirement | None] = _no_requirement

    def fields_for(self, rt: Runtime, tenant: str, kind: str) -> list[forms.FormField]:
        model = self.models[kind]
        names = [n for n in model.model_fields if n not in FIXED and n not in self.tail]
        names += [n for n in self.tail if n in model.model_fields]
        choices = self.choices(rt, tenant)
        return forms.fields_of(model, names, labels=self.labels, help=self.help, choices=choices)

    # -- the list ----------------------------------------------------------------------------

    async def list_page(
        self,
        request: web.Request,
        session: AdminSession,
        mark: tuple[str, str, Any] = ("", "", None),
    ) -> web.Response:
        """The list; the row of account ``mark[0]`` shows ``mark[2]`` as its ``mark[1]``
        (e.g. the answer of Test Connection as ``check``)."""
        rt = request.app[RUNTIME]
        rows = []
        for account in await self.store(rt).list(session.principal.tenant):
            row = {
                "account": account,
                "type_label": self.types.get(account.type, account.type),
                "secrets": account.public_view()["secrets"],
                "check": None,
                **await self.columns(rt, account),
            }
            if account.id == mark[0]:
                row[mark[1]] = mark[2]
            rows.append(row)
        return render_page(
            request,
            self.list_template,
            forms.context(session, self.nav, rows=rows, help=self.help),
        )

    async def index(self, request: web.Request, session: AdminSession) -> web.StreamResponse:
        return await self.list_page(request, session)

    async def account(self, request: web.Request, session: AdminSession) -> A:
        """The account of the path (404 when the tenant has none with its id)."""
        found = await self.store(request.app[RUNTIME]).get_in(
            session.principal.tenant, request.match_info["account_id"]
        )
        if found is None:
            raise web.HTTPNotFound(text=f"no such {self.noun}")
        return found

    async def test_connection(
        self, request: web.Request, session: AdminSession
    ) -> web.StreamResponse:
        account = await self.account(request, session)
        check = await self.check(request.app[RUNTIME], account)
        return await self.list_page(request, session, (account.id, "check", check))

    # -- add / edit --------------------------------------------------------------------------

    def _form(
        self,
        request: web.Request,
        session: AdminSession,
        kind: str,
        *,
        account: A | None,
        values: dict[str, Any],
        errors: dict[str, str] | None = None,
        generated: dict[str, str] | None = None,
        status: int = 200,
    ) -> web.Response:
        label = self.types[kind]
        view = account.public_view() if account else None
        return forms.form_page(
            request,
            session,
            self.nav,
            status=status,
            heading=f"Edit {account.name}" if account else f"Add a {label} {self.noun}",
            lead=f"{label} {self.lead}",
            action=f"{self.base}/{account.id}" if account else f"{self.base}/new",
            hidden={forms.VERSION_FIELD: forms.version_of(view)} if view else {"type": kind},
            fields=self.fields_for(request.app[RUNTIME], session.principal.tenant, kind),
            values=values,
            errors=errors or {},
            secrets_set=view["secrets"] if view else {},
            editing=account is not None,
            generated=generated or {},
            token_buttons=self.token_buttons,
            notice=GENERATED if generated else "",
            submit="Apply" if account else "Add",
            back=self.base,
        )

    async def new_form(self, request: web.Request, session: AdminSession) -> web.StreamResponse:
        kind = request.query.get("type", "")
        if kind not in self.models:
            article = "an" if self.noun[0] in "aeiou" else "a"
            return render_page(
                request,
                "admin/choose_type.html",
                forms.context(
                    session,
                    self.nav,
                    heading=f"Add {article} {self.noun}",
                    lead=self.help["type"],
                    base=f"{self.base}/new",
                    types=self.types,
                    back=self.base,
                ),
            )
        fields = self.fields_for(request.app[RUNTIME], session.principal.tenant, kind)
        defaults = {f.name: f.default for f in fields if f.default is not None}
        values = forms.shown(defaults, fields)
        return self._form(request, session, kind, account=None, values=values)

    async def create(self, request: web.Request, session: AdminSession) -> web.StreamResponse:
        kind = str((await request.post()).get("type", ""))
        if kind not in self.models:
            raise web.HTTPBadRequest(text="type: choose one of " + ", ".join(self.models))
        return await self._save(request, session, kind, None)

    async def edit_form(self, request: web.Request, session: AdminSession) -> web.StreamResponse:
        account = await self.account(request, session)
        fields = self.fields_for(request.app[RUNTIME], session.principal.tenant, account.type)
        values = forms.shown(account.public_view(), fields)
        return self._form(request, session, account.type, account=account, values=values)

    async def update(self, request: web.Request, session: AdminSession) -> web.StreamResponse:
        account = await self.account(request, session)
        return await self._save(request, session, account.type, account)

    async def _save(
        self, request: web.Request, session: AdminSession, kind: str, current: A | None
    ) -> web.StreamResponse:
        rt = request.app[RUNTIME]
        form = await request.post()
        fields = self.fields_for(rt, session.principal.tenant, kind)
        if current is not None and forms.is_stale(form, current.public_view()):
            return await self._stale(request, session, kind, current)
        values = forms.echoed(form, fields)
        again = partial(self._form, request, session, kind, account=current, values=values)
        action = str(form.get("action", ""))
        if self.token_buttons and action.startswith("generate:"):  # the button, without JS
            return again(generated={action.removeprefix("generate:"): random_token()})
        base: dict[str, Any] = (
            json.loads(self.dump(current))
            if current
            else {"type": kind, "tenant": session.principal.tenant, "id": uuid.uuid4().hex[:16]}
        )
        try:
            account = self.adapter.validate_python(forms.submitted(form, fields, base))
        except ValidationError as exc:
            return again(errors=forms.field_errors(exc, tuple(self.models)), status=400)
        problems = self.problems(rt, account)
        if problems:
            return again(errors=problems, status=400)
        try:
            await self.store(rt).put(
                account,
                create=current is None,
                expected=current,
                requires=self.requires(rt, account),
            )
        except StaleObject:
            return await self._stale(request, session, kind, current)
        except ConflictError as exc:
            # The form has no id field: a taken id is the form's own error.
            field = "" if exc.field == "id" else exc.field or ""
            return again(errors={field: exc.message}, status=409)
        raise web.HTTPSeeOther(self.base)

    async def _stale(
        self, request: web.Request, session: AdminSession, kind: str, read: A | None
    ) -> web.Response:
        """409: the account changed since its form was read; the form shows it as stored now."""
        assert read is not None
        rt = request.app[RUNTIME]
        stored = await self.store(rt).get_in(session.principal.tenant, read.id)
        if stored is None:
            raise web.HTTPNotFound(text="the account was deleted meanwhile")
        values = forms.shown(
            stored.public_view(), self.fields_for(rt, session.principal.tenant, kind)
        )
        errors = {"": forms.STALE}
        return self._form(
            request, session, kind, account=stored, values=values, errors=errors, status=409
        )

    # -- delete ------------------------------------------------------------------------------

    async def delete_form(self, request: web.Request, session: AdminSession) -> web.StreamResponse:
        account = await self.account(request, session)
        return forms.confirm_page(
            request,
            session,
            self.nav,
            heading=f"Delete {self.noun}",
            question=f"Delete the {self.types[account.type]} {self.noun} {account.name!r}?"
            f" {self.deleted}",
            action=f"{self.base}/{account.id}/delete",
            submit="Delete",
            back=self.base,
        )

    async def delete(self, request: web.Request, session: AdminSession) -> web.StreamResponse:
        account = await self.account(request, session)
        await self.store(request.app[RUNTIME]).delete(account.tenant, account.id)
        raise web.HTTPSeeOther(self.base)

    def pages(self) -> forms.Pages:
        page = forms.tenant_admin_page
        return forms.Pages(
            page(self.index),
            page(self.new_form),
            page(self.create),
            page(self.edit_form),
            page(self.update),
            page(self.delete_form),
            page(self.delete),
        )
