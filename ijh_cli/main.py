"""``ijh``: the command for funding officers, agencies and fund analysts.

Commands are grouped by who uses them; each talks to the gateway over TLS with a bearer
token (see :mod:`ijh_cli.connection` for where the address, CA and token come from).
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import json
import os
import shlex
import signal
import sys
import time
import uuid
from enum import StrEnum
from pathlib import Path
from typing import Annotated

# Before gRPC starts: its core's own log lines (a raw "Handshake failed ..." on stderr)
# would repeat, less clearly, what the error message says.
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")

import grpc
import typer
from ijh.funding.v1 import funding_pb2, funding_pb2_grpc
from ijh.risk.v1 import risk_pb2, risk_pb2_grpc

from ijh_cli import inputs, output
from ijh_cli.connection import Connection, ConnectionFlags, resolve, rpc_error
from ijh_cli.errors import EXIT_CODES_HELP, INTERRUPTED, OTHER, USAGE, CliError
from ijh_cli.files import SourceMap, decimal_text

PRECEDENCE_HELP = (
    "Connection settings, first found wins: flags; environment (IJH_GATEWAY, IJH_CA_CERT, "
    "IJH_TOKEN, IJH_TOKEN_FILE, IJH_ROLE, IJH_CLIENT_CERT, IJH_CLIENT_KEY, IJH_VAR_DIR); "
    "one config file (--config or IJH_CONFIG, else ./ijh.toml, else "
    "~/.config/ijh/config.toml); then the defaults of `make run`: gateway 127.0.0.1:50051, "
    "CA var/dev-pki/ca.pem and token var/tokens/<role>.jwt, where <role> is the "
    "command's usual user unless --role names another.")

app = typer.Typer(
    name="ijh", no_args_is_help=True, pretty_exceptions_enable=False,
    add_completion=False, rich_markup_mode=None,
    help="IJH Risk & Funding Services from the command line: IJH grants and applications "
         "(officers), procurement risk estimates and guarantees (agencies), the risk fund's "
         "portfolio (analysts). " + PRECEDENCE_HELP,
    epilog=EXIT_CODES_HELP)
grant_app = typer.Typer(no_args_is_help=True, help="IJH planning grants (officers).")
application_app = typer.Typer(no_args_is_help=True,
                              help="Applications and their life cycle (agencies, officers).")
risk_app = typer.Typer(no_args_is_help=True, help="Procurement risk estimates (agencies).")
guarantee_app = typer.Typer(no_args_is_help=True,
                            help="What a fund guarantee on a procurement would pay (agencies).")
portfolio_app = typer.Typer(no_args_is_help=True,
                            help="Simulations of the fund's portfolio (analysts).")
fund_app = typer.Typer(no_args_is_help=True, help="The fund's position (analysts, officers).")
params_app = typer.Typer(no_args_is_help=True, help="Rule parameters in force on a date.")
config_app = typer.Typer(no_args_is_help=True, help="Where the connection settings come from.")
deminimis_app = typer.Typer(no_args_is_help=True,
                            help="A company's de minimis register: aid counted against the "
                                 "ceiling (officers).")
beneficiary_app = typer.Typer(no_args_is_help=True,
                              help="What the ledger knows of a business ID (officers).")
for sub, name in ((grant_app, "grant"), (application_app, "application"), (risk_app, "risk"),
                  (guarantee_app, "guarantee"), (portfolio_app, "portfolio"),
                  (fund_app, "fund"), (params_app, "params"), (config_app, "config"),
                  (deminimis_app, "deminimis"), (beneficiary_app, "beneficiary")):
    app.add_typer(sub, name=name)

UNARY_TIMEOUT_SECONDS = 120.0
CHUNK_GUARANTEES = 20_000  # per SimulatePortfolio message; well under the gateway's 4 MiB

JsonFlag = Annotated[bool, typer.Option("--json", help="Print the answer as JSON (the proto's "
                                                       "JSON form, proto field names).")]
ReportDir = Annotated[Path | None, typer.Option(
    "--report", help="Write PNG figures and an index.html tying them together into DIR.",
    metavar="DIR")]
ExistingFile = Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)]


@app.callback()
def _root(
    ctx: typer.Context,
    gateway: Annotated[str | None, typer.Option(help="Gateway host:port [IJH_GATEWAY; "
                                                     "default 127.0.0.1:50051].")] = None,
    ca_cert: Annotated[str | None, typer.Option(help="PEM CA bundle to trust [IJH_CA_CERT; "
                                                     "default var/dev-pki/ca.pem].")] = None,
    token: Annotated[str | None, typer.Option(help="Bearer token [IJH_TOKEN].")] = None,
    token_file: Annotated[str | None, typer.Option(help="File holding the bearer token "
                                                        "[IJH_TOKEN_FILE].")] = None,
    role: Annotated[str | None, typer.Option(help="Use make run's demo token "
                                                  "var/tokens/ROLE.jwt (agency, agency2, "
                                                  "company, officer, officer2, analyst, "
                                                  "admin) [IJH_ROLE].")] = None,
    client_cert: Annotated[str | None, typer.Option(help="PEM client certificate for mutual "
                                                         "TLS [IJH_CLIENT_CERT].")] = None,
    client_key: Annotated[str | None, typer.Option(help="Its private key "
                                                        "[IJH_CLIENT_KEY].")] = None,
    config: Annotated[str | None, typer.Option(help="TOML config file [IJH_CONFIG].")] = None,
    timeout: Annotated[float | None, typer.Option(help="Deadline of each call in seconds "
                                                       "(default 120; none for portfolio "
                                                       "simulations).")] = None,
) -> None:
    ctx.obj = ConnectionFlags(gateway, ca_cert, token, token_file, role, client_cert,
                              client_key, config, timeout)


def command(group: typer.Typer, name: str, **kwargs):
    """Register a command whose failures become messages and exit codes, never tracebacks."""

    def register(fn):
        @functools.wraps(fn)
        def run(*args, **kw):
            try:
                try:
                    return fn(*args, **kw)
                except (CliError, typer.Exit, typer.Abort):
                    raise
                except KeyboardInterrupt:
                    raise CliError("interrupted", INTERRUPTED) from None
                except grpc.RpcError as exc:
                    raise rpc_error(exc) from None
                except Exception as exc:  # never a traceback
                    raise CliError(f"unexpected {type(exc).__name__}: {exc}", OTHER) from None
            except CliError as exc:
                exc.show()
                raise typer.Exit(exc.exit_code) from None

        return group.command(name, **kwargs)(run)

    return register


def _connect(ctx: typer.Context, default_role: str) -> tuple[Connection, float | None]:
    flags: ConnectionFlags = ctx.obj or ConnectionFlags()
    return resolve(flags, default_role), flags.timeout_seconds


def _call(connection: Connection, method, request, timeout: float | None, locate=None):
    try:
        return method(request, timeout=timeout or UNARY_TIMEOUT_SECONDS)
    except grpc.RpcError as exc:
        raise rpc_error(exc, locate, connection) from None


# A failure with one of these codes says the write was not done; after any other (a
# deadline, a connection lost, an internal error) it may have been.
_NOT_DONE = frozenset({
    grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.NOT_FOUND, grpc.StatusCode.ALREADY_EXISTS,
    grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED,
    grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.OUT_OF_RANGE,
    grpc.StatusCode.UNIMPLEMENTED})


def _write(connection: Connection, method, request, timeout: float | None, locate=None):
    """A write, whose request carries its idempotency key: the key is said on stderr (the
    default is made here, so the caller would not know it), and a failure that leaves it
    unknown whether the write was done says to repeat it with that key."""
    again = f"--request-id {shlex.quote(request.request_id)}"
    unsure = (f"it may have been done all the same: retry with {again} (a write already "
              "done is answered again, not done twice)")
    try:
        answer = method(request, timeout=timeout or UNARY_TIMEOUT_SECONDS)
    except grpc.RpcError as exc:
        error = rpc_error(exc, locate, connection)
        if (exc.code() if hasattr(exc, "code") else None) not in _NOT_DONE:
            error.message += f"\n  {unsure}"
        raise error from None
    except KeyboardInterrupt:
        raise CliError(f"interrupted: {unsure}", INTERRUPTED) from None
    print(f"request id {request.request_id} (repeat with {again} to retry safely)",
          file=sys.stderr, flush=True)
    return answer


def _locator(sources: SourceMap):
    def locate(proto_path: str) -> str | None:
        found = sources.locate(proto_path)
        return f"{sources.file}:{found[0]}: {found[1]}" if found else None

    return locate


def _in_file(sources: SourceMap):
    """A model path the service names (a default it filled) as the file names that field,
    ``cost_items[4].cost.most_likely``, where the file has it."""
    def name(model_path: str) -> str:
        found = sources.entries.get(f"model.{model_path}")
        return found[1] if found else model_path

    return name


def _flags_locator(flags: dict[str, str]):
    """Field violations of a request built from flags, named by the flag: ``--grant-eur``
    rather than ``grant_cents``."""
    return lambda proto_path: flags.get(proto_path)


def _euros_flag(flag: str, text: str | None) -> int | None:
    """A money flag (euros, at most two decimals, as in the input files) as exact cents."""
    if text is None:
        return None
    try:
        return inputs.euros_to_cents(text)
    except ValueError as exc:
        raise CliError(f"{flag}: {exc}", USAGE) from None


def _date_flag(flag: str, text: str | None) -> str | None:
    if text is not None:
        try:
            dt.date.fromisoformat(text)
        except ValueError:
            raise CliError(f"{flag} {text!r}: not a date YYYY-MM-DD", USAGE) from None
    return text


def _token_claims(token: str | None) -> dict:
    """The token's claims, unverified (the gateway verifies): for the agency's business ID."""
    if not token or token.count(".") != 2:
        return {}
    payload = token.split(".")[1]
    try:
        return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except ValueError:
        return {}


# ================================================================== grant

def _grant(ctx, file: Path, date: str | None, explain: bool, as_json: bool) -> None:
    application = inputs.load_application(file)
    connection, timeout = _connect(ctx, "officer")
    with connection.channel() as channel:
        stub = funding_pb2_grpc.FundingServiceStub(channel)
        answer = _call(connection, stub.ComputeGrant,
                       application.grant_request(date, explain), timeout,
                       _locator(application.sources))
    if as_json:
        output.print_json(answer)
    else:
        output.grant(answer, explain)


DateOption = Annotated[str | None, typer.Option(
    "--date", help="Apply the rules in force on this date (YYYY-MM-DD); default: the file's "
                   "reference_date, else today (in Helsinki).")]


@command(grant_app, "compute")
def grant_compute(ctx: typer.Context, file: ExistingFile, date: DateOption = None,
                  as_json: JsonFlag = False) -> None:
    """Compute the IJH planning grant of an application file (YAML)."""
    _grant(ctx, file, date, False, as_json)


@command(grant_app, "explain")
def grant_explain(ctx: typer.Context, file: ExistingFile, date: DateOption = None,
                  as_json: JsonFlag = False) -> None:
    """Compute the grant with the rule, parameters and legal reference behind each figure."""
    _grant(ctx, file, date, True, as_json)


# ================================================================== applications

def _name(name: str) -> str:
    return name if name.startswith("applications/") else f"applications/{name}"


def _show_application(answer, as_json: bool, history: bool = False) -> None:
    if as_json:
        output.print_json(answer)
    else:
        output.application(answer.application, history)


RequestId = Annotated[str | None, typer.Option(
    help="Idempotency key; repeat it to retry safely (default: a new UUID; either way it is "
         "printed on stderr).")]
Reason = Annotated[str, typer.Option(help="Why (recorded in the audit log).")]


@command(application_app, "create")
def application_create(ctx: typer.Context, file: ExistingFile, request_id: RequestId = None,
                       as_json: JsonFlag = False) -> None:
    """Create a draft application from a file (default role: agency)."""
    application = inputs.load_application(file)
    connection, timeout = _connect(ctx, "agency")
    with connection.channel() as channel:
        stub = funding_pb2_grpc.FundingServiceStub(channel)
        answer = _write(connection, stub.CreateApplication,
                       application.create_request(request_id or str(uuid.uuid4())), timeout,
                       _locator(application.sources))
    _show_application(answer, as_json)


@command(application_app, "submit")
def application_submit(ctx: typer.Context, name: str, reason: Reason = "",
                       request_id: RequestId = None, as_json: JsonFlag = False) -> None:
    """Submit a draft (default role: agency); an IJH grant is computed and stored."""
    connection, timeout = _connect(ctx, "agency")
    with connection.channel() as channel:
        stub = funding_pb2_grpc.FundingServiceStub(channel)
        answer = _write(connection, stub.SubmitApplication, funding_pb2.SubmitApplicationRequest(
            request_id=request_id or str(uuid.uuid4()), name=_name(name), reason=reason),
            timeout)
    _show_application(answer, as_json)


@command(application_app, "score")
def application_score(
    ctx: typer.Context, name: str,
    scores_file: Annotated[Path | None, typer.Option(
        "--scores", exists=True, dir_okay=False,
        help="YAML score sheet: scores: {criterion: \"3.5\", ...}.")] = None,
    score: Annotated[list[str] | None, typer.Option(
        "--score", help="criterion=score (0..5 in half points); repeat per criterion.")] = None,
    reason: Reason = "", request_id: RequestId = None, as_json: JsonFlag = False,
) -> None:
    """Record your score sheet for an application (default role: officer)."""
    sources = None
    criteria: list[funding_pb2.CriterionScore] = []
    if scores_file is not None:
        criteria, file_reason, sources = inputs.load_scores(scores_file)
        reason = reason or file_reason
    for item in score or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise CliError(f"--score {item!r}: write criterion=score, e.g. novelty=4", USAGE)
        criteria.append(funding_pb2.CriterionScore(criterion=key.strip(), score=value.strip()))
    if not criteria:
        raise CliError("give the scores with --scores FILE or --score criterion=score "
                       "(`ijh params show` lists the rubric's criteria)", USAGE)
    connection, timeout = _connect(ctx, "officer")
    with connection.channel() as channel:
        stub = funding_pb2_grpc.FundingServiceStub(channel)
        answer = _write(connection, stub.RecordScores, funding_pb2.RecordScoresRequest(
            request_id=request_id or str(uuid.uuid4()), name=_name(name), scores=criteria,
            reason=reason), timeout, _locator(sources) if sources else None)
    _show_application(answer, as_json)


class DecisionWord(StrEnum):
    approve = "approve"
    reject = "reject"


@command(application_app, "decide")
def application_decide(
    ctx: typer.Context, name: str,
    decision: Annotated[DecisionWord, typer.Argument(help="approve or reject")],
    reason: Annotated[str, typer.Option(help="Why (required; recorded in the audit log).")],
    expected_grant_eur: Annotated[str | None, typer.Option(
        help="IJH grants, approve: the grant in euros you expect the rules to compute (at "
             "--indirect-cost-rate if given), e.g. the grant computed at submission. If "
             "today's rules give another figure the approval is refused: GRANT_CHANGED "
             "naming both when the rules changed it, else this flag is wrong.")] = None,
    indirect_cost_rate: Annotated[str | None, typer.Option(
        help="IJH grants, approve: the indirect-cost rate the decision sets for own "
             "personnel, a decimal (0.25 is 25 %); default: each line's own rate.")] = None,
    grant_eur: Annotated[str | None, typer.Option(
        help="IJH grants, approve: the grant in euros the decision fixes, at most the "
             "computed grant (GRANT_ABOVE_COMPUTED); default: the computed grant.")] = None,
    request_id: RequestId = None, as_json: JsonFlag = False,
) -> None:
    """Approve or reject a scored application (default role: officer). Money in euros with
    at most two decimals ("34 950.00"), converted exactly to cents."""
    request = funding_pb2.DecideApplicationRequest(
        request_id=request_id or str(uuid.uuid4()), name=_name(name),
        decision=(funding_pb2.DECISION_APPROVE if decision is DecisionWord.approve
                  else funding_pb2.DECISION_REJECT), reason=reason)
    expected = _euros_flag("--expected-grant-eur", expected_grant_eur)
    fixed = _euros_flag("--grant-eur", grant_eur)
    if expected is not None:
        request.expected_grant_cents = expected
    if fixed is not None:
        request.grant_cents = fixed
    if indirect_cost_rate is not None:
        try:
            request.indirect_cost_rate = decimal_text(indirect_cost_rate)
        except ValueError as exc:
            raise CliError(f"--indirect-cost-rate: {exc}", USAGE) from None
    connection, timeout = _connect(ctx, "officer")
    with connection.channel() as channel:
        stub = funding_pb2_grpc.FundingServiceStub(channel)
        answer = _write(connection, stub.DecideApplication, request, timeout, _flags_locator({
            "expected_grant_cents": "--expected-grant-eur", "grant_cents": "--grant-eur",
            "indirect_cost_rate": "--indirect-cost-rate", "reason": "--reason"}))
    _show_application(answer, as_json)


class StateWord(StrEnum):
    draft = "draft"
    submitted = "submitted"
    scored = "scored"
    approved = "approved"
    rejected = "rejected"
    active = "active"
    claimed = "claimed"
    expired = "expired"


class KindWord(StrEnum):
    ijh_grant = "ijh_grant"
    guarantee = "guarantee"


@command(application_app, "list")
def application_list(
    ctx: typer.Context,
    state: Annotated[StateWord | None, typer.Option(help="Only in this state.")] = None,
    kind: Annotated[KindWord | None, typer.Option(help="Only of this kind.")] = None,
    business_id: Annotated[str | None, typer.Option(
        help="Only this applicant's (agencies: their own, the default).")] = None,
    page_size: Annotated[int, typer.Option(min=0, max=500)] = 50,
    page_token: Annotated[str, typer.Option(help="From a previous page.")] = "",
    as_json: JsonFlag = False,
) -> None:
    """List applications, oldest first (default role: officer)."""
    connection, timeout = _connect(ctx, "officer")
    claims = _token_claims(connection.token)
    if business_id is None and claims.get("role") == "agency":
        business_id = claims.get("business_id")
    request = funding_pb2.ListApplicationsRequest(
        state=funding_pb2.ApplicationState.Value(f"APPLICATION_STATE_{state.value.upper()}")
        if state else 0,
        kind=inputs.APPLICATION_KINDS[kind.value] if kind else 0,
        applicant_business_id=business_id or "", page_size=page_size, page_token=page_token)
    with connection.channel() as channel:
        stub = funding_pb2_grpc.FundingServiceStub(channel)
        answer = _call(connection, stub.ListApplications, request, timeout)
    if as_json:
        output.print_json(answer)
    else:
        output.applications(answer)


@command(application_app, "show")
def application_show(
    ctx: typer.Context, name: str,
    history: Annotated[bool, typer.Option(help="Include the audit log.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Show one application (default role: officer)."""
    connection, timeout = _connect(ctx, "officer")
    with connection.channel() as channel:
        stub = funding_pb2_grpc.FundingServiceStub(channel)
        answer = _call(connection, stub.GetApplication, funding_pb2.GetApplicationRequest(
            name=_name(name), include_history=history), timeout)
    _show_application(answer, as_json, history)


