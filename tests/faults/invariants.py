"""What must hold after any fault once the next tick has run (DESIGN.md, "Parking, one tick", 6):
nothing done twice for one decision, nothing done unrecorded, nothing left half-recorded,
and every other account parked."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from django.db.models import Max

from portal.aws_standin import StandinServer, instance_states
from scheduling.models import ParkingAction, ParkingRun
from tenants.models import CloudAccount


@dataclass(frozen=True)
class Mark:
    """A point in a test: the stand-in's last call and the last recorded action."""

    seq: int = 0
    action_pk: int = 0

    @classmethod
    def take(cls, standin: StandinServer) -> Mark:
        return cls(standin.faults.mark(), ParkingAction.objects.aggregate(pk=Max("pk"))["pk"] or 0)


def assert_invariants(
    standin: StandinServer,
    *,
    desired: Mapping[CloudAccount, str],
    since: Mark = Mark(),
    exempt: Iterable[str] = (),
) -> None:
    """Check the invariants for the decision(s) taken since `since` (``Mark.take``,
    default: the whole test); `desired` maps every account to the state all its
    machines must now be in ("stopped" / "running") in AWS, `exempt` machines aside
    (those AWS keeps refusing).

    1. no run left "running", no action left "pending";
    2. every machine acted on at most once per decision: at most one call that
       changed its state (the stand-in's effect tracker);
    3. every AWS action recorded: each state change has a matching action with
       outcome "succeeded", and no action "succeeded" without a call reaching AWS;
    4. every account parked: its machines are in the desired state in AWS.
    All problems are reported together, so one failure shows the whole picture."""
    problems: list[str] = []

    running = list(ParkingRun.objects.filter(status="running").values_list("account__account_id", "tick_at", "pk"))
    if running:
        problems.append(f"runs left running (account, tick, pk): {running}")
    pending = list(
        ParkingAction.objects.filter(outcome="pending").values_list("resource__resource_id", "action", "run_id")
    )
    if pending:
        problems.append(f"actions left pending (machine, action, run): {pending}")

    changes = standin.faults.state_changes(since=since.seq)
    twice = {instance: n for instance, n in changes.items() if n > 1}
    if twice:
        problems.append(f"machines whose state was changed more than once for one decision: {twice}")

    recorded = {
        (account, machine, action)
        for account, machine, action in ParkingAction.objects.filter(
            pk__gt=since.action_pk, outcome="succeeded", action__in=("stop", "start")
        ).values_list("resource__account__account_id", "resource__resource_id", "action")
    }
    effects = standin.faults.effects(since=since.seq)
    unrecorded = sorted(
        {(e.account_id, e.instance_id, e.action) for e in effects if e.changed} - recorded
    )
    if unrecorded:
        problems.append(f"AWS changed these machines but no action says 'succeeded' (account, machine, action): {unrecorded}")
    reached = {(e.account_id, e.instance_id, e.action) for e in effects}
    unfounded = sorted(recorded - reached)
    if unfounded:
        problems.append(f"actions recorded 'succeeded' that never reached AWS (account, machine, action): {unfounded}")

    exempt = set(exempt)
    for account, state in desired.items():
        wrong = {
            region: {
                i: s for i, s in instance_states(account.account_id, region).items() if s != state and i not in exempt
            }
            for region in account.regions
        }
        wrong = {region: machines for region, machines in wrong.items() if machines}
        if wrong:
            problems.append(f"account {account.account_id}: machines not {state} in AWS: {wrong}")
        if not instance_states(account.account_id, account.regions[0]):
            problems.append(f"account {account.account_id}: no machines in the stand-in (nothing was checked)")

    assert not problems, "invariants broken:\n- " + "\n- ".join(problems)


def assert_not_repeated(standin: StandinServer, instance_ids: Iterable[str], *, action: str, since: Mark) -> None:
    """A decision AWS already carried out (the machines show it) is not sent again:
    no `action` call for these machines reached AWS after `since`."""
    ids = set(instance_ids)
    again = sorted({e.instance_id for e in standin.faults.effects(since=since.seq) if e.instance_id in ids and e.action == action})
    assert not again, f"{action} sent again for machines AWS had already acted on: {again}"
