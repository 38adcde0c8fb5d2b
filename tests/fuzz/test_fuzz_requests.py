"""Every URL of the project, as every persona, with hostile path arguments,
query strings and form values: never a server error, never an exception,
never a redirect off the site.

The URL patterns come from the resolver (self-service, sign-in, and every
admin changelist / add / change / delete / history / autocomplete page), the
forms from the pages themselves (every <form method="post">, admin actions
included). Each request runs in a savepoint that is rolled back, so every
example meets the same world.
"""

from __future__ import annotations

import itertools
import re
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from django.apps import apps
from django.contrib import admin
from django.db import transaction
from django.test import Client
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.conftest import PERSONAS, FuzzWorld, admin_model
from tests.fuzz.hostile import (
    CORE_VALUES,
    HOSTILE,
    HOSTILE_VALUES,
    POST_KEYS,
    QUERY_KEYS,
    Form,
    Route,
    fuzz_settings,
    page_forms,
    path_argument,
    project_routes,
)

pytestmark = pytest.mark.django_db

REDIRECTS = (301, 302, 303, 307, 308)
# The admin's pages share Django's code for every model: fewer values there.
ADMIN_VALUES = ("²", "99999999999999999999999", "a\x00b")
# Forms with at most this many fields also get each value in one field at a
# time, the others as a person would fill them (so that one refused field does
# not hide what another does with a hostile value); so do admin list filters.
SMALL_FORM = 6


def filter_keys(model_admin: Any) -> list[str]:
    """The query parameters of a ModelAdmin's filters and date hierarchy."""
    keys: set[str] = set()
    for entry in model_admin.list_filter:
        if isinstance(entry, (tuple, list)):
            entry = entry[0]
        if isinstance(entry, str):
            keys |= {f"{entry}__exact", f"{entry}__id__exact", f"{entry}__isnull", f"{entry}__in", f"{entry}__gte"}
        elif hasattr(entry, "parameter_name"):
            keys.add(entry.parameter_name)
    if model_admin.date_hierarchy:
        keys |= {f"{model_admin.date_hierarchy}__{part}" for part in ("year", "month", "day")}
    return sorted(keys)


def query_keys_of(route: Route) -> list[list[str]]:
    """Families of query parameters to fuzz together on a page: the general ones
    (search, ordering, paging, next…), and for an admin list its own filters,
    apart, because one refused filter makes the list skip everything else."""
    families = [list(QUERY_KEYS)]
    label = admin_model(route)
    if label and route.name.endswith("_changelist"):
        model_admin = admin.site._registry.get(apps.get_model(label))
        if model_admin is not None and (keys := filter_keys(model_admin)):
            families.append(keys)
    return families


ALL_QUERY_KEYS = sorted(set(QUERY_KEYS).union(*(filter_keys(a) for a in admin.site._registry.values())))


class Requests:
    """Sends one request as a persona, in a savepoint, and checks the answer."""

    def __init__(self, world: FuzzWorld, persona: str) -> None:
        self.persona = persona
        self.count = 0
        # One sign-in, outside the savepoints: a request that signs out or
        # changes the password is rolled back, and the next one uses the session again.
        signed_in = Client()
        if world.users[persona] is not None:
            signed_in.force_login(world.users[persona])
        self.cookies = signed_in.cookies
        token, tenant = world.api_tokens.get(persona, (None, None))
        self.api_headers = {"Authorization": f"Bearer {token}"} if token else {}
        if tenant:
            self.api_headers["X-Parkway-Tenant"] = tenant

    def send(self, method: str, url: str, data: dict[str, Any] | None = None) -> Any:
        self.count += 1
        with transaction.atomic():
            client = Client(raise_request_exception=True)  # an exception in a view fails the test
            client.cookies = SimpleCookie(self.cookies)
            where = f"{self.persona} {method.upper()} {url[:200]!r} {str(data)[:300]}"
            try:
                headers = self.api_headers if url.startswith("/api/") else {}
                response = client.get(url, headers=headers) if method == "get" else client.post(url, data or {}, headers=headers)
            except Exception as exc:
                raise AssertionError(f"{where} raised {exc!r}") from exc
            finally:
                transaction.set_rollback(True)
        assert response.status_code < 500, where
        if response.status_code in REDIRECTS:
            location = response["Location"]
            assert is_local(location), f"{where} → {location[:200]}"
        return response


def is_local(location: str) -> bool:
    """A redirect that stays on this site (relative, or to our own host)."""
    if location.startswith(("//", "/\\", "\\")) or re.search(r"[\x00-\x1f]", location):
        return False
    parts = urlsplit(location)
    return (not parts.scheme and not parts.netloc) or parts.netloc == "testserver"


