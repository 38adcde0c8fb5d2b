"""Accounts in self-service: the overview, connecting by role (through the AWS
stand-in, which checks trust policies and External IDs as AWS does), editing,
testing, and the guided switch from legacy keys."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine
import yaml
from django.contrib.auth import get_user_model
from django.test.utils import override_settings
from django.urls import reverse
from django.utils import timezone

from tenants import demo
from tenants.models import AuditEvent, CloudAccount, CloudCredential, Membership
from tests.conftest import ACME_ACCOUNT, GLOBEX_ACCOUNT, OUR_ACCOUNT
from tests.selfservice.conftest import make_account
from tests.tenants.test_migration import connect_legacy

pytestmark = pytest.mark.django_db

CONNECT = "tenants:connect"


def account_url(account: CloudAccount, name: str = "tenants:account") -> str:
    return reverse(name, kwargs={"account_pk": account.pk})


def page_messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


# --------------------------------------------------------------------------- overview


def test_overview_lists_accounts_and_flags_each_legacy_one_with_the_deadline(acme_client, acme, acme_member, standin):
    role = make_account(acme, "333333333333", name="Acme staging")
    legacy, key_id, _ = connect_legacy(acme, ACME_ACCOUNT, name="Acme prod")
    before_deadline = dt.datetime(2027, 1, 15, tzinfo=dt.timezone.utc)
    with override_settings(PARKWAY_LEGACY_DEADLINE=dt.date(2027, 3, 31)), time_machine.travel(before_deadline):
        acme_client.force_login(acme_member)  # a session opened at that time
        html = acme_client.get(reverse("tenants:overview")).content.decode()
    assert "Acme staging" in html and "Acme prod" in html
    notices = re.findall(r'data-testid="legacy-notice" data-account-id="(\d+)"', html)
    assert notices == [legacy.account_id]
    assert "31 March 2027" in html
    assert f'href="{account_url(legacy)}#switch"' in html and "Switch to an IAM role" in html
    assert role.account_id in html and "Legacy keys" in html and "IAM role" in html
    assert key_id not in html


# --------------------------------------------------------------------------- connect page


def test_connect_page_shows_our_account_the_external_id_and_the_policies(acme_client, acme):
    html = acme_client.get(reverse(CONNECT)).content.decode()
    assert re.search(rf'id="external-id"[^>]*>{acme.external_id}<', html)
    assert re.search(rf'id="our-account-id"[^>]*>{OUR_ACCOUNT}<', html)
    for target in ("external-id", "our-account-id", "trust-policy", "permission-policy"):
        assert f'data-copy-target="{target}"' in html
    assert "sts:ExternalId" in html and "ec2:StopInstances" in html
    assert reverse("tenants:template") in html
    # Roles only: nowhere to type an access key.
    assert "secret" not in html.lower()
    assert 'name="access_key_id"' not in html and 'name="secret_access_key"' not in html


@override_settings(PARKWAY_TEMPLATE_URL="https://parkway-public.s3.amazonaws.com/parkway-role.yaml")
def test_connect_page_links_the_console_quick_create_when_configured(acme_client, acme):
    html = acme_client.get(reverse(CONNECT)).content.decode()
    assert "quickcreate" in html and f"param_ExternalId={acme.external_id}" in html


def test_without_a_published_template_the_page_explains_the_upload(acme_client):
    html = acme_client.get(reverse(CONNECT)).content.decode()
    assert "quickcreate" not in html and "Upload a template file" in html


def test_the_template_downloads_as_yaml_with_the_tenants_external_id(acme_client, acme):
    response = acme_client.get(reverse("tenants:template"))
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="parkway-role.yaml"'
    template = yaml.safe_load(response.content)
    assert template["Parameters"]["ExternalId"]["Default"] == acme.external_id
    assert template["Parameters"]["ParkwayAccountId"]["Default"] == OUR_ACCOUNT


def test_the_terraform_module_downloads_with_only_the_signed_in_tenants_external_id(client, acme, globex, globex_member):
    # A viewer may read it: it is what the page already shows, in another form.
    viewer = get_user_model().objects.create_user("vera", "vera@acme.test", "pw")
    Membership.objects.create(user=viewer, tenant=acme, role=Membership.Role.VIEWER)
    client.force_login(viewer)
    response = client.get(reverse("tenants:terraform"))
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="main.tf"'
    text = response.content.decode()
    assert f'"sts:ExternalId" = "{acme.external_id}"' in text and globex.external_id not in text
    client.force_login(globex_member)
    text = client.get(reverse("tenants:terraform")).content.decode()
    assert globex.external_id in text and acme.external_id not in text


def test_connect_page_offers_the_terraform_module_with_its_three_commands(acme_client):
    html = acme_client.get(reverse(CONNECT)).content.decode()
    assert f'href="{reverse("tenants:terraform")}"' in html
    steps = re.search(r'data-testid="terraform-steps">(.*?)</pre>', html, re.S).group(1)
    assert [line.split("#")[0].strip() for line in steps.strip().splitlines()] == [
        "terraform init", "terraform apply", "terraform output",
    ]


# --------------------------------------------------------------------------- connect and test


def test_connect_by_role_registers_tests_and_reports_success(acme_client, acme, acme_member, standin):
    demo.seed_role(ACME_ACCOUNT, role_name="ParkwayAccess", trusted_account_id=OUR_ACCOUNT, external_id=acme.external_id)
    response = acme_client.post(
        reverse(CONNECT), {"account_id": "1111-1111-1111", "role_arn": "", "regions": "us-east-1, eu-west-1", "name": "Prod"},
        follow=True,
    )
    account = CloudAccount.objects.get(tenant=acme, account_id=ACME_ACCOUNT)
    assert response.redirect_chain[-1][0] == account_url(account)
    assert account.status == CloudAccount.Status.CONNECTED and account.regions == ["us-east-1", "eu-west-1"]
    assert account.active_credential().role_arn == f"arn:aws:iam::{ACME_ACCOUNT}:role/ParkwayAccess"
    assert any("Connected" in m for m in page_messages(response))
    actions = set(AuditEvent.objects.filter(account=account).values_list("action", flat=True))
    assert {"account.connected_role", "account.claimed", "credential.verified"} <= actions
    assert AuditEvent.objects.filter(account=account, actor=acme_member).count() == 3
    assert account.claimed_at is not None


def test_connect_with_a_role_trusting_another_external_id_explains_the_failure(acme_client, acme, standin):
    demo.seed_role(ACME_ACCOUNT, role_name="ParkwayAccess", trusted_account_id=OUR_ACCOUNT, external_id="someone-elses-id")
    response = acme_client.post(reverse(CONNECT), {"account_id": ACME_ACCOUNT, "regions": "us-east-1"}, follow=True)
    account = CloudAccount.objects.get(tenant=acme, account_id=ACME_ACCOUNT)
    assert account.status == CloudAccount.Status.ERROR
    (message,) = [m for m in page_messages(response) if "could not work" in m]
    assert "External ID" in message and "Test again" in message
    html = response.content.decode()
    assert 'data-testid="test-again"' in html and 'data-testid="last-error"' in html
    # The setup help is open on the page, to fix the trust policy.
    assert acme.external_id in html


@pytest.mark.parametrize(
    ("data", "field", "text"),
    [
        ({"account_id": "12345"}, "account_id", "exactly 12 digits"),
        ({"account_id": "abcdefabcdef"}, "account_id", "exactly 12 digits"),
        ({"role_arn": f"arn:aws:iam::{GLOBEX_ACCOUNT}:role/ParkwayAccess"}, "role_arn", f"belongs to AWS account {GLOBEX_ACCOUNT}"),
        ({"role_arn": f"arn:aws-cn:iam::{ACME_ACCOUNT}:role/ParkwayAccess"}, "role_arn", "partition"),
        ({"role_arn": "not an arn"}, "role_arn", "Enter an IAM role ARN"),
        ({"regions": "us-east-1, mars-north-1"}, "regions", "Unknown region(s)"),
        ({"regions": ""}, "regions", "This field is required"),
    ],
)
def test_connect_rejects_bad_input_with_a_message_and_registers_nothing(acme_client, data, field, text):
    payload = {"account_id": ACME_ACCOUNT, "role_arn": "", "regions": "us-east-1", "name": ""} | data
    response = acme_client.post(reverse(CONNECT), payload)
    assert response.status_code == 400
    assert text in " ".join(response.context["form"].errors[field])
    assert f'data-testid="error-{field}"' in response.content.decode()
    assert not CloudAccount.objects.exists()


def connect_error(client, account_id: str) -> str:
    """The error a Connect attempt reports, with its own account ID and date made generic."""
    response = client.post(reverse(CONNECT), {"account_id": account_id, "regions": "us-east-1"}, follow=True)
    (error,) = [m for m in page_messages(response) if "could not work" in m]
    assert "already connected" not in response.content.decode()
    return re.sub(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", "<when>", error.replace(account_id, "<account>"))


def test_a_failed_connect_to_someone_elses_account_blocks_nobody_and_reveals_nothing(
    client, acme, acme_member, globex, globex_member, standin
):
    """Account squatting (issue 9): globex types acme's account ID before acme connects it."""
    demo.seed_role(ACME_ACCOUNT, role_name="ParkwayAccess", trusted_account_id=OUR_ACCOUNT, external_id=acme.external_id)
    client.force_login(globex_member)
    squatted = connect_error(client, ACME_ACCOUNT)
    # Exactly what an account nobody set up for Parkway answers: nothing tells them acme's exists.
    assert squatted == connect_error(client, "333333333333")
    squat = CloudAccount.objects.get(tenant=globex, account_id=ACME_ACCOUNT)
    assert squat.claimed_at is None and squat.unverified_expires_at is not None

    client.force_login(acme_member)
    response = client.post(reverse(CONNECT), {"account_id": ACME_ACCOUNT, "regions": "us-east-1"}, follow=True)
    assert any(m.startswith("Connected") for m in page_messages(response))
    owned = CloudAccount.objects.get(tenant=acme, account_id=ACME_ACCOUNT)
    assert owned.status == CloudAccount.Status.CONNECTED and owned.claimed_at is not None

    # And once acme holds it, globex still learns nothing new.
    client.force_login(globex_member)
    assert connect_error(client, ACME_ACCOUNT) == squatted
    squat.refresh_from_db()
    assert squat.claimed_at is None
    assert "Acme" not in client.get(account_url(squat)).content.decode()


