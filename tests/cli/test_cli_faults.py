"""The ``ijh`` command when a service behind the gateway is down: it says which and to
retry, not to start `make run` (the gateway answered), and the fund's status stands
without its risk figures, saying why they are missing. A stack of its own: the tests
stop its services, in order."""

from __future__ import annotations

import json

import grpc
import pytest
from ijh.funding.v1 import funding_pb2 as f

from tests.cli.test_cli import ijh
from tests.funding.ledger_api_support import (
    COMPANY_AGENCY,
    OFFICER_B,
    Ledger,
    guarantee_request,
    rid,
)
from tests.stack import start_stack


@pytest.fixture(scope="module")
def faults(nats_server, tmp_path_factory):
    stack = start_stack(nats_server, tmp_path_factory.mktemp("cli-faults"))
    yield stack
    stack.stop()


@pytest.fixture(scope="module")
def env(faults, tmp_path_factory) -> dict[str, str]:
    home = tmp_path_factory.mktemp("home")
    return {"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"), "COLUMNS": "160",
            "PATH": "/usr/bin:/bin", "IJH_GATEWAY": faults.gateway.address,
            "IJH_CA_CERT": str(faults.pki.ca), "IJH_VAR_DIR": str(faults.var_dir)}


async def _guarantee(ledger: Ledger, approve: bool) -> str:
    name = await ledger.to_scored(guarantee_request(), COMPANY_AGENCY)
    if approve:
        await ledger.call("DecideApplication", f.DecideApplicationRequest(
            request_id=rid(), name=name, decision=f.DECISION_APPROVE,
            reason="fund rules met"), OFFICER_B)
    return name


async def test_fund_status_without_the_risk_service_says_why_figures_are_missing(faults,
                                                                                 env):
    async with grpc.aio.insecure_channel(faults.funding.address) as channel:
        await _guarantee(Ledger(channel, faults.caller_keys), approve=True)
    with_figures = ijh(env, "fund", "status")
    assert with_figures.returncode == 0, with_figures.stderr
    assert "P(capital exhausted within 1 year)" in with_figures.stdout
    assert "risk figures unavailable" not in with_figures.stdout

    faults.risk.stop()
    done = ijh(env, "fund", "status")
    assert done.returncode == 0, done.stderr  # the rest of the status stands
    assert "committed" in done.stdout and "P(capital exhausted" not in done.stdout
    assert "risk figures unavailable: the risk service did not answer (UNAVAILABLE); " \
           "retry" in done.stdout
    status = json.loads(ijh(env, "fund", "status", "--json").stdout)["status"]
    assert status["risk_figures_unavailable"].startswith("the risk service did not answer")


async def test_a_service_down_behind_the_gateway_says_retry_not_make_run(faults, env):
    async with grpc.aio.insecure_channel(faults.funding.address) as channel:
        waiting = await _guarantee(Ledger(channel, faults.caller_keys), approve=False)
    faults.risk.stop()
    # funding's own well-formed refusal: its message, when to retry, no make-run hint
    done = ijh(env, "application", "decide", waiting, "approve", "--reason", "rules met")
    assert done.returncode == 5
    assert "RISK_CHECK_UNAVAILABLE" in done.stderr and "retry after 5 s" in done.stderr
    assert "make run" not in done.stderr

    faults.funding.kill()  # the gateway answers for it
    done = ijh(env, "grant", "compute", "examples/ijh_application.yaml")
    assert done.returncode == 5
    lines = done.stderr.splitlines()
    assert lines[0] == "error: UNAVAILABLE: the funding service is unavailable; retry shortly", \
        done.stderr
    assert "  reason BACKEND_UNAVAILABLE (service=funding)" in lines
    assert any(line.startswith("  retry after ") for line in lines)
    assert "make run" not in done.stderr and "127.0.0.1" not in done.stderr
