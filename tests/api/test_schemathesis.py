"""schemathesis against the API's own OpenAPI document, every operation, with
an acme admin's token: no server error, and every answer conforms to the
document (status code declared, content type, body schema, headers).

Each operation is tried with acme's real ids (so the endpoints get past their
lookups) and with generated ones, with inputs that fit the document and inputs
that do not. Bounded and derandomized like tests/fuzz; each example runs in a
savepoint that is rolled back, so every example meets the same world.
"""

from __future__ import annotations

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core import signals
from django.db import close_old_connections, transaction
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.main import api as ninja_api
from tests.api.conftest import World

pytestmark = pytest.mark.django_db

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]
EXAMPLES = 12  # per operation and mode: the whole file runs in well under a minute


def load_schema() -> schemathesis.BaseSchema:
    schema = schemathesis.openapi.from_dict(ninja_api.get_openapi_schema())
    schema.app = WSGIHandler()
    return schema


SCHEMA = load_schema()
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]


settings_for_examples = hypothesis_settings(
    max_examples=EXAMPLES * 3, deadline=None, derandomize=True, database=None,
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture
def keep_the_test_connection():
    """schemathesis calls the WSGI app itself, not through Django's test client,
    which keeps request_started / request_finished from closing the database
    connection the test's transaction lives on: do what the client does."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


def test_the_document_is_valid_openapi():
    # from_dict validates it: a broken document would have failed to load above.
    assert len(OPERATIONS) >= 30


@pytest.mark.parametrize("operation", OPERATIONS, ids=[op.label for op in OPERATIONS])
def test_no_server_error_and_every_answer_conforms(operation, world: World, tokens, standin, settings,
                                                    keep_the_test_connection):
    settings.PARKWAY_API_RATE = "100000/minute"
    settings.PARKWAY_VERIFY_PER_MINUTE = 100000
    settings.PARKWAY_AWS_MAX_ATTEMPTS = 1
    headers = {"Authorization": f"Bearer {tokens.admin}"}
    names = [p.name for p in operation.path_parameters]
    real = {name: value for name, value in world.ids().items() if name in names}
    strategies = [operation.as_strategy(generation_mode=schemathesis.GenerationMode.POSITIVE)]
    if real:
        strategies.append(operation.as_strategy(generation_mode=schemathesis.GenerationMode.POSITIVE, path_parameters=real))
    strategies.append(operation.as_strategy(generation_mode=schemathesis.GenerationMode.NEGATIVE))

    statuses: list[int] = []

    @settings_for_examples
    @given(case=st.one_of(strategies))
    def run(case: schemathesis.Case) -> None:
        with transaction.atomic():
            try:
                statuses.append(case.call_and_validate(headers=headers, checks=CHECKS).status_code)
            finally:
                transaction.set_rollback(True)

    run()
    if operation.method.upper() == "GET":
        # Not a walk of 401s and 404s: the token and the real ids got through.
        assert any(200 <= status < 300 for status in statuses), sorted(set(statuses))

