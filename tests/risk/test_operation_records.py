"""Operations outlive the risk process that ran them: records in NATS, read by a restarted
process and by another replica (real risk processes, real nats-server, gRPC on loopback)."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

import grpc
import nats
import pytest
from ijh.risk.v1 import risk_pb2 as r
from ijh.risk.v1 import risk_pb2_grpc

from services.embedded import ServiceProcess
from services.risk.operation_store import (
    BUCKET,
    HEARTBEAT_SECONDS,
    STALE_SECONDS,
    decode,
    operation_key,
    without_result,
)
from services.shared.caller_assertion import CallerKeys
from services.shared.nats_server import NatsServer, free_port
from tests.risk.test_operations_api import _simulation, _start
from tests.stack import caller_key_env, keys_of, signing_channel

ABORTED = grpc.StatusCode.ABORTED.value[0]
CANCELLED = grpc.StatusCode.CANCELLED.value[0]


@pytest.fixture
def own_nats(tmp_path):
    """A NATS server of the test's own: the bucket's retention is the test's."""
    server = NatsServer(tmp_path / "nats").start()
    yield server
    server.stop()


@pytest.fixture
async def replicas(own_nats, tmp_path):
    """Two risk processes, replicas "first" and "second", on the test's NATS server."""
    first = Risk(own_nats.url, tmp_path, "first")
    second = Risk(own_nats.url, tmp_path, "second")
    try:
        await asyncio.gather(first.start(), second.start())
        yield first, second
    finally:
        first.stop()
        second.stop()


# The gateway's keys for each risk process (by address): the test calls it directly,
# signing as the gateway would for an analyst.
_KEYS: dict[str, CallerKeys] = {}


def _channel(address: str) -> grpc.aio.Channel:
    return signing_channel(address, _KEYS[address], "t-analyst", "analyst")


class Risk:
    """A risk process; started again on the same address it is the same replica."""

    def __init__(self, nats_url: str, tmp_path: Path, name: str = "risk", **env: str):
        self.address = f"127.0.0.1:{free_port()}"
        self.log_path = tmp_path / f"{name}.log"
        self.env = {"IJH_NATS_URL": nats_url, "IJH_VAR_DIR": str(tmp_path),
                    "IJH_RISK_ADDRESS": self.address, "IJH_RISK_METRICS_ADDRESS": "0",
                    "IJH_DRAIN_SECONDS": "0", "IJH_GRACE_SECONDS": "1",
                    **caller_key_env(tmp_path), **env}
        self.process: ServiceProcess | None = None
        _KEYS[self.address] = keys_of(tmp_path)

    async def start(self) -> Risk:
        self.process = ServiceProcess("risk", self.address, self.env, self.log_path).start()
        await asyncio.to_thread(self.process.wait_serving)
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()

    def kill(self) -> None:
        self.process.kill()

    def log(self) -> list[dict]:
        return [json.loads(line) for line in self.log_path.read_text().splitlines()
                if line.startswith("{")]


async def _get(address: str, name: str) -> r.Operation:
    async with _channel(address) as channel:
        return (await risk_pb2_grpc.RiskServiceStub(channel).GetOperation(
            r.GetOperationRequest(name=name))).operation


async def _wait_done(address: str, name: str, seconds: float = 60) -> r.Operation:
    async with _channel(address) as channel:
        stub = risk_pb2_grpc.RiskServiceStub(channel)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        operation = r.Operation()
        while not operation.done and loop.time() < deadline:
            operation = (await stub.WaitOperation(r.WaitOperationRequest(
                name=name, timeout_seconds=5))).operation
        return operation


async def _started(address: str, request: r.StartPortfolioSimulationRequest) -> r.Operation:
    async with _channel(address) as channel:
        return (await risk_pb2_grpc.RiskServiceStub(channel).StartPortfolioSimulation(
            request)).operation


async def _progressing(address: str, name: str) -> None:
    async with _channel(address) as channel:
        stub = risk_pb2_grpc.RiskServiceStub(channel)
        for _ in range(600):
            operation = (await stub.GetOperation(r.GetOperationRequest(name=name))).operation
            if operation.metadata.progress.scenarios_done:
                return
            await asyncio.sleep(0.05)
    pytest.fail("no progress")


async def _listed(address: str) -> dict[str, r.Operation]:
    async with _channel(address) as channel:
        listed = await risk_pb2_grpc.RiskServiceStub(channel).ListOperations(
            r.ListOperationsRequest(page_size=100))
    return {o.name: o for o in listed.operations}


async def _stored(nats_url: str, name: str):
    nc = await nats.connect(nats_url)
    try:
        kv = await nc.jetstream().key_value(BUCKET)
        return decode((await kv.get(operation_key(name))).value)
    finally:
        await nc.close()


