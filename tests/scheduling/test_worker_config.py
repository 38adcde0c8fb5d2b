import io

import pytest
from django.core.management import call_command
from django_q.models import Schedule as QSchedule

from scheduling import checks


@pytest.mark.parametrize(
    "change, check_id",
    [
        ({"retry": 300, "timeout": 300}, "scheduling.E001"),
        ({"retry": 100, "timeout": 300}, "scheduling.E001"),
        ({"max_attempts": 0}, "scheduling.E002"),
        ({"max_attempts": 50}, "scheduling.E002"),
        ({"catch_up": True}, "scheduling.E003"),
    ],
)
def test_queue_settings_are_guarded(settings, change, check_id):
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, **change}
    assert check_id in [m.id for m in checks.check_q_cluster()]


def test_default_queue_settings_pass(settings):
    assert checks.check_q_cluster() == []
    assert settings.Q_CLUSTER["retry"] > settings.Q_CLUSTER["timeout"]


def test_redis_broker_when_redis_url_is_set(monkeypatch):
    import importlib

    import portal.settings as portal_settings

    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    reloaded = importlib.reload(portal_settings)
    try:
        assert reloaded.Q_CLUSTER["redis"] == "redis://127.0.0.1:6379/0" and "orm" not in reloaded.Q_CLUSTER
    finally:
        monkeypatch.delenv("REDIS_URL")
        importlib.reload(portal_settings)


@pytest.mark.django_db
def test_setup_schedules_creates_then_updates_by_name(settings):
    call_command("setup_schedules", stdout=io.StringIO())
    settings.PARKWAY_TICK_MINUTES = 2
    out = io.StringIO()
    call_command("setup_schedules", stdout=out)
    assert "updated parkway-tick" in out.getvalue()
    tick = QSchedule.objects.get(name="parkway-tick")
    assert (tick.func, tick.minutes, tick.schedule_type) == ("scheduling.tasks.tick", 2, QSchedule.MINUTES)
    assert QSchedule.objects.filter(name="parkway-tick").count() == 1


@pytest.mark.django_db
def test_setup_schedules_removes_the_hourly_inventory_sync_of_earlier_versions():
    """The tick refreshes every account's inventory in its per-account task: an
    hourly sync of all accounts in one task only repeated its AWS calls."""
    QSchedule.objects.create(
        name="parkway-inventory-sync", func="scheduling.tasks.sync_inventory", schedule_type=QSchedule.MINUTES, minutes=60
    )
    out = io.StringIO()
    call_command("setup_schedules", stdout=out)
    assert "removed parkway-inventory-sync" in out.getvalue()
    assert not QSchedule.objects.filter(func="scheduling.tasks.sync_inventory").exists()
    assert set(QSchedule.objects.values_list("func", flat=True)) == {
        "scheduling.tasks.tick", "tenants.tasks.forget_unverified_accounts", "scheduling.tasks.prune_history"
    }


def test_a_lease_outlasts_the_longest_aws_call_and_a_dead_workers_account_waits_one_tick(settings):
    from scheduling.leases import lease_seconds
    from tenants.aws import max_call_seconds

    assert max_call_seconds() < lease_seconds() <= 60 * settings.PARKWAY_TICK_MINUTES
    assert "scheduling.W002" not in [m.id for m in checks.check_q_cluster()]
    settings.PARKWAY_AWS_MAX_ATTEMPTS = 10  # 10 × (5 s + 20 s) + 9 × 20 s + 60 s = 490 s > 300 s
    assert max_call_seconds() < lease_seconds()
    assert "scheduling.W002" in [m.id for m in checks.check_q_cluster()]