def test_connection_tests_are_throttled_per_person(acme_client, acme, standin, settings):
    settings.PARKWAY_VERIFY_PER_MINUTE = 5
    demo.seed_role(ACME_ACCOUNT, role_name="ParkwayAccess", trusted_account_id=OUR_ACCOUNT, external_id=acme.external_id)
    account = make_account(acme, ACME_ACCOUNT)
    # From the start of a minute, so that the six requests share one window.
    start = dt.datetime.now(dt.timezone.utc).replace(second=0, microsecond=0)
    with time_machine.travel(start, tick=True):
        for _ in range(5):
            response = acme_client.post(account_url(account, "tenants:account_test"), follow=True)
            assert any("Connected" in m for m in page_messages(response))
        before = AuditEvent.objects.filter(action="credential.verified").count()
        standin.reset_calls()
        response = acme_client.post(account_url(account, "tenants:account_test"), follow=True)
        (message,) = page_messages(response)
        assert "5 times in the last minute" in message and "Wait" in message
        assert standin.calls().get("sts:AssumeRole", 0) == 0
        assert AuditEvent.objects.filter(action="credential.verified").count() == before
        # Connecting counts as a test too: refused before anything is registered.
        response = acme_client.post(reverse(CONNECT), {"account_id": "333333333333", "regions": "us-east-1"})
        assert response.status_code == 429
        assert not CloudAccount.objects.filter(account_id="333333333333").exists()
    with time_machine.travel(start + dt.timedelta(seconds=61), tick=True):
        response = acme_client.post(account_url(account, "tenants:account_test"), follow=True)
        assert any("Connected" in m for m in page_messages(response))


