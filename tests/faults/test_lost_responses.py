"""AWS acted, but its answer never arrived: the connection closed after the
StopInstances took effect. botocore sends the call again; whatever the worker
heard, the record must end up matching what AWS really did."""

from __future__ import annotations

import pytest

from portal.aws_standin import StandinServer, instance_states
from scheduling import parking
from scheduling.models import ParkingAction
from tenants import aws
from tests.faults.conftest import AT, NEXT, Fleets
from tests.faults.invariants import assert_invariants

pytestmark = pytest.mark.django_db


def test_a_lost_stop_answer_is_resent_and_the_stop_recorded_once(fleets: Fleets, standin: StandinServer) -> None:
    target = fleets.target
    fault = standin.faults.lose_response("ec2:StopInstances", how="close", account_id=target.account_id, region="us-east-1")
    results = {r.account.account_id: r.status for r in parking.run_tick(at=AT)}
    assert fault.fired == 1
    resent = standin.faults.effects(account_id=target.account_id)
    assert len([e for e in resent if e.instance_id == target.ids["us-east-1"][0]]) == 2  # the call went twice
    assert results == {c.account_id: "succeeded" for c in fleets.all}
    stops = ParkingAction.objects.filter(resource__account=target.account, action="stop")
    assert sorted(stops.values_list("outcome", flat=True)) == ["succeeded"] * 8

    parking.run_tick(at=NEXT)
    assert_invariants(standin, desired=fleets.desired())


@pytest.mark.parametrize("how", ["close", 503], ids=["no-answer", "503-after-acting"])
def test_a_stop_whose_every_answer_is_lost_is_recorded_as_what_aws_did(
    fleets: Fleets, standin: StandinServer, settings, how: str | int
) -> None:
    """No answer at all, or a server error after AWS acted (a 5xx says nothing
    about whether the call took effect): only AWS's state can tell."""
    settings.PARKWAY_AWS_MAX_ATTEMPTS = 1
    aws.clear_session_cache()
    target = fleets.target
    fault = standin.faults.lose_response(
        "ec2:StopInstances", how=how, times=None, account_id=target.account_id, region="us-east-1"
    )
    parking.run_tick(at=AT)
    assert fault.fired >= 1
    # The worker never heard back, yet AWS stopped them on the first attempt.
    assert set(instance_states(target.account_id, "us-east-1").values()) == {"stopped"}

    standin.faults.remove(fault)
    parking.run_tick(at=NEXT)
    assert_invariants(standin, desired=fleets.desired())
