"""Real parts for the tests: a real nats-server on a free port with a temporary
JetStream store, and the three services as real processes on free loopback ports.

The session ``stack`` is shared by tests that only call it; tests that stop or kill a
service start their own with :func:`tests.stack.start_stack`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from services.shared.nats_server import NatsServer
from tests.stack import Stack, start_stack


def pytest_addoption(parser):
    parser.addoption("--internal-tls", action="store_true",
                     help="door bench (tests/gateway/bench_gateway.py): mutual TLS between "
                          "the services, to compare with a run without")


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory) -> Iterator[NatsServer]:
    server = NatsServer(tmp_path_factory.mktemp("nats")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def stack(nats_server, tmp_path_factory) -> Iterator[Stack]:
    running = start_stack(nats_server, tmp_path_factory.mktemp("var"))
    yield running
    running.stop()


@pytest.fixture(scope="session")
async def gateway_channel(stack) -> grpc.aio.Channel:
    """TLS to the gateway with the demo officer's bearer token on every call."""
    async with grpc.aio.secure_channel(stack.gateway.address,
                                       stack.gateway_credentials("officer")) as channel:
        yield channel


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return Path(__file__).resolve().parents[1]