# --------------------------------------------------------------------------- account page


def test_account_settings_save_through_the_audited_service(acme_client, acme_account, acme_member):
    response = acme_client.post(account_url(acme_account), {"name": "Production", "regions": "eu-west-1, us-east-1"})
    assert response.status_code == 302
    acme_account.refresh_from_db()
    assert (acme_account.name, acme_account.regions) == ("Production", ["eu-west-1", "us-east-1"])
    event = AuditEvent.objects.get(account=acme_account, action="account.updated")
    assert event.actor == acme_member and event.details["regions"]["after"] == ["eu-west-1", "us-east-1"]


def test_regions_typed_in_upper_case_are_normalised_not_refused(acme_client, acme_account):
    response = acme_client.post(account_url(acme_account), {"name": "Prod", "regions": "EU-West-1, US-EAST-1, eu-west-1"})
    assert response.status_code == 302
    acme_account.refresh_from_db()
    assert acme_account.regions == ["eu-west-1", "us-east-1"]


def test_account_settings_reject_an_unknown_region(acme_client, acme_account):
    response = acme_client.post(account_url(acme_account), {"name": "x", "regions": "us-east-1, atlantis-1"})
    assert response.status_code == 400 and "Unknown region(s)" in response.content.decode()
    acme_account.refresh_from_db()
    assert acme_account.regions == ["us-east-1"] and acme_account.name != "x"
    assert not AuditEvent.objects.filter(action="account.updated").exists()


