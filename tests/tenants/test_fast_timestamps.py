"""The fast timestamp parser (tenants.aws.fast_timestamp) answers exactly what
botocore's default (dateutil) answers, for every timestamp shape AWS sends,
and is what every client Parkway builds parses with."""

from __future__ import annotations

import datetime as dt

import pytest
from botocore.utils import parse_timestamp
from dateutil.tz import tzutc

from tenants import aws

SHAPES = [
    "2026-01-05T08:00:00.000Z",  # EC2 LaunchTime, AttachTime (milliseconds, Z)
    "2026-01-05T08:00:00Z",  # STS Expiration (no fraction)
    "2026-01-05T08:00:00.1Z",
    "2026-01-05T08:00:00.123456Z",
    "2026-01-05T08:00:00.1234567Z",  # beyond microseconds: truncated by both
    "2026-01-05T08:00:00.123456789Z",
    "2026-01-05T08:00:00+00:00",
    "2026-01-05T08:00:00.250+02:00",  # an offset
    "2026-01-05T08:00:00-05:30",
    "2026-01-05T08:00:00.5+14:00",
    "2026-01-05T08:00:00",  # no zone at all: naive, as botocore leaves it
    "2026-01-05 08:00:00Z",
    "2026-01-05T08:00Z",
    "2024-02-29T23:59:59.999Z",
    "2026-10-25T01:30:00Z",  # the night clocks go back in Europe
    "Tue, 24 Nov 2026 20:00:00 GMT",  # RFC 822 (HTTP headers, some XML services)
    "1767600000",  # epoch seconds as text
    "1767600000.123",
    1767600000,  # JSON protocols: epoch numbers
    1767600000.5,
    0,
]


@pytest.mark.parametrize("value", SHAPES, ids=str)
def test_fast_timestamps_equal_botocores(value):
    expected = parse_timestamp(value)
    got = aws.fast_timestamp(value)
    assert got == expected
    assert got.utcoffset() == expected.utcoffset()
    assert (got.tzinfo is None) == (expected.tzinfo is None)
    assert got.isoformat() == expected.isoformat()
    # The zone objects may differ: dateutil reads "Z" as tzlocal() on a machine
    # whose local zone is UTC, tzutc() elsewhere; the parser says tzutc() always.
    if expected.utcoffset() == dt.timedelta(0) and isinstance(value, str) and value[4:5] == "-":
        assert isinstance(got.tzinfo, tzutc)


@pytest.mark.parametrize("value", ["not a time", "2026-13-05T08:00:00Z", "2026-01-05T25:00:00Z", ""])
def test_fast_timestamps_refuse_what_botocore_refuses(value):
    with pytest.raises(ValueError):
        parse_timestamp(value)
    with pytest.raises(ValueError):
        aws.fast_timestamp(value)


def test_every_client_parses_with_it(standin):
    """Answers are parsed by the endpoint, with a parser from the session's
    factory: every client Parkway builds (ours and customers') reads AWS's
    timestamps with the fast parser, and reads them right."""
    parsed: list[object] = []
    original = aws._parser_factory._defaults["timestamp_parser"]

    def spy(value):
        parsed.append(value)
        return original(value)

    clients = [aws._sts_client(), aws._shared_client("ec2", "us-east-1")]
    for client in clients:
        assert client._endpoint._response_parser_factory is aws._parser_factory
    aws._parser_factory.set_parser_defaults(timestamp_parser=spy)
    try:
        answer = aws._sts_client().get_session_token(DurationSeconds=900)
    finally:
        aws._parser_factory.set_parser_defaults(timestamp_parser=original)
    expiration = answer["Credentials"]["Expiration"]
    assert parsed and isinstance(expiration, dt.datetime) and expiration.utcoffset() == dt.timedelta(0)
    assert expiration == parse_timestamp(parsed[0])
