"""The README's shell examples run as written against a fresh stack.

Each ```sh block of the chosen sections is run by bash in a folder laid out like a
checkout after `make run` (var/ with the dev PKI and demo tokens, .venv, examples), with
the gateway's address swapped for this stack's.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.stack import start_stack

ROOT = Path(__file__).resolve().parents[2]


def _section(title: str) -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index(f"## {title}")
    end = text.find("\n## ", start + 1)
    return text[start:end if end > 0 else None]


def _shell_blocks(section: str) -> list[str]:
    return [b for b in re.findall(r"```sh\n(.*?)```", section, flags=re.S)
            if "watch_events" not in b and "make " not in b]


@pytest.fixture(scope="module")
def readme_stack(nats_server, tmp_path_factory):
    stack = start_stack(nats_server, tmp_path_factory.mktemp("readme-var"))
    checkout = tmp_path_factory.mktemp("checkout")
    (checkout / "var").symlink_to(stack.var_dir)
    (checkout / ".venv").symlink_to(ROOT / ".venv")
    (checkout / "examples").symlink_to(ROOT / "examples")
    yield stack, checkout
    stack.stop()


def _run(script: str, stack, checkout: Path) -> str:
    script = script.replace("127.0.0.1:50051", stack.gateway.address)
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=checkout,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr + result.stdout[-2000:]
    return result.stdout


def _answers(output: str) -> list[dict]:
    """The JSON documents grpcurl printed, in order."""
    decoder, answers, i = json.JSONDecoder(), [], 0
    while (start := output.find("{", i)) >= 0:
        answer, i = decoder.raw_decode(output, start)
        answers.append(answer)
    return answers


def test_try_it_section_runs_as_written(readme_stack):
    stack, checkout = readme_stack
    blocks = _shell_blocks(_section("Try it"))
    grant = _answers(_run(blocks[0], stack, checkout))[0]
    assert (grant["eligible_cents"], grant["grant_cents"]) == ("5630000", "2815000")
    risk = _answers(_run(blocks[1], stack, checkout))[0]
    assert risk["seed"] == "20261129" and risk["scenario_count"] == "10000"
    python = _run(blocks[2], stack, checkout).split()
    assert python[:2] == ["5630000", "2815000"]


def test_officer_ledger_walkthrough_runs_as_written(readme_stack):
    stack, checkout = readme_stack
    script = "\n".join(_shell_blocks(_section("An officer's walk-through: the ledger")))
    answers = _answers(_run(script, stack, checkout))
    states = [a["application"]["state"] for a in answers if "application" in a]
    assert states[:2] == ["APPLICATION_STATE_DRAFT", "APPLICATION_STATE_SUBMITTED"]
    assert "APPLICATION_STATE_APPROVED" in states
    approved = next(a["application"] for a in answers if "application" in a
                    and a["application"]["state"] == "APPLICATION_STATE_APPROVED")
    # The README's figures: exposure min(1,000,000 x 50 %, cap 600,000) = 500,000 EUR;
    # GGE 300,000 x 500,000 / 2,250,000 = 66,666.67 EUR.
    assert approved["exposure_cents"] == "50000000"
    assert approved["gross_grant_equivalent_cents"] == "6666667"
    status = next(a for a in answers if "committed_cents" in a and "available_cents" in a)
    assert status["committed_cents"] == "50000000"
    assert status["available_cents"] == "24950000000"


def _cli_run(script: str, stack, checkout: Path) -> str:
    lines = [line for line in script.splitlines() if "<id>" not in line]
    env = {**os.environ, "IJH_GATEWAY": stack.gateway.address}
    env.pop("IJH_VAR_DIR", None)
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", "\n".join(lines)],
                            cwd=checkout, capture_output=True, text=True, timeout=600,
                            env=env)
    assert result.returncode == 0, result.stderr[-3000:] + result.stdout[-2000:]
    return result.stdout


def test_officer_cli_walkthrough_runs_as_written(readme_stack):
    stack, checkout = readme_stack
    block = _shell_blocks(_section("Walk-throughs").split("### A funding officer")[1])[0]
    output = _cli_run(block, stack, checkout)
    assert "69,900.00" in output and "34,950.00" in output  # as the README's comment says
    assert "approved" in output.lower()


def test_agency_cli_walkthrough_runs_as_written(readme_stack):
    stack, checkout = readme_stack
    block = _shell_blocks(_section("Walk-throughs").split("### An agency's project manager")[1])[0]
    _cli_run(block, stack, checkout)
    assert (stack.var_dir / "reports" / "pcp" / "index.html").exists()


def test_analyst_cli_walkthrough_runs_as_written(readme_stack):
    stack, checkout = readme_stack
    block = _shell_blocks(_section("Walk-throughs").split("### A fund analyst")[1])[0]
    output = _cli_run(block, stack, checkout)
    assert "operations/" in output  # --detach names the operation; status lists it
    assert (stack.var_dir / "reports" / "fund" / "index.html").exists()
