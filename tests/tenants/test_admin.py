import pytest
from axes.models import AccessAttempt
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.messages import get_messages
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext, override_settings
from django.urls import reverse
from django.utils import timezone

from portal.admin_helpers import INLINE_FORMS_LIMIT
from tenants import demo, services
from tenants.models import AuditEvent, CloudAccount, Tenant
from tests.conftest import ACME_ACCOUNT, OUR_ACCOUNT

CHANGELIST = "admin:tenants_cloudaccount_changelist"

pytestmark = pytest.mark.django_db
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


@override_settings(PARKWAY_ALLOW_LEGACY_USERS=True)
def make_fleet(start: int, count: int) -> None:
    """Tenants with one account each, every other one on legacy keys."""
    for i in range(start, start + count):
        tenant = Tenant.objects.create(name=f"Tenant {i}", slug=f"tenant-{i}")
        account_id = f"{100000000000 + i}"
        if i % 2:
            services.account_connect_legacy(
                tenant=tenant, account_id=account_id, access_key_id=f"AKIA{i:016d}", secret_access_key=SECRET,
                regions=["us-east-1"], actor="cli",
            )
        else:
            services.account_connect_role(tenant=tenant, account_id=account_id, regions=["us-east-1"], actor="cli")


@pytest.mark.parametrize(
    "url_name",
    [
        "admin:tenants_tenant_changelist",
        "admin:tenants_cloudaccount_changelist",
        "admin:tenants_cloudcredential_changelist",
        "admin:tenants_auditevent_changelist",
    ],
)
def test_changelists_make_the_same_number_of_queries_for_200_rows_as_for_10(staff_client, url_name):
    make_fleet(0, 10)
    with CaptureQueriesContext(connection) as small:
        assert staff_client.get(reverse(url_name)).status_code == 200
    make_fleet(10, 190)
    with CaptureQueriesContext(connection) as big:
        response = staff_client.get(reverse(url_name))
    assert response.status_code == 200
    assert len(big) == len(small), "\n".join(q["sql"] for q in big.captured_queries)
    assert len(big) <= 12


def test_account_changelist_shows_the_legacy_badge_and_filters_by_auth_method(staff_client):
    make_fleet(0, 4)
    url = reverse("admin:tenants_cloudaccount_changelist")
    page = staff_client.get(url).content.decode()
    assert page.count('class="pw-badge pw-badge-legacy"') == 2
    assert page.count('class="pw-badge pw-badge-role"') == 2
    legacy_only = staff_client.get(url, {"auth": "legacy"}).content.decode()
    assert "100000000001" in legacy_only and "100000000000" not in legacy_only
    roles_only = staff_client.get(url, {"auth": "role"}).content.decode()
    assert "100000000000" in roles_only and "100000000001" not in roles_only
    assert SECRET not in page


def test_search_accounts_by_account_id_and_tenant(staff_client):
    make_fleet(0, 4)
    url = reverse("admin:tenants_cloudaccount_changelist")
    assert "100000000003" in staff_client.get(url, {"q": "100000000003"}).content.decode()
    body = staff_client.get(url, {"q": "Tenant 2"}).content.decode()
    assert "100000000002" in body and "100000000003" not in body


def test_credential_pages_never_show_the_secret(staff_client):
    make_fleet(0, 2)
    legacy = CloudAccount.objects.get(account_id="100000000001").active_credential()
    for url in (
        reverse("admin:tenants_cloudcredential_changelist"),
        reverse("admin:tenants_cloudcredential_change", args=[legacy.pk]),
        reverse("admin:tenants_cloudaccount_change", args=[legacy.account_id]),
    ):
        body = staff_client.get(url).content.decode()
        assert SECRET not in body and legacy.access_key_id not in body
        assert "AKIA…0001" in body


def test_test_connection_action_reports_each_account(staff_client, standin, acme, globex):
    demo.seed_role(ACME_ACCOUNT, role_name="ParkwayAccess", trusted_account_id=OUR_ACCOUNT, external_id=acme.external_id)
    good = services.account_connect_role(tenant=acme, account_id=ACME_ACCOUNT, regions=["us-east-1"], actor="cli")
    demo.seed_role("333333333333", role_name="ParkwayAccess", trusted_account_id=OUR_ACCOUNT, external_id="wrong")
    bad = services.account_connect_role(tenant=globex, account_id="333333333333", regions=["us-east-1"], actor="cli")
    response = staff_client.post(
        reverse("admin:tenants_cloudaccount_changelist"),
        {"action": "test_connection", ACTION_CHECKBOX_NAME: [good.pk, bad.pk]},
        follow=True,
    )
    texts = [str(m) for m in get_messages(response.wsgi_request)] or [
        m.message for m in response.context["messages"]
    ]
    assert any(ACME_ACCOUNT in t and "Connected" in t for t in texts), texts
    assert any("333333333333" in t and "External ID" in t for t in texts), texts
    good.refresh_from_db(), bad.refresh_from_db()
    assert (good.status, bad.status) == ("connected", "error")
    assert AuditEvent.objects.filter(actor_label="staff", action__startswith="credential.verif").count() == 2


