"""Text longer than a field holds is refused with "at most N characters" and
sent back as typed, in every form (self-service and admin) and in the services;
it is never cut short, by the browser (an HTML maxlength) or by the code."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from scheduling import actions
from scheduling.models import Override, Schedule
from tenants import services
from tenants.models import CloudAccount, Tenant
from tenants.validation import parse_role_arn
from tests.conftest import ACME_ACCOUNT
from tests.selfservice.conftest import make_resources
from tests.tenants.test_migration import connect_legacy

pytestmark = pytest.mark.django_db


def maxlength_inputs(html: str) -> list[str]:
    """Inputs and textareas that tell the browser to cut what is typed."""
    return re.findall(r"<(?:input|textarea)[^>]*\smaxlength=[^>]*>", html)


def kept(html: str, name: str, value: str) -> bool:
    return re.search(rf'<input[^>]*name="{name}"[^>]*value="{re.escape(value)}"', html) is not None


# --------------------------------------------------------------------------- self-service


def test_the_connect_form_refuses_a_500_character_name_and_keeps_it(acme_client, acme):
    page = acme_client.get(reverse("tenants:connect")).content.decode()
    assert maxlength_inputs(page) == []
    name = "N" * 500
    response = acme_client.post(reverse("tenants:connect"), {"account_id": ACME_ACCOUNT, "name": name, "regions": "us-east-1"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "at most 200 characters (it has 500)" in html and kept(html, "name", name)
    assert not CloudAccount.objects.exists()


def test_the_account_settings_refuse_a_too_long_name_and_keep_the_old_one(acme_client, acme_account):
    url = reverse("tenants:account", kwargs={"account_pk": acme_account.pk})
    assert maxlength_inputs(acme_client.get(url).content.decode()) == []
    name = "N" * 201
    response = acme_client.post(url, {"name": name, "regions": "us-east-1"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "at most 200 characters (it has 201)" in html and kept(html, "name", name)
    acme_account.refresh_from_db()
    assert acme_account.name == "acme prod"


def test_a_300_character_schedule_name_is_refused_and_kept(acme_client, acme):
    page = acme_client.get(reverse("scheduling:schedule_create")).content.decode()
    assert maxlength_inputs(page) == []
    name = "S" * 300
    response = acme_client.post(
        reverse("scheduling:schedule_create"),
        {
            "name": name, "description": "", "timezone": "UTC", "override_status": "running",
            "periods-TOTAL_FORMS": "1", "periods-INITIAL_FORMS": "0", "periods-MIN_NUM_FORMS": "0",
            "periods-MAX_NUM_FORMS": "20", "periods-0-weekdays": "W" * 201,
        },
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "at most 100 characters (it has 300)" in html and kept(html, "name", name)
    assert "at most 200 characters (it has 201)" in html and kept(html, "periods-0-weekdays", "W" * 201)
    assert not Schedule.objects.filter(tenant=acme).exists()


def test_a_400_character_snooze_reason_is_refused_and_kept(acme_client, acme_account):
    (resource,) = make_resources(acme_account, 1)
    url = reverse("scheduling:resource", kwargs={"resource_pk": resource.pk})
    assert maxlength_inputs(acme_client.get(url).content.decode()) == []
    reason = "R" * 400
    response = acme_client.post(
        reverse("scheduling:resource_snooze", kwargs={"resource_pk": resource.pk}),
        {"state": "running", "hours": "2", "reason": reason},
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "at most 300 characters (it has 400)" in html and kept(html, "reason", reason)
    assert not Override.objects.exists()


# --------------------------------------------------------------------------- services


def test_a_snooze_service_refuses_a_too_long_reason_instead_of_cutting_it(acme_account):
    (resource,) = make_resources(acme_account, 1)
    until = timezone.now() + dt.timedelta(hours=2)
    with pytest.raises(ValidationError) as refused:
        actions.override_create(resource=resource, state="running", until=until, actor="cli", reason="R" * 400)
    assert "at most 300 characters" in " ".join(refused.value.message_dict["reason"])
    assert not Override.objects.exists()
    override = actions.override_create(resource=resource, state="running", until=until, actor="cli", reason="R" * 300)
    assert override.reason == "R" * 300


def test_account_and_schedule_services_refuse_too_long_names(acme):
    with pytest.raises(ValidationError) as refused:
        services.account_connect_role(tenant=acme, account_id=ACME_ACCOUNT, name="N" * 500, regions=["us-east-1"], actor="cli")
    assert "at most 200 characters" in " ".join(refused.value.message_dict["name"])
    from scheduling.services import schedule_save_from_spec

    with pytest.raises(ValidationError) as refused:
        schedule_save_from_spec(spec={"name": "S" * 300, "override_status": "running", "periods": []}, tenant=acme, actor="cli")
    assert "at most 100 characters" in " ".join(refused.value.message_dict["name"])
    assert not CloudAccount.objects.exists() and not Schedule.objects.exists()


def test_a_role_arn_longer_than_aws_allows_is_refused_with_its_limit():
    arn = f"arn:aws:iam::{ACME_ACCOUNT}:role/" + "p" * 2990 + "/ParkwayAccess"
    with pytest.raises(ValidationError) as refused:
        parse_role_arn(arn)
    assert refused.value.messages == [f"A role ARN has at most 2048 characters (this one has {len(arn)})."]


# --------------------------------------------------------------------------- admin


def test_admin_forms_refuse_too_long_text_instead_of_letting_the_browser_cut_it(staff_client, acme_account):
    url = reverse("admin:tenants_cloudaccount_change", args=[acme_account.pk])
    assert maxlength_inputs(staff_client.get(url).content.decode()) == []
    for name in ("admin:tenants_tenant_add", "admin:scheduling_schedule_add", "admin:auth_user_add"):
        assert maxlength_inputs(staff_client.get(reverse(name)).content.decode()) == [], name
    name = "N" * 500
    response = staff_client.post(url, {"name": name, "regions": "us-east-1", "status": "connected"})
    assert response.status_code == 200  # the form again, with the error
    html = response.content.decode()
    assert "at most 200 characters (it has 500)" in html and kept(html, "name", name)
    acme_account.refresh_from_db()
    assert acme_account.name == "acme prod"


def test_admin_inline_forms_have_no_browser_length_limit(staff_client, acme):
    html = staff_client.get(reverse("admin:tenants_tenant_change", args=[acme.pk])).content.decode()
    assert maxlength_inputs(html) == []
    assert Tenant.objects.get(pk=acme.pk).name == "Acme"


def test_the_migrate_page_does_not_repeat_a_3000_character_arn(staff_client, acme, standin):
    """Defect 5: the page repeated what was typed in full, 24,414 px wide."""
    account, _, _ = connect_legacy(acme, ACME_ACCOUNT)
    arn = f"arn:aws:iam::{ACME_ACCOUNT}:role/" + "p" * 2955 + "/ParkwayAccess"
    response = staff_client.post(
        reverse("admin:tenants_cloudaccount_changelist"),
        {"action": "migrate_to_role", ACTION_CHECKBOX_NAME: [account.pk], f"role_arn_{account.pk}": arn, "confirm": "recheck"},
    )
    html = response.content.decode()
    assert html.count(escape(arn)) == 1 and kept(html, f"role_arn_{account.pk}", arn)
    assert "A role ARN has at most 2048 characters (this one has 3000)." in html
