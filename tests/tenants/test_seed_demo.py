import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from scheduling.models import Schedule
from tenants.models import CloudAccount, Tenant
from tenants.verification import account_verify

pytestmark = pytest.mark.django_db


def test_seed_demo_builds_the_three_customers_test_connection_tells_apart(standin):
    out = io.StringIO()
    call_command("seed_demo", "--staff-password", "pw-for-tests", stdout=out)
    assert "Staff login: admin / pw-for-tests" in out.getvalue()
    assert set(Tenant.objects.values_list("slug", flat=True)) == {"acme", "globex", "initech"}
    assert Schedule.objects.filter(tenant__isnull=True).count() == 3
    results = {a.tenant.slug: account_verify(account=a, actor="cli") for a in CloudAccount.objects.select_related("tenant")}
    assert results["acme"].ok and "Connected:" in results["acme"].message
    assert results["globex"].ok and "legacy IAM user keys" in results["globex"].message
    assert not results["initech"].ok and "External ID" in results["initech"].message
    with pytest.raises(CommandError, match="already exist"):
        call_command("seed_demo", stdout=io.StringIO())
