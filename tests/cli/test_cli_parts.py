"""The command's pure parts: euros to cents, YAML line marks, connection precedence,
and the text people read (percentages, error messages, figure legends)."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from ijh.funding.v1 import funding_pb2
from ijh.risk.v1 import risk_pb2

from ijh_cli import output
from ijh_cli.connection import ConnectionFlags, resolve, rpc_error
from ijh_cli.errors import CliError
from ijh_cli.files import euros_to_cents
from ijh_cli.inputs import load_procurement
from ijh_cli.output import est_p, pct

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("text", "cents"), [
    ("42000.00", 4_200_000), ("42 000.00", 4_200_000), ("42_000", 4_200_000),
    ("0.1", 10), ("1,234,567.89", 123_456_789), ("€ 12.05", 1205), ("-3.5", -350)])
def test_euros_convert_exactly(text, cents):
    assert euros_to_cents(text) == cents


@pytest.mark.parametrize("text", ["12.345", "1e3", "lots", "", "1 2"])
def test_euros_refuse_what_is_not_an_amount(text):
    with pytest.raises(ValueError):
        euros_to_cents(text)


def test_an_amount_past_what_a_request_carries_is_a_usage_error():
    # It was "unexpected ValueError: Value out of range", exit 1, when put in the request.
    from ijh_cli.main import _euros_flag

    assert euros_to_cents("92 233 720 368 547 758.07") == 2**63 - 1
    for text in ("92 233 720 368 547 758.08", "-99999999999999999"):
        with pytest.raises(CliError) as exc:
            _euros_flag("--amount-eur", text)
        assert exc.value.exit_code == 2
        assert exc.value.message == (f"--amount-eur: {text!r} is more than a request can carry "
                                     "(at most 92,233,720,368,547,758.07 euros)")


def test_procurement_file_maps_proto_paths_back_to_lines():
    model = load_procurement(ROOT / "examples" / "pcp_procurement.yaml")
    assert model.model.budget_cents == 230_000_000
    assert len(model.model.phases) == 3 and not model.model.phases[0].HasField(
        "pass_probability")
    line, field = model.sources.locate("model.cost_items[2].distribution.pert.mode_cents")
    text = (ROOT / "examples" / "pcp_procurement.yaml").read_text().splitlines()[line - 1]
    assert 'mode: "600 000.00"' in text and field == "cost_items[2].cost.pert.mode"


def _tree(tmp_path: Path) -> Path:
    var = tmp_path / "var"
    (var / "tokens").mkdir(parents=True)
    (var / "dev-pki").mkdir()
    (var / "dev-pki" / "ca.pem").write_text("CA")
    for role in ("officer", "agency", "analyst"):
        (var / "tokens" / f"{role}.jwt").write_text(f"token-{role}\n")
    return var


def test_precedence_flag_env_config_default(tmp_path, monkeypatch):
    var = _tree(tmp_path)
    monkeypatch.chdir(tmp_path)
    env = {"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    # defaults of make run: the command's own role, var/dev-pki/ca.pem
    c = resolve(ConnectionFlags(), "agency", env)
    assert (c.gateway, c.token, c.ca_cert) == ("127.0.0.1:50051", "token-agency",
                                               Path("var/dev-pki/ca.pem"))
    # ./ijh.toml beats the defaults (paths relative to the file)
    (tmp_path / "ijh.toml").write_text('gateway = "cfg:1"\nrole = "analyst"\n'
                                       'ca_cert = "var/dev-pki/ca.pem"\n')
    c = resolve(ConnectionFlags(), "agency", env)
    assert (c.gateway, c.token) == ("cfg:1", "token-analyst")
    assert c.ca_cert == tmp_path / "var/dev-pki/ca.pem"
    # the environment beats the config file
    env |= {"IJH_GATEWAY": "env:2", "IJH_TOKEN_FILE": str(var / "tokens" / "officer.jwt")}
    c = resolve(ConnectionFlags(), "agency", env)
    assert (c.gateway, c.token) == ("env:2", "token-officer")
    # flags beat the environment
    c = resolve(ConnectionFlags(gateway="flag:3", role="agency"), "analyst", env)
    assert (c.gateway, c.token) == ("flag:3", "token-agency")
    assert c.origin["token"].startswith("flag")


def test_unknown_role_and_half_mtls_are_usage_errors(tmp_path, monkeypatch):
    _tree(tmp_path)
    monkeypatch.chdir(tmp_path)
    env = {"HOME": str(tmp_path)}
    with pytest.raises(CliError) as exc:
        resolve(ConnectionFlags(role="nobody"), "agency", env)
    assert exc.value.exit_code == 2 and "nobody.jwt" in exc.value.message
    with pytest.raises(CliError) as exc:
        resolve(ConnectionFlags(client_cert="c.pem"), "agency", env)
    assert exc.value.exit_code == 2


# ------------------------------------------------------------------ what people read

def test_small_standard_errors_keep_two_significant_figures():
    # 3.2e-5 printed with .2% was "0.00%": as if the estimate were exact.
    assert pct(0.003912, 3.2e-5) == "0.3912% ± 0.0032%"
    assert pct(0.25, 0.0123) == "25.00% ± 1.23%"
    assert est_p(risk_pb2.Estimate(value=0.5, standard_error=0.0)) == "50.00% ± 0.00%"


class _Failed(grpc.RpcError):
    """A failed call as grpc raises it, with a rich status in the trailing metadata."""

    def __init__(self, code: grpc.StatusCode, status: status_pb2.Status):
        self._code, self._status = code, status

    def code(self):
        return self._code

    def details(self):
        return self._status.message

    def trailing_metadata(self):
        return (("grpc-status-details-bin", self._status.SerializeToString()),)


def _status(code: int, message: str, detail) -> status_pb2.Status:
    packed = any_pb2.Any()
    packed.Pack(detail)
    return status_pb2.Status(code=code, message=message, details=[packed])


def test_service_errors_are_said_once():
    failure = error_details_pb2.PreconditionFailure(violations=[
        error_details_pb2.PreconditionFailure.Violation(
            type="FOUR_EYES", subject="applications/1", description="the only scorer"),
        error_details_pb2.PreconditionFailure.Violation(
            type="SCORE", subject="applications/1", description="score 9 does not pass")])
    message = "FOUR_EYES applications/1: the only scorer; SCORE applications/1: score 9 " \
              "does not pass"
    text = rpc_error(_Failed(grpc.StatusCode.FAILED_PRECONDITION,
                             _status(code_pb2.FAILED_PRECONDITION, message, failure))).message
    assert text.count("the only scorer") == 1 and text.count("does not pass") == 1, text
    assert text.splitlines()[1:] == ["  FOUR_EYES applications/1: the only scorer",
                                     "  SCORE applications/1: score 9 does not pass"]
    # A refusal past the status message's 640 bytes: the message is the join cut around
    # " ... "; the violations, whole, are the lines, and the cut message is not repeated.
    from services.shared.errors import FailedPrecondition, PreconditionViolation
    from services.shared.grpc_errors import to_status
    many = [PreconditionViolation("SCORE", f"criterion/criterion_{i:02}",
                                  f"mean 1.{i:02} < pass mark 3") for i in range(20)]
    status = to_status(FailedPrecondition(many))
    assert " ... " in status.message
    text = rpc_error(_Failed(grpc.StatusCode.FAILED_PRECONDITION, status)).message
    assert text.splitlines() == ["FAILED_PRECONDITION: 20 precondition(s) not met:", *[
        f"  SCORE criterion/criterion_{i:02}: mean 1.{i:02} < pass mark 3" for i in range(20)]]
    missing = error_details_pb2.ResourceInfo(resource_name="applications/9",
                                             description="applications/9 not found")
    text = rpc_error(_Failed(grpc.StatusCode.NOT_FOUND, _status(
        code_pb2.NOT_FOUND, "applications/9 not found", missing))).message
    assert text == "NOT_FOUND: applications/9 not found"


def test_amounts_in_cents_are_shown_in_euros_too():
    """The services say "3495000 cents"; the command takes euros: each figure in cents
    gets its exact euros beside it, and nothing else that says cents is touched."""
    failure = error_details_pb2.PreconditionFailure(violations=[
        error_details_pb2.PreconditionFailure.Violation(
            type="GRANT_CHANGED", subject="applications/1",
            description="from 3495000 cents to 1 cents, not 0 cents; grant_cents, "
                        "1..5 cents, 2.5 cents and a number of cents unchanged")])
    text = rpc_error(_Failed(grpc.StatusCode.FAILED_PRECONDITION, _status(
        code_pb2.FAILED_PRECONDITION, "x", failure))).message
    assert text.splitlines()[-1] == (
        "  GRANT_CHANGED applications/1: from 3495000 cents (€34,950.00) to 1 cents (€0.01), "
        "not 0 cents (€0.00); grant_cents, 1..5 cents, 2.5 cents and a number of cents "
        "unchanged")


def test_limits_name_their_value_in_the_legend():
    import matplotlib.pyplot as plt

    from ijh_cli.plots import mark_limit

    fig, ax = plt.subplots()
    mark_limit(ax, 230_000_000.0, "budget", money=True)
    mark_limit(ax, 720.0, "deadline", money=False)
    assert ax.get_legend_handles_labels()[1] == ["budget = €2,300,000", "deadline = 720 d"]
    plt.close(fig)


def test_the_loss_chart_marks_capital_plus_the_horizons_fees(tmp_path, monkeypatch):
    # It marked "capital" (EUR 25 M) on the 5-year loss, which exhaustion is tested
    # against capital plus 5 years of fees: losses between looked beyond the fund's means.
    from ijh_cli import plots

    seen = {}

    def save(fig, path, title, caption):
        ax = fig.axes[0]
        seen["lines"] = {line.get_label(): line.get_xdata()[0] for line in ax.get_lines()}
        seen["caption"] = caption
        return plots.Figure(path, title, caption)

    monkeypatch.setattr(plots, "_save", save)
    year = risk_pb2.Estimate(value=0.01, standard_error=0.001)
    result = risk_pb2.PortfolioRiskResult(
        capital_cents=2_500_000_000, annual_fee_income_cents=310_245_304, horizon_years=5,
        exhaustion_probability_by_year=[year] * 5,
        loss_histogram_edges_cents=[0.0, 1e9, 2e9], loss_histogram_probability=[0.9, 0.1])
    plots.loss_distribution(tmp_path / "loss.png", result)
    assert seen["lines"] == {"capital €25,000,000": 2_500_000_000,
                             "capital + 5 years' fees €40,512,265": 4_051_226_520}
    assert "fee income of 5 years (€15,512,265)" in seen["caption"]
    result.annual_fee_income_cents = 0
    plots.loss_distribution(tmp_path / "loss.png", result)
    assert seen["lines"] == {"capital €25,000,000 (no fee income)": 2_500_000_000}


def test_estimate_names_the_deadline_and_counts_failed_scenarios(capsys):
    answer = risk_pb2.EstimateProcurementRiskResponse(
        probability_over_deadline=risk_pb2.Estimate(value=0.2, standard_error=0.004),
        probability_of_failure=risk_pb2.Estimate(value=0.1, standard_error=0.003))
    model = load_procurement(ROOT / "examples" / "pcp_procurement.yaml").model
    output.estimate(answer, "PCP", model, deadline_days=720.0)
    out = " ".join(capsys.readouterr().out.split())
    assert "P(duration > deadline 720 d)" in out
    assert "fails a phase gate" in out and "mean and every quantile include them" in out


def test_failed_scenarios_are_said_to_spend_less_only_when_the_model_says_they_do(capsys):
    # Nothing tied to a phase or to success: a failed scenario spends every item, as a
    # successful one does; "they stop spending ... the lower peaks" would be false.
    answer = risk_pb2.EstimateProcurementRiskResponse(
        probability_of_failure=risk_pb2.Estimate(value=0.07, standard_error=0.002))
    model = risk_pb2.ProcurementModel(cost_items=[
        risk_pb2.CostItem(name="preparation"), risk_pb2.CostItem(name="service")])
    assert output.failed_included(answer, model) == ""
    output.estimate(answer, "heat", model)
    assert "phase gate" not in capsys.readouterr().out
    model.cost_items[1].only_on_success = True
    assert "lower peaks" in output.failed_included(answer, model)
    # The shipped heat example buys its service only if the procurement succeeds.
    heat = load_procurement(ROOT / "examples" / "heat_as_a_service.yaml").model
    assert {i.name for i in heat.cost_items if i.only_on_success} == {
        "heat_service_south", "heat_service_west_and_central", "heat_service_north_and_east",
        "metering_and_reporting"}
    assert "lower peaks" in output.failed_included(answer, heat)


def test_a_grant_line_reads_the_response_names_and_those_stored_before():
    new = {"grant_cents": 50_000, "grant_rate": "0.5", "eligible_cents": 100_000,
           "claimed_cents": 120_000, "rejected_cents": 20_000, "eligible": True}
    old = {"grant_cents": 50_000, "grant_rate": "0.5", "eligible_total_cents": 100_000,
           "claimed_total_cents": 120_000, "rejected_total_cents": 20_000, "eligible": True}
    assert output._grant_line(new) == output._grant_line(old)
    assert "eligible €1,000.00 (claimed €1,200.00, rejected €200.00)" in output._grant_line(new)


def test_service_text_with_brackets_is_printed_as_it_came(capsys):
    # rich took "[payout]" for a style tag and dropped it from a portfolio note.
    result = risk_pb2.PortfolioRiskResult(
        notes=["exact Σ P(default by the horizon) · E[payout] as control variate"])
    output.portfolio(result)
    assert "· E[payout] as control variate" in capsys.readouterr().out


def test_a_simulation_just_started_does_not_say_zero_seconds_left(capsys):
    started = risk_pb2.Operation(name="operations/x", metadata=risk_pb2.PortfolioSimulationMetadata(
        progress=risk_pb2.SimulationProgress(scenarios_done=0, scenarios_total=102_400)))
    output.operation(started)
    out = " ".join(capsys.readouterr().out.split())
    assert "not known until the first scenarios are done" in out and "0 s" not in out
    started.metadata.progress.scenarios_done = 20_480
    started.metadata.seconds_left = 42.0
    output.operation(started)
    assert "42 s" in capsys.readouterr().out


def test_an_active_guarantee_says_when_it_came_into_force_and_when_its_term_ends(capsys):
    from ijh.funding.v1 import funding_pb2
    active = funding_pb2.Application(
        name="applications/7", kind=funding_pb2.APPLICATION_KIND_GUARANTEE,
        state=funding_pb2.APPLICATION_STATE_ACTIVE, activated_on="2025-03-14",
        term_ends_on="2026-02-14")
    output.application(active)
    assert "from 2025-03-14; term ends 2026-02-14" in " ".join(capsys.readouterr().out.split())
    output.application(funding_pb2.Application(name="applications/8"))
    assert "term ends" not in capsys.readouterr().out


def test_a_write_that_timed_out_says_to_retry_with_its_request_id(capsys):
    """A write's default request id is made by the command: unless it is said, a retry
    after a timeout cannot repeat it, and is done twice."""
    from ijh.funding.v1 import funding_pb2

    from ijh_cli.connection import Connection
    from ijh_cli.main import _write

    def timed_out(request, timeout):
        raise _Failed(grpc.StatusCode.DEADLINE_EXCEEDED, status_pb2.Status(
            code=code_pb2.DEADLINE_EXCEEDED, message="Deadline Exceeded"))

    connection = Connection("127.0.0.1:1", None, None, None, None, {"gateway": "flag"})
    request = funding_pb2.SubmitApplicationRequest(request_id="r-1", name="applications/1")
    with pytest.raises(CliError) as exc:
        _write(connection, timed_out, request, 1.0)
    assert exc.value.exit_code == 5
    assert "retry with --request-id r-1 " in exc.value.message, exc.value.message
    assert _write(connection, lambda request, timeout: "done", request, 1.0) == "done"

    def not_found(request, timeout):
        raise _Failed(grpc.StatusCode.NOT_FOUND, status_pb2.Status(
            code=code_pb2.NOT_FOUND, message="applications/1 not found"))

    with pytest.raises(CliError) as exc:  # not done: nothing to retry
        _write(connection, not_found, request, 1.0)
    assert exc.value.message == "NOT_FOUND: applications/1 not found"
    assert capsys.readouterr().err == (
        "request id r-1 (repeat with --request-id r-1 to retry safely)\n")


def test_declared_aid_is_keyed_by_its_content():
    from ijh.funding.v1 import funding_pb2

    from ijh_cli.main import aid_request_id

    def key(**changes) -> str:
        fields = {"business_id": "4567890-7", "granted_on": "2025-01-10",
                  "amount_cents": 1_000_000, "reference": "Declared: ELY 2025/1"} | changes
        return aid_request_id(funding_pb2.RecordDeMinimisAidRequest(**fields))

    assert key() == key() and 0 < len(key()) <= 200
    assert len({key(), key(business_id="4567890-8"), key(granted_on="2025-01-11"),
                key(amount_cents=1_000_001), key(reference="Declared: ELY 2025/2")}) == 5


def test_an_application_file_without_a_date_is_computed_under_todays_rules(tmp_path):
    """Agencies leave reference_date out; the request had "" then, which the service
    refuses, though --help says "default: ... else today"."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from ijh_cli.inputs import load_application

    text = (ROOT / "examples" / "ijh_application.yaml").read_text()
    assert "reference_date: 2026-03-02\n" in text
    path = tmp_path / "undated.yaml"
    path.write_text(text.replace("reference_date: 2026-03-02\n", ""))
    before = datetime.now(ZoneInfo("Europe/Helsinki")).date().isoformat()
    date = load_application(path).grant_request().reference_date
    after = datetime.now(ZoneInfo("Europe/Helsinki")).date().isoformat()
    assert date in {before, after}
    assert load_application(path).grant_request("2025-01-01").reference_date == "2025-01-01"
    dated = load_application(ROOT / "examples" / "ijh_application.yaml")
    assert dated.grant_request().reference_date == "2026-03-02"


