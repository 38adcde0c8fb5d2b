"""A tenant admin runs a team, in a real browser: invite by email, the invitee
opens the emailed link, creates a password and is signed in as a viewer, who
sees no button that changes anything and whose hand-made POST is refused."""

import re

import pytest
from django.core import mail

from scheduling.models import Override
from tenants import services
from tenants.models import AuditEvent, CloudAccount, Membership
from tests.e2e.conftest import PASSWORD, log_in
from tests.selfservice.conftest import make_resources

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def acme(customer):
    tenant = customer
    account = services.account_connect_role(
        tenant=tenant, account_id="111111111111", regions=["us-east-1"], name="Acme prod", actor="cli"
    )
    make_resources(account, 1)
    return tenant


def test_admin_invites_a_viewer_who_joins_by_the_emailed_link_and_cannot_change_anything(page, acme):
    # The admin invites.
    log_in(page)
    page.click("[data-testid=nav-members]")
    page.fill("#id_email", "vera@acme.test")
    page.select_option("#id_role", "viewer")
    page.click("[data-testid=send-invitation]")
    assert "Invitation sent to vera@acme.test as viewer" in page.locator("[data-testid=messages]").inner_text()
    assert "vera@acme.test" in page.locator("[data-testid=invitations]").inner_text()
    page.click("[data-testid=sign-out]")

    # The invitee opens the link from the email (the live server shares the in-memory outbox).
    (email,) = mail.outbox
    assert email.to == ["vera@acme.test"]
    path = re.search(r"https?://[^/\s]+(/app/invitations/[^\s]+/)", email.body).group(1)
    page.goto(path)
    assert page.locator("[data-testid=invitation-tenant]").inner_text() == "Acme"
    assert page.locator("[data-testid=invitation-role]").inner_text() == "Viewer"
    page.fill("#id_new_password1", PASSWORD)
    page.fill("#id_new_password2", PASSWORD)
    page.click("[data-testid=accept-invitation]")
    page.wait_for_url("**/app/")
    assert "Welcome to Acme" in page.locator("[data-testid=messages]").inner_text()
    assert page.locator("[data-testid=current-role]").inner_text() == "Viewer"
    assert Membership.objects.get(user__username="vera@acme.test").role == "viewer"

    # Signed in as a viewer: every page reads, none offers a change.
    account = CloudAccount.objects.get(tenant=acme)
    resource = account.resources.get()
    for url in ("/app/", f"/app/accounts/{account.pk}/", "/app/resources/", f"/app/resources/{resource.pk}/",
                "/app/schedules/", "/app/members/"):
        page.goto(url)
        assert page.locator("main form[method=post]").count() == 0, url
        assert page.locator("a[href='/app/connect/']").count() == 0, url
    assert "vera@acme.test" in page.locator("[data-testid=members]").inner_text()

    # A hand-made POST (with a valid CSRF token: the browser's own session) is refused with the reason.
    csrf = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    events = AuditEvent.objects.count()
    for url, form in (
        (f"/app/accounts/{account.pk}/", {"name": "hijacked", "regions": "us-east-1"}),
        (f"/app/resources/{resource.pk}/snooze/", {"state": "stopped", "hours": "2"}),
        ("/app/members/invite/", {"email": "friend@example.test", "role": "admin"}),
    ):
        response = page.context.request.post(url, form=form, headers={"X-CSRFToken": csrf, "Referer": page.url})
        assert response.status == 403, url
        assert "Viewers can look but not change anything: ask an admin of Acme" in response.text(), url
    account.refresh_from_db()
    assert account.name == "Acme prod"
    assert not Override.objects.exists()
    assert AuditEvent.objects.count() == events
    assert len(mail.outbox) == 1
