"""Operations under races, made to happen at the chosen moment: the risk service's servicer
in this process behind a real gRPC server on loopback, two replicas' operation books on
a real nats-server, a store call paused where the race lands (the store itself is real)."""

from __future__ import annotations

import asyncio
import hashlib
import logging

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from ijh.risk.v1 import risk_pb2 as r
from ijh.risk.v1 import risk_pb2_grpc

from services.risk import operations
from services.risk.operation_store import (
    OperationStore,
    Owner,
    StoreUnavailable,
    operation_key,
)
from services.risk.operations import OperationBook
from services.risk.portfolio_run import PortfolioLimits, prepared_run
from services.risk.server import RiskServicer
from services.shared.config import load_settings
from services.shared.errors import NotFound
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
        # Only the other's (running or, on a slow machine, done already): the ghost is
        # taken back at once, not listed running.
        assert [o.name for o in listed[0]] == [theirs_name]
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


async def _losing_start(store, monkeypatch, *, while_claiming=None,  # noqa: F811
                        while_deleting=None, deletes_failing=0):
    """A start on this replica (ours) that loses request_id "req-1" to the same start on
    another (theirs), which claims it first. ``while_claiming(ours, name)`` runs before
    ours's claim is answered, ``while_deleting(ours, name)`` in ours's delete of its
    record, the first ``deletes_failing`` of which fail (NATS slow for a moment).
    Returns (ours, theirs, the name of ours's record, what the start answered)."""
    ours = _book(store, ME)
    theirs = OperationBook(3600.0, ours.events, OperationStore(
        store.events, 3600.0, bucket=store.bucket_name), OTHER)
    claim, delete = store.claim_request, store.delete
    ghost, failing = [], [deletes_failing]

    async def claim_after_theirs(key, name, fingerprint, revision=None):
        ghost.append(name)
        await theirs.start("req-1", ANALYST, b"fp", FakeRun)
        if while_claiming is not None:
            await while_claiming(ours, name)
        return await claim(key, name, fingerprint, revision)

    async def delete_hooked(key, revision):
        if while_deleting is not None:
            await while_deleting(ours, ghost[0])
        if failing[0]:
            failing[0] -= 1
            raise StoreUnavailable("TimeoutError")
        return await delete(key, revision)
    monkeypatch.setattr(store, "claim_request", claim_after_theirs)
    monkeypatch.setattr(store, "delete", delete_hooked)
    try:
        started = await ours.start("req-1", ANALYST, b"fp", FakeRun)
    finally:
        monkeypatch.setattr(store, "claim_request", claim)
    return ours, theirs, ghost[0], started


async def _not_found(call) -> bool:
    try:
        await call
    except NotFound:
        return True
    return False


async def test_a_withdrawn_start_is_neither_listed_nor_answered_while_its_delete_runs(
        store, monkeypatch):  # noqa: F811
    # Before, until its delete was answered, this replica listed the losing start's
    # record as a running operation of its own (running() counted it), answered
    # GetOperation with it running, and a WaitOperation on it waited out its whole
    # timeout for an end that never came. Its name was never given to a client (the
    # start answered with the other's operation), so it is not found; nor is it listed
    # while its start is still claiming the request_id.
    seen = {}

    async def while_claiming(ours, ghost):
        seen["claiming"] = [o.name for o in (await ours.list(100, "")).operations]

    async def while_deleting(ours, ghost):
        seen["deleting"] = [o.name for o in (await ours.list(100, "")).operations]
        seen["running"] = ours.running()
        seen["not found"] = [await _not_found(call) for call in (
            ours.get(ghost), ours.wait(ghost, 30.0), ours.cancel(ghost))]
    _, theirs, ghost, started = await _losing_start(
        store, monkeypatch, while_claiming=while_claiming, while_deleting=while_deleting)
    try:
        assert seen == {"claiming": [started.name], "deleting": [started.name],
                        "running": 0, "not found": [True, True, True]}
        assert await store.load(operation_key(ghost)) is None
    finally:
        theirs.stop_all()
        await theirs.close()


