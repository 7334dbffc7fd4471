"""Each backend's Prometheus endpoint: the series the operators need, moving with work."""

from __future__ import annotations

import time
import urllib.request
import uuid

from ijh.funding.v1 import funding_pb2 as f
from ijh.funding.v1 import funding_pb2_grpc
from ijh.risk.v1 import risk_pb2 as r
from ijh.risk.v1 import risk_pb2_grpc

from services.shared.nats_server import NatsServer
from tests.stack import start_stack


def _scrape(address: str) -> str:
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=5) as answer:
        return answer.read().decode()


def _value(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(f"{name} ") or line.startswith(f"{name}{{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not exposed")


def _until(predicate, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("condition not reached")


def _long_simulation(seed: int) -> r.SimulatePortfolioRequest:
    """Two million scenarios of 3,000 guarantees: running for seconds, long enough to be
    seen in flight or cancelled."""
    simulation = r.SimulatePortfolioRequest(
        fund=r.FundTerms(capital_cents=10**12, horizon_years=1),
        simulation=r.PortfolioSimulationOptions(scenario_count=2000 * 1024, seed=seed,
                                                method=r.PORTFOLIO_METHOD_MONTE_CARLO))
    simulation.guarantees.extend(
        r.Guarantee(exposure_cents=1_000_000, probability_of_default=0.01,
                    loss_given_default=0.5, sector="s", branch="VM",
                    counterparty_kind=r.COUNTERPARTY_KIND_COMPANY, factor_loadings=[0.3])
        for _ in range(3000))
    return simulation


def test_risk_exposes_operations_in_flight(stack):
    assert _value(_scrape(stack.risk_metrics_address), "ijh_event_publish_failures_total") == 0
    simulation = _long_simulation(seed=1)
    with stack.gateway_channel("analyst") as channel:
        stub = risk_pb2_grpc.RiskServiceStub(channel)
        started = stub.StartPortfolioSimulation(r.StartPortfolioSimulationRequest(
            request_id=uuid.uuid4().hex, simulation=simulation), timeout=30).operation
        _until(lambda: _value(_scrape(stack.risk_metrics_address),
                              "ijh_operations_in_flight") >= 1)
        stub.CancelOperation(r.CancelOperationRequest(name=started.name), timeout=30)
    _until(lambda: _value(_scrape(stack.risk_metrics_address),
                          "ijh_operations_in_flight") == 0)
    text = _scrape(stack.risk_metrics_address)
    assert 'ijh_risk_requests_total{code="OK",method="/ijh.risk.v1.RiskService/' \
           'StartPortfolioSimulation"}' in text


def test_funding_outbox_backlog_rises_while_nats_is_down_and_drains(tmp_path):
    nats = NatsServer(tmp_path / "nats").start()
    stack = start_stack(nats, tmp_path / "var")
    try:
        address = stack.funding_metrics_address
        assert _value(_scrape(address), "ijh_outbox_backlog") == 0
        assert _value(_scrape(address), "ijh_outbox_dead") == 0  # exposed, none set aside
        assert _value(_scrape(address), "ijh_nats_connected") == 1
        assert _value(_scrape(address), "ijh_outbox_publish_failures_total") == 0
        nats.stop()
        with stack.gateway_channel("company") as channel:
            funding_pb2_grpc.FundingServiceStub(channel).CreateApplication(
                f.CreateApplicationRequest(
                    request_id=uuid.uuid4().hex,
                    kind=f.APPLICATION_KIND_GUARANTEE, title="Metrics check",
                    applicant=f.Applicant(kind="company", business_id="1234567-1",
                                          name="Oy Pilotti Ab"),
                    sector="energy", branch="TEM",
                    guarantee=f.GuaranteeTerms(amount_cents=100_000_00, guarantee_rate="0.5",
                                               cap_cents=60_000_00, fee_rate="0.01",
                                               term_months=12, rating_class="BBB")),
                timeout=30)
        # NATS down: kept (the relay counts every few seconds)
        _until(lambda: _value(_scrape(address), "ijh_outbox_backlog") >= 1)
        assert _value(_scrape(address), "ijh_nats_connected") == 0
        _until(lambda: _value(_scrape(address), "ijh_outbox_publish_failures_total") >= 1)
        nats.restart()
        _until(lambda: _value(_scrape(address), "ijh_outbox_backlog") == 0)
        assert _value(_scrape(address), "ijh_nats_connected") == 1
    finally:
        stack.stop()
        nats.stop()


def test_a_call_its_caller_cancels_is_counted_as_cancelled(stack):
    # An analyst's Ctrl-C on a streamed simulation is the caller's choice, not a server
    # error: alerting on UNKNOWN must not fire for it. (The session's stack is shared:
    # count what this call adds.)
    request = _long_simulation(seed=2)
    endpoints = ((stack.risk_metrics_address, "ijh_risk_"),
                 (stack.metrics_address, "ijh_gateway_"))

    def counts(address: str, prefix: str) -> dict[str, float]:
        found = {}
        for line in _scrape(address).splitlines():
            if line.startswith(prefix + "requests_total") and "SimulatePortfolio" in line:
                code = line.split('code="')[1].split('"')[0]
                found[code] = float(line.rsplit(" ", 1)[1])
        return found

    before = {prefix: counts(address, prefix) for address, prefix in endpoints}
    with stack.gateway_channel("analyst") as channel:
        call = risk_pb2_grpc.RiskServiceStub(channel).SimulatePortfolio(iter([request]),
                                                                        timeout=60)
        next(call)  # the first progress report: the simulation is running
        call.cancel()
    for address, prefix in endpoints:
        was = before[prefix]

        def added(a: str = address, p: str = prefix, was: dict = was) -> dict[str, float]:
            now = counts(a, p)
            return {c: n - was.get(c, 0.0) for c, n in now.items() if n != was.get(c, 0.0)}
        try:
            change = _until(added)
        except AssertionError:
            change = added()
        assert change == {"CANCELLED": 1.0}, (prefix, change)
