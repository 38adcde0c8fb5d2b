import datetime as dt
import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from scheduling import parking
from scheduling.models import Resource, Schedule
from tenants import demo, services
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


def test_the_demo_parks_a_database_a_cluster_and_a_group_within_minutes(standin):
    call_command("seed_demo", "--staff-password", "pw-for-tests", stdout=io.StringIO())
    acme = CloudAccount.objects.get(tenant__slug="acme")
    assert account_verify(account=acme, actor="cli").ok

    result = parking.park_account(account_id=acme.pk, at=timezone.now() + dt.timedelta(minutes=10))

    assert result.status == "succeeded", result.error
    rds = demo.account_client("rds", "111111111111", "us-east-1")
    assert rds.describe_db_instances(DBInstanceIdentifier="acme-orders")["DBInstances"][0]["DBInstanceStatus"] == "stopped"
    assert rds.describe_db_clusters(DBClusterIdentifier="acme-analytics")["DBClusters"][0]["Status"] == "stopped"
    (group,) = demo.account_client("autoscaling", "111111111111", "us-east-1").describe_auto_scaling_groups(
        AutoScalingGroupNames=["acme-web"])["AutoScalingGroups"]
    assert (group["MinSize"], group["DesiredCapacity"], group["MaxSize"]) == (0, 0, 0)
    kinds = set(Resource.objects.filter(account=acme).values_list("kind", flat=True))
    assert kinds == {"ec2_instance", "rds_instance", "rds_cluster", "autoscaling_group"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--staff-username", "ad\x00min"], "not a username"),
        (["--staff-username", "a" * 200], "not a username"),
        (["--staff-username", ""], "not a username"),
        (["--staff-password", "p\x00w"], "NUL"),
    ],
)
def test_seed_demo_refuses_bad_staff_credentials_before_seeding(standin, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("seed_demo", *args, stdout=io.StringIO())
    assert not Tenant.objects.exists()


def test_seed_demo_on_a_database_that_already_holds_a_demo_account_says_so(standin):
    # An account of the demo claimed by another tenant was a ValidationError traceback.
    other = Tenant.objects.create(name="Other", slug="other")
    account = services.account_connect_role(tenant=other, account_id="111111111111", regions=["us-east-1"], actor="cli")
    CloudAccount.objects.filter(pk=account.pk).update(claimed_at=timezone.now())
    with pytest.raises(CommandError, match="needs a fresh database"):
        call_command("seed_demo", stdout=io.StringIO())
    assert set(Tenant.objects.values_list("slug", flat=True)) == {"other"}


def test_an_unclaimed_registration_of_a_demo_account_blocks_nothing(standin):
    other = Tenant.objects.create(name="Other", slug="other")
    services.account_connect_role(tenant=other, account_id="111111111111", regions=["us-east-1"], actor="cli")
    call_command("seed_demo", stdout=io.StringIO())
    assert CloudAccount.objects.get(account_id="111111111111", claimed_at__isnull=False).tenant.slug == "acme"


def test_seed_demo_never_seeds_real_aws(monkeypatch):
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with pytest.raises(CommandError, match="AWS_ENDPOINT_URL"):
        call_command("seed_demo", stdout=io.StringIO())