def test_each_score_sheet_shows_its_own_total_and_the_aggregate_is_said_once(capsys):
    """A recorded sheet's total is the aggregate of the sheets up to it: in a column
    beside each officer's scores it read as that officer's own total."""
    from google.protobuf.timestamp_pb2 import Timestamp
    from ijh.funding.v1 import funding_pb2

    def sheet(officer: str, scores: list[str], total: str, passed: bool, second: int):
        return funding_pb2.OfficerScore(
            officer_id=officer, total=total, passed=passed,
            score_time=Timestamp(seconds=1_780_000_000 + second),
            scores=[funding_pb2.CriterionScore(criterion=f"c{i}", score=v)
                    for i, v in enumerate(scores)])

    # officer-1 replaced their sheet last: it holds the aggregate of both.
    app = funding_pb2.Application(name="applications/3", scores=[
        sheet("officer-1", ["4.5", "4", "3.5", "4", "3.5"], "18.75", True, 60),
        sheet("officer-2", ["4", "4", "3", "3.5", "3"], "17.50", True, 30)])
    output.application(app)
    out = capsys.readouterr().out
    rows = {line.split("│")[1].strip(): line for line in out.splitlines()
            if line.count("│") > 3 and "officer-" in line}
    assert " 19.50 " in rows["officer-1"] and " 17.50 " in rows["officer-2"], out
    assert "18.75" not in rows["officer-1"] and "total so far" not in out
    assert out.count("18.75") == 1 and "aggregate of the 2 sheet(s): total 18.75" in out, out


