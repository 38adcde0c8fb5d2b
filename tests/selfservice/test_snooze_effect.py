"""Defect 10 (issue 11): "Keep running 2 h" on a stopped machine also starts it,
and nothing said so. The snooze forms say beforehand what the next tick will do
(the resolver's answer for that snooze), and so does the success message."""

from __future__ import annotations

import pytest
import time_machine

from scheduling.models import Override
from tests.selfservice.conftest import make_resources, office_hours
from tests.selfservice.test_resources import TUESDAY_EVENING, resource_url, texts

pytestmark = pytest.mark.django_db



@pytest.fixture
def evening():
    with time_machine.travel(TUESDAY_EVENING, tick=False):
        yield


STARTS = "It is stopped, so Parkway starts it at the next parking tick."
STOPS = "It is running, so Parkway stops it at the next parking tick."


def test_the_page_says_keep_running_starts_a_stopped_machine(acme_client, acme, acme_account, evening):
    (resource,) = make_resources(acme_account, 1, state="stopped", schedule=office_hours(acme), desired_state="stopped")
    page = acme_client.get(resource_url(resource)).content.decode()
    assert f'data-testid="snooze-running-effect">{STARTS}<' in page
    assert 'data-testid="snooze-stopped-effect"' not in page  # keeping it stopped changes nothing


def test_the_page_says_keep_stopped_stops_a_running_machine(acme_client, acme_account, evening):
    (resource,) = make_resources(acme_account, 1, state="running")
    page = acme_client.get(resource_url(resource)).content.decode()
    assert f"Keep stopped: {STOPS}" in page
    assert 'data-testid="snooze-running-effect"' not in page


def test_the_success_message_says_the_next_tick_starts_it(acme_client, acme, acme_account, evening):
    (resource,) = make_resources(acme_account, 1, state="stopped", schedule=office_hours(acme), desired_state="stopped")
    response = acme_client.post(resource_url(resource, "scheduling:resource_snooze"), {"state": "running", "hours": "2"}, follow=True)
    (message,) = [t for t in texts(response) if "will be kept running" in t]
    assert message.endswith(STARTS), message
    assert Override.objects.get(resource=resource).state == "running"


def test_no_such_sentence_when_the_snooze_changes_nothing_now(acme_client, acme_account, evening):
    (resource,) = make_resources(acme_account, 1, state="running")
    response = acme_client.post(resource_url(resource, "scheduling:resource_snooze"), {"state": "running", "hours": "2"}, follow=True)
    (message,) = [t for t in texts(response) if "will be kept running" in t]
    assert "next parking tick" not in message