def test_get_on_an_action_url_goes_back_to_the_page(acme_client, acme_account):
    assert acme_client.get(account_url(acme_account, "tenants:account_test"))["Location"] == account_url(acme_account)
    assert acme_client.get(account_url(acme_account, "tenants:account_switch"))["Location"] == account_url(acme_account) + "#switch"
    assert not AuditEvent.objects.filter(action__startswith="credential.").exists()


# --------------------------------------------------------------------------- legacy switch


def test_a_legacy_account_page_never_shows_the_secret_or_the_whole_key_id(acme_client, acme, standin):
    account, key_id, secret = connect_legacy(acme, ACME_ACCOUNT)
    html = acme_client.get(account_url(account)).content.decode()
    assert secret not in html and key_id not in html
    assert f"{key_id[:4]}…{key_id[-4:]}" in html
    assert 'id="switch-to-role"' in html and 'data-testid="switch-form"' in html
    assert acme.external_id in html  # step 1 of the switch: create the role


def test_switch_to_role_succeeds_and_tells_them_to_delete_the_key(acme_client, acme, acme_member, standin):
    account, key_id, _ = connect_legacy(acme, ACME_ACCOUNT)
    response = acme_client.post(account_url(account, "tenants:account_switch"), {"role_arn": ""}, follow=True)
    texts = page_messages(response)
    assert any(t.startswith("Switched:") and "ParkwayAccess" in t for t in texts)
    (reminder,) = [t for t in texts if t.startswith("One step is left")]
    assert f"{key_id[:4]}…{key_id[-4:]}" in reminder and "Delete" in reminder
    credential = account.active_credential()
    assert credential.kind == CloudCredential.Kind.ROLE
    retired = CloudCredential.objects.get(account=account, kind=CloudCredential.Kind.LEGACY_USER)
    assert retired.retired_at is not None and retired.secret_access_key == ""
    assert AuditEvent.objects.get(account=account, action="account.migrated_to_role").actor == acme_member
    html = response.content.decode()
    assert 'data-testid="switch-form"' not in html and 'data-testid="delete-key-reminder"' in html


def switch_errors(html: str) -> str:
    form = html[html.index('data-testid="switch-form"'):]
    return form[: form.index("</form>")]


def status_badge(html: str) -> tuple[str, str]:
    tone, label = re.search(r'<span class="badge badge-(\w+)" data-testid="status">([^<]*)</span>', html).groups()
    return tone, label


def test_switch_failure_changes_nothing_and_says_so(acme_client, acme, standin):
    account, key_id, secret = connect_legacy(acme, ACME_ACCOUNT, role="wrong_external_id")
    response = acme_client.post(account_url(account, "tenants:account_switch"), {"role_arn": ""})
    assert response.status_code == 400
    errors = switch_errors(response.content.decode())
    assert "The switch did not happen:" in errors
    assert "External ID" in errors and "Nothing was changed" in errors
    credential = account.active_credential()
    assert credential.kind == CloudCredential.Kind.LEGACY_USER and credential.secret_access_key == secret


def test_a_failed_switch_keeps_the_typed_arn_says_why_once_and_its_badge_agrees(acme_client, acme, standin):
    """Defect 7: the ARN was cleared, the reason shown twice (a message and the
    status card), and a green "Connected" stood beside a red "Problem"."""
    account, _, _ = connect_legacy(acme, ACME_ACCOUNT, role="wrong_external_id")
    typed = f"arn:aws:iam::{ACME_ACCOUNT}:role/ParkwayAccess"
    response = acme_client.post(account_url(account, "tenants:account_switch"), {"role_arn": typed})

    assert response.status_code == 400 and page_messages(response) == []
    html = response.content.decode()
    assert f'value="{typed}"' in switch_errors(html)
    reason = "Nothing was changed: the account still works with its legacy keys"
    assert html.count(reason) == 1 and reason in switch_errors(html)
    assert status_badge(html) == ("attention", "Needs attention")
    assert 'href="#switch"' in html[html.index('data-testid="last-error"'):]

    # Later visits: the problem once, in the status card, under the same badge.
    html = acme_client.get(account_url(account)).content.decode()
    assert html.count(reason) == 1 and 'data-testid="last-error"' in html
    assert status_badge(html) == ("attention", "Needs attention")
    overview = acme_client.get(reverse("tenants:overview")).content.decode()
    assert status_badge(overview) == ("attention", "Needs attention")