BENEFICIARY_KIND_REASON = (
    "applications/3 declares business ID 4567890-7 a public_unit, but it is registered as "
    "a company (confirmed by dev-officer-1): if the register is wrong, an officer corrects "
    "it (CorrectBeneficiaryKind, with the reason) and the application is decided again; if "
    "the application is wrong, reject it and file it again as a company")


def test_a_long_reason_is_said_once_and_whole():
    """A reason past a detail's 300 bytes arrives cut mid-word ("... if the register is
    wro ... orrectBeneficiaryKind ..."); the status message has it whole. It was printed
    twice: the message as the header, the cut detail under it."""
    from ijh_cli import connection
    from services.shared import grpc_errors
    from services.shared.errors import FailedPrecondition, PreconditionViolation

    # The command's copy of the services' bounds.
    assert (connection._MESSAGE_BYTES, connection._TEXT_BYTES) == (
        grpc_errors.MAX_MESSAGE_BYTES, grpc_errors.MAX_TEXT_BYTES)
    assert len(BENEFICIARY_KIND_REASON.encode()) > grpc_errors.MAX_TEXT_BYTES
    one = PreconditionViolation("BENEFICIARY_KIND", "beneficiary/4567890-7",
                                BENEFICIARY_KIND_REASON)
    status = grpc_errors.to_status(FailedPrecondition(one))
    text = rpc_error(_Failed(grpc.StatusCode.FAILED_PRECONDITION, status)).message
    assert text.splitlines() == [
        "FAILED_PRECONDITION: 1 precondition(s) not met:",
        f"  BENEFICIARY_KIND beneficiary/4567890-7: {BENEFICIARY_KIND_REASON}"], text

    # Past the message's 640 bytes too: no cut copy of the message as the header; a long
    # reason (the message cut has no room for it whole either) is said to be shortened.
    many = [one, PreconditionViolation("FOUR_EYES", "applications/3", "the only scorer"),
            PreconditionViolation("BENEFICIARY_KIND", "beneficiary/2", BENEFICIARY_KIND_REASON)]
    status = grpc_errors.to_status(FailedPrecondition(many))
    assert " ... " in status.message
    lines = rpc_error(_Failed(grpc.StatusCode.FAILED_PRECONDITION, status)).message.splitlines()
    assert lines[0] == "FAILED_PRECONDITION: 3 precondition(s) not met:"
    assert lines[2] == "  FOUR_EYES applications/3: the only scorer" and len(lines) == 4
    for line in lines[1], lines[3]:
        assert line.endswith(" ... orrectBeneficiaryKind, with the reason) and the application "
                             "is decided again; if the application is wrong, reject it and "
                             "file it again as a company (the service shortened this text)")

    # A field's reason, too (INVALID_ARGUMENT).
    from services.shared.errors import FieldViolation, InvalidArgument

    status = grpc_errors.to_status(InvalidArgument(FieldViolation("reference",
                                                                  BENEFICIARY_KIND_REASON)))
    lines = rpc_error(_Failed(grpc.StatusCode.INVALID_ARGUMENT, status),
                      lambda path: "--reference").message.splitlines()
    assert lines[1] == f"  --reference: {BENEFICIARY_KIND_REASON} (field reference)"


