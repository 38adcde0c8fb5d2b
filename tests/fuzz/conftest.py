"""A small world for the fuzz suite: two tenants with accounts (one on legacy
keys), machines, schedules, snoozes, parking records, audit events, sign-in
records and worker rows, so every admin change page has a real object."""

from __future__ import annotations

import datetime as dt
import io
import secrets
from dataclasses import dataclass, field

import pytest
from axes.models import AccessAttempt, AccessLog
from django.apps import apps
from django.contrib.auth.tokens import default_token_generator
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django_q.models import Task

from api.tokens import staff_token_create, token_create
from notifications.models import StopWarning
from notifications.warnings import keep_running_token
from scheduling.models import Override, ParkingAction, ParkingRun
from tests.conftest import ACME_ACCOUNT, GLOBEX_ACCOUNT
from tests.fuzz.hostile import Route
from tests.selfservice.conftest import invite, make_account, make_resources, office_hours
from tests.tenants.test_migration import connect_legacy

PERSONAS = ("anonymous", "acme_member", "globex_member", "staff")
# Self-service path arguments and the models they name.
SELF_SERVICE_ARGUMENTS = {
    "account_pk": "tenants.CloudAccount", "resource_pk": "scheduling.Resource", "schedule_pk": "scheduling.Schedule",
    "membership_pk": "tenants.Membership", "invitation_pk": "tenants.Invitation",
    "token_pk": "api.ApiToken", "run_pk": "scheduling.ParkingRun",
}


@dataclass
class FuzzWorld:
    users: dict[str, object]
    reset_link: tuple[str, str]
    invitation_tokens: list[str] = field(default_factory=list)
    link_tokens: list[str] = field(default_factory=list)  # pre-stop warnings' keep-running links
    # persona → (API token, X-Parkway-Tenant or None), sent with every /api/ request.
    api_tokens: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    ids: dict[str, list[str]] = field(default_factory=dict)

    def known(self, route: Route, argument: str) -> list[str]:
        """Real values for a path argument (another tenant's too: those must be 404s)."""
        if argument in SELF_SERVICE_ARGUMENTS:
            return self._pks(SELF_SERVICE_ARGUMENTS[argument])
        if argument == "object_id":
            model = admin_model(route)
            return self._pks(model) if model else []
        if argument == "content_type_id":
            return [str(pk) for pk in ContentType.objects.order_by("pk").values_list("pk", flat=True)[:5]]
        if argument == "id":  # admin/auth/user/<id>/password/
            return self._pks("auth.User")
        if argument == "uidb64":
            return [self.reset_link[0]]
        if argument == "token" and route.name == "invitations:accept":
            return self.invitation_tokens
        if argument == "link_token":
            return self.link_tokens
        if argument == "token":
            return [self.reset_link[1], "set-password"]
        return []

    def _pks(self, label: str) -> list[str]:
        if label not in self.ids:
            model = apps.get_model(label)
            self.ids[label] = [str(pk) for pk in model._default_manager.order_by("pk").values_list("pk", flat=True)[:4]]
        return self.ids[label]


def admin_model(route: Route) -> str | None:
    """admin/<app>/<model>/… → "app.model"."""
    text = "".join(part for part, regex in route.parts if regex is None)
    pieces = text.strip("/").split("/")
    if len(pieces) >= 3 and pieces[0] == "admin":
        try:
            return apps.get_model(pieces[1], pieces[2])._meta.label
        except LookupError:
            return None
    return None


@pytest.fixture
def fuzz_world(acme, globex, acme_member, globex_member, staff, standin, settings) -> FuzzWorld:
    acme_account = make_account(acme, ACME_ACCOUNT)
    legacy, _, _ = connect_legacy(acme, "111111111112")
    make_account(globex, GLOBEX_ACCOUNT)
    office = office_hours(acme, name="office")
    office_hours(None, name="template")
    globex_hours = office_hours(globex, name="globex-office")
    acme_machines = make_resources(acme_account, 2, schedule=office)
    make_resources(legacy, 1, start=10, schedule_tag="template")
    (globex_machine,) = make_resources(
        type(legacy).objects.get(account_id=GLOBEX_ACCOUNT), 1, start=20, schedule=globex_hours
    )
    now = timezone.now()
    for machine in (acme_machines[0], globex_machine):
        Override.objects.create(resource=machine, state="running", until=now + dt.timedelta(hours=2), created_by_label="cli")
    run = ParkingRun.objects.create(account=acme_account, tick_at=now, started_at=now, status="succeeded", planned=1, succeeded=1)
    ParkingAction.objects.create(run=run, resource=acme_machines[1], action="stop", reason="night", outcome="succeeded")
    AccessAttempt.objects.create(
        username="alice", ip_address="203.0.113.7", user_agent="fuzz", get_data="", post_data="", http_accept="*/*",
        path_info="/accounts/login/", failures_since_start=2,
    )
    AccessLog.objects.create(username="alice", ip_address="203.0.113.7", user_agent="fuzz", http_accept="*/*", path_info="/accounts/login/")
    call_command("setup_schedules", stdout=io.StringIO())  # django-q2's schedules
    for success in (True, False):
        Task.objects.create(
            id=f"fuzz-{success}", name=f"fuzz-{success}", func="math.floor", args=(1.5,), started=now, stopped=now,
            success=success, result=1 if success else "boom",
        )
    tokens = [invite(tenant, f"invitee@{tenant.slug}.test")[1] for tenant in (acme, globex)]
    links = [
        keep_running_token(StopWarning.objects.create(
            tenant=machine.account.tenant, resource=machine, stop_at=now + dt.timedelta(minutes=10),
            nonce=secrets.token_hex(16), claim="fuzz",
        ))
        for machine in (acme_machines[1], globex_machine)
    ]
    settings.PARKWAY_API_RATE = "1000000/minute"  # the fuzz suite is one very busy client
    api_tokens = {
        "acme_member": (token_create(membership=acme_member.memberships.get(), name="fuzz", actor=acme_member)[1], None),
        "globex_member": (token_create(membership=globex_member.memberships.get(), name="fuzz", actor=globex_member)[1], None),
        "staff": (staff_token_create(user=staff, name="fuzz", actor=staff)[1], "acme"),
    }
    reset = (urlsafe_base64_encode(force_bytes(acme_member.pk)), default_token_generator.make_token(acme_member))
    return FuzzWorld(
        users={"anonymous": None, "acme_member": acme_member, "globex_member": globex_member, "staff": staff},
        reset_link=reset,
        invitation_tokens=tokens,
        link_tokens=links,
        api_tokens=api_tokens,
    )