def test_rotate_external_id_asks_for_confirmation_then_warns(staff_client, acme):
    old = acme.external_id
    url = reverse("admin:tenants_tenant_changelist")
    confirm = staff_client.post(url, {"action": "rotate_external_id", ACTION_CHECKBOX_NAME: [acme.pk]})
    assert confirm.status_code == 200 and b"trust policy" in confirm.content
    acme.refresh_from_db()
    assert acme.external_id == old
    done = staff_client.post(
        url, {"action": "rotate_external_id", ACTION_CHECKBOX_NAME: [acme.pk], "confirm": "yes"}, follow=True
    )
    acme.refresh_from_db()
    assert acme.external_id != old
    assert b"must now be updated" in done.content
    assert AuditEvent.objects.filter(action="tenant.external_id_rotated", actor_label="staff").count() == 1


def test_external_id_is_read_only_in_the_tenant_form(staff_client, acme):
    old = acme.external_id
    url = reverse("admin:tenants_tenant_change", args=[acme.pk])
    assert old.encode() in staff_client.get(url).content
    staff_client.post(url, {
        "name": "Acme", "slug": "acme", "contact_emails": "", "external_id": "pkw-chosen-by-customer",
        "accounts-TOTAL_FORMS": 0, "accounts-INITIAL_FORMS": 0,
        "memberships-TOTAL_FORMS": 0, "memberships-INITIAL_FORMS": 0,
    })
    acme.refresh_from_db()
    assert acme.external_id == old


@pytest.mark.parametrize(
    "data, message",
    [
        ({"account_id": "12"}, "exactly 12 digits"),
        ({"regions": "us-east-1, atlantis-1"}, "atlantis-1"),
        ({"role_arn": "arn:aws:iam::999999999999:role/ParkwayAccess"}, "not to this account"),
        ({"role_arn": "arn:aws-cn:iam::111111111111:role/ParkwayAccess"}, "across partitions"),
    ],
)
def test_add_account_form_shows_errors_and_never_500s(staff_client, acme, data, message):
    form = {"tenant": acme.pk, "account_id": ACME_ACCOUNT, "name": "Prod", "regions": "us-east-1", "role_arn": ""} | data
    response = staff_client.post(reverse("admin:tenants_cloudaccount_add"), form)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not CloudAccount.objects.exists()


def test_add_account_in_admin_creates_it_with_a_role(staff_client, acme):
    form = {"tenant": acme.pk, "account_id": ACME_ACCOUNT, "name": "Prod", "regions": "us-east-1, EU-WEST-1", "role_arn": ""}
    response = staff_client.post(reverse("admin:tenants_cloudaccount_add"), form)
    assert response.status_code == 302
    account = CloudAccount.objects.get()
    assert account.regions == ["us-east-1", "eu-west-1"]
    assert account.active_credential().role_arn == account.conventional_role_arn
    assert AuditEvent.objects.filter(action="account.connected_role", actor_label="staff").exists()


def test_staff_cannot_add_an_account_another_tenant_has_claimed(staff_client, acme, globex):
    owner = services.account_connect_role(tenant=globex, account_id=ACME_ACCOUNT, regions=["us-east-1"], actor="cli")
    CloudAccount.objects.filter(pk=owner.pk).update(claimed_at=timezone.now())
    form = {"tenant": acme.pk, "account_id": ACME_ACCOUNT, "name": "", "regions": "us-east-1", "role_arn": ""}
    response = staff_client.post(reverse("admin:tenants_cloudaccount_add"), form)
    assert response.status_code == 200
    # Staff see every tenant: the form says whose it is.
    assert "already connected to Parkway by the tenant Globex" in response.content.decode()
    assert CloudAccount.objects.count() == 1