# ================================================================== de minimis, beneficiaries

BusinessId = Annotated[str, typer.Argument(help="The business ID (Y-tunnus), e.g. 1234567-1.")]


@command(deminimis_app, "show")
def deminimis_show(ctx: typer.Context, business_id: BusinessId,
                   as_json: JsonFlag = False) -> None:
    """A company's de minimis register, oldest first: every row (declared aid, aid granted
    here, corrections), what counts today, the ceiling and the room left (default role:
    officer)."""
    connection, timeout = _connect(ctx, "officer")
    with connection.channel() as channel:
        stub = funding_pb2_grpc.FundingServiceStub(channel)
        answer = _call(connection, stub.GetDeMinimisRegister,
                       funding_pb2.GetDeMinimisRegisterRequest(business_id=business_id),
                       timeout)
    if as_json:
        output.print_json(answer)
    else:
        output.de_minimis_register(answer)


def aid_request_id(request: funding_pb2.RecordDeMinimisAidRequest) -> str:
    """The default idempotency key of a row of declared aid: its content's, so that an
    officer who runs the command again, not knowing whether the first run landed, does not
    count the aid twice (the service answers the first run's row)."""
    content = json.dumps([request.business_id, request.granted_on, request.amount_cents,
                          request.reference], ensure_ascii=False)
    return f"deminimis-record-{uuid.uuid5(uuid.NAMESPACE_URL, 'ijh:' + content)}"