async def test_a_finished_operation_and_its_request_id_survive_a_restart(own_nats, tmp_path):
    risk = await Risk(own_nats.url, tmp_path).start()
    try:
        request = _start(_simulation(200, 8 * 1024))
        started = await _started(risk.address, request)
        finished = await _wait_done(risk.address, started.name)
        assert finished.HasField("response")
        risk.stop()
        await risk.start()  # a deploy: the same replica, a new process
        again = await _get(risk.address, started.name)
        assert again.SerializeToString() == finished.SerializeToString()  # bit-identical
        async with _channel(risk.address) as channel:
            stub = risk_pb2_grpc.RiskServiceStub(channel)
            listed = await stub.ListOperations(r.ListOperationsRequest(page_size=100))
            assert [o.name for o in listed.operations] == [started.name]
            # From the record's summary: all of it but the result.
            assert listed.operations[0] == without_result(finished)
            # The same request_id is still the same operation, not a second run...
            assert (await stub.StartPortfolioSimulation(request)).operation.name == started.name
            # ...and with another simulation still a mistake.
            other = _start(_simulation(200, 8 * 1024, seed=12), request_id=request.request_id)
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.StartPortfolioSimulation(other)
            assert refused.value.code() == grpc.StatusCode.ALREADY_EXISTS
    finally:
        risk.stop()


async def test_an_operation_running_when_the_process_is_killed_reads_aborted(own_nats,
                                                                             tmp_path):
    risk = await Risk(own_nats.url, tmp_path).start()
    try:
        started = await _started(risk.address, _start(_simulation(3000, 2_000 * 1024,
                                                                  seed=4242)))
        await _progressing(risk.address, started.name)
        risk.kill()  # a crash: nothing written at the end
        await risk.start()
        operation = await _get(risk.address, started.name)
        assert operation.done and operation.error.code == ABORTED
        assert "restarted" in operation.error.message
        assert "seed 4242 gives the same figures" in operation.error.message
        assert operation.metadata.progress.scenarios_total == 2_000 * 1024
    finally:
        risk.stop()


async def test_a_second_replica_answers_for_the_first_and_passes_a_cancel_on(replicas):
    first, second = replicas
    started = await _started(first.address, _start(_simulation(200, 8 * 1024)))
    finished = await _wait_done(first.address, started.name)
    assert (await _get(second.address, started.name)).SerializeToString() == \
        finished.SerializeToString()
    assert (await _wait_done(second.address, started.name)).HasField("response")

    # A running one: the second replica shows its progress and does not take it for
    # interrupted; its cancel reaches the first through the record.
    running = await _started(first.address, _start(_simulation(3000, 2_000 * 1024)))
    await _progressing(first.address, running.name)
    seen = await _get(second.address, running.name)
    assert not seen.done
    async with _channel(second.address) as channel:
        await risk_pb2_grpc.RiskServiceStub(channel).CancelOperation(
            r.CancelOperationRequest(name=running.name))
    cancelled = await _wait_done(second.address, running.name, seconds=30)
    assert cancelled.error.code == CANCELLED
    assert 0 < cancelled.metadata.progress.scenarios_done < 2_000 * 1024


async def test_an_end_one_replica_answers_is_read_alike_from_another_at_once(replicas):
    # The owner shows an end only once its record holds it: asked the moment the owner
    # answered done (to a WaitOperation, or a GetOperation), another replica reads the
    # same from the store, never "running". (Before, the end was written just after it
    # was shown, and about one round in five read running here.)
    first, second = replicas
    async with _channel(first.address) as owner, _channel(second.address) as other:
        owner, other = (risk_pb2_grpc.RiskServiceStub(c) for c in (owner, other))
        for turn in range(20):
            name = (await owner.StartPortfolioSimulation(
                _start(_simulation(20, 1024)))).operation.name
            if turn % 2:
                answered = (await owner.WaitOperation(r.WaitOperationRequest(
                    name=name, timeout_seconds=30))).operation
            else:
                answered = r.Operation()
                while not answered.done:
                    answered = (await owner.GetOperation(
                        r.GetOperationRequest(name=name))).operation
            assert answered.HasField("response")
            seen = (await other.GetOperation(r.GetOperationRequest(name=name))).operation
            assert seen.SerializeToString() == answered.SerializeToString(), turn


