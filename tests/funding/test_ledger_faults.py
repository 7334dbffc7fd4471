"""Crash safety and lossless events with real processes, on SQLite: the funding service
killed (SIGKILL) in the middle of a batch of approvals, NATS stopped while decisions go
on, and the risk service gone at approval time."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator

import grpc
import nats
import pytest
from ijh.funding.v1 import funding_pb2 as f
from sqlalchemy import create_engine, select

from services.funding.storage import tables as t
from services.shared.nats_server import NatsServer
from tests.funding.ledger_api_support import (
    COMPANY_AGENCY,
    OFFICER_B,
    Caller,
    Ledger,
    error_info,
    grant_request,
    guarantee_request,
    retry_delay_seconds,
    rid,
    row_counts,
    sqlite_url,
    start_funding_stack,
)
from tests.funding.storage.ledger_support import business_id

BATCH = 40
STREAM = "IJH_EVENTS"


@pytest.fixture(scope="module")
def own_nats(tmp_path_factory) -> Iterator[NatsServer]:
    """A NATS server of this module's own: the tests stop and restart it."""
    server = NatsServer(tmp_path_factory.mktemp("faults-nats")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def faults_stack(own_nats, tmp_path_factory):
    var_dir = tmp_path_factory.mktemp("faults-var")
    stack = start_funding_stack(own_nats, var_dir)
    yield stack, sqlite_url(var_dir)
    stack.stop()


@pytest.fixture
async def ledger(faults_stack) -> AsyncIterator[Ledger]:
    async with grpc.aio.insecure_channel(faults_stack[0].funding.address) as channel:
        yield Ledger(channel, faults_stack[0].caller_keys)


def _approve(name: str, request_id: str) -> f.DecideApplicationRequest:
    return f.DecideApplicationRequest(request_id=request_id, name=name,
                                      decision=f.DECISION_APPROVE, reason="batch approval")


def _ledger_rows(url: str, names: list[str]) -> dict[str, dict]:
    """Per application: state, its approve audit rows, approved events, request ids."""
    ids = {int(n.split("/")[1]): n for n in names}
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = {r.id: r for r in conn.execute(select(t.applications)
                                              .where(t.applications.c.id.in_(ids)))}
        audits = conn.execute(select(t.audit_log.c.application_id, t.audit_log.c.request_id)
                              .where(t.audit_log.c.action == "approve",
                                     t.audit_log.c.application_id.in_(ids))).all()
        events = conn.execute(select(t.outbox.c.subject).where(
            t.outbox.c.type == "ijh.funding.application.approved")).all()
        requests = conn.execute(select(t.requests.c.request_id, t.requests.c.application_id)
                                .where(t.requests.c.operation == "decide")).all()
    engine.dispose()
    out = {}
    for app_id, name in ids.items():
        out[name] = {
            "state": rows[app_id].state, "grant_cents": rows[app_id].grant_cents,
            "audit": [a.request_id for a in audits if a.application_id == app_id],
            "events": sum(1 for e in events if e.subject == name),
            "requests": [r.request_id for r in requests if r.application_id == app_id]}
    return out


async def test_sigkill_mid_batch_keeps_every_acknowledged_decision_whole(faults_stack, ledger):
    stack, url = faults_stack
    agency = Caller("batch@example.fi", "agency", business_id(3_100_000))
    names = [await ledger.to_scored(grant_request(business=agency.business_id), agency)
             for _ in range(BATCH)]
    keys = {name: rid() for name in names}
    acknowledged: dict[str, f.DecideApplicationResponse] = {}

    async def approve(name: str) -> None:
        try:
            acknowledged[name] = await ledger.call("DecideApplication",
                                                   _approve(name, keys[name]), OFFICER_B)
        except grpc.aio.AioRpcError as exc:
            assert exc.code() == grpc.StatusCode.UNAVAILABLE  # the process died under it

    loop = asyncio.get_running_loop()
    started = loop.time()
    calls = [asyncio.create_task(approve(n)) for n in names]
    while len(acknowledged) < BATCH // 4:
        assert loop.time() - started < 30, "approvals do not come back"
        await asyncio.sleep(0.002)
    stack.funding.kill()  # SIGKILL while the rest of the batch is in flight
    elapsed = loop.time() - started
    await asyncio.gather(*calls)
    assert BATCH // 4 <= len(acknowledged) < BATCH, "the kill came after the whole batch"

    rows = _ledger_rows(url, names)
    for name, row in rows.items():
        if row["state"] == "approved":  # whole: state, grant, audit, event, request id
            assert row["grant_cents"] and row["audit"] == [keys[name]]
            assert row["events"] == 1 and row["requests"] == [keys[name]]
        else:  # untouched: nothing of the approval exists
            assert row["state"] == "scored"
            assert (row["audit"], row["events"], row["requests"]) == ([], 0, [])
    assert all(rows[name]["state"] == "approved" for name in acknowledged)
    committed_unacknowledged = sum(1 for n, r in rows.items()
                                   if r["state"] == "approved" and n not in acknowledged)

    stack.funding.start()
    stack.funding.wait_serving()
    for name, answer in acknowledged.items():  # present after the restart, as answered
        got = await ledger.call("GetApplication", f.GetApplicationRequest(name=name), OFFICER_B)
        assert got.application == answer.application
    for name in names:  # the client retries the rest with the same request ids
        if name not in acknowledged:
            again = await ledger.call("DecideApplication", _approve(name, keys[name]),
                                      OFFICER_B)
            assert again.application.state == f.APPLICATION_STATE_APPROVED
    rows = _ledger_rows(url, names)
    assert all(r["state"] == "approved" and len(r["audit"]) == 1 and r["events"] == 1
               for r in rows.values())
    print(f"\nSIGKILL after {len(acknowledged)}/{BATCH} acknowledged approvals "
          f"({len(acknowledged) / elapsed:.0f}/s); {committed_unacknowledged} committed but "
          "unacknowledged; the rest completed by retrying the same request ids")


async def _outbox_ids(url: str) -> tuple[list[str], int]:
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(select(t.outbox.c.event_id, t.outbox.c.sent_at)).all()
    engine.dispose()
    return [r.event_id for r in rows], sum(1 for r in rows if r.sent_at is None)


async def _stream_funding_event_ids(nats_url: str) -> list[str]:
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        info = await js.stream_info(STREAM)
        ids = []
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            message = await js.get_msg(STREAM, seq)
            if message.subject.startswith("ijh.funding.") and \
                    message.subject != "ijh.funding.grant.computed":
                ids.append(json.loads(message.data)["id"])
        return ids
    finally:
        await nc.close()


async def _until_published(url: str, timeout_seconds: float) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_seconds
    while (await _outbox_ids(url))[1] > 0:
        assert asyncio.get_running_loop().time() < deadline, "outbox not drained"
        await asyncio.sleep(0.2)


async def test_no_event_is_lost_while_nats_is_down(faults_stack, own_nats, ledger):
    _, url = faults_stack
    await _until_published(url, 30)
    own_nats.stop()
    agency = Caller("outage@example.fi", "agency", business_id(3_200_000))
    for _ in range(5):  # the service keeps answering: create, submit, score, approve
        name = await ledger.to_scored(grant_request(business=agency.business_id), agency)
        await ledger.call("DecideApplication", _approve(name, rid()), OFFICER_B)
    ids, unsent = await _outbox_ids(url)
    assert unsent >= 20
    own_nats.restart()
    loop = asyncio.get_running_loop()
    started = loop.time()
    await _until_published(url, 30)
    drained = loop.time() - started
    in_stream = await _stream_funding_event_ids(own_nats.url)
    assert sorted(in_stream) == sorted(ids)  # every event once, none lost, none twice
    print(f"\n{unsent} events held while NATS was down; all {len(ids)} ledger events in "
          f"the stream once, {drained:.1f} s after the restart")


async def test_without_the_risk_service_no_guarantee_is_approved_blind(faults_stack, ledger):
    stack, url = faults_stack
    name = await ledger.to_scored(guarantee_request(), COMPANY_AGENCY)
    stack.risk.stop()
    before = row_counts(url)
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await ledger.call("DecideApplication", _approve(name, rid()), OFFICER_B)
    # An outage of a dependency: UNAVAILABLE (the CLI says "retry", exit 5), not a refusal
    # on the merits; the reason says which check, RetryInfo when to try again.
    assert failure.value.code() == grpc.StatusCode.UNAVAILABLE
    info = error_info(failure.value)
    assert info is not None and (info.reason, info.domain) == ("RISK_CHECK_UNAVAILABLE", "ijh")
    assert retry_delay_seconds(failure.value) > 0
    assert "retry" in failure.value.details()
    # ...and asks retry policies (the gateway's towards funding) not to repeat it at once
    assert ("grpc-retry-pushback-ms", "-1") in tuple(failure.value.trailing_metadata())
    assert "127.0.0.1" not in failure.value.details()  # gRPC's own words stay in the log
    assert row_counts(url) == before  # nothing half-written: the approval is not recorded
    got = await ledger.call("GetApplication", f.GetApplicationRequest(name=name), OFFICER_B)
    assert got.application.state == f.APPLICATION_STATE_SCORED