@command(deminimis_app, "record")
def deminimis_record(
    ctx: typer.Context, business_id: BusinessId,
    granted_on: Annotated[str, typer.Option(
        help="Date the right to the aid was granted, YYYY-MM-DD (today or before).")],
    amount_eur: Annotated[str, typer.Option(
        help="Its gross grant equivalent in euros, at most two decimals.")],
    reference: Annotated[str, typer.Option(help="The grantor and decision.")],
    request_id: Annotated[str | None, typer.Option(
        help="Idempotency key (printed on stderr). Default: one derived from the business "
             "ID, date, amount and reference, so that running the same command again (after "
             "a timeout, say) is a safe retry that records the row once. To record a second, "
             "identical row on purpose, give a key of its own.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Record de minimis aid a company declared it received elsewhere, so that it counts
    against the ceiling (default role: officer). The same command run twice records the
    row once (see --request-id)."""
    request = funding_pb2.RecordDeMinimisAidRequest(
        business_id=business_id, granted_on=_date_flag("--granted-on", granted_on),
        amount_cents=_euros_flag("--amount-eur", amount_eur), reference=reference.strip())
    request.request_id = request_id or aid_request_id(request)
    connection, timeout = _connect(ctx, "officer")
    with connection.channel() as channel:
        stub = funding_pb2_grpc.FundingServiceStub(channel)
        try:
            answer = _write(connection, stub.RecordDeMinimisAid, request, timeout,
                            _flags_locator({"granted_on": "--granted-on",
                                            "amount_cents": "--amount-eur",
                                            "reference": "--reference"}))
        except CliError as exc:
            if request_id is None and exc.message.startswith("ALREADY_EXISTS"):
                # The key is the row's, and the service keys by who recorded it too.
                exc.message += ("\n  the default key is the row's (business ID, date, "
                                "amount, reference), and another officer has recorded that "
                                f"row: see `ijh deminimis show {business_id}`; if the company "
                                "declared it twice, give --request-id to record it again")
            raise
    if as_json:
        output.print_json(answer)
    else:
        output.aid_row("De minimis aid recorded", answer.business_id, answer.aid)
        if answer.over_ceiling_cents:
            output.console.print(f"note: {answer.business_id}'s aid counted today is "
                                 f"{output.eur(answer.over_ceiling_cents)} above the ceiling")
        output.ceiling_breaches(answer.ceiling_breaches)


@command(deminimis_app, "correct")
def deminimis_correct(
    ctx: typer.Context, business_id: BusinessId,
    aid_id: Annotated[int, typer.Argument(min=1, help="The row to reverse (`ijh deminimis "
                                                      "show` lists the ids).")],
    reason: Annotated[str, typer.Option(help="Why (required; kept in the register).")],
    request_id: RequestId = None, as_json: JsonFlag = False,
) -> None:
    """Reverse a wrong row of declared aid by a new row: from then on neither counts, both
    stay. Record the right aid afterwards (default role: officer)."""
    connection, timeout = _connect(ctx, "officer")
    with connection.channel() as channel:
        stub = funding_pb2_grpc.FundingServiceStub(channel)
        answer = _write(connection, stub.CorrectDeMinimisAid,
                        funding_pb2.CorrectDeMinimisAidRequest(
                            request_id=request_id or str(uuid.uuid4()),
                            business_id=business_id, aid_id=aid_id, reason=reason),
                        timeout, _flags_locator({"reason": "--reason"}))
    if as_json:
        output.print_json(answer)
    else:
        output.aid_row("Correction recorded", business_id, answer.correction)


class BeneficiaryKindWord(StrEnum):
    company = "company"
    public_unit = "public_unit"


@command(beneficiary_app, "set-kind")
def beneficiary_set_kind(
    ctx: typer.Context, business_id: BusinessId,
    kind: Annotated[BeneficiaryKindWord, typer.Argument(help="company or public_unit")],
    reason: Annotated[str, typer.Option(help="Why (required; recorded in the audit).")],
    request_id: RequestId = None, as_json: JsonFlag = False,
) -> None:
    """Set a business ID's kind, company (de minimis applies) or public unit (default
    role: officer). Decided applications keep their decision."""
    connection, timeout = _connect(ctx, "officer")
    with connection.channel() as channel:
        stub = funding_pb2_grpc.FundingServiceStub(channel)
        answer = _write(connection, stub.CorrectBeneficiaryKind,
                       funding_pb2.CorrectBeneficiaryKindRequest(
                           request_id=request_id or str(uuid.uuid4()), business_id=business_id,
                           kind=funding_pb2.BeneficiaryKind.Value(
                               f"BENEFICIARY_KIND_{kind.value.upper()}"),
                           reason=reason), timeout, _flags_locator({"reason": "--reason"}))
    if as_json:
        output.print_json(answer)
    else:
        output.beneficiary_kind(answer)


# ================================================================== procurement risk

Scenarios = Annotated[int | None, typer.Option(min=1, help="Monte Carlo scenarios (default: "
                                                           "the file's, else the service's).")]
Seed = Annotated[int | None, typer.Option(min=0, help="Seed (default: the file's, else one "
                                                      "the service picks and reports).")]


def _apply_simulation(model_file: inputs.ProcurementFile, scenarios, seed) -> None:
    if scenarios is not None:
        model_file.simulation.scenario_count = scenarios
    if seed is not None:
        model_file.simulation.seed = seed
    if not model_file.simulation.scenario_count:
        model_file.simulation.scenario_count = 10_000


def _reproduce(*words: str) -> str:
    return "ijh " + " ".join(shlex.quote(w) for w in words)


@command(risk_app, "estimate")
def risk_estimate(
    ctx: typer.Context, file: ExistingFile, scenarios: Scenarios = None, seed: Seed = None,
    confidence: Annotated[float | None, typer.Option(
        min=0.5, max=0.999, help="Confidence of the contingency (default 0.8).")] = None,
    report_dir: ReportDir = None, as_json: JsonFlag = False,
) -> None:
    """Estimate cost, schedule and failure risk of a procurement model (YAML; default role:
    agency). Without a scenario count in the file or flags, 10,000 are run."""
    model_file = inputs.load_procurement(file)
    _apply_simulation(model_file, scenarios, seed)
    request = risk_pb2.EstimateProcurementRiskRequest(
        model=model_file.model, simulation=model_file.simulation,
        quantile_levels=model_file.quantile_levels,
        confidence=confidence or model_file.confidence)
    connection, timeout = _connect(ctx, "agency")
    with connection.channel() as channel:
        stub = risk_pb2_grpc.RiskServiceStub(channel)
        answer = _call(connection, stub.EstimateProcurementRisk, request, timeout,
                       _locator(model_file.sources))
    if report_dir is not None:
        _estimate_report(report_dir, model_file, answer, confidence)
    if as_json:
        output.print_json(answer)
    else:
        output.estimate(answer, model_file.title, model_file.model, _deadline(model_file),
                        _in_file(model_file.sources))
        if report_dir is not None:
            output.console.print(f"report: {report_dir / 'index.html'}")


def _deadline(model_file: inputs.ProcurementFile) -> float | None:
    return model_file.model.deadline_days if model_file.model.HasField("deadline_days") \
        else None


def _estimate_report(directory: Path, model_file: inputs.ProcurementFile,
                     r: risk_pb2.EstimateProcurementRiskResponse,
                     confidence: float | None = None) -> None:
    """``confidence``: the --confidence given, which the report's command must repeat (the
    file's, or the default, the command reads itself)."""
    from ijh_cli import plots, report  # matplotlib only when drawing

    directory.mkdir(parents=True, exist_ok=True)
    budget = float(r.budget_cents) or None
    deadline = _deadline(model_file)
    failed = output.failed_included(r, model_file.model)
    in_file = _in_file(model_file.sources)
    figures = [
        plots.histogram(directory / "cost_histogram.png", r.cost_histogram, r.total_cost,
                        "Total cost", money=True, limit=budget, limit_label="budget",
                        note=failed),
        plots.s_curve(directory / "cost_s_curve.png", r.cost_cdf, r.total_cost,
                      "S-curve of total cost", money=True, limit=budget, limit_label="budget",
                      note=failed),
        plots.tornado(directory / "cost_tornado.png", r.cost_sensitivity,
                      "What drives the total cost")]
    if r.duration_histogram.counts:
        figures += [
            plots.histogram(directory / "duration_histogram.png", r.duration_histogram,
                            r.duration, "Duration", money=False, limit=deadline,
                            limit_label="deadline"),
            plots.s_curve(directory / "duration_s_curve.png", r.duration_cdf, r.duration,
                          "S-curve of duration", money=False, limit=deadline,
                          limit_label="deadline")]
        if r.duration_sensitivity:
            figures.append(plots.tornado(directory / "duration_tornado.png",
                                         r.duration_sensitivity, "What drives the duration"))
    page = report.Report(f"Risk estimate: {model_file.title}",
                         f"Model {model_file.path.name}; seed {r.seed}, "
                         f"{r.scenario_count:,} scenarios.",
                         figures=figures,
                         defaults=[(in_file(d.field), d.value, d.rationale)
                                   for d in r.defaults_used],
                         reproduce=_reproduce(
                             "risk", "estimate", str(model_file.path),
                             "--scenarios", str(r.scenarios_requested), "--seed", str(r.seed),
                             *(("--confidence", f"{confidence:g}") if confidence else ())))
    rows = [("seed", str(r.seed)), ("scenarios", f"{r.scenario_count:,}"),
            ("base estimate", output.eur(r.base_estimate_cents)),
            ("budget", output.eur(r.budget_cents)),
            ("P(cost > budget)", output.est_p(r.probability_over_budget)),
            (f"cost at P{r.confidence * 100:g}", output.est_eur(r.cost_at_confidence_cents)),
            ("contingency over base estimate",
             output.est_eur(r.contingency_over_base_estimate_cents)),
            ("P(failure)", output.est_p(r.probability_of_failure))]
    if r.HasField("probability_over_deadline"):
        rows.insert(5, (output.deadline_label(deadline),
                        output.est_p(r.probability_over_deadline)))
    page.table("Headline", rows)
    page.table("Total cost", [("mean", output.est_eur(r.total_cost.mean))] + [
        (f"P{q.level * 100:g}", f"{output.eur(q.value)} ± {output.eur(q.standard_error)}")
        for q in r.total_cost.quantiles], note=failed)
    if r.duration.quantiles:
        page.table("Duration quantiles", [
            (f"P{q.level * 100:g}", f"{q.value:,.1f} ± {q.standard_error:.1f} days")
            for q in r.duration.quantiles])
    if r.phase_failures:
        page.table("Failure by phase", [(f.phase_name, output.est_p(f.probability))
                                        for f in r.phase_failures])
    report.write(directory, page, output.as_dict(r))


class CoversWord(StrEnum):
    cost_overrun = "cost_overrun"
    loss_at_failure = "loss_at_failure"


@command(guarantee_app, "evaluate")
def guarantee_evaluate(
    ctx: typer.Context, file: ExistingFile,
    covers: Annotated[CoversWord | None, typer.Option(help="What the guarantee pays on.")] = None,
    rate: Annotated[float | None, typer.Option(min=0.0, max=1.0,
                                               help="Share of the loss paid.")] = None,
    cap_eur: Annotated[str | None, typer.Option(help="Largest payout in euros.")] = None,
    deductible_eur: Annotated[str | None, typer.Option(help="First loss kept, euros.")] = None,
    scenarios: Scenarios = None, seed: Seed = None, as_json: JsonFlag = False,
) -> None:
    """What a partial guarantee would pay on a procurement (the model file's `guarantee:`
    block, flags override; default role: agency)."""
    model_file = inputs.load_procurement(file)
    _apply_simulation(model_file, scenarios, seed)
    terms = model_file.terms or risk_pb2.GuaranteeTerms()
    if covers is not None:
        terms.covered_loss = inputs.COVERED_LOSSES[covers.value]
    if rate is not None:
        terms.guarantee_rate = rate
    if cap_eur is not None:
        terms.cap_cents = _euros_flag("--cap-eur", cap_eur)
    if deductible_eur is not None:
        terms.deductible_cents = _euros_flag("--deductible-eur", deductible_eur)
    if not terms.covered_loss or not terms.guarantee_rate or not terms.cap_cents:
        raise CliError(f"{file}: no guarantee terms: add a `guarantee:` block (covers, rate, "
                       "cap_eur) or pass --covers, --rate and --cap-eur", USAGE)
    request = risk_pb2.EvaluateProcurementGuaranteeRequest(
        model=model_file.model, simulation=model_file.simulation, terms=terms,
        levels=model_file.guarantee_levels)
    connection, timeout = _connect(ctx, "agency")
    with connection.channel() as channel:
        stub = risk_pb2_grpc.RiskServiceStub(channel)
        answer = _call(connection, stub.EvaluateProcurementGuarantee, request, timeout,
                       _locator(model_file.sources))
    if as_json:
        output.print_json(answer)
    else:
        output.guarantee(answer, model_file.title, _in_file(model_file.sources))


# ================================================================== portfolio

class MethodWord(StrEnum):
    auto = "auto"
    monte_carlo = "monte_carlo"
    importance_sampling = "importance_sampling"
    semi_analytic = "semi_analytic"
    creditriskplus = "creditriskplus"


@command(portfolio_app, "simulate")
def portfolio_simulate(
    ctx: typer.Context, file: ExistingFile,
    options_file: Annotated[Path | None, typer.Option(
        "--options", exists=True, dir_okay=False,
        help="YAML with fund, dependence and simulation options "
             "(examples/fund_portfolio.yaml).")] = None,
    capital_eur: Annotated[str | None, typer.Option(help="The fund's capital, euros.")] = None,
    horizon_years: Annotated[int | None, typer.Option(min=1, max=30)] = None,
    scenarios: Scenarios = None, seed: Seed = None,
    method: Annotated[MethodWord | None, typer.Option()] = None,
    contributions: Annotated[bool | None, typer.Option(
        "--contributions/--no-contributions",
        help="Euler risk contributions by guarantee, sector and branch.")] = None,
    report_dir: ReportDir = None, as_json: JsonFlag = False,
    quiet: Annotated[bool, typer.Option(help="No progress on stderr.")] = False,
    detach: Annotated[bool, typer.Option(
        help="Start it as a long-running operation on the server and print its name; "
             "follow it with `ijh portfolio status NAME --wait` (up to about 50,000 "
             "guarantees: one message).")] = False,
    request_id: RequestId = None,
) -> None:
    """Simulate the fund's portfolio (CSV, one guarantee a row) and stream progress (default
    role: analyst). Ctrl-C cancels the simulation on the server and exits 130."""
    portfolio = inputs.load_portfolio_csv(file)
    options = inputs.load_portfolio_options(options_file)
    portfolio.check_sectors(options.dependence, options_file)
    sim = options.simulation
    if capital_eur is not None:
        options.fund.capital_cents = _euros_flag("--capital-eur", capital_eur)
    if horizon_years is not None:
        options.fund.horizon_years = horizon_years
    if scenarios is not None:
        sim.scenario_count = scenarios
    if seed is not None:
        sim.seed = seed
    if method is not None:
        sim.method = inputs.PORTFOLIO_METHODS[method.value]
    if contributions is not None:
        sim.include_contributions = contributions
    if report_dir is not None and contributions is None:
        sim.include_contributions = True
    if not options.fund.capital_cents:
        raise CliError("the fund's capital is missing: --capital-eur or fund.capital_eur in "
                       "--options", USAGE)
    if not detach and not sim.HasField("seed"):
        # A detached run gets its seed from the service (derived from its request id, so a
        # retry with the same --request-id is the same simulation); a streamed one gets it
        # here, for the report's Reproduce line.
        sim.seed = int.from_bytes(uuid.uuid4().bytes[:7], "big")
    # The report's Reproduce line: every flag that shapes the figures, as given, and the
    # seed (drawn here when neither the flags nor the options file set one).
    given = [str(file)]
    for flag, value in (("--options", options_file), ("--capital-eur", capital_eur),
                        ("--horizon-years", horizon_years), ("--scenarios", scenarios),
                        ("--method", method and method.value)):
        if value is not None:
            given += [flag, str(value)]
    given += ["--seed", str(sim.seed)]
    if contributions is not None or report_dir is not None:
        given.append("--contributions" if sim.include_contributions else "--no-contributions")

    def messages():
        for start in range(0, len(portfolio.guarantees), CHUNK_GUARANTEES):
            message = risk_pb2.SimulatePortfolioRequest(
                guarantees=portfolio.guarantees[start:start + CHUNK_GUARANTEES])
            if start == 0:
                message.fund.CopyFrom(options.fund)
                message.dependence.CopyFrom(options.dependence)
                message.simulation.CopyFrom(sim)
            yield message

    def locate(proto_path: str) -> str | None:
        found = portfolio.locate(proto_path)
        if found:
            return f"{file}:{found[0]}: {found[1]}"
        if options.sources is not None and options_file is not None:
            return _locator(options.sources)(proto_path)
        return None

    connection, timeout = _connect(ctx, "analyst")
    if detach:
        first = risk_pb2.SimulatePortfolioRequest(
            fund=options.fund, dependence=options.dependence, simulation=sim,
            guarantees=portfolio.guarantees)
        with connection.channel() as channel:
            stub = risk_pb2_grpc.RiskServiceStub(channel)
            request_id = request_id or str(uuid.uuid4())
            answer = _write(connection, stub.StartPortfolioSimulation,
                           risk_pb2.StartPortfolioSimulationRequest(
                               request_id=request_id, simulation=first),
                           timeout, lambda path: locate(path.removeprefix("simulation.")))
        if as_json:
            output.print_json(answer)
        else:
            output.operation(answer.operation)
            if not sim.HasField("seed"):
                output.console.print(f"the seed comes from the request id: starting it again "
                                     f"with --request-id {request_id} is the same simulation")
            output.console.print(f"follow it: ijh portfolio status {answer.operation.name} "
                                 "--wait")
        return
    result = _stream_simulation(connection, messages(), timeout, locate, quiet,
                                options.fund.horizon_years or 1)  # 0 means 1
    _show_portfolio(result, report_dir, file, given, as_json, portfolio.lines)


def _show_portfolio(result: risk_pb2.PortfolioRiskResult, report_dir: Path | None,
                    file: Path | None, given: list[str] | None, as_json: bool,
                    lines: list[int] | None = None) -> None:
    if report_dir is not None:
        _portfolio_report(report_dir, file, given, result, lines)
    if as_json:
        output.print_json(result)
    else:
        output.portfolio(result, lines)
        if report_dir is not None:
            output.console.print(f"report: {report_dir / 'index.html'}")


def _operation_name(name: str) -> str:
    return name if name.startswith("operations/") else f"operations/{name}"


@command(portfolio_app, "status")
def portfolio_status(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Argument(help="operations/ID; none: list them.")] = None,
    wait: Annotated[bool, typer.Option(help="Follow it until it is done (Ctrl-C stops "
                                            "following, not the operation).")] = False,
    report_dir: ReportDir = None, as_json: JsonFlag = False,
    quiet: Annotated[bool, typer.Option(help="No progress on stderr.")] = False,
    page_size: Annotated[int | None, typer.Option(
        min=1, max=100, help="Without NAME: operations a page (default 20).")] = None,
    page_token: Annotated[str | None, typer.Option(
        help="Without NAME: the page after the one that printed this token.")] = None,
) -> None:
    """A detached simulation's state, progress and, once done, its result; without NAME,
    the recent operations, newest first, a page at a time (default role: analyst)."""
    connection, timeout = _connect(ctx, "analyst")
    with connection.channel() as channel:
        stub = risk_pb2_grpc.RiskServiceStub(channel)
        if name is None:
            answer = _call(connection, stub.ListOperations, risk_pb2.ListOperationsRequest(
                page_size=page_size or 0, page_token=page_token or ""), timeout)
            if as_json:
                output.print_json(answer)
            else:
                output.operations(answer.operations)
                if answer.unreachable:  # their place is not known: this page may lack them
                    output.console.print(
                        "not read (now, or in this version's format), so this page may be "
                        "incomplete (list again in a moment, or: ijh portfolio status "
                        "NAME): " + ", ".join(answer.unreachable))
                if answer.next_page_token:
                    size = f" --page-size {page_size}" if page_size else ""
                    output.console.print(f"older ones: ijh portfolio status{size} "
                                         f"--page-token {answer.next_page_token}")
            return
        request = risk_pb2.GetOperationRequest(name=_operation_name(name))
        operation = _call(connection, stub.GetOperation, request, timeout).operation
        try:
            while wait and not operation.done:
                if not quiet and operation.metadata.HasField("progress"):
                    p = operation.metadata.progress
                    # The service's estimate, from the share of the whole run done.
                    left = (f"{operation.metadata.seconds_left:.0f} s left" if
                            output.done_share(p) else "time left not known yet")
                    print(_progress_line(p, operation.metadata.horizon_years, left),
                          file=sys.stderr, flush=True)
                operation = _call(connection, stub.WaitOperation,
                                  risk_pb2.WaitOperationRequest(name=operation.name,
                                                                timeout_seconds=2.0),
                                  max(timeout or 0.0, 30.0)).operation
        except KeyboardInterrupt:
            raise CliError(f"stopped following {operation.name}; it runs on (cancel it with "
                           f"`ijh portfolio cancel {operation.name}`)", INTERRUPTED) from None
    if operation.done and operation.HasField("response"):
        if as_json:
            output.print_json(operation)
            if report_dir is not None:
                _portfolio_report(report_dir, None, None, operation.response)
        else:
            output.operation(operation)
            _show_portfolio(operation.response, report_dir, None, None, False)
        return
    if as_json:
        output.print_json(operation)
    else:
        output.operation(operation)
    if operation.done and operation.HasField("error"):
        code = grpc.StatusCode.CANCELLED if operation.error.code == 1 else None
        raise CliError(f"{operation.name} ended with {operation.error.message}",
                       INTERRUPTED if code else OTHER)


@command(portfolio_app, "cancel")
def portfolio_cancel(ctx: typer.Context, name: str, as_json: JsonFlag = False) -> None:
    """Ask a detached simulation to stop (default role: analyst)."""
    connection, timeout = _connect(ctx, "analyst")
    with connection.channel() as channel:
        stub = risk_pb2_grpc.RiskServiceStub(channel)
        try:
            answer = _call(connection, stub.CancelOperation,
                           risk_pb2.CancelOperationRequest(name=_operation_name(name)), timeout)
        except CliError as exc:
            if "DEADLINE_EXCEEDED" in exc.message:
                exc.message += ("\n  the cancel was delivered; the simulation stops at its next "
                                f"chunk: check with `ijh portfolio status {_operation_name(name)}`")
            raise
    if as_json:
        output.print_json(answer)
    else:
        output.operation(answer.operation)


def _progress_text(p: risk_pb2.SimulationProgress, years: int) -> str:
    """The running figures, of the loss over ``years``, and two spaces; nothing before the
    first scenarios, whose figures are zeros ("ES 99.9% €0 ± €0"), not estimates."""
    if not p.scenarios_done:
        return ""
    return (f"loss {output.over(years)}: EL {output.est_eur(p.expected_loss_cents)}  "
            f"VaR{p.level:.1%} {output.est_eur(p.value_at_risk_cents)}  "
            f"ES{p.level:.1%} {output.est_eur(p.expected_shortfall_cents)}  ")


def _progress_line(p: risk_pb2.SimulationProgress, years: int, left: str) -> str:
    """One progress line (stderr not a terminal): the phase and its share, then the
    figures so far and the time left."""
    return (f"progress {output.phase_text(p)} ({p.scenarios_done}/{p.scenarios_total} "
            f"scenarios)  {_progress_text(p, years)}{left}")


def _stream_simulation(connection: Connection, messages, timeout, locate,
                       quiet: bool, horizon_years: int) -> risk_pb2.PortfolioRiskResult:
    """Run SimulatePortfolio, showing progress (of the loss over ``horizon_years``, the
    request's: a stream's progress does not say it); Ctrl-C cancels the call (exit 130)."""
    from rich.progress import (
        BarColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    live = sys.stderr.isatty() and not quiet
    # The bar counts the share of the whole run done (with contributions, the simulation
    # is a third of it): scenarios done stay at their total through the contributions.
    bar = Progress(TextColumn("{task.fields[phase]}"), BarColumn(),
                   TextColumn("{task.fields[figures]}"), TimeElapsedColumn(),
                   TextColumn("left"), TimeRemainingColumn(), console=output.err_console,
                   transient=True) if live else None
    task = None
    result = None
    started = time.monotonic()
    interrupted = False

    def cancel(_signum, _frame):
        # Ctrl-C cancels the call from the handler itself: a KeyboardInterrupt raised
        # inside gRPC's iteration can be swallowed there (the run then went on to its end).
        nonlocal interrupted
        interrupted = True
        call.cancel()

    with connection.channel() as channel:
        stub = risk_pb2_grpc.RiskServiceStub(channel)
        call = stub.SimulatePortfolio(messages, timeout=timeout)
        before = signal.signal(signal.SIGINT, cancel)
        try:
            if bar is not None:
                bar.start()
            for answer in call:
                if answer.HasField("result"):
                    result = answer.result
                    continue
                p = answer.progress
                done = output.done_share(p)
                if bar is not None:
                    if task is None:
                        task = bar.add_task("simulate", total=1.0, figures="", phase="")
                    bar.update(task, completed=done, phase=output.phase_text(p),
                               figures=_progress_text(p, horizon_years))
                elif not quiet:
                    elapsed = time.monotonic() - started
                    left = (f"{elapsed * (1 - done) / done:.0f} s left"
                            if done else "time left not known yet")
                    print(_progress_line(p, horizon_years, left), file=sys.stderr,
                          flush=True)
        except (KeyboardInterrupt, grpc.RpcError) as exc:
            call.cancel()
            if interrupted or isinstance(exc, KeyboardInterrupt):
                raise CliError("interrupted: the simulation was cancelled on the server",
                               INTERRUPTED) from None
            raise rpc_error(exc, locate, connection) from None
        finally:
            signal.signal(signal.SIGINT, before)
            if bar is not None:
                bar.stop()
    if result is None:
        raise CliError("the service ended the simulation without a result", OTHER)
    return result


DETACHED_REPRODUCE_NOTE = (
    "This run was detached: the service keeps neither its portfolio nor its options, so "
    "PORTFOLIO.csv and OPTIONS.yaml stand for the files it was started with (the "
    "guarantees, dependence, levels and fees are theirs), and a --method it was started "
    "with must be given again; the capital, horizon, seed, scenario count and "
    "contributions above are this run's.")


def _detached_words(r: risk_pb2.PortfolioRiskResult) -> list[str]:
    """A detached run's Reproduce line, from what its result carries: the files it was
    started with are not known, so they are named PORTFOLIO.csv and OPTIONS.yaml (the
    line without --options would be refused: it has no dependence)."""
    words = ["PORTFOLIO.csv", "--options", "OPTIONS.yaml",
             "--capital-eur", f"{r.capital_cents // 100}.{r.capital_cents % 100:02d}"]
    if r.horizon_years:
        words += ["--horizon-years", str(r.horizon_years)]
    words += ["--scenarios", str(r.scenario_count), "--seed", str(r.seed),
              "--contributions" if r.HasField("contributions") or r.contributions_stopped
              else "--no-contributions"]
    return words


def _portfolio_report(directory: Path, file: Path | None, given: list[str] | None,
                      r: risk_pb2.PortfolioRiskResult, lines: list[int] | None = None
                      ) -> None:
    """``given``: the simulate command's file and flags (None: a detached run's);
    ``lines``: each guarantee's CSV line, when the file is at hand."""
    from ijh_cli import plots, report  # matplotlib only when drawing

    directory.mkdir(parents=True, exist_ok=True)
    figures = [plots.loss_distribution(directory / "loss_distribution.png", r),
               plots.exhaustion(directory / "exhaustion_by_year.png", r)]
    if r.HasField("contributions"):
        figures.append(plots.contributions(directory / "contributions.png", r.contributions))
    words = given if given is not None else _detached_words(r)
    page = report.Report("Portfolio simulation of the risk fund",
                         f"Portfolio {file.name if file else '(detached run)'}: "
                         f"{r.guarantee_count:,} guarantees; method "
                         f"{output.method_name(r.method)}, seed {r.seed}, "
                         f"{r.scenario_count:,} scenarios.", figures=figures,
                         reproduce=_reproduce("portfolio", "simulate", *words),
                         reproduce_note="" if given is not None else DETACHED_REPRODUCE_NOTE)
    page.table("Headline", [
        ("method", output.method_name(r.method)), ("seed", str(r.seed)),
        ("scenarios", f"{r.scenario_count:,}"), ("guarantees", f"{r.guarantee_count:,}"),
        ("capital", output.eur(r.capital_cents)),
        ("annual fee income", output.eur(r.annual_fee_income_cents)),
        *([("state", output.CONTRIBUTIONS_STOPPED)] if r.contributions_stopped else []),
        ("horizon", output.over(r.horizon_years).removeprefix("over ")),
        (f"expected loss {output.over(r.horizon_years)}",
         output.est_eur(r.expected_loss_cents))])
    page.table(f"Tail risk: {output.loss_title(r.horizon_years)}", [
        (f"VaR / ES {t.level:.1%}", f"{output.est_eur(t.value_at_risk_cents)} / "
                                    f"{output.est_eur(t.expected_shortfall_cents)}")
        for t in r.tail_risk])
    page.table("Capital exhaustion by year", [
        (f"year {i}", output.est_p(e))
        for i, e in enumerate(r.exhaustion_probability_by_year, start=1)])
    if r.HasField("contributions") and r.contributions.scenario_count:
        c = r.contributions
        rows = [(f"ES {c.level:.1%} of the contributions", output.est_eur(
            c.expected_shortfall_cents))]
        rows += [(f"{g.id}" + (f" (CSV line {lines[g.row]})" if lines and
                               0 <= g.row < len(lines) else ""),
                  output.est_eur(g.expected_shortfall_cents)) for g in c.top_guarantees]
        page.table(f"Top guarantees by ES {c.level:.1%} contribution", rows,
                   note=f"The contributions: {output.contributions_source(r)}.")
    if r.notes:
        page.table("Notes", [(str(i), note) for i, note in enumerate(r.notes, start=1)])
    report.write(directory, page, output.as_dict(r))


# ================================================================== fund, parameters

@command(fund_app, "status")
def fund_status(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Capital, committed and available exposure, and exposure by sector and branch
    (default role: analyst)."""
    connection, timeout = _connect(ctx, "analyst")
    with connection.channel() as channel:
        stub = funding_pb2_grpc.FundingServiceStub(channel)
        status = _call(connection, stub.GetFundStatus, funding_pb2.GetFundStatusRequest(),
                       timeout)
        exposure = _call(connection, stub.GetExposure, funding_pb2.GetExposureRequest(),
                         timeout)
        model = (_fund_risk_model(connection, stub, timeout, status.rules_version)
                 if status.risk_figures and not as_json else None)
    if as_json:
        output.print_json({"status": status, "exposure": exposure})
    else:
        output.fund(status, exposure, model)


def _fund_risk_model(connection: Connection, stub, timeout, rules_version: str
                     ) -> dict | None:
    """The risk model (parameter risk.model) of the fund rules the status was computed
    under: it says the figures' horizon, which the status does not carry. None when it
    cannot be read or today's rules are another version (the label then says where to
    look); the status stands without it."""
    try:
        answer = _call(connection, stub.ListParameters, funding_pb2.ListParametersRequest(
            reference_date=inputs.helsinki_today(), rule_set="fund"), timeout)
    except CliError:
        return None
    if answer.rules_version != rules_version:
        return None
    for parameter in answer.parameters:
        if parameter.name == "risk.model":
            try:
                value = json.loads(parameter.value_json)
            except ValueError:
                return None
            return value if isinstance(value, dict) else None
    return None


class RuleSet(StrEnum):
    ijh = "ijh"
    fund = "fund"


@command(params_app, "show")
def params_show(
    ctx: typer.Context,
    date: Annotated[str | None, typer.Option("--date", help="YYYY-MM-DD (default: today in "
                                                            "Helsinki).")]
    = None,
    rule_set: Annotated[RuleSet, typer.Option(help="IJH grant rules or the fund's rules.")]
    = RuleSet.ijh,
    as_json: JsonFlag = False,
) -> None:
    """The rule parameters in force on a date, with their legal references."""
    _date_flag("--date", date)
    connection, timeout = _connect(ctx, "officer")
    with connection.channel() as channel:
        stub = funding_pb2_grpc.FundingServiceStub(channel)
        answer = _call(connection, stub.ListParameters, funding_pb2.ListParametersRequest(
            reference_date=date or inputs.helsinki_today(), rule_set=rule_set.value),
            timeout)
    if as_json:
        output.print_json(answer)
    else:
        output.parameters(answer)


@command(config_app, "show")
def config_show(
    ctx: typer.Context,
    role_of: Annotated[str, typer.Option("--for", help="The command user whose default "
                                                       "token to resolve.")] = "officer",
) -> None:
    """Print the resolved connection settings and where each came from (no secrets)."""
    connection, _ = _connect(ctx, role_of)
    claims = _token_claims(connection.token)
    output.console.print(output._kv("Connection", [
        ("gateway", f"{connection.gateway}  ({connection.origin.get('gateway')})"),
        ("CA", f"{connection.ca_cert or 'system roots'}  "
               f"({connection.origin.get('ca_cert', 'default')})"),
        ("token", f"{connection.origin.get('token')}"
                  + (f"; sub {claims.get('sub')}, role {claims.get('role')}" if claims
                     else "")),
        ("client certificate", str(connection.client_cert or "-"))]))


def main() -> None:  # pragma: no cover - the console script calls app()
    app()
