"""Forms of the console's management pages, built from the API's own pydantic models.

``fields_of`` turns a model's fields into form fields (text, number, checkbox, select,
secret, default/on/off); ``submitted`` reads a posted form back into the dict the model
validates, keeping stored secrets when their input is left blank; ``field_errors`` maps a
``ValidationError`` to ``{field: message}`` (the error location, without discriminated-union
tags, as in the API's error bodies) so each message is shown next to its input.
``form_page`` and ``confirm_page`` render an object's form and a deletion's confirmation;
``tenant_admin_page`` makes a handler a console page for tenant admins only.
"""

from __future__ import annotations

import enum
import types
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Union, get_args, get_origin

from aiohttp import web
from multidict import MultiDictProxy
from pydantic import BaseModel, SecretStr, ValidationError

from router.admin.session import CSRF_FIELD, AdminHandler, AdminSession, admin_page, forbidden
from router.etag import etag_of
from router.pages import render_page

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Kind = Literal["text", "number", "checkbox", "select", "secret", "tristate", "multi"]
Choices = tuple[tuple[str, str], ...]
TRISTATE: Choices = (("", "Platform default"), ("on", "On"), ("off", "Off"))
VERSION_FIELD = "form_version"  # not "version": a model field may have that name
STALE = (
    "Someone else changed this object since you opened the form; your changes were not saved."
    " The form now shows the object as stored; saving again replaces it with what the form"
    " holds."
)


@dataclass(frozen=True)
class FormField:
    name: str
    label: str
    kind: Kind
    required: bool
    help: str = ""
    choices: Choices = ()
    default: Any = None


def _members(annotation: Any) -> tuple[Any, ...]:
    if get_origin(annotation) in (Union, types.UnionType):
        return get_args(annotation)
    return (annotation,)


def _kind(annotation: Any) -> tuple[Kind, Choices]:
    members = _members(annotation)
    plain = tuple(m for m in members if m is not type(None))
    if SecretStr in plain:
        return "secret", ()
    if plain == (bool,):
        return ("tristate", TRISTATE) if len(members) > 1 else ("checkbox", ())
    if plain and plain[0] in (int, float):
        return "number", ()
    if plain and get_origin(plain[0]) is Literal:
        return "select", tuple((str(v), str(v)) for v in get_args(plain[0]))
    if plain and isinstance(plain[0], type) and issubclass(plain[0], enum.Enum):
        return "select", tuple((str(m.value), str(m.value)) for m in plain[0])
    return "text", ()


def label_of(name: str) -> str:
    return name.replace("_", " ").capitalize()


def fields_of(
    model: type[BaseModel],
    only: Collection[str],
    *,
    labels: Mapping[str, str] | None = None,
    help: Mapping[str, str] | None = None,
    choices: Mapping[str, Choices] | None = None,
) -> list[FormField]:
    """The form fields for ``only`` (in that order) of ``model``."""
    out = []
    for name in only:
        info = model.model_fields[name]
        kind, options = _kind(info.annotation)
        if choices and name in choices:
            options = choices[name]
            kind = "select"
        default = None if info.is_required() else info.get_default(call_default_factory=False)
        out.append(
            FormField(
                name=name,
                label=(labels or {}).get(name) or label_of(name),
                kind=kind,
                required=info.is_required(),
                help=(help or {}).get(name, ""),
                choices=options,
                default=default.value if isinstance(default, enum.Enum) else default,
            )
        )
    return out


def submitted(
    form: MultiDictProxy[Any], fields: Collection[FormField], base: Mapping[str, Any]
) -> dict[str, Any]:
    """``base`` (the stored object with its secrets, or the fixed members of a new one) with
    the posted fields applied. A blank secret keeps the stored one (or stays unset); a blank
    optional field goes back to its default; a blank required one is left out, so the model
    names it."""
    data = dict(base)
    for field in fields:
        if field.kind == "checkbox":
            data[field.name] = field.name in form
            continue
        if field.kind == "multi":
            data[field.name] = [str(v) for v in form.getall(field.name, [])]
            continue
        raw = str(form.get(field.name, "")).strip()
        if field.kind == "secret":
            if raw:
                data[field.name] = raw
            continue
        if field.kind == "tristate":
            data[field.name] = {"on": True, "off": False}.get(raw)
        elif raw:
            data[field.name] = raw
        elif field.required:
            data.pop(field.name, None)
        else:
            data[field.name] = field.default
    return data