def test_staff_add_only_registers_the_account_until_a_test_claims_it(staff_client, acme, globex, standin):
    """Staff follow the customers' rule (issue 9): an unverified registration of
    another tenant does not block, and nobody's word claims an account."""
    services.account_connect_role(tenant=globex, account_id=ACME_ACCOUNT, regions=["us-east-1"], actor="cli")
    form = {"tenant": acme.pk, "account_id": ACME_ACCOUNT, "name": "Prod", "regions": "us-east-1", "role_arn": ""}
    response = staff_client.post(reverse("admin:tenants_cloudaccount_add"), form, follow=True)
    assert response.status_code == 200
    account = CloudAccount.objects.get(tenant=acme)
    assert account.claimed_at is None
    assert any("not yet connected" in str(m) and "Test connection" in str(m) for m in get_messages(response.wsgi_request))
    demo.seed_role(ACME_ACCOUNT, role_name="ParkwayAccess", trusted_account_id=OUR_ACCOUNT, external_id=acme.external_id)
    staff_client.post(reverse(CHANGELIST), {"action": "test_connection", ACTION_CHECKBOX_NAME: [account.pk]})
    account.refresh_from_db()
    assert account.claimed_at is not None and account.status == CloudAccount.Status.CONNECTED
    assert CloudAccount.objects.get(tenant=globex).claimed_at is None


def test_edit_account_regions_is_audited(staff_client, acme):
    account = services.account_connect_role(tenant=acme, account_id=ACME_ACCOUNT, regions=["us-east-1"], actor="cli")
    url = reverse("admin:tenants_cloudaccount_change", args=[account.pk])
    response = staff_client.post(url, {
        "name": "Prod", "regions": "us-east-1, eu-west-1", "status": "pending",
        "credentials-TOTAL_FORMS": 0, "credentials-INITIAL_FORMS": 0,
    })
    assert response.status_code == 302, response.content.decode()[:3000]
    account.refresh_from_db()
    assert account.regions == ["us-east-1", "eu-west-1"] and account.name == "Prod"
    event = AuditEvent.objects.get(action="account.updated")
    assert event.details["regions"] == {"before": ["us-east-1"], "after": ["us-east-1", "eu-west-1"]}


def test_staff_unlock_a_locked_out_sign_in_from_the_admin_audited(client, staff, acme_member, settings):
    settings.AXES_FAILURE_LIMIT = 3
    for attempt in range(3):
        client.post(reverse("login"), {"username": "alice", "password": f"guess-{attempt}"}, REMOTE_ADDR="203.0.113.7")
    assert client.post(reverse("login"), {"username": "alice", "password": "pw"}, REMOTE_ADDR="203.0.113.7").status_code == 429

    operator = Client()
    operator.force_login(staff)
    changelist = reverse("admin:axes_accessattempt_changelist")
    page = operator.get(changelist + "?locked_out=yes").content.decode()
    assert "alice" in page and "Locked Out" in page
    attempt = AccessAttempt.objects.get(username="alice")
    response = operator.post(changelist, {"action": "unlock", ACTION_CHECKBOX_NAME: [attempt.pk]}, follow=True)
    assert "Unlocked: 1 record(s)" in response.content.decode()

    assert client.post(reverse("login"), {"username": "alice", "password": "pw"}, REMOTE_ADDR="203.0.113.7").status_code == 302
    event = AuditEvent.objects.get(action="auth.unlocked")
    assert event.actor == staff and event.details["attempts"][0]["username"] == "alice"


def test_deleting_an_access_attempt_is_an_audited_unlock(staff_client, acme_member):
    attempt = AccessAttempt.objects.create(
        username="alice", ip_address="203.0.113.7", user_agent="x", get_data="", post_data="", http_accept="",
        path_info="/accounts/login/", failures_since_start=12,
    )
    response = staff_client.post(reverse("admin:axes_accessattempt_delete", args=[attempt.pk]), {"post": "yes"})
    assert response.status_code == 302 and not AccessAttempt.objects.exists()
    assert AuditEvent.objects.get(action="auth.unlocked").details["count"] == 1


@pytest.mark.parametrize("selected", ["²", "abc", "99999999999999999999999", "-1"])
def test_an_action_on_a_malformed_selection_is_refused_with_a_message(staff_client, selected):
    # Django filtered pk__in=<the ticked ids> as they came: "²" was a ValueError, a 500.
    make_fleet(0, 2)
    response = staff_client.post(
        reverse("admin:tenants_cloudaccount_changelist"),
        {"action": "test_connection", ACTION_CHECKBOX_NAME: [selected], "index": "0"},
        follow=True,
    )
    assert response.status_code == 200
    assert "not one of these rows; nothing was done" in response.content.decode()


@pytest.mark.parametrize(
    "query",
    [
        "created_at__year=99999999999999999999999",  # datetime() raised OverflowError
        "created_at__year=2026&created_at__month=99999999999",
        "tenant__id__exact=99999999999999999999999",
        "account__id__in=1,99999999999999999999999",
    ],
)
def test_audit_log_filters_with_numbers_no_column_holds_show_the_error_page(staff_client, query):
    url = reverse("admin:tenants_auditevent_changelist")
    response = staff_client.get(f"{url}?{query}")
    assert response.status_code == 302 and response["Location"] == f"{url}?e=1"


