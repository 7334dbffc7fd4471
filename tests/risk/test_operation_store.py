"""The operation store's pure half: records round-trip bit-identical, the size policy,
and who counts as gone."""

from __future__ import annotations

import grpc
import pytest
from ijh.risk.v1 import risk_pb2 as r

from services.risk.operation_store import (
    STALE_SECONDS,
    Owner,
    RecordTooLarge,
    StoredOperation,
    decode,
    encode,
    operation_key,
    request_key,
)

ME = Owner("host-a/127.0.0.1:50052", "aaaa")


def _operation(top: int = 3, done: bool = True) -> r.Operation:
    operation = r.Operation(
        name="operations/" + "0" * 32, done=done, metadata=r.PortfolioSimulationMetadata(
            create_time="2026-01-01T00:00:00.000Z", creator="analyst", guarantee_count=top))
    if done:
        result = operation.response
        result.seed, result.scenario_count = 7, 1024
        result.expected_loss_cents.value = 1 / 3  # a figure with every bit used
        result.loss_histogram_edges_cents.extend([0.1 * i for i in range(50)])
        result.contributions.top_guarantees.extend(
            r.GuaranteeContribution(row=i, id=f"guarantee-{i:07d}") for i in range(top))
    return operation


def _stored(operation: r.Operation, owner: Owner = ME, heartbeat: float = 1000.0
            ) -> StoredOperation:
    return StoredOperation(operation, seed=7, owner=owner, heartbeat=heartbeat)


def test_a_record_comes_back_bit_identical():
    stored = _stored(_operation())
    back = decode(encode(stored, 10**6), revision=4)
    assert back.operation.SerializeToString() == stored.operation.SerializeToString()
    assert (back.seed, back.owner, back.heartbeat, back.revision) == (7, ME, 1000.0, 4)


def test_a_result_too_large_is_stored_without_its_largest_repeated_field_and_says_so():
    stored = _stored(_operation(top=20_000))
    data = encode(stored, 100_000)
    assert len(data) <= 100_000
    kept = decode(data).operation.response
    assert not kept.contributions.top_guarantees
    assert kept.loss_histogram_edges_cents == stored.operation.response.loss_histogram_edges_cents
    assert any("contributions.top_guarantees" in note and "seed 7" in note
               for note in kept.notes)
    # The result in memory is the full one.
    assert len(stored.operation.response.contributions.top_guarantees) == 20_000
    with pytest.raises(RecordTooLarge):
        encode(stored, 200)


@pytest.mark.parametrize(("owner", "heartbeat", "done", "interrupted"), [
    (Owner(ME.replica, "old"), 1000.0, False, True),  # an earlier instance of this replica
    (Owner("host-b/127.0.0.1:50052", "bbbb"), 1000.0, False, False),  # alive elsewhere
    (Owner("host-b/127.0.0.1:50052", "bbbb"), 1000.0 - STALE_SECONDS - 1, False, True),
    (Owner(ME.replica, "old"), 0.0, True, False),  # ended: nothing to interrupt
    (ME, 0.0, False, False),  # this process's own
])
def test_who_counts_as_gone(owner, heartbeat, done, interrupted):
    stored = _stored(_operation(done=done), owner, heartbeat)
    assert stored.interrupted(ME, now=1000.0) is interrupted


def test_an_interrupted_operation_ends_aborted_naming_its_seed():
    running = _operation(done=False)
    running.metadata.progress.scenarios_done = 512
    ended = _stored(running).as_interrupted("2026-01-01T01:00:00.000Z").operation
    assert ended.done and ended.error.code == grpc.StatusCode.ABORTED.value[0]
    assert "restarted" in ended.error.message and "seed 7 gives" in ended.error.message
    assert ended.metadata.end_time == "2026-01-01T01:00:00.000Z"
    assert ended.metadata.progress.scenarios_done == 512
    assert not running.done  # a copy


def test_keys():
    assert operation_key("operations/" + "ab" * 16) == "operations." + "ab" * 16
    assert operation_key("operations/nope") is None
    assert operation_key("operations/../x") is None
    assert request_key("a", "b") != request_key("a\0b", "")
    assert request_key("a", "b").startswith("requests.")