def test_only_an_approved_application_shows_an_awarded_grant(capsys):
    """A rejected application showed "grant €34,950.00", and the list put it in the column
    of approved grants: the grant computed at submission is not awarded."""
    from ijh.funding.v1 import funding_pb2 as f

    def app(number: int, state: int, grant: int) -> f.Application:
        return f.Application(name=f"applications/{number}", kind=f.APPLICATION_KIND_IJH_GRANT,
                             state=state, grant_cents=grant, decision_rules_version=(
                                 "fund-rules/x" if state != f.APPLICATION_STATE_SCORED else ""))

    def shown(a: f.Application) -> str:
        output.application(a)
        return " ".join(capsys.readouterr().out.split())

    approved = app(1, f.APPLICATION_STATE_APPROVED, 3_400_000)
    rejected = app(3, f.APPLICATION_STATE_REJECTED, 3_495_000)
    scored = app(4, f.APPLICATION_STATE_SCORED, 3_495_000)
    assert "│ awarded grant │ €34,000.00 │" in shown(approved)
    out = shown(rejected)
    assert "│ grant computed at submission │ €34,950.00 (not awarded) │" in out, out
    assert "awarded grant" not in out and "│ grant │" not in out
    assert "€34,950.00 (not awarded yet)" in shown(scored)

    guarantee = f.Application(name="applications/5", kind=f.APPLICATION_KIND_GUARANTEE,
                              state=f.APPLICATION_STATE_REJECTED, exposure_cents=5_000_000)
    output.applications(f.ListApplicationsResponse(applications=[
        approved, rejected, scored, guarantee]))
    rows = {line.split("│")[1].strip(): " ".join(line.split())
            for line in capsys.readouterr().out.splitlines() if "applications/" in line}
    assert rows["applications/1"].endswith("│ €34,000.00 awarded │")
    assert rows["applications/3"].endswith(
        "│ €34,950.00 computed at submission (not awarded) │"), rows
    assert rows["applications/4"].endswith("(not awarded yet) │")
    assert rows["applications/5"].endswith("│ €50,000.00 exposure (not committed) │")


def test_a_guarantee_shows_its_cap_and_its_de_minimis_aid(capsys):
    # Both were only in --json.
    from ijh.funding.v1 import funding_pb2 as f

    output.application(f.Application(
        name="applications/6", kind=f.APPLICATION_KIND_GUARANTEE,
        state=f.APPLICATION_STATE_APPROVED, exposure_cents=5_000_000,
        gross_grant_equivalent_cents=6_666_667,
        guarantee=f.GuaranteeTerms(amount_cents=10_000_000, guarantee_rate="0.5",
                                   cap_cents=6_000_000, fee_rate="0.01", term_months=12,
                                   rating_class="BBB")))
    out = " ".join(capsys.readouterr().out.split())
    assert "│ cap │ €60,000.00 │" in out, out
    assert "│ de minimis aid (gross grant equivalent) │ €66,666.67 │" in out
    assert "│ exposure │ €50,000.00 (committed) │" in out and "│ rating class │ BBB │" in out


