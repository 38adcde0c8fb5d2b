"""The stand-in's own tests: one server per test module, reset before each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from portal.aws_standin import StandinServer


@pytest.fixture(scope="module")
def server() -> Iterator[StandinServer]:
    with StandinServer() as srv:
        yield srv


@pytest.fixture(autouse=True)
def fresh(server: StandinServer) -> None:
    server.reset()
