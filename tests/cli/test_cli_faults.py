"""The ``ijh`` command when a service behind the gateway is down: the fund's status
stands without its risk figures, saying why they are missing. A stack of its own: the
tests stop its services, in order."""

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
        await _guarantee(Ledger(channel), approve=True)
    with_figures = ijh(env, "fund", "status")
    assert with_figures.returncode == 0, with_figures.stderr
    assert "P(capital exhausted)" in with_figures.stdout
    assert "risk figures unavailable" not in with_figures.stdout

    faults.risk.stop()
    done = ijh(env, "fund", "status")
    assert done.returncode == 0, done.stderr  # the rest of the status stands
    assert "committed" in done.stdout and "P(capital exhausted)" not in done.stdout
    assert "risk figures unavailable: the risk service did not answer (UNAVAILABLE); " \
           "retry" in done.stdout
    status = json.loads(ijh(env, "fund", "status", "--json").stdout)["status"]
    assert status["risk_figures_unavailable"].startswith("the risk service did not answer")