def test_a_bound_in_cents_on_a_euro_flag_is_said_in_euros():
    """--amount-eur: "must be ... less than or equal to 1000000000000000" was the bound
    of amount_cents, in cents, beside a flag that takes euros."""
    bad = error_details_pb2.BadRequest(field_violations=[
        error_details_pb2.BadRequest.FieldViolation(
            field="amount_cents", description="must be greater than 0 and less than or "
                                              "equal to 1000000000000000"),
        error_details_pb2.BadRequest.FieldViolation(
            field="cost_lines[2].vat_cents", description="at most 5 cents over 2.5 percent "
                                                       "of 400, on 2025-01-10"),
        error_details_pb2.BadRequest.FieldViolation(
            field="reference", description="must be 1..500 characters")])
    text = rpc_error(_Failed(grpc.StatusCode.INVALID_ARGUMENT, _status(
        code_pb2.INVALID_ARGUMENT, "x", bad)), {"amount_cents": "--amount-eur"}.get).message
    assert text.splitlines()[1:] == [
        "  --amount-eur: must be greater than €0.00 and less than or equal to "
        "€10,000,000,000,000.00 (field amount_cents)",
        "  cost_lines[2].vat_cents: at most 5 cents (€0.05) over 2.5 percent of €4.00, on "
        "2025-01-10",
        "  reference: must be 1..500 characters"]


def test_an_explanations_cents_are_shown_in_euros_exactly(capsys):
    """grant explain listed its inputs as salary_cents=4800000, exact_cents=3000000.000;
    --json keeps the cents."""
    from ijh.funding.v1 import funding_pb2 as f

    step = f.ExplanationStep(
        figure="grant_cents", result="3417000", rule="grant_amount", formula="f",
        inputs=[f.RuleInput(name="salary_cents", value="4800000"),
                f.RuleInput(name="exact_cents", value="3000000.000"),
                f.RuleInput(name="odd_cents", value="3417000.50"),
                f.RuleInput(name="eligible", value="true"),
                f.RuleInput(name="applicant.kind", value="contracting_authority")],
        parameters=[f.ParameterUse(name="maximum_grant_cents", value="null",
                                    valid_from="2009-01-01", reference="r")])
    output.grant(f.ComputeGrantResponse(explanation=[step]), explain=True)
    out = " ".join(line.split("│")[5].strip() for line in capsys.readouterr().out.splitlines()
                   if line.count("│") == 7)
    for said in ("salary_cents=€48,000.00", "exact_cents=€30,000.00", "odd_cents=€34,170.005",
                 "eligible=true", "applicant.kind=contracting_authority"):
        assert said in out, out
    assert output.figure("grant_cents", "3417000") == ("grant_cents", "€34,170.00")
    assert output.figure("maximum_grant_cents", "null") == ("maximum_grant_cents", "null")
    assert output.figure("claimed_cents", -120_000) == ("claimed_cents", "-€1,200.00")


def test_the_register_says_when_late_aid_put_grants_over_the_ceiling(capsys):
    # Aid declared after an approval can put its window above the ceiling; the officer
    # must see by how much and which grants, not only "room left €0.00".
    breach = funding_pb2.DeMinimisCeilingBreach(
        aid_id=7, application="applications/2", granted_on="2026-11-30",
        window_start="2023-12-01", counted_cents=34_166_667, ceiling_cents=30_000_000,
        over_ceiling_cents=4_166_667)
    output.de_minimis_register(funding_pb2.GetDeMinimisRegisterResponse(
        business_id="1234567-1", ceiling_cents=30_000_000, counted_cents=34_166_667,
        over_ceiling_cents=4_166_667, ceiling_breaches=[breach]))
    out = " ".join(capsys.readouterr().out.split())
    assert "OVER THE CEILING BY │ €41,666.67" in out
    assert "applications/2" in out and "€341,666.67" in out and "€300,000.00" in out


def test_a_kind_correction_shows_the_register_rows_it_wrote(capsys):
    output.beneficiary_kind(funding_pb2.CorrectBeneficiaryKindResponse(
        business_id="0201256-6", kind=funding_pb2.BENEFICIARY_KIND_PUBLIC_UNIT,
        previous_kind=funding_pb2.BENEFICIARY_KIND_COMPANY, kind_confirmed_by="officer-1",
        aid=[funding_pb2.DeMinimisAid(id=8, granted_on="2026-11-30", amount_cents=3_400_000,
                                      reverses_aid_id=7, application="applications/1")],
        aid_not_registered=["applications/4"]))
    out = " ".join(capsys.readouterr().out.split())
    assert "rows this correction wrote" in out and "-€34,000.00" in out and "reverses #7" in out
    assert "applications/4 was approved" in out and "ijh deminimis record" in out


def test_the_example_books_fees_are_charged_on_the_guaranteed_amount():
    # fee_rate is a share of the exposure (the API's base); the example's Finnvera-style
    # fees of 0.25-2 % are on the guaranteed amount, which the company cap of EUR 120,000
    # bounds. As a share of exposure they made EUR 8.42 M a year (G01317: EUR 80,000 for
    # EUR 120,000 of cover) and understated the chance the capital runs out about 20x.
    import csv
    import importlib.util
    import random
    from decimal import Decimal

    path = ROOT / "examples" / "fund_portfolio.csv"
    spec = importlib.util.spec_from_file_location("make_fund_portfolio",
                                                  ROOT / "examples" / "make_fund_portfolio.py")
    maker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(maker)
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert rows == [{k: str(v) for k, v in row.items()}
                    for row in maker.rows(random.Random(maker.SEED))]  # regenerated
    income = Decimal(0)
    for row in rows:
        exposure = Decimal(row["exposure_eur"])
        guaranteed = min(Decimal(row["guarantee_rate"]) * exposure, Decimal(row["cap_eur"]))
        fee = Decimal(row["fee_rate"]) * exposure
        rate = fee / guaranteed  # the fee on the guaranteed amount, 10 digits written
        assert any(abs(rate / f - 1) < Decimal("1e-8") for f in (
            Decimal("0.0025"), Decimal("0.005"), Decimal("0.01"), Decimal("0.015"),
            Decimal("0.02"))), (row["id"], rate)
        income += fee
    assert round(income) == 3_102_453
    g01317 = next(row for row in rows if row["id"] == "G01317")
    assert Decimal(g01317["fee_rate"]) * Decimal(g01317["exposure_eur"]) == 2_400