def test_the_user_admin_refuses_a_group_id_no_column_holds(staff_client):
    # Django's own user list and group form, with the site's strict ids.
    changelist = reverse("admin:auth_user_changelist")
    assert staff_client.get(changelist, {"groups__id__exact": "99999999999999999999999"})["Location"] == f"{changelist}?e=1"
    response = staff_client.post(reverse("admin:auth_group_add"), {"name": "ops", "permissions": ["99999999999999999999999"]})
    assert response.status_code == 200 and "is not a valid value" in response.content.decode()


def test_tenant_form_with_an_absurd_number_of_inline_forms_builds_at_most_the_limit(staff_client):
    response = staff_client.post(
        reverse("admin:tenants_tenant_add"),
        {
            "name": "", "slug": "", "contact_emails": "",
            "memberships-TOTAL_FORMS": "99999999999999999999", "memberships-INITIAL_FORMS": "0",
            "accounts-TOTAL_FORMS": "0", "accounts-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200
    (formset,) = [f for f in response.context["inline_admin_formsets"] if f.formset.prefix == "memberships"]
    assert len(formset.formset.forms) <= INLINE_FORMS_LIMIT


# --- The team inline keeps the team rules ----------------------------------------


def _tenant_form(tenant, rows, *, initial):
    data = {
        "name": tenant.name, "slug": tenant.slug, "contact_emails": tenant.contact_emails, "timezone": "UTC",
        "price_factor": "1", "accounts-TOTAL_FORMS": 0, "accounts-INITIAL_FORMS": 0,
        "memberships-TOTAL_FORMS": len(rows), "memberships-INITIAL_FORMS": initial,
    }
    for i, row in enumerate(rows):
        for key, value in row.items():
            data[f"memberships-{i}-{key}"] = value
        data[f"memberships-{i}-tenant"] = tenant.pk
    return data


def test_staff_cannot_remove_or_demote_the_last_admin_in_the_tenant_form(staff_client, acme, acme_member):
    from tenants.models import Membership

    membership = Membership.objects.get(user=acme_member)
    url = reverse("admin:tenants_tenant_change", args=[acme.pk])
    for change in ({"DELETE": "on"}, {"role": "viewer"}):
        row = {"id": membership.pk, "user": acme_member.pk, "role": "admin"} | change
        response = staff_client.post(url, _tenant_form(acme, [row], initial=1))
        assert response.status_code == 200, change
        assert "without an admin" in response.content.decode()
        assert Membership.objects.get(pk=membership.pk).role == "admin"
    assert not AuditEvent.objects.filter(action__startswith="member.").exists()


def test_staff_hand_the_admin_role_over_in_one_save_through_the_audited_services(staff_client, acme, acme_member):
    from django.contrib.auth import get_user_model

    from tenants.models import Membership

    bob = get_user_model().objects.create_user("bob", "bob@acme.test", "pw")
    membership = Membership.objects.get(user=acme_member)
    url = reverse("admin:tenants_tenant_change", args=[acme.pk])
    rows = [
        {"id": membership.pk, "user": acme_member.pk, "role": "viewer"},  # demoted…
        {"id": "", "user": bob.pk, "role": "admin"},  # …as bob joins as admin
    ]
    response = staff_client.post(url, _tenant_form(acme, rows, initial=1))
    assert response.status_code == 302, response.content.decode()[:3000]
    assert dict(Membership.objects.filter(tenant=acme).values_list("user__username", "role")) == {"alice": "viewer", "bob": "admin"}
    done = list(AuditEvent.objects.filter(tenant=acme, action__startswith="member.").order_by("pk").values_list("action", "actor_label"))
    assert done == [("member.added", "staff"), ("member.role_changed", "staff")]


def test_a_team_update_that_fails_part_way_changes_nothing(acme, acme_member, staff):
    from django.contrib.auth import get_user_model
    from django.core.exceptions import ValidationError

    from tenants import members
    from tenants.models import Membership

    bob = get_user_model().objects.create_user("bob", "bob@acme.test", "pw")
    membership = Membership.objects.get(user=acme_member)
    with pytest.raises(ValidationError):
        # bob joins as admin (fine), then staff would be added: refused, so bob is not added either.
        members.team_update(tenant=acme, add=[(bob, "admin"), (staff, "viewer")], roles=[(membership, "viewer")],
                            remove=[], actor=staff)
    assert dict(Membership.objects.filter(tenant=acme).values_list("user__username", "role")) == {"alice": "admin"}
    assert not AuditEvent.objects.filter(action__startswith="member.").exists()
