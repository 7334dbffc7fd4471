"""The ``ijh`` command as users run it: the installed script (.venv/bin/ijh) in a
subprocess, against the real services of the session ``stack`` (TLS, demo tokens), on the
example files. Figures are checked against hand computations; figures written to PNG are
checked by their IHDR header against figure size x dpi."""

from __future__ import annotations

import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ijh_cli.output import eur
from ijh_cli.plots import PIXELS, png_size

ROOT = Path(__file__).resolve().parents[2]
IJH = Path(sys.executable).parent / "ijh"
EXAMPLES = ROOT / "examples"


@pytest.fixture(scope="module")
def cli_env(stack, tmp_path_factory) -> dict[str, str]:
    """Environment that points ``ijh`` at the test stack: gateway, CA, and the var dir
    whose tokens/<role>.jwt the --role default reads. HOME is empty (no user config)."""
    home = tmp_path_factory.mktemp("home")
    env = {k: v for k, v in os.environ.items() if not k.startswith("IJH_")}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"),
               IJH_GATEWAY=stack.gateway.address, IJH_CA_CERT=str(stack.pki.ca),
               IJH_VAR_DIR=str(stack.var_dir), COLUMNS="160")
    return env


def ijh(env: dict[str, str], *args: str, cwd: Path | None = None,
        timeout: float = 60.0) -> subprocess.CompletedProcess:
    return subprocess.run([str(IJH), *args], env=env, cwd=cwd or ROOT, capture_output=True,
                          text=True, timeout=timeout)