def test_a_csv_saved_by_excel_with_a_byte_order_mark_is_read(tmp_path):
    # Excel's "CSV UTF-8" was refused: "id: missing required column" and
    # "\ufeffid: unknown column".
    from ijh_cli.inputs import load_portfolio_csv

    lines = (ROOT / "examples" / "fund_portfolio.csv").read_text().splitlines()[:3]
    path = tmp_path / "excel.csv"
    path.write_bytes("\r\n".join(lines).encode("utf-8-sig") + b"\r\n")
    book = load_portfolio_csv(path)
    assert [g.id for g in book.guarantees] == ["G00001", "G00002"] and book.lines == [2, 3]


def test_a_rows_loadings_are_located_at_its_sector(tmp_path):
    # The service names guarantees[i].factor_loadings; the CSV gives them by the sector.
    from ijh_cli.files import InputFileError
    from ijh_cli.inputs import load_portfolio_csv

    book = load_portfolio_csv(ROOT / "examples" / "fund_portfolio.csv")
    assert book.locate("guarantees[1].factor_loadings") == (3, "sector")
    dependence = risk_pb2.Dependence(sector_loadings=[
        risk_pb2.SectorLoading(sector="health", loading=0.3)])
    with pytest.raises(InputFileError) as exc:
        book.check_sectors(dependence, Path("opts.yaml"))
    assert exc.value.problems[0].line == 4 and exc.value.problems[0].field == "sector"
    assert exc.value.problems[0].message == (
        "'energy' has no entry in dependence.sector_loadings of opts.yaml (it has health)")
    book.check_sectors(risk_pb2.Dependence(), None)  # none at all: the service says so


def test_a_deductible_the_guarantee_could_never_pass_is_refused(tmp_path):
    # EUR 99,999,999 on a EUR 55,700 loan was accepted: a guarantee that never pays.
    from ijh_cli.files import InputFileError
    from ijh_cli.inputs import load_portfolio_csv

    lines = (ROOT / "examples" / "fund_portfolio.csv").read_text().splitlines()[:4]
    assert lines[2].startswith("G00002,55700.00,") and ",2800.00," in lines[2]
    lines[2] = lines[2].replace(",2800.00,", ",99999999,")
    lines[3] = lines[3].replace(",0.00,", ",81700.00,", 1)  # equal to the exposure
    path = tmp_path / "deductible.csv"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputFileError) as exc:
        load_portfolio_csv(path)
    assert [str(p) for p in exc.value.problems] == [
        f"{path}:3: deductible_eur: 99999999 is at least the exposure (55700.00): the "
        "guarantee could never pay",
        f"{path}:4: deductible_eur: 81700.00 is at least the exposure (81700.00): the "
        "guarantee could never pay"]


def test_the_top_guarantees_are_as_many_as_asked_each_at_its_csv_line(capsys):
    # It printed 10 of the 20 asked for, at the answer's 0-based row (G00713 at "712",
    # which is line 714 of the CSV).
    est = risk_pb2.Estimate(value=100.0, standard_error=1.0)
    r = risk_pb2.PortfolioRiskResult(contributions=risk_pb2.RiskContributions(
        level=0.999, top_guarantees=[risk_pb2.GuaranteeContribution(
            row=712 + i, id=f"G{713 + i:05d}", expected_shortfall_cents=est)
            for i in range(20)]))
    output.portfolio(r, list(range(2, 3002)))
    out = capsys.readouterr().out
    assert "CSV line" in out and "G00732" in out
    assert [line.replace("│", " ").split()[:2] for line in out.splitlines()
            if "G00713" in line] == [["714", "G00713"]]
    output.portfolio(r)  # a detached run's: the file is not at hand
    out = capsys.readouterr().out
    assert "CSV line" not in out and "G00732" in out and "712" not in out


def test_a_simulation_just_started_shows_no_figures_yet(capsys):
    # A detached run showed "ES 99.9% so far €0 ± €0" before any scenario had run.
    from ijh_cli.main import _progress_text

    started = risk_pb2.Operation(name="operations/x", metadata=risk_pb2.PortfolioSimulationMetadata(
        progress=risk_pb2.SimulationProgress(scenarios_done=0, scenarios_total=102_400,
                                             level=0.999)))
    output.operation(started)
    out = capsys.readouterr().out
    assert "so far" not in out and "€0" not in out
    assert _progress_text(started.metadata.progress, 5) == ""
    p = started.metadata.progress
    p.scenarios_done = 20_480
    p.expected_shortfall_cents.value = 8_305_442_214
    output.operation(started)
    assert "ES 99.9% over the horizon so far" in capsys.readouterr().out
    assert "ES99.9% €83,054,422" in _progress_text(p, 5)


def test_the_report_says_the_contributions_es_is_not_the_headlines(tmp_path, monkeypatch):
    # The terminal said the contributions came from their own scenarios; the report
    # showed their ES only in a figure, beside a headline ES it differs from.
    from ijh_cli import main, plots

    monkeypatch.setattr(plots, "_save", lambda fig, path, title, caption: plots.Figure(
        path, title, caption))
    es = risk_pb2.Estimate(value=8_305_442_214, standard_error=3_221_600)
    own = risk_pb2.Estimate(value=8_251_000_000, standard_error=4_000_000)
    r = risk_pb2.PortfolioRiskResult(
        seed=2017, scenario_count=102_400, capital_cents=2_500_000_000,
        tail_risk=[risk_pb2.TailRisk(level=0.999, expected_shortfall_cents=es)],
        contributions=risk_pb2.RiskContributions(
            level=0.999, expected_shortfall_cents=own, scenario_count=102_400,
            method=risk_pb2.PORTFOLIO_METHOD_IMPORTANCE_SAMPLING,
            top_guarantees=[risk_pb2.GuaranteeContribution(
                row=712, id="G00713", expected_shortfall_cents=own)]))
    main._portfolio_report(tmp_path, Path("book.csv"), ["book.csv"], r,
                           list(range(2, 3002)))
    import html

    page = html.unescape(" ".join((tmp_path / "index.html").read_text().split()))
    said = output.contributions_source(r)
    assert said.startswith("ES 99.9% €82,510,000 ± €40,000 from their own 102,400 "
                           "scenarios (importance_sampling, seed 2017), not the headline's "
                           "€83,054,422 ± €32,216")
    assert said in page and "G00713 (CSV line 714)" in page


def test_the_readme_promises_defaults_only_where_a_report_has_them():
    # It said every --report lists "the defaults the service filled in"; a portfolio's
    # answer has none to list.
    assert "defaults_used" not in risk_pb2.PortfolioRiskResult.DESCRIPTOR.fields_by_name
    assert "defaults_used" in risk_pb2.EstimateProcurementRiskResponse.DESCRIPTOR.fields_by_name
    readme = " ".join((ROOT / "README.md").read_text().split())
    said = readme[readme.index("`--report DIR` writes"):][:400]
    assert "for a procurement model, the defaults the service filled in" in said