def echoed(form: MultiDictProxy[Any], fields: Collection[FormField]) -> dict[str, Any]:
    """What the admin typed, to show the form again (never the secrets)."""
    values: dict[str, Any] = {}
    for field in fields:
        if field.kind == "checkbox":
            values[field.name] = field.name in form
        elif field.kind == "multi":
            values[field.name] = [str(v) for v in form.getall(field.name, [])]
        elif field.kind != "secret":
            values[field.name] = str(form.get(field.name, ""))
    return values


def shown(obj: BaseModel | Mapping[str, Any], fields: Collection[FormField]) -> dict[str, Any]:
    """The form's values for a stored object or a new one's defaults (never the secrets)."""
    data = obj.model_dump(mode="json") if isinstance(obj, BaseModel) else dict(obj)
    values: dict[str, Any] = {}
    for field in fields:
        if field.kind == "secret":
            continue
        value = data.get(field.name, field.default)
        if field.kind == "tristate":
            values[field.name] = "" if value is None else ("on" if value else "off")
        elif field.kind in ("checkbox", "multi"):
            values[field.name] = value
        else:
            values[field.name] = "" if value is None else str(getattr(value, "value", value))
    return values


def field_errors(exc: ValidationError, tags: Collection[str] = ()) -> dict[str, str]:
    """``{field: message}``, the first message of each field; ``""`` for model-wide ones."""
    errors: dict[str, str] = {}
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        tag = next((i for i, part in enumerate(loc) if part in tags), None)
        if tag is not None:
            del loc[tag]
        field = loc[0] if loc else ""
        errors.setdefault(field, str(err["msg"]).removeprefix("Value error, "))
    return errors


def unplaced(errors: Mapping[str, str], fields: Collection[FormField]) -> list[str]:
    """Messages of errors no input shows, for the top of the form."""
    names = {f.name for f in fields}
    return [f"{k}: {v}" if k else v for k, v in errors.items() if k not in names]


def context(session: AdminSession, nav: str, **extra: Any) -> dict[str, Any]:
    """The template context every console page has."""
    return {
        "nav_active": "admin",
        "admin_nav": nav,
        "who": session.principal,
        "is_tenant_admin": session.is_tenant_admin,
        "csrf_field": CSRF_FIELD,
        "csrf": session.csrf,
        **extra,
    }


def admins_only() -> web.Response:
    return forbidden("only tenant admins manage this page")


def tenant_admin_page(handler: AdminHandler) -> Handler:
    """A console page (``admin_page``) that only tenant admins may open (403 for others)."""

    async def checked(request: web.Request, session: AdminSession) -> web.StreamResponse:
        if not session.is_tenant_admin:
            return admins_only()
        return await handler(request, session)

    return admin_page(checked)


def form_page(
    request: web.Request,
    session: AdminSession,
    nav: str,
    *,
    template: str = "admin/form.html",
    status: int = 200,
    **page: Any,
) -> web.Response:
    """An object's form (``page`` has heading, action, fields, values, submit, back, ...).
    Left out: no hidden inputs, secrets, generated tokens or token buttons, no errors; the
    errors no input shows go on top."""
    fields: Collection[FormField] = page["fields"]
    errors: dict[str, str] = page.setdefault("errors", {})
    page.setdefault("top_errors", unplaced(errors, fields))
    for key in ("hidden", "secrets_set", "generated"):
        page.setdefault(key, {})
    page.setdefault("token_buttons", ())
    page.setdefault("editing", False)
    response = render_page(request, template, context(session, nav, **page))
    response.set_status(status)
    return response


def confirm_page(
    request: web.Request,
    session: AdminSession,
    nav: str,
    *,
    error: str = "",
    status: int = 200,
    **page: Any,
) -> web.Response:
    """The confirmation of a deletion (``page`` has heading, question, action, submit, back),
    shown again with ``error`` when the deletion was refused."""
    page.setdefault("top_errors", [error] if error else [])
    response = render_page(request, "admin/confirm.html", context(session, nav, **page))
    response.set_status(status)
    return response


@dataclass(frozen=True)
class Pages:
    """The pages of one kind of object: list, add, edit and delete (with confirmation)."""

    index: Handler
    new_form: Handler
    create: Handler
    edit_form: Handler
    update: Handler
    delete_form: Handler
    delete: Handler


def version_of(view: dict[str, Any]) -> str:
    """The edit form's hidden version: the ETag of the object's API view (no secrets)."""
    return etag_of(view).strip('"')


def is_stale(form: MultiDictProxy[Any], view: dict[str, Any]) -> bool:
    """Whether the object changed since the form was rendered."""
    return str(form.get(VERSION_FIELD, "")) != version_of(view)
