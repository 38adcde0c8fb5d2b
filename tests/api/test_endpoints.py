"""What the endpoints answer and do, beyond who may call them (test_access.py)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.utils import timezone

from scheduling.models import Override, Resource, Schedule
from tenants.models import AuditEvent, CloudAccount
from tests.api.conftest import ApiClient
from tests.api.conftest import World
from tests.api.test_access import NIGHTS
from tests.selfservice.conftest import make_resources, office_hours
from tests.tenants.test_migration import connect_legacy

pytestmark = pytest.mark.django_db


def test_resources_list_filters_and_searches_like_the_page(api, world: World):
    tagged, = make_resources(world.account, 1, start=5, state="stopped", tags={"team": "data"})
    Resource.objects.filter(pk=tagged.pk).update(name="db-box")
    everything = api.get("resources").json()
    assert everything["count"] == 2 and everything["pages"] == 1
    assert [r["name"] for r in api.get("resources", q="db-").json()["items"]] == ["db-box"]
    assert [r["name"] for r in api.get("resources", q="team=data").json()["items"]] == ["db-box"]
    assert [r["name"] for r in api.get("resources", state="stopped").json()["items"]] == ["db-box"]
    assert api.get("resources", schedule="none").json()["count"] == 2
    paged = api.get("resources", per_page=1, page=2).json()
    assert (len(paged["items"]), paged["pages"], paged["page"]) == (1, 2, 2)
    refused = api.get("resources", account="999999")
    assert refused.status_code == 422 and "account" in refused.json()["error"]["fields"]


def test_a_resource_says_why_and_what_changes_next(api, world: World):
    body = api.get(f"resources/{world.resource.pk}").json()
    explanation = body["explanation"]
    assert explanation["snooze"]["state"] == "running"
    assert explanation["desired"] == "running" and explanation["next_change"] is not None
    at = dt.datetime.fromisoformat(explanation["next_change"]["at"])
    assert at.utcoffset() == dt.timedelta(0)  # ISO 8601 with its offset
    assert body["actions"][0]["reason"] == "night"


def test_assign_previews_then_saves(api, world: World):
    preview = api.put(f"resources/{world.resource.pk}/schedule", {"schedule_id": world.schedule.pk, "dry_run": True}).json()
    assert preview["saved"] is False and preview["explanation"]["schedule"] == "office"
    assert Resource.objects.get(pk=world.resource.pk).schedule is None
    saved = api.put(f"resources/{world.resource.pk}/schedule", {"schedule_id": world.schedule.pk}).json()
    assert saved["saved"] is True and saved["explanation"]["schedule_source"] == "explicit"
    assert Resource.objects.get(pk=world.resource.pk).schedule == world.schedule


def test_another_tenants_schedule_cannot_be_assigned(api, world: World, globex_world):
    response = api.put(f"resources/{world.resource.pk}/schedule", {"schedule_id": globex_world.schedule.pk})
    assert response.status_code == 422
    assert response.json()["error"]["message"] == "Choose one of your schedules or a global template."


def test_snooze_until_a_time_with_its_offset_then_cancel(api, world: World):
    Override.objects.filter(resource=world.resource).delete()
    until = (timezone.now() + dt.timedelta(hours=5)).astimezone(dt.timezone(dt.timedelta(hours=2))).replace(microsecond=0)
    created = api.post(f"resources/{world.resource.pk}/snoozes", {"state": "stopped", "until": until.isoformat()})
    assert created.status_code == 201, created.content
    assert dt.datetime.fromisoformat(created.json()["until"]) == until
    assert [s["state"] for s in api.get("snoozes").json()["items"]] == ["stopped"]
    naive = api.post(f"resources/{world.resource.pk}/snoozes", {"state": "stopped", "until": "2030-01-01T10:00:00"})
    assert naive.status_code == 422 and "until" in naive.json()["error"]["fields"]
    assert api.post(f"resources/{world.resource.pk}/snoozes/cancel").json() == {"cancelled": 1}
    assert api.get("snoozes").json()["count"] == 0
    assert api.get("snoozes", active="false").json()["count"] == 1


def test_schedules_create_read_update_week_and_delete(api, acme):
    created = api.post("schedules", NIGHTS)
    assert created.status_code == 201
    pk = created.json()["id"]
    assert api.get(f"schedules/{pk}").json()["summary"]
    changed = api.put(f"schedules/{pk}", NIGHTS | {"timezone": "Europe/Berlin"}).json()
    assert changed["timezone"] == "Europe/Berlin"
    week = api.get(f"schedules/{pk}/week", week_of="2025-03-05").json()
    assert week["week_of"] == "2025-03-03" and len(week["days"]) == 7
    assert week["days"][0]["states"][80] == "running" and week["days"][0]["states"][40] == "stopped"
    assert week["days"][5]["states"][80] == "stopped"  # Saturday
    duplicate = api.post("schedules", NIGHTS)
    assert duplicate.status_code == 422 and "name" in duplicate.json()["error"]["fields"]
    assert api.delete(f"schedules/{pk}").status_code == 204
    assert not Schedule.objects.filter(pk=pk).exists()


def test_a_schedule_machines_follow_cannot_be_deleted(api, world: World):
    Resource.objects.filter(pk=world.resource.pk).update(schedule=world.schedule)
    response = api.delete(f"schedules/{world.schedule.pk}")
    assert response.status_code == 409 and response.json()["error"]["code"] == "schedule_in_use"


def test_global_templates_are_read_only(api, acme):
    template = office_hours(None, name="template")
    assert api.get(f"schedules/{template.pk}").json()["is_global"] is True
    assert api.put(f"schedules/{template.pk}", NIGHTS).status_code == 404
    assert api.delete(f"schedules/{template.pk}").status_code == 404


def test_export_then_import_elsewhere_gives_the_same_schedules(api, tokens, world: World):
    exported = api.get("schedules/export").json()
    assert [s["name"] for s in exported] == ["office"]
    other = ApiClient(tokens.other)
    dry = other.request("POST", "/api/v1/schedules/import?dry_run=true", exported).json()
    assert dry == {"dry_run": True, "created": ["office"], "updated": []}
    assert other.post("schedules/import", exported).json()["created"] == ["office"]
    assert other.get("schedules/export").json() == exported
    bad = other.post("schedules/import", [{"name": "x", "periods": [{"begintime": "99:00"}]}])
    assert bad.status_code == 422 and "x" in bad.json()["error"]["fields"]


def test_runs_actions_audit_and_savings(api, world: World):
    runs = api.get("runs").json()
    assert runs["count"] == 1 and runs["items"][0]["status"] == "succeeded"
    assert api.get(f"runs/{world.run.pk}").json()["actions"][0]["action"] == "stop"
    assert api.get("actions", outcome="succeeded").json()["count"] == 1
    assert api.get("runs", since="2030-01-01").json()["count"] == 0
    reversed_range = api.get("runs", since="2030-01-02", until="2030-01-01")
    assert reversed_range.status_code == 422
    events = api.get("audit-events").json()["items"]
    assert any(e["action"] == "account.connected_role" for e in events)
    savings = api.get("savings").json()
    assert savings["currency"] and savings["month"] == timezone.now().strftime("%Y-%m")
    assert api.get("savings", month="13-2020").status_code == 422


def test_connect_by_role_registers_and_tests(api, acme, standin):
    from tenants import demo
    from tests.conftest import OUR_ACCOUNT

    demo.seed_role("444444444444", role_name="ParkwayAccess", trusted_account_id=OUR_ACCOUNT, external_id=acme.external_id)
    response = api.post("accounts", {"account_id": "4444-4444-4444", "name": "new", "regions": ["us-east-1"]})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["test"]["ok"] is True and body["account"]["verified"] is True
    again = api.post("accounts", {"account_id": "444444444444", "regions": ["us-east-1"]})
    assert again.status_code == 200  # already registered here: tested again
    setup = api.get("connect").json()
    assert setup["external_id"] == acme.external_id
    assert setup["trust_policy"]["Statement"][0]["Condition"]["StringEquals"]["sts:ExternalId"] == acme.external_id


def test_switch_a_legacy_account_to_a_role(api, acme, standin):
    legacy, _, _ = connect_legacy(acme, "555555555555")
    response = api.post(f"accounts/{legacy.pk}/switch", {"role_arn": ""})
    assert response.status_code == 200, response.content
    assert response.json()["outcome"] == "migrated" and response.json()["account"]["auth"] == "role"
    event = AuditEvent.objects.get(action="account.migrated_to_role")
    assert event.details["token"] == "admin-bot" and "(token: admin-bot)" in event.actor_label


def test_disconnect_and_rename(api, acme, world: World):
    renamed = api.patch(f"accounts/{world.account.pk}", {"name": "Production"}).json()
    assert renamed["name"] == "Production" and renamed["regions"] == ["us-east-1"]
    bad = api.patch(f"accounts/{world.account.pk}", {"regions": ["mars-north-1"]})
    assert bad.status_code == 422 and "regions" in bad.json()["error"]["fields"]
    assert api.post(f"accounts/{world.account.pk}/disconnect").status_code == 200
    assert CloudAccount.objects.get(pk=world.account.pk).disconnected_at is not None
    assert api.get("accounts").json() == []
    assert api.get(f"resources/{world.resource.pk}").status_code == 404


def test_the_document_declares_bearer_auth_on_every_operation(client):
    document = json.loads(client.get("/api/v1/openapi.json").content)
    assert document["components"]["securitySchemes"]["TokenAuth"]["scheme"] == "bearer"
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert operation.get("security") == [{"TokenAuth": []}], (method, path)