def test_the_funds_risk_figures_say_their_horizon_and_fees(capsys):
    # "ES99.9" and "P(capital exhausted)" were printed without the horizon (1 year under
    # the fund's risk model, where the portfolio example has 5) or that no fees count.
    import json

    from ijh.funding.v1 import funding_pb2

    from ijh_cli import main

    model = {"horizon_years": 1, "loss_given_default": "0.45", "seed": 20180101}

    class Stub:
        def ListParameters(self, request, timeout):
            assert request.rule_set == "fund"
            return funding_pb2.ListParametersResponse(rules_version="fund-2018", parameters=[
                funding_pb2.Parameter(name="risk.measure", value_json='"ES99.9"'),
                funding_pb2.Parameter(name="risk.model", value_json=json.dumps(model))])

    assert main._fund_risk_model(None, Stub(), 1.0, "fund-2018") == model
    assert main._fund_risk_model(None, Stub(), 1.0, "fund-2026") is None  # other rules
    status = funding_pb2.GetFundStatusResponse(
        rules_version="fund-2018", exhaustion_probability=0.0004,
        exhaustion_probability_standard_error=0.0001,
        risk_figures=[funding_pb2.FundRiskFigure(measure="ES99.9", value_cents=1e8, seed=7)])
    output.fund(status, None, model)
    out = " ".join(capsys.readouterr().out.split())
    assert "under the fund's risk model (over 1 year, no fee income):" in out
    assert "P(capital exhausted within 1 year): 0.040% ± 0.010%" in out
    output.fund(status, None, None)
    out = " ".join(capsys.readouterr().out.split())
    assert "(its horizon and fees: ijh params show --rule-set fund, risk.model)" in out
    assert "P(capital exhausted): " in out


def test_a_detached_run_leaves_its_seed_to_the_service_and_says_it(monkeypatch, capsys,
                                                                   tmp_path):
    # The CLI drew a seed for a detached run without --seed: a retry with the same
    # --request-id was another simulation (ALREADY_EXISTS), and the seed was known only
    # from the result.
    import contextlib

    from typer.testing import CliRunner

    from ijh_cli import main

    sent = []

    class Connection:
        def channel(self):
            return contextlib.nullcontext()

    def start(connection, method, request, timeout, locate=None):
        sent.append(request)
        return risk_pb2.StartPortfolioSimulationResponse(operation=risk_pb2.Operation(
            name="operations/abc", metadata=risk_pb2.PortfolioSimulationMetadata(
                seed=8_731_455_021, method=risk_pb2.PORTFOLIO_METHOD_IMPORTANCE_SAMPLING,
                horizon_years=5)))

    monkeypatch.setattr(main, "_connect", lambda ctx, role: (Connection(), 1.0))
    monkeypatch.setattr(main, "_write", start)
    monkeypatch.setattr(main.risk_pb2_grpc, "RiskServiceStub",
                        lambda channel: type("Stub", (), {"StartPortfolioSimulation": None}))
    monkeypatch.setattr(output.console, "width", 200)
    options = tmp_path / "options.yaml"  # the example's, without its seed
    options.write_text("".join(line for line in (ROOT / "examples" / "fund_portfolio.yaml")
                               .read_text().splitlines(keepends=True)
                               if not line.lstrip().startswith("seed:")))
    done = CliRunner().invoke(main.app, [
        "portfolio", "simulate", str(ROOT / "examples" / "fund_portfolio.csv"), "--options",
        str(options), "--detach", "--request-id", "r-7"])
    assert done.exit_code == 0, done.output
    assert not sent[0].simulation.simulation.HasField("seed")
    out = " ".join(done.stdout.split())
    assert "seed │ 8731455021" in out and "method │ importance_sampling" in out, out
    assert "starting it again with --request-id r-7 is the same simulation" in out
    listed = risk_pb2.Operation(name="operations/abc",
                                metadata=risk_pb2.PortfolioSimulationMetadata(
                                    seed=42, method=risk_pb2.PORTFOLIO_METHOD_MONTE_CARLO))
    output.operations([listed, risk_pb2.Operation(name="operations/old")])
    rows = [line.replace("│", " ").split() for line in capsys.readouterr().out.splitlines()]
    assert ["operations/abc", "running", "0", "0/0", "monte_carlo", "42"] in [
        r[:6] for r in rows]
    assert ["operations/old", "running", "0", "0/0", "-", "-"] in [r[:6] for r in rows]


def test_every_loss_figure_says_the_horizon_it_covers(tmp_path, monkeypatch, capsys):
    # "VaR 99.9 %" read EUR 29.4M at one year and EUR 76.3M at five, neither saying which;
    # the report's Reproduce line and the loss chart took the horizon from the count of
    # yearly exhaustion figures, which the result need not carry.
    from ijh_cli import main, plots

    seen = {}

    def save(fig, path, title, caption):
        seen.setdefault("xlabel", fig.axes[0].get_xlabel())
        return plots.Figure(path, title, caption)

    monkeypatch.setattr(plots, "_save", save)
    monkeypatch.setattr(output.console, "width", 200)
    est = risk_pb2.Estimate(value=7_630_000_000, standard_error=1_000_000)
    r = risk_pb2.PortfolioRiskResult(
        seed=7, scenario_count=4096, capital_cents=2_500_000_000, horizon_years=5,
        annual_fee_income_cents=100_000_000, expected_loss_cents=est,
        tail_risk=[risk_pb2.TailRisk(level=0.999, value_at_risk_cents=est,
                                     expected_shortfall_cents=est)],
        loss_histogram_edges_cents=[0.0, 1e9, 2e9], loss_histogram_probability=[0.9, 0.1])
    title = ("Fund loss over 5 years (cumulative, after the portfolio cap, before fee "
             "income)")
    output.portfolio(r)
    out = " ".join(capsys.readouterr().out.split())
    assert f"Tail risk: {title}" in out and "expected loss over 5 years │ €76,300,000" in out
    main._portfolio_report(tmp_path, None, None, r)
    import html

    page = html.unescape(" ".join((tmp_path / "index.html").read_text().split()))
    assert f"Tail risk: {title}" in page and "expected loss over 5 years" in page
    assert "--horizon-years 5" in page  # no yearly exhaustion figures to count
    assert seen["xlabel"].startswith("fund loss over 5 years (cumulative")
    assert plots.resources_by_horizon(r) == 3_000_000_000
    p = risk_pb2.SimulationProgress(scenarios_done=2048, scenarios_total=4096, level=0.999,
                                    expected_loss_cents=est)
    assert main._progress_text(p, 1).startswith("loss over 1 year: EL €76,300,000")
    running = risk_pb2.Operation(name="operations/x", metadata=risk_pb2.PortfolioSimulationMetadata(
        horizon_years=3, progress=p))
    output.operation(running)
    assert "ES 99.9% over 3 years so far" in capsys.readouterr().out