def test_the_status_badge_is_green_only_without_a_problem(acme_client, acme, standin):
    account, _, _ = connect_legacy(acme, ACME_ACCOUNT)
    html = acme_client.get(account_url(account)).content.decode()
    assert status_badge(html) == ("ok", "Connected") and 'data-testid="last-error"' not in html
    CloudAccount.objects.filter(pk=account.pk).update(status=CloudAccount.Status.ERROR, last_error="AccessDenied: no")
    html = acme_client.get(account_url(account)).content.decode()
    assert status_badge(html) == ("bad", "Error") and "AccessDenied: no" in html


def test_switch_rejects_a_role_of_another_account_before_calling_aws(acme_client, acme, standin):
    account, _, _ = connect_legacy(acme, ACME_ACCOUNT)
    standin.reset_calls()
    response = acme_client.post(
        account_url(account, "tenants:account_switch"), {"role_arn": f"arn:aws:iam::{GLOBEX_ACCOUNT}:role/ParkwayAccess"}
    )
    assert response.status_code == 400
    assert f"belongs to AWS account {GLOBEX_ACCOUNT}" in response.content.decode()
    assert standin.calls().get("sts:AssumeRole", 0) == 0
    assert account.active_credential().kind == CloudCredential.Kind.LEGACY_USER


def test_connecting_an_account_already_registered_here_tests_it_again(acme_client, acme, standin):
    account = make_account(acme, ACME_ACCOUNT)  # registered, but the role did not exist yet
    demo.seed_role(ACME_ACCOUNT, role_name="ParkwayAccess", trusted_account_id=OUR_ACCOUNT, external_id=acme.external_id)
    response = acme_client.post(reverse(CONNECT), {"account_id": ACME_ACCOUNT, "regions": "us-east-1"}, follow=True)
    assert response.redirect_chain[-1][0] == account_url(account)
    assert any("already registered here" in m for m in page_messages(response))
    assert any(m.startswith("Connected") for m in page_messages(response))
    account.refresh_from_db()
    assert account.status == CloudAccount.Status.CONNECTED and CloudAccount.objects.count() == 1


def test_the_account_page_says_when_parking_last_ran_and_how_it_went(acme_client, acme_account):
    from scheduling.models import ParkingLease

    url = reverse("tenants:account", kwargs={"account_pk": acme_account.pk})
    assert "not yet" in acme_client.get(url).content.decode()
    ParkingLease.objects.create(account=acme_account, until=timezone.now(), last_tick_at=timezone.now(),
                                last_status="failed", last_error="Parkway could not assume the role")
    page = acme_client.get(url).content.decode()
    assert 'data-testid="last-tick"' in page and "failed" in page and "could not assume the role" in page


def test_a_passing_connection_test_lists_the_machines_at_once_and_previews_the_next_tick(acme_client, acme, standin):
    from scheduling.models import Period, Resource, Schedule

    office = Schedule.objects.create(tenant=acme, name="office", timezone="UTC")
    Period.objects.create(schedule=office, begintime=dt.time(9), endtime=dt.time(17), weekdays="mon-fri")
    demo.seed_role(ACME_ACCOUNT, role_name="ParkwayAccess", trusted_account_id=OUR_ACCOUNT, external_id=acme.external_id)
    demo.seed_instances(ACME_ACCOUNT, "us-east-1", 3, tags={"Schedule": "office"})
    with time_machine.travel(dt.datetime(2026, 11, 24, 20, 0, tzinfo=dt.timezone.utc), tick=False):
        response = acme_client.post(
            reverse(CONNECT), {"account_id": ACME_ACCOUNT, "role_arn": "", "regions": "us-east-1", "name": "Prod"}, follow=True,
        )
    assert Resource.objects.filter(account__tenant=acme).count() == 3  # no waiting for the next tick
    assert "The next tick will stop 3 machines (schedule office: first seen outside its period)." in page_messages(response)
