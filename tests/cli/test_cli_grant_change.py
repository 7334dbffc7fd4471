"""An IJH grant whose rules changed between submission and decision, through the ``ijh``
command and the real services: an officer approving with the grant they expect (the one
computed at submission) is refused GRANT_CHANGED, told both figures, and nothing is
decided. A stack of its own: its funding service reads a copy of the shipped rules with
the grant rate cut, and its clock can be moved on (rule_change/sitecustomize.py)."""

from __future__ import annotations

import shutil
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from services.funding.rules.rulebook import PARAMETER_DIRECTORY
from tests.cli.test_cli import ijh, ijh_json
from tests.stack import start_stack

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def rules_cut(tmp_path_factory) -> dict[str, object]:
    """The shipped IJH rules with the grant rate cut from 0.50 to 0.40 two days from
    today (Helsinki), so that a midnight passing mid-test still submits before it."""
    cut_on = datetime.now(ZoneInfo("Europe/Helsinki")).date() + timedelta(days=2)
    directory = tmp_path_factory.mktemp("rules") / "ijh"
    shutil.copytree(PARAMETER_DIRECTORY, directory)
    rate = directory / "grant_rate.yaml"
    rate.write_text(rate.read_text(encoding="utf-8") + f"""\
  {cut_on.isoformat()}:
    value: 0.40
    reference: Test decision lowering the rate (test only)
    last_reviewed: 2025-03-01
""", encoding="utf-8")
    return {"directory": directory, "cut_on": cut_on}


@pytest.fixture(scope="module")
def changed(nats_server, tmp_path_factory, rules_cut):
    """(stack, file of the funding clock's days ahead)."""
    var_dir = tmp_path_factory.mktemp("cli-grant-change")
    ahead = var_dir / "days-ahead"
    stack = start_stack(nats_server, var_dir, service_env={"funding": {
        "PYTHONPATH": str(HERE / "rule_change"),
        "FUNDING_TEST_IJH_RULES": str(rules_cut["directory"]),
        "FUNDING_TEST_DAYS_AHEAD_FILE": str(ahead)}})
    yield stack, ahead
    stack.stop()


@pytest.fixture(scope="module")
def env(changed, tmp_path_factory) -> dict[str, str]:
    stack, _ = changed
    home = tmp_path_factory.mktemp("home")
    return {"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"), "COLUMNS": "160",
            "PATH": "/usr/bin:/bin", "IJH_GATEWAY": stack.gateway.address,
            "IJH_CA_CERT": str(stack.pki.ca), "IJH_VAR_DIR": str(stack.var_dir)}


def test_an_approval_expecting_the_grant_the_rules_changed_is_refused(changed, env):
    _, ahead = changed
    name = ijh_json(env, "application", "create",
                    "examples/ijh_application.yaml")["application"]["name"]
    submitted = ijh_json(env, "application", "submit", name)["application"]
    assert submitted["grant_cents"] == "3495000"  # 50 % of the eligible 69,900.00
    for role in ("officer", "officer2"):
        ijh_json(env, "--role", role, "application", "score", name,
                 "--scores", "examples/ijh_scores.yaml")
    ahead.write_text("5")  # past the rate cut: 40 % of 69,900.00 is 27,960.00
    decided_on = (date.fromisoformat(submitted["submitted_on"]) + timedelta(days=5))
    before = ijh_json(env, "application", "show", name, "--history")["application"]

    # The officer expects the grant computed at submission: refused, both figures in
    # cents and in euros, and what to do; exit 3 (refused).
    done = ijh(env, "application", "decide", name, "approve", "--reason", "good plan",
               "--expected-grant-eur", "34 950")
    assert done.returncode == 3, done.stderr
    assert done.stderr.splitlines() == [
        "error: FAILED_PRECONDITION: 1 precondition(s) not met:",
        f"  GRANT_CHANGED {name}: the rules in force on {decided_on.isoformat()} changed "
        f"the grant from 3495000 cents (€34,950.00) on its submission day "
        f"{submitted['submitted_on']} to 2796000 cents (€27,960.00), not the 3495000 "
        "cents (€34,950.00) expected: approve again expecting 2796000 cents "
        "(€27,960.00), or reject it"], done.stderr
    # Nothing decided: the application reads as before, undecided.
    after = ijh_json(env, "application", "show", name, "--history")["application"]
    assert after == before
    assert after["state"] == "APPLICATION_STATE_SCORED"
    assert after["decision_rules_version"] == ""
    assert after["grant_cents"] == "3495000"

    # As advised: the approval expecting today's figure grants it.
    done = ijh(env, "application", "decide", name, "approve", "--reason", "good plan",
               "--expected-grant-eur", "27 960")
    assert done.returncode == 0, done.stderr
    approved = ijh_json(env, "application", "show", name)["application"]
    assert (approved["state"], approved["grant_cents"]) == \
        ("APPLICATION_STATE_APPROVED", "2796000")