def test_progress_says_its_phase_and_counts_time_left_from_the_runs_share(monkeypatch,
                                                                          capsys):
    # In the contributions (two thirds of a run that asks for them) the scenarios are all
    # done: it said "102400/102400 scenarios  0 s left" for as long again.
    import contextlib

    from ijh_cli import main

    p = risk_pb2.SimulationProgress(
        scenarios_done=102_400, scenarios_total=102_400, level=0.999,
        phase=risk_pb2.SIMULATION_PHASE_CONTRIBUTIONS, phase_done_share=0.25, done_share=0.5)
    answers = [risk_pb2.SimulatePortfolioResponse(progress=p),
               risk_pb2.SimulatePortfolioResponse(result=risk_pb2.PortfolioRiskResult(seed=3))]

    class Call:
        def __iter__(self):
            return iter(answers)

        def cancel(self):
            pass

    class Connection:
        def channel(self):
            return contextlib.nullcontext()

    monkeypatch.setattr(main.risk_pb2_grpc, "RiskServiceStub", lambda channel: type(
        "Stub", (), {"SimulatePortfolio": staticmethod(lambda messages, timeout: Call())}))
    clock = iter([100.0, 160.0])
    monkeypatch.setattr(main.time, "monotonic", lambda: next(clock))
    result = main._stream_simulation(Connection(), iter(()), 1.0, None, False, 5)
    assert result.seed == 3
    err = capsys.readouterr().err
    assert err.startswith("progress contributions 25% (102400/102400 scenarios)  "
                          "loss over 5 years: EL "), err
    assert err.rstrip().endswith("60 s left")  # a minute for half: a minute more
    running = risk_pb2.Operation(
        name="operations/x",
        metadata=risk_pb2.PortfolioSimulationMetadata(progress=p, seconds_left=60.0))
    output.operation(running)
    out = " ".join(capsys.readouterr().out.split())
    assert "phase │ contributions 25%" in out and "time left │ 60 s" in out
    p.phase, p.phase_done_share, p.done_share = risk_pb2.SIMULATION_PHASE_SIMULATING, 0.6, 0.2
    assert main._progress_line(p, 5, "x").startswith("progress simulating 60% (102400/")


def test_stopped_contributions_read_as_done_without_them(tmp_path, monkeypatch, capsys):
    # A cancel during the contributions ends the operation done with its result (AIP-151):
    # it read as a plain "done", and the detached Reproduce line said --no-contributions.
    import html

    from typer.testing import CliRunner

    from ijh_cli import main, plots

    monkeypatch.setattr(plots, "_save", lambda fig, path, title, caption: plots.Figure(
        path, title, caption))
    monkeypatch.setattr(output.console, "width", 200)
    r = risk_pb2.PortfolioRiskResult(seed=5, scenario_count=2048, horizon_years=2,
                                     capital_cents=100, contributions_stopped=True)
    said = "done; contributions not computed (stopped)"
    stopped = risk_pb2.Operation(name="operations/x", done=True, response=r,
                                 metadata=risk_pb2.PortfolioSimulationMetadata(
                                     contributions_stopped=True))
    listed = risk_pb2.Operation(name="operations/x", done=True,
                                metadata=risk_pb2.PortfolioSimulationMetadata(
                                    contributions_stopped=True))
    output.operations([listed])
    assert said in capsys.readouterr().out
    output.portfolio(r)
    assert said in capsys.readouterr().out

    class Connection:
        def channel(self):
            import contextlib
            return contextlib.nullcontext()

    monkeypatch.setattr(main, "_connect", lambda ctx, role: (Connection(), 1.0))
    monkeypatch.setattr(main, "_call", lambda *a, **k: risk_pb2.GetOperationResponse(
        operation=stopped))
    monkeypatch.setattr(main.risk_pb2_grpc, "RiskServiceStub",
                        lambda channel: type("Stub", (), {"GetOperation": None}))
    done = CliRunner().invoke(main.app, ["portfolio", "status", "operations/x", "--report",
                                         str(tmp_path)])
    assert done.exit_code == 0, done.output
    out = " ".join(done.stdout.split())
    assert f"state │ {said}" in out and "failed" not in out
    page = html.unescape(" ".join((tmp_path / "index.html").read_text().split()))
    assert said in page and "--contributions" in page and "--no-contributions" not in page


def test_a_zero_guarantee_rate_or_cap_rate_is_refused_at_its_line(tmp_path):
    # The CLI took both as in [0, 1]; the service refuses 0 (a cap of nothing, a guarantee
    # covering nothing) and named the field without the file's line.
    from ijh_cli.files import InputFileError
    from ijh_cli.inputs import load_portfolio_csv, load_portfolio_options

    lines = (ROOT / "examples" / "fund_portfolio.csv").read_text().splitlines()[:4]
    header = lines[0].split(",")
    rate = header.index("guarantee_rate")
    for i, value in ((2, "0"), (3, "-0.1")):
        cells = lines[i].split(",")
        cells[rate] = value
        lines[i] = ",".join(cells)
    path = tmp_path / "rates.csv"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputFileError) as exc:
        load_portfolio_csv(path)
    assert [str(p) for p in exc.value.problems] == [
        f"{path}:3: guarantee_rate: must be in (0, 1], not 0: a guarantee that covers none "
        "of the loss",
        f"{path}:4: guarantee_rate: must be in (0, 1], not -0.1"]
    text = (ROOT / "examples" / "fund_portfolio.yaml").read_text()
    options = tmp_path / "options.yaml"
    options.write_text(text.replace("portfolio_cap_rate: 0.20", "portfolio_cap_rate: 0"))
    line = text[:text.index("portfolio_cap_rate")].count("\n") + 1
    with pytest.raises(InputFileError) as exc:
        load_portfolio_options(options)
    assert [(p.line, p.message) for p in exc.value.problems] == [
        (line, "must be in (0, 1], not 0: it would cap the fund's payouts at nothing "
               "(leave it out for no portfolio cap)")]
    options.write_text(text.replace("portfolio_cap_rate: 0.20", "portfolio_cap_rate: 1"))
    assert load_portfolio_options(options).fund.portfolio_cap_rate == 1.0