async def test_a_silent_replica_s_operation_reads_aborted_and_stays_so_when_it_wakes(
        own_nats, replicas):
    # The first replica freezes (SIGSTOP: alive, but writing nothing). The second sees the
    # record unchanged for STALE_SECONDS on its own clock and ends it ABORTED with the
    # seed; when the first wakes, its next write is refused, it finds the record done and
    # stops its run: done is final, it never turns back to running.
    first, second = replicas
    try:
        running = await _started(first.address, _start(_simulation(3000, 4_000 * 1024,
                                                                   seed=777)))
        await _progressing(first.address, running.name)
        first.process.process.send_signal(signal.SIGSTOP)
        loop = asyncio.get_running_loop()
        frozen_at = loop.time()
        seen = await _get(second.address, running.name)
        while not seen.done:
            assert loop.time() - frozen_at < STALE_SECONDS + 3 * HEARTBEAT_SECONDS
            await asyncio.sleep(1.0)
            seen = await _get(second.address, running.name)
        assert loop.time() - frozen_at >= STALE_SECONDS - HEARTBEAT_SECONDS  # not at once
        assert seen.error.code == ABORTED
        assert "seed 777 gives the same figures" in seen.error.message
        first.process.process.send_signal(signal.SIGCONT)
        await asyncio.sleep(2 * HEARTBEAT_SECONDS)  # the first writes again, or tries to
        for address in (first.address, second.address):
            again = await _get(address, running.name)
            assert again.done and again.error.code == ABORTED, address
            assert (await _listed(address))[running.name] == again, address
        assert (await _stored(own_nats.url, running.name)).operation.error.code == ABORTED
    finally:
        if first.process is not None and first.process.process.poll() is None:
            first.process.process.send_signal(signal.SIGCONT)


async def test_a_retention_too_short_to_judge_a_silent_replica_is_refused(own_nats,
                                                                          tmp_path):
    """Below twice the staleness time a record (and its request_id) could expire
    before its owner is judged gone: the process refuses to start, naming the setting.
    (The retention itself is the bucket's max_age: kept as set.)"""
    risk = Risk(own_nats.url, tmp_path, IJH_OPERATION_RETENTION_SECONDS="2")
    risk.process = ServiceProcess("risk", risk.address, risk.env, risk.log_path).start()
    assert await asyncio.to_thread(risk.process.process.wait, 60) == 2
    refused = [e for e in risk.log() if e["message"] == "cannot start"]
    assert "IJH_OPERATION_RETENTION_SECONDS" in refused[0]["error"]
    assert "at least 30 seconds" in refused[0]["error"]

    risk = await Risk(own_nats.url, tmp_path, "kept", IJH_OPERATION_RETENTION_SECONDS="40"
                      ).start()
    try:
        started = await _started(risk.address, _start(_simulation(50, 2048)))
        assert (await _wait_done(risk.address, started.name)).done
        nc = await nats.connect(own_nats.url)
        try:
            info = await nc.jetstream().stream_info(f"KV_{BUCKET}")
            assert info.config.max_age == 40
        finally:
            await nc.close()
    finally:
        risk.stop()


async def test_without_nats_operations_work_and_are_stored_once_it_is_back(tmp_path):
    port = free_port()
    risk = await Risk(f"nats://127.0.0.1:{port}", tmp_path).start()
    server = NatsServer(tmp_path / "nats", port=port)
    try:
        started = await _started(risk.address, _start(_simulation(50, 2048)))
        finished = await _wait_done(risk.address, started.name)
        assert finished.HasField("response")
        warnings = [e for e in risk.log() if e["level"] == "WARNING"
                    and e["message"].startswith("operation store not reachable")]
        assert warnings and "will not survive a restart" in warnings[0]["message"]

        server.start()  # NATS is back: the kept operation's record is written
        stored = None
        for _ in range(100):  # within a heartbeat or two of the reconnection
            try:
                stored = await _stored(server.url, started.name)
                break
            except (nats.js.errors.NotFoundError, nats.js.errors.BucketNotFoundError):
                await asyncio.sleep(0.2)
        assert stored is not None
        assert stored.operation.SerializeToString() == finished.SerializeToString()
    finally:
        risk.stop()
        server.stop()


async def test_a_shutdown_lets_operations_finish_in_the_drain_and_stores_the_stopped(
        own_nats, tmp_path):
    risk = await Risk(own_nats.url, tmp_path, IJH_DRAIN_SECONDS="3",
                      IJH_GRACE_SECONDS="1").start()
    try:
        long = await _started(risk.address, _start(_simulation(5000, 40_000 * 1024, seed=5)))
        short = await _started(risk.address, _start(_simulation(200, 64 * 1024)))
        risk.process.process.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(risk.process.process.wait, 15) == 0
    finally:
        risk.stop()
    codes = {e["operation"]: e["code"] for e in risk.log() if e["message"] == "operation done"}
    assert codes == {short.name: "OK", long.name: "ABORTED"}  # short ended in the drain
    stored = await _stored(own_nats.url, long.name)
    assert stored.operation.done and stored.operation.error.code == ABORTED
    assert "stopped by a service shutdown" in stored.operation.error.message
    assert (await _stored(own_nats.url, short.name)).operation.HasField("response")
