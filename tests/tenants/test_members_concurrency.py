"""A team under concurrent changes (PostgreSQL: SQLite serialises writers anyway):
two admins demoting each other leave one admin; a link accepted twice at once
makes one login and one membership."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, connections

from tenants.members import invitation_accept_with_password, invitation_find, membership_change_role
from tenants.models import Membership
from tests.selfservice.conftest import invite

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip("concurrent transactions need PostgreSQL (CI runs it there); SQLite serialises writers")


def at_once(*calls: Callable[[], object]) -> list[object]:
    """Run the calls in threads released together; each result or the exception raised."""
    barrier = threading.Barrier(len(calls))
    results: list[object] = [None] * len(calls)

    def run(index: int, call: Callable[[], object]) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = call()
        except Exception as exc:  # the outcome under test
            results[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_two_admins_demoting_each_other_at_once_leave_one_admin(acme):
    User = get_user_model()
    ann = Membership.objects.create(user=User.objects.create_user("ann"), tenant=acme, role="admin")
    bob = Membership.objects.create(user=User.objects.create_user("bob"), tenant=acme, role="admin")
    results = at_once(
        lambda: membership_change_role(membership=ann, role="viewer", actor=bob.user),
        lambda: membership_change_role(membership=bob, role="viewer", actor=ann.user),
    )
    assert Membership.objects.filter(tenant=acme, role="admin").count() == 1
    # The loser is refused: either it saw the other as the last admin, or its actor was demoted first.
    assert sum(isinstance(r, Membership) for r in results) == 1
    assert sum(isinstance(r, (ValidationError, PermissionDenied)) for r in results) == 1


def test_one_link_accepted_twice_at_once_makes_one_login(acme):
    _, token = invite(acme, "bob@example.test")
    invitation = invitation_find(token)
    at_once(*[lambda: invitation_accept_with_password(invitation=invitation, password="correct horse battery")] * 2)
    assert get_user_model().objects.filter(username="bob@example.test").count() == 1
    assert Membership.objects.filter(tenant=acme).count() == 1
