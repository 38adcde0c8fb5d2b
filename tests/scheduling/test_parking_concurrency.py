import threading

import pytest
from django.db import connection, connections

from scheduling import parking
from scheduling.models import ParkingAction, ParkingRun
from tests.scheduling.test_parking import TUESDAY_EVENING, connect, office_hours
from tests.conftest import ACME_ACCOUNT


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_ticks_for_one_account_act_once(acme, standin):
    if connection.vendor != "postgresql":
        pytest.skip("row-level concurrency needs PostgreSQL (CI runs it there); SQLite serialises writers")
    office_hours(acme)
    account, _ = connect(acme, ACME_ACCOUNT, per_region=4)
    standin.reset_calls()
    barrier = threading.Barrier(2)
    results = []

    def worker() -> None:
        try:
            barrier.wait()
            results.append(parking.park_account(account_id=account.pk, at=TUESDAY_EVENING))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(results) == 2
    assert sum(r.succeeded for r in results) == 8
    assert standin.calls()["ec2:StopInstances"] == 2
    assert ParkingAction.objects.filter(action="stop").count() == 8
    statuses = sorted(r.status for r in results)
    # Either the second found the lease taken, or it ran after the first and had nothing left to do.
    assert statuses in (["busy", "succeeded"], ["succeeded", "succeeded"])
    assert ParkingRun.objects.filter(planned__gt=0).count() == 1