def ijh_json(env, *args: str) -> dict:
    done = ijh(env, *args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def assert_png(path: Path) -> None:
    assert path.is_file(), path
    assert png_size(path) == PIXELS, path  # 8 x 4.5 inches at 100 dpi


# ------------------------------------------------------------------ officers: grants

def test_grant_compute_matches_hand_computation(cli_env):
    answer = ijh_json(cli_env, "grant", "compute", "examples/ijh_application.yaml")
    # Own personnel 48,000.00 x 0.5 x 1.25 = 30,000.00 and 36,000.00 x 0.2 x 1.25 = 9,000.00;
    # expert services 18,500.00 + 12,400.00 without VAT; travel is not an IJH cost.
    assert answer["eligible_cents"] == str(3_000_000 + 900_000 + 1_850_000 + 1_240_000)
    assert answer["grant_cents"] == "3495000"  # 50 % of 69,900.00, rounded down to the cent
    assert answer["rejected_cents"] == str(471_750 + 316_200 + 120_000)
    assert answer["reference_date"] == "2026-03-02"

    explained = ijh_json(cli_env, "grant", "explain", "examples/ijh_application.yaml")
    assert any(step["figure"] == "grant_cents" for step in explained["explanation"])


def test_a_file_without_a_reference_date_is_computed_under_todays_rules(cli_env, tmp_path):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    path = _edited(tmp_path, "ijh_application.yaml", "reference_date: 2026-03-02\n", "",
                   "undated.yaml")
    for command in ("compute", "explain"):
        today = datetime.now(ZoneInfo("Europe/Helsinki")).date().isoformat()
        done = ijh(cli_env, "grant", command, str(path), "--json")
        assert done.returncode == 0, done.stderr
        answer = json.loads(done.stdout)
        assert answer["reference_date"] in {today, datetime.now(
            ZoneInfo("Europe/Helsinki")).date().isoformat()}
        assert answer["grant_cents"] == "3495000"


def test_grant_explain_table_cuts_no_word(cli_env):
    # Long inputs and parameters (JSON lists, legal references) fold onto more lines;
    # an ellipsis would hide part of a figure's explanation.
    done = ijh(cli_env | {"COLUMNS": "300"}, "grant", "explain",
               "examples/ijh_application.yaml")
    assert done.returncode == 0, done.stderr
    assert "How each figure was computed" in done.stdout
    assert "…" not in done.stdout


def test_grant_tables_for_people(cli_env):
    done = ijh(cli_env, "--role", "officer", "grant", "compute", "examples/ijh_application.yaml")
    assert done.returncode == 0, done.stderr
    assert "€34,950.00" in done.stdout and "€69,900.00" in done.stdout


# ------------------------------------------------------------------ agencies: risk


def funnel_failure(suppliers: list[int], pass_probability: list[float]) -> float:
    """P(no supplier passes some phase): phase k starts with min(survivors, suppliers[k]),
    each passes independently with pass_probability[k] (services/risk README)."""
    entering = {suppliers[0]: 1.0}
    for k, p in enumerate(pass_probability):
        passed: dict[int, float] = {}
        for n, weight in entering.items():
            for m in range(n + 1):
                passed[m] = passed.get(m, 0.0) + weight * math.comb(n, m) * p**m * (1 - p)**(n - m)
        cap = suppliers[k + 1] if k + 1 < len(suppliers) else None
        entering = {}
        for m, weight in passed.items():
            if m > 0:
                key = min(m, cap) if cap else m
                entering[key] = entering.get(key, 0.0) + weight
    return 1.0 - sum(entering.values())


def test_pcp_estimate_figures_and_report(cli_env, tmp_path):
    report = tmp_path / "pcp"
    answer = ijh_json(cli_env, "risk", "estimate", "examples/pcp_procurement.yaml",
                      "--scenarios", "8192", "--seed", "424242", "--report", str(report))
    assert answer["seed"] == "424242"
    assert answer["scenario_count"] == "8192"
    for outcome in ("total_cost", "duration"):
        q = {x["level"]: x["value"] for x in answer[outcome]["quantiles"]}
        assert q[0.8] >= q[0.5]
    assert answer["budget_cents"] == "230000000"  # "2 300 000.00" euros, exactly

    # The file sets test_series' pass probability; the service reports the priors it used
    # for the other two phases. The funnel 4 -> 3 -> 2 gives the failure probability.
    defaults = {d["field"]: d["value"] for d in answer["defaults_used"]}
    p = [float(defaults["phases[0].pass_probability"]),
         float(defaults["phases[1].pass_probability"]), 0.75]
    expected = funnel_failure([4, 3, 2], p)
    got = answer["probability_of_failure"]
    assert abs(got["value"] - expected) <= 4 * got["standard_error"] + 1e-3, (got, expected)

    for name in ("cost_histogram", "cost_s_curve", "cost_tornado", "duration_histogram",
                 "duration_s_curve", "duration_tornado"):
        assert_png(report / f"{name}.png")
        assert f"{name}.png" in (report / "index.html").read_text()
    index = (report / "index.html").read_text()
    assert "424242" in index and "8,192" in index and "phases[0].pass_probability" in index
    # The deadline's value beside its probability; the cost figures say that the failed
    # scenarios (they stop spending early: the histogram's lower peaks) are counted.
    assert "P(duration &gt; deadline 720 d)" in index
    caption = re.search(r"<figcaption><b>Total cost\.</b>(.*?)</figcaption>", index).group(1)
    assert "fails a phase gate" in caption and "mean" in caption
    table = index.split("<h2>Total cost</h2>", 1)[1].split("<h2>", 1)[0]
    assert "<th>mean</th>" in table and "fails a phase gate" in table


def test_the_reports_command_reproduces_its_confidence(cli_env, tmp_path):
    # With --confidence 0.95 the report shows P95 contingency; its command reran P80.
    report = tmp_path / "p95"
    answer = ijh_json(cli_env, "risk", "estimate", "examples/pcp_procurement.yaml",
                      "--scenarios", "4096", "--seed", "7", "--confidence", "0.95",
                      "--report", str(report))
    assert answer["confidence"] == pytest.approx(0.95)
    index = (report / "index.html").read_text()
    assert "cost at P95" in index
    command = re.search(r"Reproduce: <code>ijh (.*?)</code>", index).group(1)
    assert "--confidence 0.95" in command
    again = ijh_json(cli_env, *command.split())
    assert again["confidence"] == answer["confidence"]
    assert again["cost_at_confidence_cents"] == answer["cost_at_confidence_cents"]


def test_heat_as_a_service_estimate(cli_env):
    answer = ijh_json(cli_env, "risk", "estimate", "examples/heat_as_a_service.yaml",
                      "--scenarios", "4096")
    assert answer["seed"] == "70"  # the file's seed, echoed
    assert answer["scenario_count"] == "4096"
    assert 0.99 in [q["level"] for q in answer["total_cost"]["quantiles"]]
    names = {s["input_name"] for s in answer["cost_sensitivity"]}
    assert "renewable_share_below_70_percent" in names
    # No phases in the file: the default gate, one supplier, fails with 1 - p.
    phases = next(d["value"] for d in answer["defaults_used"] if d["field"] == "phases")
    suppliers, p = re.search(r"\((\d+) suppliers, pass ([0-9.]+)\)", phases).groups()
    expected = funnel_failure([int(suppliers)], [float(p)])
    got = answer["probability_of_failure"]
    assert abs(got["value"] - expected) <= 4 * got["standard_error"] + 1e-3
    # metering_and_reporting gives only its most likely amount: the spread filled around
    # it, named by the request's field and shown in euros (not "2.34e+07 ... cents").
    filled = {d["field"]: d["value"] for d in answer["defaults_used"]}
    assert filled["cost_items[4].distribution.most_likely_cents"] == (
        "PERT(minimum €234,000.00, mode €260,000.00, maximum €431,600.00)")
    # People read the file's own name of that field.
    shown = ijh(cli_env, "risk", "estimate", "examples/heat_as_a_service.yaml",
                "--scenarios", "4096")
    assert shown.returncode == 0, shown.stderr
    assert "cost_items[4].cost.most_likely" in shown.stdout
    assert "€234,000.00" in shown.stdout and "e+07" not in shown.stdout


def test_guarantee_evaluate_uses_the_files_terms(cli_env):
    answer = ijh_json(cli_env, "guarantee", "evaluate", "examples/pcp_procurement.yaml",
                      "--scenarios", "4096")
    terms = answer["terms"]
    assert terms["covered_loss"] == "COVERED_LOSS_COST_OVERRUN"
    assert terms["cap_cents"] == "30000000" and terms["deductible_cents"] == "5000000"
    assert 0 <= answer["expected_payout_cents"]["value"] <= 30_000_000
    for level in answer["risk_levels"]:
        assert level["value_at_risk_cents"]["value"] <= level["expected_shortfall_cents"][
            "value"] + 1e-6 <= 30_000_000 + 1e-6


def test_heat_service_is_not_lost_when_the_procurement_fails(cli_env):
    # The service (~9 M EUR) is bought only if a supplier delivers it: a failure loses the
    # tender's preparation and the risk events' costs, not the service. Counted as spent
    # in every failure, the payout was the 1 M EUR cap in each (VaR 99 % = the cap, as
    # P(failure) ~ 7 % > 1 %).
    answer = ijh_json(cli_env, "guarantee", "evaluate", "examples/heat_as_a_service.yaml",
                      "--covers", "loss_at_failure", "--scenarios", "8192", "--seed", "1")
    assert answer["terms"]["cap_cents"] == "100000000"
    var99 = next(level["value_at_risk_cents"]["value"] for level in answer["risk_levels"]
                 if level["level"] == pytest.approx(0.99))
    assert var99 < 0.6 * 100_000_000
    assert answer["expected_payout_cents"]["value"] < 0.02 * 100_000_000
    # ... and the estimate's note on failed scenarios is true of it.
    done = ijh(cli_env, "risk", "estimate", "examples/heat_as_a_service.yaml",
               "--scenarios", "4096")
    assert done.returncode == 0, done.stderr
    assert "lower peaks" in " ".join(done.stdout.split())


def test_loss_at_failure_of_a_model_that_spends_everything_in_every_scenario_is_refused(
        cli_env, tmp_path):
    text = (EXAMPLES / "heat_as_a_service.yaml").read_text().replace(
        "    only_on_success: true\n", "")
    model = tmp_path / "heat_unconditional.yaml"
    model.write_text(text)
    done = ijh(cli_env, "guarantee", "evaluate", str(model), "--covers", "loss_at_failure",
               "--scenarios", "4096")
    assert done.returncode != 0
    said = " ".join(done.stderr.split())
    assert "LOSS_AT_FAILURE" in said and "only_on_success" in said, said
    assert "guarantee.covers" in said or "terms.covered_loss" in said, said
    # ... while the overrun is still evaluated, and the estimate says nothing of failed
    # scenarios spending less.
    assert ijh(cli_env, "guarantee", "evaluate", str(model), "--scenarios", "4096"
               ).returncode == 0
    done = ijh(cli_env, "risk", "estimate", str(model), "--scenarios", "4096")
    assert done.returncode == 0 and "phase gate" not in done.stdout


# ------------------------------------------------------------------ analysts: the portfolio

def test_portfolio_simulation_with_report(cli_env, tmp_path):
    report = tmp_path / "fund"
    done = ijh(cli_env, "portfolio", "simulate", "examples/fund_portfolio.csv",
               "--options", "examples/fund_portfolio.yaml", "--scenarios", "4096",
               "--seed", "99", "--report", str(report), "--json", timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["guarantee_count"] == "3000"
    assert result["seed"] == "99" and int(result["scenario_count"]) >= 4096
    assert result["capital_cents"] == "2500000000"
    for tail in result["tail_risk"]:
        assert tail["expected_shortfall_cents"]["value"] >= tail["value_at_risk_cents"]["value"]
    years = [e["value"] for e in result["exhaustion_probability_by_year"]]
    assert len(years) == 5 and years == sorted(years)
    contributions = result["contributions"]
    by_sector = sum(g["expected_shortfall_cents"]["value"] for g in contributions["by_sector"])
    assert by_sector == pytest.approx(contributions["conditional_tail_loss_cents"], rel=1e-6)
    assert int(contributions["scenario_count"]) == int(result["scenario_count"])
    assert "progress" in done.stderr  # the stream's progress, one line each when not a tty
    for name in ("loss_distribution", "exhaustion_by_year", "contributions"):
        assert_png(report / f"{name}.png")
    page = (report / "index.html").read_text()
    assert "99" in page and "from its own" in page  # the contributions say how they were made


def test_ctrl_c_cancels_the_simulation_and_exits_130(cli_env):
    process = subprocess.Popen(
        [str(IJH), "portfolio", "simulate", "examples/fund_portfolio.csv", "--options",
         "examples/fund_portfolio.yaml", "--scenarios", "300000", "--no-contributions"],
        env=cli_env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        line = ""
        while time.monotonic() < deadline and not line.startswith("progress"):
            line = process.stderr.readline()
        assert line.startswith("progress"), line
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130
    assert "cancelled" in err


def test_detached_simulation_status(cli_env):
    started = ijh_json(cli_env, "portfolio", "simulate", "examples/fund_portfolio.csv",
                       "--options", "examples/fund_portfolio.yaml", "--scenarios", "2048",
                       "--no-contributions", "--detach")
    name = started["operation"]["name"]
    assert name.startswith("operations/")
    done = ijh(cli_env, "portfolio", "status", name, "--wait", "--json", timeout=120)
    assert done.returncode == 0, done.stderr
    operation = json.loads(done.stdout)
    assert operation["done"] is True
    assert operation["response"]["guarantee_count"] == "3000"


def _reproduced(env, page: str, files: dict[str, str] | None = None) -> dict:
    """Run the report's Reproduce line (its placeholders replaced by ``files``)."""
    import html
    import shlex

    line = html.unescape(re.search(r"Reproduce: <code>(.*?)</code>", page).group(1))
    words = [(files or {}).get(w, w) for w in shlex.split(line)]
    assert words[0] == "ijh", line
    return ijh_json(env, *words[1:])


def _same_figures(a: dict, b: dict) -> None:
    for key in ("seed", "scenario_count", "capital_cents", "annual_fee_income_cents",
                "expected_loss_cents", "tail_risk", "exhaustion_probability_by_year"):
        assert a.get(key) == b.get(key), key


def test_the_reports_command_reproduces_the_portfolio_figures(cli_env, tmp_path):
    # It dropped --capital-eur and --horizon-years: its figures were another fund's.
    report = tmp_path / "fund"
    done = ijh(cli_env, "portfolio", "simulate", "examples/fund_portfolio.csv",
               "--options", "examples/fund_portfolio.yaml", "--capital-eur", "30 000 000",
               "--horizon-years", "3", "--scenarios", "2048", "--no-contributions",
               "--report", str(report), "--json", timeout=120)
    assert done.returncode == 0, done.stderr
    first = json.loads(done.stdout)
    page = (report / "index.html").read_text()
    assert "--capital-eur" in page and "--horizon-years 3" in page
    _same_figures(first, _reproduced(cli_env, page))


def test_a_detached_runs_report_says_what_its_command_needs(cli_env, tmp_path):
    # It read "ijh portfolio simulate PORTFOLIO.csv --scenarios ...", which the command
    # refuses (no dependence), under "the seed and scenario count reproduce them exactly".
    started = ijh_json(cli_env, "portfolio", "simulate", "examples/fund_portfolio.csv",
                       "--options", "examples/fund_portfolio.yaml", "--capital-eur",
                       "20 000 000", "--horizon-years", "2", "--scenarios", "2048",
                       "--no-contributions", "--detach")
    report = tmp_path / "detached"
    done = ijh(cli_env, "portfolio", "status", started["operation"]["name"], "--wait",
               "--report", str(report), "--json", timeout=120)
    assert done.returncode == 0, done.stderr
    page = (report / "index.html").read_text()
    assert "--options OPTIONS.yaml" in page and "the files it was started with" in page
    assert "the seed and scenario count above reproduce them exactly" not in page
    again = _reproduced(cli_env, page, {"PORTFOLIO.csv": "examples/fund_portfolio.csv",
                                        "OPTIONS.yaml": "examples/fund_portfolio.yaml"})
    _same_figures(json.loads(done.stdout)["response"], again)


def test_operations_are_listed_a_page_at_a_time(cli_env):
    for _ in range(2):
        ijh_json(cli_env, "portfolio", "simulate", "examples/fund_portfolio.csv", "--options",
                 "examples/fund_portfolio.yaml", "--scenarios", "2048", "--no-contributions",
                 "--detach")
    first = ijh_json(cli_env, "portfolio", "status", "--page-size", "1")
    assert len(first["operations"]) == 1 and first["next_page_token"]
    second = ijh_json(cli_env, "portfolio", "status", "--page-size", "1", "--page-token",
                      first["next_page_token"])
    assert len(second["operations"]) == 1
    assert second["operations"][0]["name"] != first["operations"][0]["name"]
    readable = ijh(cli_env, "portfolio", "status", "--page-size", "1")
    assert readable.returncode == 0, readable.stderr
    assert "older ones: ijh portfolio status --page-size 1 --page-token " in readable.stdout


def test_fund_status_and_parameters(cli_env):
    status = ijh_json(cli_env, "fund", "status")
    assert int(status["status"]["paid_in_capital_cents"]) > 0
    assert "sectors" in status["exposure"]
    params = ijh_json(cli_env, "params", "show", "--date", "2026-03-02")
    names = {p["name"] for p in params["parameters"]}
    assert {"grant_rate", "scoring_criteria"} <= names


# ------------------------------------------------------------------ the application life cycle

def test_application_life_cycle(cli_env):
    created = ijh_json(cli_env, "application", "create", "examples/ijh_application.yaml")
    name = created["application"]["name"]
    assert created["application"]["state"] == "APPLICATION_STATE_DRAFT"
    submitted = ijh_json(cli_env, "application", "submit", name)  # default role: agency
    assert submitted["application"]["grant_cents"] == "3495000"
    ijh_json(cli_env, "application", "score", name, "--scores", "examples/ijh_scores.yaml")
    ijh_json(cli_env, "--role", "officer2", "application", "score", name,
             "--scores", "examples/ijh_scores.yaml")
    decided = ijh_json(cli_env, "application", "decide", name, "approve", "--reason",
                       "passes every criterion")
    assert decided["application"]["state"] == "APPLICATION_STATE_APPROVED"
    shown = ijh_json(cli_env, "application", "show", name, "--history")
    assert [h["action"] for h in shown["application"]["history"]][:2] == ["create", "submit"]
    readable = ijh(cli_env, "application", "show", name, "--history")
    assert readable.returncode == 0, readable.stderr
    assert "Why: approve" in readable.stdout and "Score aggregation" in readable.stdout
    assert "How the grant was computed (approve)" in readable.stdout
    assert "€34,950.00 = 0.50 × eligible €69,900.00" in readable.stdout
    listed = ijh_json(cli_env, "--role", "agency", "application", "list")  # own business ID
    assert name in [a["name"] for a in listed["applications"]]
    other = ijh(cli_env, "--role", "agency2", "application", "show", name)
    assert other.returncode == 4 and "PERMISSION_DENIED" in other.stderr


def _scored_ijh_application(cli_env) -> str:
    """An IJH grant application of the example file, submitted and scored by two officers:
    ready for a decision by either."""
    name = ijh_json(cli_env, "application", "create",
                    "examples/ijh_application.yaml")["application"]["name"]
    ijh_json(cli_env, "application", "submit", name)
    ijh_json(cli_env, "application", "score", name, "--scores", "examples/ijh_scores.yaml")
    ijh_json(cli_env, "--role", "officer2", "application", "score", name,
             "--scores", "examples/ijh_scores.yaml")
    return name


def test_decide_with_decision_terms(cli_env):
    name = _scored_ijh_application(cli_env)
    # A grant above the computed €34,950.00 is refused, naming both figures (cents, euros).
    above = ijh(cli_env, "application", "decide", name, "approve", "--reason", "ok",
                "--grant-eur", "34 950.01")
    assert above.returncode == 3, above.stderr
    assert re.search(r"GRANT_ABOVE_COMPUTED applications/\d+: the decision's grant 3495001 "
                     r"cents \(€34,950\.01\) is above the 3495000 cents \(€34,950\.00\)",
                     above.stderr), above.stderr
    # Rules unchanged since submission: a wrong expected grant is the flag's fault.
    expected = ijh(cli_env, "application", "decide", name, "approve", "--reason", "ok",
                   "--expected-grant-eur", "34 000")
    assert expected.returncode == 3, expected.stderr
    assert "  --expected-grant-eur: the rules give 3495000 cents (€34,950.00), as on the " \
           "submission date (" in expected.stderr
    assert "not 3400000 cents (€34,000.00): it is the computed grant" in expected.stderr
    # Not an amount of cents: refused before calling.
    bad = ijh(cli_env, "application", "decide", name, "approve", "--reason", "ok",
              "--grant-eur", "12.345")
    assert bad.returncode == 2 and "--grant-eur: '12.345' is not an amount" in bad.stderr
    # At 20 % indirect costs: 48,000 x 0.5 x 1.2 + 36,000 x 0.2 x 1.2 + 18,500 + 12,400
    # = 68,340.00 eligible, 50 % = 34,170.00 computed; the decision fixes 34,000.50.
    done = ijh(cli_env, "application", "decide", name, "approve", "--reason", "terms set",
               "--indirect-cost-rate", "0.2", "--expected-grant-eur", "34 170.00",
               "--grant-eur", "34000.50")
    assert done.returncode == 0, done.stderr
    assert re.search(r"awarded grant\s+│\s+€34,000\.50", done.stdout), done.stdout
    stored = ijh_json(cli_env, "application", "show", name, "--history")["application"]
    assert stored["state"] == "APPLICATION_STATE_APPROVED"
    assert stored["grant_cents"] == "3400050"
    trace = json.loads(stored["history"][-1]["explanation_json"])
    assert trace["decision_terms"] == {"indirect_cost_rate": "0.2",
                                       "computed_grant_cents": 3_417_000,
                                       "grant_cents": 3_400_050}
    readable = ijh(cli_env, "application", "show", name, "--history")
    assert ("grant €34,000.50 of the computed €34,170.00; indirect-cost rate 0.2"
            in " ".join(readable.stdout.split())), readable.stdout


CRITERIA = ("novelty", "expected_impact", "market_dialogue_and_end_user_involvement",
            "feasibility_and_commitment", "reference_and_export_value")


def test_a_score_refusal_lists_every_failing_criterion(cli_env):
    """Every criterion below its pass mark: each is a line of the refusal, said once, and
    no line is cut (" ... "), though the refusal's whole text is past the status
    message's 640 bytes when the only scorer tries to decide it too."""
    name = ijh_json(cli_env, "application", "create",
                    "examples/ijh_application.yaml")["application"]["name"]
    ijh_json(cli_env, "application", "submit", name)
    ijh_json(cli_env, "application", "score", name,
             *[f"--score={c}=1" for c in CRITERIA])
    for role, four_eyes in (("officer2", False), ("officer", True)):
        done = ijh(cli_env, "--role", role, "application", "decide", name, "approve",
                   "--reason", "ok")
        assert done.returncode == 3, done.stderr
        lines = done.stderr.splitlines()
        count = 6 + four_eyes
        assert lines[0] == f"error: FAILED_PRECONDITION: {count} precondition(s) not met:", \
            done.stderr
        assert [line for line in lines if line.startswith("  SCORE criterion/")] == [
            f"  SCORE criterion/{c}: mean 1.00 < pass mark 3" for c in CRITERIA]
        assert re.search(rf"^  SCORE {name}: the officers' scores fail the rubric of its "
                         r"submission day \S+: 5 of its 5 criteria below their pass mark, "
                         r"total 5\.00 < overall pass mark 17: reject it, or whoever "
                         r"mistyped replaces their sheet \(ijh application score\) and another "
                         r"officer decides$", done.stderr, re.M), done.stderr
        assert (f"  FOUR_EYES {name}: dev-officer-1 is the only scorer" in done.stderr) \
            is four_eyes
        assert " ... " not in done.stderr
    shown = ijh_json(cli_env, "application", "show", name)["application"]
    assert shown["state"] == "APPLICATION_STATE_SCORED"


GUARANTEE_APPLICATION = """kind: guarantee
title: "Pilot line of heat pumps"
applicant: {kind: company, business_id: 1234567-1, name: Oy Pilotti Ab}
sector: energy
branch: TEM
guarantee:
  amount_eur: "100 000.00"
  guarantee_rate: "0.5"
  cap_eur: "60 000.00"
  fee_rate: "0.01"
  term_months: 12
  rating_class: BBB
"""


def test_guarantee_decision_explained_in_history(cli_env, tmp_path):
    path = tmp_path / "guarantee.yaml"
    path.write_text(GUARANTEE_APPLICATION)
    created = ijh_json(cli_env, "--role", "company", "application", "create", str(path))
    name = created["application"]["name"]
    ijh_json(cli_env, "--role", "company", "application", "submit", name)
    ijh_json(cli_env, "application", "score", name, "--scores", "examples/ijh_scores.yaml")
    # The only scorer may not decide: the refusal is said once, not as message + detail.
    alone = ijh(cli_env, "application", "decide", name, "approve", "--reason", "ok")
    assert alone.returncode == 3
    assert alone.stderr.count("is the only scorer and may not decide alone") == 1, alone.stderr
    assert "FOUR_EYES" in alone.stderr
    ijh_json(cli_env, "--role", "officer2", "application", "score", name,
             "--scores", "examples/ijh_scores.yaml")
    ijh_json(cli_env, "application", "decide", name, "approve", "--reason", "rules met")

    stored = ijh_json(cli_env, "application", "show", name, "--history")["application"]
    trace = json.loads(stored["history"][-1]["explanation_json"])
    risk = trace["risk"]
    done = ijh(cli_env, "application", "show", name, "--history")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "Fund rules checked (approve)" in out and "Score aggregation" in out
    for check in trace["checks"]:
        assert re.search(rf"{check['rule']} .* pass ", out), check["rule"]
    assert (f"{risk['measure']} after the guarantee {eur(risk['after_cents'])} ± "
            f"{eur(risk['standard_error_cents'])}") in out
    assert f"seed {risk['seed']}" in out
    assert "gross grant equivalent" in out and "de minimis" in out
    # ... and the application itself: its cap and its de minimis aid, not only in --json.
    words = " ".join(out.split())
    assert "│ cap │ €60,000.00 │" in words
    assert (f"│ de minimis aid (gross grant equivalent) │ "
            f"{eur(int(stored['gross_grant_equivalent_cents']))} │") in words

    # The fund's risk figures now include it: over the risk model's 1-year horizon,
    # without fee income (unlike the portfolio example's 5 years with fees).
    status = ijh(cli_env, "fund", "status")
    assert status.returncode == 0, status.stderr
    said = " ".join(status.stdout.split())
    assert "under the fund's risk model (over 1 year, no fee income):" in said, said
    assert "P(capital exhausted within 1 year): " in said


# ------------------------------------------------------------------ officers: de minimis

# Companies no other test uses (valid check digits: services/shared/business_id.py).
DE_MINIMIS_COMPANY = "7300002-8"
KIND_COMPANY = "7300003-6"
ONCE_COMPANY = "7300004-4"
TWICE_COMPANY = "7300005-2"


def test_de_minimis_record_show_correct_show(cli_env):
    from datetime import date, timedelta

    granted_on = (date.today() - timedelta(days=30)).isoformat()
    first = ijh_json(cli_env, "deminimis", "record", DE_MINIMIS_COMPANY, "--granted-on",
                     granted_on, "--amount-eur", "12 345.67", "--reference",
                     "Business Finland 2024/17")["aid"]
    ijh_json(cli_env, "deminimis", "record", DE_MINIMIS_COMPANY, "--granted-on", granted_on,
             "--amount-eur", "1000.01", "--reference", "ELY 2025/3")
    before = ijh_json(cli_env, "deminimis", "show", DE_MINIMIS_COMPANY)
    assert before["counted_cents"] == str(1_234_567 + 100_001)
    assert int(before["room_cents"]) == int(before["ceiling_cents"]) - 1_334_568
    assert [a["counted"] for a in before["aid"]] == [True, True]
    assert before["beneficiary_kind"] == "BENEFICIARY_KIND_COMPANY"
    assert before["kind_confirmed_by"] == "dev-officer-1"

    # A public unit has no aid: refused while a row counts.
    refused = ijh(cli_env, "beneficiary", "set-kind", DE_MINIMIS_COMPANY, "public_unit",
                  "--reason", "a municipality")
    assert refused.returncode == 3 and "AID_RECORDED" in refused.stderr, refused.stderr

    correction = ijh(cli_env, "deminimis", "correct", DE_MINIMIS_COMPANY, first["id"],
                     "--reason", "declared twice")
    assert correction.returncode == 0, correction.stderr
    assert re.search(rf"reverses\s+│\s+#{first['id']} ", correction.stdout), correction.stdout
    after = ijh_json(cli_env, "deminimis", "show", DE_MINIMIS_COMPANY)
    assert after["counted_cents"] == "100001"
    assert int(after["room_cents"]) == int(after["ceiling_cents"]) - 100_001
    rows = after["aid"]
    assert [(a["amount_cents"], a["counted"]) for a in rows] == [
        ("1234567", False), ("100001", True), ("1234567", False)]
    assert rows[0]["reversed_by_aid_id"] == rows[2]["id"]
    assert rows[2]["reverses_aid_id"] == first["id"] and rows[2]["reason"] == "declared twice"

    table = ijh(cli_env, "deminimis", "show", DE_MINIMIS_COMPANY)
    assert table.returncode == 0, table.stderr
    out = table.stdout
    assert re.search(r"counted\s+│\s+€1,000\.01", out) and "room left" in out, out
    assert f"reversed by #{rows[2]['id']}" in out and f"reverses #{first['id']}" in out
    assert "-€12,345.67" in out  # the correction takes the amount back
    assert before["regulation"] in " ".join(out.split())


def test_declared_aid_recorded_again_by_the_same_command_is_counted_once(cli_env):
    """The officer does not know whether a run landed (a timeout) and runs the command
    again: the default request id is the row's, so the second run answers the first row."""
    from datetime import date, timedelta

    args = ("deminimis", "record", ONCE_COMPANY, "--granted-on",
            (date.today() - timedelta(days=10)).isoformat(), "--amount-eur", "10 000",
            "--reference", "Declared: ELY 2025/1")
    runs = [ijh(cli_env, *args, "--json") for _ in range(2)]
    assert [run.returncode for run in runs] == [0, 0], runs[0].stderr
    first, second = (json.loads(run.stdout)["aid"] for run in runs)
    assert first["id"] == second["id"]
    said = re.fullmatch(r"request id (\S+) \(repeat with --request-id \1 to retry safely\)\n",
                        runs[0].stderr)
    assert said and runs[1].stderr == runs[0].stderr, runs[0].stderr
    register = ijh_json(cli_env, "deminimis", "show", ONCE_COMPANY)
    assert register["counted_cents"] == "1000000" and len(register["aid"]) == 1
    # A row of its own on purpose: a request id of its own.
    again = ijh_json(cli_env, *args, "--request-id", "second-declaration")["aid"]
    assert again["id"] != first["id"]
    assert ijh_json(cli_env, "deminimis", "show", ONCE_COMPANY)["counted_cents"] == "2000000"


def test_a_write_says_its_request_id_and_repeating_it_repeats_nothing(cli_env):
    done = ijh(cli_env, "application", "create", "examples/ijh_application.yaml", "--json")
    assert done.returncode == 0, done.stderr
    said = re.fullmatch(r"request id (\S+) \(repeat with --request-id \1 to retry safely\)\n",
                        done.stderr)
    assert said, done.stderr
    name = json.loads(done.stdout)["application"]["name"]
    again = ijh_json(cli_env, "application", "create", "examples/ijh_application.yaml",
                     "--request-id", said[1])
    assert again["application"]["name"] == name


def test_a_request_id_reused_for_another_write_is_a_refusal(cli_env, tmp_path):
    """ALREADY_EXISTS exited 1, "other error"; it is a refusal (3), saying what to do."""
    key = "reused-for-another-application"
    ijh_json(cli_env, "application", "create", "examples/ijh_application.yaml",
             "--request-id", key)
    other = _edited(tmp_path, "ijh_application.yaml",
                    'title: "Planning a PCP of remote monitoring for home care"',
                    'title: "Another plan"', "other.yaml")
    done = ijh(cli_env, "application", "create", str(other), "--request-id", key)
    assert done.returncode == 3, done.stderr
    assert done.stderr.startswith("error: ALREADY_EXISTS: request_id 'reused-for-another-"
                                  "application' was already used"), done.stderr
    assert "give a new --request-id" in done.stderr and "retry with" not in done.stderr

    # The default key of a row of declared aid is the row's: another officer recording
    # the same row is told so.
    args = ("deminimis", "record", TWICE_COMPANY, "--granted-on", "2025-01-10",
            "--amount-eur", "500", "--reference", "ELY 2025/9")
    ijh_json(cli_env, *args)
    done = ijh(cli_env, "--role", "officer2", *args)
    assert done.returncode == 3, done.stderr
    assert "another officer has recorded that row: see `ijh deminimis show " \
           f"{TWICE_COMPANY}`" in " ".join(done.stderr.split()), done.stderr


def test_beneficiary_set_kind_shows_previous_kind(cli_env):
    new = ijh_json(cli_env, "beneficiary", "set-kind", KIND_COMPANY, "public_unit",
                   "--reason", "a joint municipal authority")
    assert new["previous_kind"] == "BENEFICIARY_KIND_UNSPECIFIED"  # new to the ledger
    done = ijh(cli_env, "--role", "officer2", "beneficiary", "set-kind", KIND_COMPANY,
               "company", "--reason", "registered as an Oy")
    assert done.returncode == 0, done.stderr
    assert re.search(r"previous kind\s+│\s+public_unit", done.stdout), done.stdout
    assert re.search(r"confirmed by\s+│\s+dev-officer-2", done.stdout), done.stdout
    shown = ijh_json(cli_env, "deminimis", "show", KIND_COMPANY)
    assert shown["beneficiary_kind"] == "BENEFICIARY_KIND_COMPANY"
    assert shown["counted_cents"] == "0" and shown["aid"] == []


# ------------------------------------------------------------------ bad input files

def _edited(tmp_path: Path, example: str, old: str, new: str, name: str) -> Path:
    text = (EXAMPLES / example).read_text()
    assert old in text
    path = tmp_path / name
    path.write_text(text.replace(old, new, 1))
    return path


def _line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


def test_missing_field_names_file_line_and_field(cli_env, tmp_path):
    path = _edited(tmp_path, "pcp_procurement.yaml", "  - name: prototype_contracts",
                   "  - description: no name here", "missing.yaml")
    done = ijh(cli_env, "risk", "estimate", str(path))
    assert done.returncode == 2
    line = _line_of(path, "no name here")
    assert f"{path}:{line}: cost_items[2].name: missing required field" in done.stderr
    assert "Traceback" not in done.stderr


def test_wrong_type_names_file_line_and_field(cli_env, tmp_path):
    path = _edited(tmp_path, "pcp_procurement.yaml", 'budget_eur: "2 300 000.00"',
                   'budget_eur: "2.3 million"', "wrong_type.yaml")
    done = ijh(cli_env, "risk", "estimate", str(path))
    assert done.returncode == 2
    assert f"{path}:{_line_of(path, 'budget_eur')}: budget_eur:" in done.stderr
    assert "not an amount in euros" in done.stderr


def test_unknown_enum_word_is_refused_before_calling(cli_env, tmp_path):
    path = _edited(tmp_path, "heat_as_a_service.yaml", "novelty: new_in_finland",
                   "novelty: brand_new", "unknown_novelty.yaml")
    done = ijh(cli_env, "risk", "estimate", str(path))
    assert done.returncode == 2
    assert f"{path}:{_line_of(path, 'novelty:')}: novelty: unknown novelty level" in done.stderr


def test_unknown_cost_category_refused_by_service_mapped_to_the_line(cli_env, tmp_path):
    path = _edited(tmp_path, "ijh_application.yaml", "  - category: travel",
                   "  - category: catering", "unknown_category.yaml")
    done = ijh(cli_env, "grant", "compute", str(path))
    assert done.returncode == 3  # INVALID_ARGUMENT from the service
    line = _line_of(path, "category: catering")
    assert f"{path}:{line}: cost_lines[4].category:" in done.stderr
    assert "catering" in done.stderr


def test_server_field_violation_maps_to_the_model_line(cli_env, tmp_path):
    path = _edited(tmp_path, "pcp_procurement.yaml", 'mode: "600 000.00"',
                   'mode: "900 000.00"', "mode_above_max.yaml")
    done = ijh(cli_env, "risk", "estimate", str(path), "--scenarios", "100")
    assert done.returncode == 3
    assert re.search(rf"{re.escape(str(path))}:\d+: cost_items\[2\]\.cost", done.stderr)


def test_broken_csv_row_names_file_line_and_column(cli_env, tmp_path):
    lines = (EXAMPLES / "fund_portfolio.csv").read_text().splitlines()
    lines[41] = lines[41].rsplit(",", 1)[0]  # file line 42 loses its last column
    row = lines[99].split(",")
    row[5] = "half"  # file line 100: guarantee_rate
    lines[99] = ",".join(row)
    path = tmp_path / "broken.csv"
    path.write_text("\n".join(lines) + "\n")
    done = ijh(cli_env, "portfolio", "simulate", str(path), "--capital-eur", "1000000")
    assert done.returncode == 2
    assert f"{path}:42: counterparty_kind: expected 12 columns, found 11" in done.stderr
    assert f"{path}:100: guarantee_rate: 'half' is not a number" in done.stderr


def test_unknown_branch_in_csv(cli_env, tmp_path):
    lines = (EXAMPLES / "fund_portfolio.csv").read_text().splitlines()
    row = lines[9].split(",")
    row[10] = "XYZ"
    lines[9] = ",".join(row)
    path = tmp_path / "branch.csv"
    path.write_text("\n".join(lines) + "\n")
    done = ijh(cli_env, "portfolio", "simulate", str(path), "--capital-eur", "1000000")
    assert done.returncode == 2
    assert f"{path}:10: branch: unknown administrative branch 'XYZ'" in done.stderr


def test_a_sector_without_loadings_names_the_rows_sector(cli_env, tmp_path):
    # It was reported at column factor_loadings, which the CSV does not have.
    lines = (EXAMPLES / "fund_portfolio.csv").read_text().splitlines()
    assert lines[4].split(",")[9] == "health"
    lines[4] = lines[4].replace(",health,", ",helth,")
    path = tmp_path / "sector.csv"
    path.write_text("\n".join(lines) + "\n")
    done = ijh(cli_env, "portfolio", "simulate", str(path), "--options",
               "examples/fund_portfolio.yaml")
    assert done.returncode == 2, done.stderr
    assert (f"{path}:5: sector: 'helth' has no entry in dependence.sector_loadings of "
            "examples/fund_portfolio.yaml (it has construction, ") in done.stderr
    # Without loadings at all, the service refuses each row: at its sector too.
    done = ijh(cli_env, "portfolio", "simulate", str(path), "--capital-eur", "1000000")
    assert done.returncode == 3, done.stderr
    assert f"{path}:2: sector: " in done.stderr and "factor_loadings:" not in done.stderr


# ------------------------------------------------------------------ auth and availability

def test_auth_failures_exit_4(cli_env):
    bad_token = ijh(cli_env, "--token", "not-a-jwt", "params", "show")
    assert bad_token.returncode == 4 and "UNAUTHENTICATED" in bad_token.stderr
    wrong_role = ijh(cli_env, "--role", "analyst", "grant", "compute",
                     "examples/ijh_application.yaml")
    assert wrong_role.returncode == 4 and "ROLE_NOT_ALLOWED" in wrong_role.stderr


def test_unavailable_gateway_exits_5(cli_env):
    from services.shared.nats_server import free_port

    done = ijh(cli_env, "--gateway", f"127.0.0.1:{free_port()}", "--timeout", "3",
               "params", "show")
    assert done.returncode == 5
    assert "UNAVAILABLE" in done.stderr or "DEADLINE_EXCEEDED" in done.stderr
    assert "Is `make run` going?" in done.stderr  # nothing answered: the gateway is down


def test_missing_ca_outside_the_checkout_says_what_is_missing(cli_env, stack, tmp_path):
    env = {k: v for k, v in cli_env.items() if k not in {"IJH_CA_CERT", "IJH_VAR_DIR"}}
    env["IJH_TOKEN_FILE"] = str(stack.var_dir / "tokens" / "officer.jwt")
    done = ijh(env, "--timeout", "10", "params", "show", cwd=tmp_path)
    assert done.returncode == 5
    assert f"{tmp_path / 'var' / 'dev-pki' / 'ca.pem'}" in done.stderr
    assert "does not exist" in done.stderr
    assert "--ca-cert" in done.stderr and "IJH_CA_CERT" in done.stderr
    # neither gRPC core's raw log line nor the hint of a stopped service
    assert "Handshake failed" not in done.stderr and "make run` going" not in done.stderr


def test_help_documents_exit_codes(cli_env):
    done = ijh(cli_env, "--help")
    assert done.returncode == 0
    assert "Exit codes" in done.stdout and "130" in done.stdout
    assert "ALREADY_EXISTS, a request id reused for another write" in " ".join(
        done.stdout.split())
    # every demo token make run writes (services/gateway/dev_pki.py)
    roles = " ".join(done.stdout.split())
    assert "(agency, agency2, company, officer, officer2, analyst, admin)" in roles