def rotated(keys: list[str], values: tuple[str, ...], turn: int) -> dict[str, str]:
    """Each key one of `values`; over len(values) turns, each key gets each value."""
    return {key: values[(position + turn) % len(values)] for position, key in enumerate(keys)}


def values_for(url: str) -> tuple[str, ...]:
    return ADMIN_VALUES if url.startswith("/admin/") else CORE_VALUES


def query_string(params: dict[str, Any]) -> str:
    return "?" + urlencode(params, doseq=True) if params else ""


@pytest.mark.parametrize("persona", PERSONAS)
def test_every_url_and_form_survives_hostile_input(persona, fuzz_world):
    requests = Requests(fuzz_world, persona)
    routes = project_routes()
    forms: dict[tuple[str, tuple[str, ...]], Form] = {}
    reached: list[str] = []
    hostile = itertools.cycle(HOSTILE_VALUES)

    # The walk: every pattern with hostile arguments, then with real ones; every
    # page this persona reaches with hostile values in every query parameter,
    # and every form on it with hostile values in every field.
    for index, route in enumerate(routes):
        known = {argument: fuzz_world.known(route, argument) for argument in route.arguments}
        bad_url = route.path({argument: next(hostile) for argument in route.arguments})
        requests.send("get", bad_url + query_string({key: next(hostile) for key in ALL_QUERY_KEYS[index % 7 :: 7]}))
        requests.send("post", bad_url, {key: next(hostile) for key in POST_KEYS})
        if not all(known.values()):
            continue
        url = route.path({argument: values[0] for argument, values in known.items()})
        response = requests.send("get", url)
        if response.status_code != 200:
            continue  # a redirect (sign in, not yours): the requests above covered it
        reached.append(route.name)
        values = values_for(url)
        general, *admin_filters = query_keys_of(route)
        # Lists and forms read the query string; an object's own pages get one hostile query.
        for turn in range(1 if "object_id" in route.arguments else len(values)):
            requests.send("get", url + query_string(rotated(general, values, turn)))
        for key, value in itertools.product(*admin_filters[:1] or [[]], values[:2]):  # one filter at a time
            requests.send("get", url + query_string({key: value}))
        if "html" in response.get("Content-Type", ""):
            for form in page_forms(response.content.decode(), url):
                # One of each kind: the sign-out form is on every page, a snooze form on every row.
                kind = (re.sub(r"/[0-9]+/", "/N/", form.action), tuple(sorted(f.name for f in form.fields)))
                forms.setdefault(kind, form)

    for form in forms.values():
        names = [f.name for f in form.fields]
        values = values_for(form.action)
        for turn in range(len(values)):
            requests.send("post", form.action, rotated(names, values, turn))
        if len(form.fields) <= SMALL_FORM:
            filled = {f.name: f.offered for f in form.fields}
            for f, value in itertools.product(form.fields, values[:4]):
                requests.send("post", form.action, {**filled, f.name: value})

    if persona == "staff":
        assert {"admin:scheduling_schedule_add", "admin:tenants_cloudaccount_changelist", "admin:tenants_tenant_change"} <= set(reached)
    if persona == "acme_member":
        assert {"tenants:connect", "scheduling:resource", "scheduling:schedule_create", "tenants:account"} <= set(reached)
    form_list = [forms[key] for key in sorted(forms)]

    # Then random combinations of all of it.
    @fuzz_settings(examples=40)
    @given(st.data())
    def random_requests(data: st.DataObject) -> None:
        if form_list and data.draw(st.booleans(), label="post a form"):
            form = data.draw(st.sampled_from(form_list), label="form")
            chosen = data.draw(st.lists(st.sampled_from(form.fields), unique_by=lambda f: f.name, max_size=4), label="fields")
            body: dict[str, Any] = {f.name: f.offered for f in form.fields}
            for f in chosen:
                offered = st.sampled_from(f.values) if f.values else HOSTILE
                body[f.name] = data.draw(st.one_of(HOSTILE, offered, st.lists(st.one_of(HOSTILE, offered), max_size=3)))
            extra = data.draw(st.dictionaries(st.sampled_from(POST_KEYS), HOSTILE, max_size=3), label="extra")
            requests.send("post", form.action, {**body, **extra})
            return
        route = data.draw(st.sampled_from(routes), label="route")
        values = {a: data.draw(path_argument(route, a, fuzz_world.known(route, a)), label=a) for a in route.arguments}
        query = data.draw(
            st.dictionaries(st.one_of(st.sampled_from(ALL_QUERY_KEYS), HOSTILE), st.one_of(HOSTILE, st.lists(HOSTILE, max_size=3)), max_size=4),
            label="query",
        )
        method = data.draw(st.sampled_from(["get", "post"]), label="method")
        requests.send(method, route.path(values) + query_string(query), query if method == "post" else None)

    random_requests()
