"""Operations under races, made to happen at the chosen moment: the risk service's servicer
in this process behind a real gRPC server on loopback, two replicas' operation books on
a real nats-server, a store call paused where the race lands (the store itself is real)."""

from __future__ import annotations

import asyncio
import hashlib

import grpc
import pytest
from ijh.risk.v1 import risk_pb2 as r
from ijh.risk.v1 import risk_pb2_grpc

from services.risk.operation_store import OperationStore, Owner, operation_key
from services.risk.operations import OperationBook
from services.risk.portfolio_run import PortfolioLimits, prepared_run
from services.risk.server import RiskServicer
from services.shared.config import load_settings
from services.shared.nats_server import free_port
from tests.risk.test_operation_list import _book, events, store  # noqa: F401  (fixtures)
from tests.risk.test_operation_store import FakeRun
from tests.risk.test_operations_api import _simulation, _start
from tests.stack import keys_of, signing_channel

ME = Owner("host-a/127.0.0.1:50052", "aaaa")
OTHER = Owner("host-b/127.0.0.1:50052", "bbbb")
ANALYST = "t-analyst"


@pytest.fixture
async def risk(events, store, tmp_path):  # noqa: F811
    """(servicer, stub): the risk servicer, its book on a bucket of the test's own, on a
    gRPC server in this process; the stub signs as the gateway does for an analyst."""
    servicer = RiskServicer(load_settings({}), events)
    servicer.operations = OperationBook(3600.0, events, store, ME)
    server = grpc.aio.server()
    risk_pb2_grpc.add_RiskServiceServicer_to_server(servicer, server)
    address = f"127.0.0.1:{free_port()}"
    server.add_insecure_port(address)
    await server.start()
    channel = signing_channel(address, keys_of(tmp_path), ANALYST, "analyst")
    try:
        yield servicer, risk_pb2_grpc.RiskServiceStub(channel)
    finally:
        servicer.operations.stop_all()
        await servicer.operations.close()
        await channel.close()
        await server.stop(None)


def _prepare(request: r.StartPortfolioSimulationRequest):
    return lambda: prepared_run(request.simulation, request.simulation.guarantees,
                                PortfolioLimits(max_guarantees=10_000,
                                                max_scenarios=1_000_000))


def _fingerprint(request: r.StartPortfolioSimulationRequest) -> bytes:
    """The digest the servicer takes of a start's simulation."""
    return hashlib.sha256(request.simulation.SerializeToString(deterministic=True)).digest()


async def test_a_start_losing_its_request_id_while_a_list_reads_its_record_answers_ok(
        risk, monkeypatch):
    # Two replicas are given the same request_id at once. Here the other one claims it
    # first: this one's start finds its own record a ghost and deletes it, and answers
    # with the other's operation. A list on this replica reading the store just then
    # (ListOperations over gRPC, paused in before the delete) must not take the ghost for
    # a crashed operation of its own and end it ABORTED: that write made the delete lose
    # its compare-and-set, and the ghost stayed in every list as "interrupted".
    servicer, stub = risk
    ours = servicer.operations
    request = _start(_simulation(20, 1024))
    theirs = OperationBook(3600.0, ours.events, OperationStore(
        ours.events, 3600.0, bucket=ours.store.bucket_name), OTHER)
    claim, delete = ours.store.claim_request, ours.store.delete
    ghosts, listed = [], []

    async def claim_after_theirs(key, name, fingerprint, revision=None):
        await theirs.start(request.request_id, ANALYST, _fingerprint(request),
                           _prepare(request))
        return await claim(key, name, fingerprint, revision)

    async def delete_while_listed(key, revision):
        ghosts.append(key)
        listed.append((await stub.ListOperations(r.ListOperationsRequest(page_size=100))
                       ).operations)
        return await delete(key, revision)
    monkeypatch.setattr(ours.store, "claim_request", claim_after_theirs)
    monkeypatch.setattr(ours.store, "delete", delete_while_listed)
    try:
        started = (await stub.StartPortfolioSimulation(request)).operation
        [ghost] = ghosts
        [theirs_name] = theirs._records
        assert started.name == theirs_name
        assert len(listed[0]) == 2 and not any(o.done for o in listed[0])
        assert await ours.store.load(ghost) is None  # deleted, not left ABORTED
        monkeypatch.setattr(ours.store, "claim_request", claim)
        # Once over, a list shows the one operation, and the request_id keeps to it.
        after = (await stub.ListOperations(r.ListOperationsRequest(page_size=100))
                 ).operations
        assert [o.name for o in after] == [theirs_name]
        assert (await stub.StartPortfolioSimulation(request)).operation.name == theirs_name
        assert operation_key(theirs_name) != ghost
    finally:
        theirs.stop_all()
        await theirs.close()


async def test_an_end_written_at_once_does_not_wake_the_writer(store):  # noqa: F811
    # The writer (sync_forever) is woken for ends not written when they came; one the
    # run's end wrote itself needs no pass.
    book = _book(store)
    started = await book.start("req-1", ANALYST, b"fp", FakeRun)
    record = book._records[started.name]
    await book.cancel(started.name)
    await asyncio.wait_for(record.finished.wait(), 10)
    assert record.stored_final
    assert not book._wake.is_set()
    assert (await store.load(operation_key(started.name))).operation.done
