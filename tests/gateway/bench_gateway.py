"""The cost of the door: the same ComputeGrant called directly on the funding service
(plaintext, no checks) and through the gateway (TLS, bearer token verified, rate limit,
policy, forwarding), one caller at a time and with 32 concurrent callers.

Goal: the gateway keeps >= 60 % of direct throughput and adds < 1 ms at p50. Reported,
not asserted (2 shared cores are noisy); pytest-benchmark times the sequential gateway
call, the rest is in ``extra_info`` and printed. Run: ``make bench`` or
``.venv/bin/pytest -o python_files='bench_*.py' --benchmark-only -s
tests/gateway/bench_gateway.py``.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from pathlib import Path

import grpc
import pytest
from google.protobuf import json_format
from ijh.funding.v1 import funding_pb2, funding_pb2_grpc

from services.shared.config import client_options, load_settings
from tests.stack import Stack, start_stack

ROOT = Path(__file__).resolve().parents[2]
SEQUENTIAL_CALLS = 400
CONCURRENT_CALLERS = 32
CONCURRENT_SECONDS = 3.0

pytestmark = pytest.mark.bench


@pytest.fixture(scope="module")
def bench_stack(nats_server, tmp_path_factory):
    # No rate limit to speak of: the bench is one caller at thousands of calls a second.
    running = start_stack(nats_server, tmp_path_factory.mktemp("bench"), {
        "IJH_GATEWAY_RATE_PER_SECOND": "1000000", "IJH_GATEWAY_RATE_BURST": "1000000",
        "IJH_LOG_LEVEL": "INFO"})
    yield running
    running.stop()


def _request() -> funding_pb2.ComputeGrantRequest:
    return json_format.Parse((ROOT / "examples/grant.json").read_text(),
                             funding_pb2.ComputeGrantRequest())


def _targets(stack: Stack) -> dict[str, tuple]:
    """name -> (channel factory, metadata) for the direct and the gateway path."""
    options = client_options(load_settings({}))
    token = (("authorization", f"Bearer {stack.token('officer')}"),)
    ca = stack.pki.ca.read_bytes()
    return {
        "direct": (lambda aio: (grpc.aio if aio else grpc).insecure_channel(
            stack.funding.address, options=options), ()),
        "gateway": (lambda aio: (grpc.aio if aio else grpc).secure_channel(
            stack.gateway.address, grpc.ssl_channel_credentials(ca), options=options), token),
    }


def _sequential(make_channel, metadata, request) -> list[float]:
    with make_channel(False) as channel:
        call = funding_pb2_grpc.FundingServiceStub(channel).ComputeGrant
        for _ in range(50):  # warm up: connection, TLS, token cache
            call(request, metadata=metadata, timeout=10)
        latencies = []
        for _ in range(SEQUENTIAL_CALLS):
            start = time.perf_counter()
            call(request, metadata=metadata, timeout=10)
            latencies.append(time.perf_counter() - start)
    return latencies


async def _concurrent(make_channel, metadata, request) -> tuple[float, list[float]]:
    async with make_channel(True) as channel:
        call = funding_pb2_grpc.FundingServiceStub(channel).ComputeGrant
        await asyncio.gather(*(call(request, metadata=metadata, timeout=10)
                               for _ in range(CONCURRENT_CALLERS)))
        latencies: list[float] = []
        stop_at = time.perf_counter() + CONCURRENT_SECONDS

        async def caller():
            while time.perf_counter() < stop_at:
                start = time.perf_counter()
                await call(request, metadata=metadata, timeout=10)
                latencies.append(time.perf_counter() - start)

        began = time.perf_counter()
        await asyncio.gather(*(caller() for _ in range(CONCURRENT_CALLERS)))
        return len(latencies) / (time.perf_counter() - began), latencies


def _quantile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q * 100) - 1]


def test_gateway_against_direct_compute_grant(bench_stack, benchmark):
    request = _request()
    figures: dict[str, float] = {}
    targets = _targets(bench_stack)
    for name, (make_channel, metadata) in targets.items():
        latencies = _sequential(make_channel, metadata, request)
        figures[f"{name}_seq_rps"] = len(latencies) / sum(latencies)
        figures[f"{name}_seq_p50_ms"] = _quantile(latencies, 0.50) * 1000
        figures[f"{name}_seq_p99_ms"] = _quantile(latencies, 0.99) * 1000
        rps, latencies = asyncio.run(_concurrent(make_channel, metadata, request))
        figures[f"{name}_c{CONCURRENT_CALLERS}_rps"] = rps
        figures[f"{name}_c{CONCURRENT_CALLERS}_p50_ms"] = _quantile(latencies, 0.50) * 1000
        figures[f"{name}_c{CONCURRENT_CALLERS}_p99_ms"] = _quantile(latencies, 0.99) * 1000
    figures["seq_throughput_ratio"] = figures["gateway_seq_rps"] / figures["direct_seq_rps"]
    figures["concurrent_throughput_ratio"] = (figures[f"gateway_c{CONCURRENT_CALLERS}_rps"]
                                              / figures[f"direct_c{CONCURRENT_CALLERS}_rps"])
    figures["seq_p50_added_ms"] = figures["gateway_seq_p50_ms"] - figures["direct_seq_p50_ms"]
    benchmark.extra_info.update({k: round(v, 3) for k, v in figures.items()})
    for key, value in figures.items():
        print(f"{key:32s} {value:10.3f}")

    make_channel, metadata = targets["gateway"]
    with make_channel(False) as channel:
        call = funding_pb2_grpc.FundingServiceStub(channel).ComputeGrant
        call(request, metadata=metadata, timeout=10)
        benchmark.pedantic(lambda: call(request, metadata=metadata, timeout=10),
                           rounds=300, iterations=1, warmup_rounds=20)