async def test_a_withdrawn_start_whose_delete_fails_is_deleted_at_the_next_heartbeat(
        store, monkeypatch):  # noqa: F811
    # Before, a failed delete left the losing start's record in the store for good: a
    # list (here, or on any replica once it went silent) ended it ABORTED
    # ("interrupted"), and every list showed that for the whole retention.
    monkeypatch.setattr(operations, "HEARTBEAT_SECONDS", 0.05)
    ours, theirs, ghost, started = await _losing_start(store, monkeypatch,
                                                       deletes_failing=2)
    try:
        assert (await store.load(operation_key(ghost))).operation.done is False
        assert [o.name for o in (await ours.list(100, "")).operations] == [started.name]
        assert not (await store.load(operation_key(ghost))).operation.done  # not ended
        delete, deleted = store.delete, asyncio.Event()

        async def delete_noted(key, revision):
            await delete(key, revision)
            deleted.set()
        monkeypatch.setattr(store, "delete", delete_noted)
        await ours.start_sync()  # its first beat fails, the next one deletes it
        await asyncio.wait_for(deleted.wait(), 30)
        assert await store.load(operation_key(ghost)) is None
        assert [o.name for o in (await theirs.list(100, "")).operations] == [started.name]
    finally:
        await ours.store_final()
        theirs.stop_all()
        await theirs.close()


async def test_a_withdrawn_start_whose_delete_fails_is_deleted_at_shutdown(
        store, monkeypatch):  # noqa: F811
    ours, theirs, ghost, _ = await _losing_start(store, monkeypatch, deletes_failing=1)
    try:
        assert await store.load(operation_key(ghost)) is not None
        await ours.store_final()
        assert await store.load(operation_key(ghost)) is None
    finally:
        theirs.stop_all()
        await theirs.close()


async def test_a_heartbeat_while_a_start_claims_its_request_id_logs_no_warning(
        store, monkeypatch, caplog):  # noqa: F811
    # Before, a heartbeat landing between the record's first write and the claim read the
    # entry the other replica had just written and warned that the request_id had
    # started another operation "while the operation store was not reachable": false,
    # the start itself settles it (here: it lost, and withdraws).
    caplog.set_level(logging.INFO, logger=operations.__name__)

    async def beat(ours, ghost):
        await ours._save_or_warn(ours._records[ghost])  # sync_forever's, landing here
    _, theirs, ghost, started = await _losing_start(store, monkeypatch,
                                                    while_claiming=beat)
    try:
        assert started.name != ghost and await store.load(operation_key(ghost)) is None
        assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    finally:
        theirs.stop_all()
        await theirs.close()


async def test_a_list_that_cannot_read_the_store_is_unavailable_not_partial(
        risk, monkeypatch):
    # Another replica runs an analyst's simulation; this replica runs one too. This
    # replica's NATS link is down when the analyst lists. Before, the page showed this
    # replica's operation alone, said nothing of the other's, and no next page: taken
    # for the whole list. Now: UNAVAILABLE, to retry (the gateway's retry policy may
    # reach another replica), as GetOperation answers an operation it cannot read.
    servicer, stub = risk
    ours = servicer.operations
    theirs = OperationBook(3600.0, ours.events, OperationStore(
        ours.events, 3600.0, bucket=ours.store.bucket_name), OTHER)
    await theirs.start("req-b", ANALYST, b"fp", FakeRun)
    await ours.start("req-a", ANALYST, b"fp", FakeRun)
    try:
        assert len((await stub.ListOperations(r.ListOperationsRequest())).operations) == 2
        monkeypatch.setattr(ours.store.events, "jetstream", lambda: None)
        with pytest.raises(grpc.aio.AioRpcError) as failure:
            await stub.ListOperations(r.ListOperationsRequest())
        assert failure.value.code() == grpc.StatusCode.UNAVAILABLE
        info, retry = error_details_pb2.ErrorInfo(), error_details_pb2.RetryInfo()
        details = rpc_status.from_call(failure.value).details
        assert [d.Unpack(info) or d.Unpack(retry) for d in details] == [True, True]
        assert info.reason == "OPERATION_STORE_UNAVAILABLE"
        assert retry.retry_delay.seconds > 0
    finally:
        theirs.stop_all()
        await theirs.close()
