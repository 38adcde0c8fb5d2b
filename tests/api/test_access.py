"""Every API route × {anonymous, admin, operator, viewer, another tenant's admin,
staff}: the status each gets, and whether acme changed. Then the isolation walk:
every route with an object id, filled with globex's objects, is a 404 for acme's
admin and for staff working in acme, and leaves globex as it was.

Routes come from the API's own OpenAPI document (generated from its router), so
a route added later FAILS here until its row is added to EXPECTED.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from api.main import api as ninja_api
from tests.api.conftest import Tokens, World, as_
from tests.selfservice.conftest import GlobexWorld, tenant_snapshot
from tests.tenants.test_migration import connect_legacy

pytestmark = pytest.mark.django_db

PREFIX = "/api/v1"
PERSONAS = ("anonymous", "admin", "operator", "viewer", "other", "staff")


def api_routes() -> list[tuple[str, str]]:
    """(METHOD, path template) of every operation, from the OpenAPI document."""
    paths = ninja_api.get_openapi_schema()["paths"]
    return sorted((method.upper(), path.removeprefix(PREFIX)) for path, ops in paths.items() for method in ops)


ROUTES = api_routes()
A = 401  # every route refuses a request without a token

EXPECTED: dict[tuple[str, str], tuple[int, int, int, int, int, int]] = {
    #                                                anon admin operator viewer other staff
    ("GET", "/me"):                                    (A, 200, 200, 200, 200, 200),
    ("GET", "/connect"):                               (A, 200, 200, 200, 200, 200),
    ("GET", "/accounts"):                              (A, 200, 200, 200, 200, 200),
    ("POST", "/accounts"):                             (A, 201, 403, 403, 201, 201),
    ("GET", "/accounts/{account_pk}"):                 (A, 200, 200, 200, 404, 200),
    ("PATCH", "/accounts/{account_pk}"):               (A, 200, 403, 403, 404, 200),
    ("POST", "/accounts/{account_pk}/test"):           (A, 200, 403, 403, 404, 200),
    ("POST", "/accounts/{account_pk}/switch"):         (A, 200, 403, 403, 404, 200),
    ("POST", "/accounts/{account_pk}/disconnect"):     (A, 200, 403, 403, 404, 200),
    ("GET", "/resources"):                             (A, 200, 200, 200, 200, 200),
    ("GET", "/resources/{resource_pk}"):               (A, 200, 200, 200, 404, 200),
    ("POST", "/resources/{resource_pk}/park"):         (A, 200, 200, 403, 404, 200),
    ("POST", "/resources/{resource_pk}/start"):        (A, 200, 200, 403, 404, 200),
    ("PUT", "/resources/{resource_pk}/schedule"):      (A, 200, 200, 403, 404, 200),
    ("GET", "/resources/{resource_pk}/snoozes"):       (A, 200, 200, 200, 404, 200),
    ("POST", "/resources/{resource_pk}/snoozes"):      (A, 201, 201, 403, 404, 201),
    ("POST", "/resources/{resource_pk}/snoozes/cancel"): (A, 200, 200, 403, 404, 200),
    ("GET", "/snoozes"):                               (A, 200, 200, 200, 200, 200),
    ("GET", "/schedules"):                             (A, 200, 200, 200, 200, 200),
    ("POST", "/schedules"):                            (A, 201, 201, 403, 201, 201),
    ("GET", "/schedules/export"):                      (A, 200, 200, 200, 200, 200),
    ("POST", "/schedules/import"):                     (A, 200, 200, 403, 200, 200),
    ("GET", "/schedules/{schedule_pk}"):               (A, 200, 200, 200, 404, 200),
    ("PUT", "/schedules/{schedule_pk}"):               (A, 200, 200, 403, 404, 200),
    ("DELETE", "/schedules/{schedule_pk}"):            (A, 204, 204, 403, 404, 204),
    ("GET", "/schedules/{schedule_pk}/week"):          (A, 200, 200, 200, 404, 200),
    ("GET", "/runs"):                                  (A, 200, 200, 200, 200, 200),
    ("GET", "/runs/{run_pk}"):                         (A, 200, 200, 200, 404, 200),
    ("GET", "/actions"):                               (A, 200, 200, 200, 200, 200),
    ("GET", "/audit-events"):                          (A, 200, 200, 200, 200, 200),
    ("GET", "/savings"):                               (A, 200, 200, 200, 200, 200),
}

# Requests that reach AWS when allowed: against the stand-in, never the network.
TOUCHES_AWS = {
    ("POST", "/accounts"), ("POST", "/accounts/{account_pk}/test"), ("POST", "/accounts/{account_pk}/switch"),
    ("POST", "/resources/{resource_pk}/park"), ("POST", "/resources/{resource_pk}/start"),
}
NIGHTS = {"name": "nights", "timezone": "UTC", "periods": [{"begintime": "20:00", "endtime": "23:00", "weekdays": "mon-fri"}]}


def body_for(route: tuple[str, str], world: World) -> Any:
    """What an allowed caller sends to change something."""
    return {
        ("POST", "/accounts"): {"account_id": "444444444444", "name": "new", "regions": ["us-east-1"]},
        ("PATCH", "/accounts/{account_pk}"): {"name": "renamed"},
        ("POST", "/accounts/{account_pk}/switch"): {"role_arn": ""},
        ("PUT", "/resources/{resource_pk}/schedule"): {"schedule_id": world.schedule.pk},
        ("POST", "/resources/{resource_pk}/snoozes"): {"state": "stopped", "hours": 2, "reason": "demo"},
        ("POST", "/schedules"): NIGHTS,
        ("POST", "/schedules/import"): [NIGHTS],
        ("PUT", "/schedules/{schedule_pk}"): NIGHTS | {"name": "office"},
    }.get(route)


def url_of(path: str, ids: dict[str, int]) -> str:
    names = re.findall(r"{(\w+)}", path)
    unknown = set(names) - set(ids)
    assert not unknown, f"teach the World which object fills {unknown}"
    return PREFIX + re.sub(r"{(\w+)}", lambda m: str(ids[m.group(1)]), path)


def send(client: Any, method: str, url: str, body: Any) -> Any:
    return client.request(method, url, body) if method != "GET" else client.get(url)


def test_every_route_has_a_row_and_every_row_a_route():
    assert set(EXPECTED) == set(ROUTES), {"rows without a route": set(EXPECTED) - set(ROUTES),
                                          "routes without a row": set(ROUTES) - set(EXPECTED)}


def test_the_document_lists_every_url_of_the_api():
    """The walk reads the OpenAPI document: it must hold every URL pattern ninja serves."""

    def walk(patterns: list, namespace: str | None) -> list[str]:
        found = []
        for entry in patterns:
            if isinstance(entry, URLResolver):
                found += walk(entry.url_patterns, entry.namespace or namespace)
            elif isinstance(entry, URLPattern) and namespace == "api" and entry.name not in ("api-root", "openapi-json", "openapi-view"):
                found.append(str(entry.pattern))
        return found

    served = walk(get_resolver().url_patterns, None)
    documented = {re.sub(r"{\w+}", "X", path) for _, path in ROUTES}
    assert {re.sub(r"<(?:\w+:)?\w+>", "X", "/" + p.rstrip("/")) for p in served} == documented


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("route", ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
def test_role_matrix(route, persona, world: World, tokens: Tokens, acme, request):
    method, path = route
    expected = EXPECTED[route][PERSONAS.index(persona)]
    if route in TOUCHES_AWS:
        request.getfixturevalue("standin")
    ids = world.ids()
    if route == ("POST", "/accounts/{account_pk}/switch"):
        ids["account_pk"] = connect_legacy(acme, "555555555555")[0].pk
    before = tenant_snapshot(acme)

    response = send(as_(tokens, persona), method, url_of(path, ids), body_for(route, world))

    where = f"{method} {path} as {persona}"
    assert response.status_code == expected, (where, response.status_code, response.content[:400])
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "fields"}, where
    changed = tenant_snapshot(acme) != before
    if method != "GET" and expected < 300 and persona != "other":
        assert changed, f"{where}: allowed, yet acme did not change (is the test's body still valid?)"
    else:
        assert not changed, f"{where}: acme changed"


@pytest.mark.parametrize("persona", ["admin", "staff"])
def test_isolation_walk_another_tenants_ids_are_404(persona, world: World, tokens: Tokens, globex_world: GlobexWorld, globex):
    """Every route with an object id, every method, with globex's objects: 404, and globex unchanged."""
    theirs = {"account_pk": globex_world.account.pk, "resource_pk": globex_world.resource.pk,
              "schedule_pk": globex_world.schedule.pk, "run_pk": globex_world.run.pk}
    client = as_(tokens, persona)
    before = tenant_snapshot(globex)
    walked = 0
    for route in ROUTES:
        method, path = route
        if "{" not in path:
            continue
        response = send(client, method, url_of(path, theirs), body_for(route, world))
        assert response.status_code == 404, (route, response.status_code, response.content[:300])
        assert response.json()["error"]["code"] == "not_found"
        walked += 1
    assert walked == sum("{" in path for _, path in ROUTES) > 10
    assert tenant_snapshot(globex) == before


def test_no_answer_holds_a_secret_or_an_access_key(world: World, tokens: Tokens, acme, standin):
    legacy, key_id, secret = connect_legacy(acme, "555555555555")
    client = as_(tokens, "admin")
    seen = []
    for method, path in ROUTES:
        if method != "GET":
            continue
        for ids in (world.ids(), world.ids() | {"account_pk": legacy.pk}):
            seen.append(send(client, method, url_of(path, ids), None).content.decode())
    text = "\n".join(seen)
    assert key_id not in text and secret not in text and key_id[-4:] + '"' not in text
    assert tokens.admin not in text
    assert json.loads(send(client, "GET", f"{PREFIX}/accounts/{legacy.pk}", None).content)["auth"] == "legacy_user"
