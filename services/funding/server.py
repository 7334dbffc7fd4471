"""The funding service's gRPC adapter: translate, call the rules core or the ledger,
publish.

The ledger (``services.funding.storage``) is synchronous SQLAlchemy: every call runs in a
worker thread (``asyncio.to_thread``). Its outbox relay runs as a background task that
publishes through the one :class:`~services.shared.events.EventPublisher`; each commit
wakes it. The caller is who the gateway says (``x-ijh-caller-*`` metadata), believed
because the runtime's :class:`~services.shared.caller.CallerCheck` has verified the
gateway's signature over it before any method runs. Its own calls to the risk service
are signed as ``funding`` in the role ``service``
(:func:`~services.shared.caller.caller_signers`), over mutual TLS when
``IJH_INTERNAL_TLS_*`` is set (which its own port then serves).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import grpc
from google.protobuf import any_pb2
from ijh.funding.v1 import funding_pb2, funding_pb2_grpc
from ijh.risk.v1 import risk_pb2, risk_pb2_grpc
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from services.funding import translate
from services.funding.ledger import (
    Actor,
    FundRules,
    PortfolioRow,
    RiskFigures,
    Role,
    RulesCore,
    model_and_level,
)
from services.funding.ledger.fund_rules import fund_parameter_set
from services.funding.ledger.lifecycle import not_creator, not_yours
from services.funding.rules import grant, scoring
from services.funding.rules.rulebook import ijh_parameters
from services.funding.storage import OutboxRelay, Repository, make_engine, upgrade
from services.funding.storage.repository import EVENT_SOURCE
from services.shared import metrics
from services.shared.caller import (
    BUSINESS_ID_KEY,
    ROLE_KEY,
    SUBJECT_KEY,
    caller_certificate_names,
    caller_keys,
    caller_metadata,
    caller_signers,
    own_certificate_name,
)
from services.shared.caller_assertion import CallerKeys
from services.shared.config import (
    ConfigurationError,
    Settings,
    client_options,
    replica_balancing,
)
from services.shared.errors import (
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    PreconditionViolation,
    Unauthenticated,
    Unavailable,
)
from services.shared.event_data import cloud_event
from services.shared.events import EventPublisher, StreamLimits
from services.shared.grpc_errors import translate_errors
from services.shared.logs import REQUEST_ID_KEY, request_id_var
from services.shared.server import Registration, ServiceRuntime, cannot_start, service_settings
from services.shared.tls import TlsSource, internal_channel, internal_tls

log = logging.getLogger(__name__)

SOURCE = EVENT_SOURCE  # one CloudEvents source for every funding event (``ijh/funding``)
#: The gateway's roles -> the ledger's. Analysts and admins read only.
LEDGER_ROLES = {"agency": Role.APPLICANT, "officer": Role.OFFICER}
READ_ROLES = frozenset({"agency", "officer", "analyst", "admin"})
FUND_READ_ROLES = frozenset({"officer", "analyst", "admin"})
#: The risk check runs inside the approval's transaction (it holds the SQLite write lock
#: or the fund row lock meanwhile), so it gets a short deadline.
RISK_CHECK_DEADLINE_SECONDS = 10.0
#: When an approval refused for want of a risk check may be retried (RetryInfo).
RISK_CHECK_RETRY_SECONDS = 5.0
#: The risk service's answers that say it cannot answer now (an outage, overload or a
#: fault on its side): the approval is refused UNAVAILABLE, to be retried. Any other
#: status says it will not answer this request as asked: FAILED_PRECONDITION.
_RISK_OUTAGE_CODES = frozenset({
    grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.CANCELLED, grpc.StatusCode.ABORTED, grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL})
RELAY_MAX_BACKOFF_SECONDS = 5.0
#: Who funding is when it calls the risk service (in the role ``service``).
SERVICE_SUBJECT = "funding"


def _pack(message) -> any_pb2.Any:
    detail = any_pb2.Any()
    detail.Pack(message)
    return detail


def _reference_date(text: str, field: str = "reference_date"):
    on = translate.parse_date(text)
    if isinstance(on, str):
        raise InvalidArgument(FieldViolation(field, "must be a calendar date YYYY-MM-DD"))
    return on


@dataclass(frozen=True)
class Caller:
    """Who the gateway says is calling."""

    subject: str
    role: str  # agency, officer, analyst or admin
    business_id: str  # agencies: the business ID they act for

    @property
    def is_agency(self) -> bool:
        return self.role == "agency"


def caller_of(context: grpc.aio.ServicerContext) -> Caller:
    """The caller from the gateway's metadata (its signature verified before the method
    ran), or Unauthenticated when it names no caller of these roles (a service's own
    identity included: no service acts on the ledger)."""
    metadata = caller_metadata(context)
    subject, role = metadata[SUBJECT_KEY], metadata[ROLE_KEY]
    business_id = metadata[BUSINESS_ID_KEY]
    if not subject or role not in READ_ROLES or (role == "agency" and not business_id):
        raise Unauthenticated(
            "no caller identity (x-ijh-caller-subject, x-ijh-caller-role and, for agencies, "
            "x-ijh-caller-business-id): call through the gateway")
    return Caller(subject, role, business_id)


def actor_of(caller: Caller, doing: str) -> Actor:
    """The ledger actor of a caller who changes something."""
    role = LEDGER_ROLES.get(caller.role)
    if role is None:
        raise PermissionDenied(f"role {caller.role} may not {doing}")
    return Actor(caller.subject, role)


class RiskServiceCheck:
    """The ledger's ``incremental_risk`` port: asks the risk service's
    EvaluateIncrementalRisk for the fund's risk measure after adding the candidate, the
    fund having the capital the ledger read in the approval's transaction, measured and
    modelled as the fund rules the approval is decided under say (the repository's clock
    and rules decide; the port only translates and calls).

    Called by the repository in a worker thread inside the approval transaction; the
    gRPC call runs on the service's event loop (one grpc.aio channel) with a deadline.
    Approving blind is never an option, and a refused approval writes nothing: when the
    risk service is unreachable, times out or fails, approval is refused UNAVAILABLE
    ``RISK_CHECK_UNAVAILABLE`` (an ErrorInfo reason, with a RetryInfo: retry later);
    when it refuses the request as asked (or answers without the figure), or the rules
    have no risk model, FAILED_PRECONDITION ``RISK_CHECK_FAILED`` or
    ``RISK_MODEL_NOT_IN_FORCE`` (a retry will not help until that is fixed)."""

    def __init__(self, settings: Settings, keys: CallerKeys, tls: TlsSource | None = None,
                 deadline_seconds: float = RISK_CHECK_DEADLINE_SECONDS):
        self.settings = settings
        self.keys = keys
        self.tls = tls  # mutual TLS to risk (IJH_INTERNAL_TLS_*); None: plaintext
        self.deadline = deadline_seconds
        self.loop: asyncio.AbstractEventLoop | None = None
        self.channel: grpc.aio.Channel | None = None
        self.stub: risk_pb2_grpc.RiskServiceStub | None = None

    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        # Every call signed as this service, under the request id of the call it serves.
        self.channel = internal_channel(
            self.settings.risk_address, self.tls,
            [*client_options(self.settings), ("grpc.service_config", json.dumps(
                replica_balancing(risk_pb2.DESCRIPTOR.services_by_name["RiskService"]
                                  .full_name, self.settings.risk_address)))],
            interceptors=caller_signers(self.keys, SERVICE_SUBJECT))
        self.stub = risk_pb2_grpc.RiskServiceStub(self.channel)

    async def stop(self) -> None:
        if self.channel is not None:
            await self.channel.close()

    @staticmethod
    def _unavailable(why: str) -> Unavailable:
        return Unavailable(
            "RISK_CHECK_UNAVAILABLE",
            f"the risk-appetite check could not be made ({why}); approval is refused "
            "rather than made blind, and nothing was recorded: retry when the risk "
            "service answers", RISK_CHECK_RETRY_SECONDS, {"dependency": "risk"})

    @staticmethod
    def _failed(kind: str, why: str) -> FailedPrecondition:
        return FailedPrecondition(PreconditionViolation(
            kind, "fund", f"the risk-appetite check cannot be made ({why}); approval is "
                          "refused rather than made blind"))

    async def _evaluate(self, request, request_id: str):
        return await self.stub.EvaluateIncrementalRisk(
            request, timeout=self.deadline, metadata=_traced(request_id))

    async def headline_figures(self, portfolio: Sequence[PortfolioRow], capital_cents: int,
                               rules: FundRules
                               ) -> tuple[risk_pb2.PortfolioRiskResult | None, str]:
        """The committed portfolio's simulation under the rules' risk model, and why it is
        missing (empty when nothing is committed or it is given): the status of the fund
        must not depend on the risk service being up, but must say what it lacks."""
        if not portfolio:
            return None, ""
        if self.stub is None:
            return None, "the risk client is not started; retry"
        try:
            model, level = model_and_level(rules)
        except ValueError as exc:
            return None, f"the fund rules name no usable risk model: {exc}"
        try:
            request = translate.portfolio_request(portfolio, model, capital_cents, level)

            async def requests():
                yield request

            result = None
            async for reply in self.stub.SimulatePortfolio(
                    requests(), timeout=self.deadline, metadata=_traced(request_id_var.get())):
                if reply.HasField("result"):
                    result = reply.result
        except grpc.aio.AioRpcError as exc:
            # gRPC's own words name internal addresses: the log has them, not the caller
            log.warning("fund risk figures unavailable", extra={
                "code": exc.code().name, "error": exc.details()})
            if exc.code() in _RISK_OUTAGE_CODES:
                return None, f"the risk service did not answer ({exc.code().name}); retry"
            return None, f"the risk service refused the simulation ({exc.code().name})"
        except Exception as exc:  # the figures are informative; the status stands without
            log.warning("fund risk figures unavailable", exc_info=exc)
            return None, f"the risk figures could not be computed ({type(exc).__name__})"
        if result is None:
            return None, "the risk service ended the simulation without a result"
        return result, ""

    def __call__(self, portfolio: Sequence[PortfolioRow], candidate: PortfolioRow,
                 capital_cents: int, rules: FundRules) -> RiskFigures:
        if self.loop is None or self.stub is None:
            raise self._unavailable("risk client not started")
        try:
            model, level = model_and_level(rules)
        except ValueError as exc:
            raise self._failed("RISK_MODEL_NOT_IN_FORCE", str(exc)) from exc
        request = translate.incremental_risk_request(portfolio, candidate, model,
                                                     capital_cents, level)
        # the call's request id, read here: the coroutine runs in the loop's own context
        future = asyncio.run_coroutine_threadsafe(
            self._evaluate(request, request_id_var.get()), self.loop)
        try:
            response = future.result(timeout=self.deadline + 1.0)
            return translate.risk_figures(response, rules.risk_measure)
        except grpc.aio.AioRpcError as exc:
            if exc.code() in _RISK_OUTAGE_CODES:
                # gRPC's own words name internal addresses: the log has them, not the caller
                log.warning("risk check unavailable", extra={
                    "code": exc.code().name, "error": exc.details()})
                raise self._unavailable(f"risk service: {exc.code().name}") from exc
            raise self._failed("RISK_CHECK_FAILED",
                               f"risk service: {exc.code().name}: {exc.details()}") from exc
        except TimeoutError as exc:
            future.cancel()
            raise self._unavailable("risk service: no answer in time") from exc
        except ValueError as exc:  # an answer without the figure the rule checks
            raise self._failed("RISK_CHECK_FAILED", str(exc)) from exc


def _traced(request_id: str) -> tuple[tuple[str, str], ...]:
    """Metadata carrying the call's request id to the risk service, so one approval can be
    followed through both services' logs."""
    return ((REQUEST_ID_KEY, request_id),) if request_id else ()


class Ledger:
    """The ledger's runtime: engine, migrations, repository and outbox relay."""

    def __init__(self, settings: Settings, events: EventPublisher,
                 risk: RiskServiceCheck | None):
        if not settings.database_url:
            settings.var_path.mkdir(parents=True, exist_ok=True)
        self.engine = make_engine(settings.ledger_url)
        self.rules = RulesCore()
        self.risk = risk
        self.relay = OutboxRelay(self.engine, events.publish,
                                 max_backoff_s=RELAY_MAX_BACKOFF_SECONDS)
        events.on_reconnected.append(self.relay.notify)  # NATS back: drain at once
        self.repository = Repository(self.engine, ijh_rules=self.rules, incremental_risk=risk,
                                     after_commit=self._after_commit)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop = asyncio.Event()
        self._task: asyncio.Task | None = None

    def _after_commit(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self.relay.notify)

    async def start(self) -> None:
        """Migrate to head, then relay whatever the outbox holds (e.g. after a crash). A
        database that does not answer fails this within the engine's connect timeout."""
        # Said first: a start that waits here names what it waits for.
        log.info("migrating the ledger database",
                 extra={"database": self.engine.url.render_as_string()})
        await asyncio.to_thread(upgrade, self.engine)
        await self.relay.refresh_counts()  # the gauges have figures from the first scrape
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self.relay.run(self._stop))
        log.info("ledger ready", extra={"database": self.engine.url.render_as_string()})

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task
        await asyncio.to_thread(self.engine.dispose)


class FundingServicer(funding_pb2_grpc.FundingServiceServicer):
    """Serves ``ijh.funding.v1.FundingService``."""

    def __init__(self, events: EventPublisher, ledger: Ledger | None = None):
        self.events = events
        self.ledger = ledger

    @property
    def repository(self) -> Repository:
        if self.ledger is None:
            raise RuntimeError("the funding service runs without a ledger")
        return self.ledger.repository

    # ---- pure rules ---------------------------------------------------------------

    @translate_errors
    async def ComputeGrant(self, request, context):
        result = grant.compute_grant(translate.grant_application(request))
        subject = f"applicants/{request.applicant.business_id}"
        self.events.publish_soon(cloud_event(
            "ijh.funding.grant.computed", SOURCE, subject,
            translate.grant_computed_event(request, result)))
        return translate.grant_response(result, request.include_explanation)

    @translate_errors
    async def ScoreApplication(self, request, context):
        result = scoring.score_application(translate.score_sheets(request),
                                           _reference_date(request.reference_date))
        return translate.scoring_response(result, request.include_explanation)

    @translate_errors
    async def ListParameters(self, request, context):
        on = _reference_date(request.reference_date)
        rule_sets = {"": ijh_parameters, "ijh": ijh_parameters, "fund": fund_parameter_set}
        if request.rule_set not in rule_sets:
            raise InvalidArgument(FieldViolation("rule_set", "must be \"ijh\" or \"fund\""))
        return translate.parameters_response(on, rule_sets[request.rule_set]().at(on))

    # ---- the ledger ---------------------------------------------------------------

    def _check_owner(self, caller: Caller, business_id: str, what: str) -> None:
        """An agency names only its own business ID (``business_id`` is the request's)."""
        if caller.is_agency and business_id != caller.business_id:
            raise PermissionDenied(f"{what} names business ID {business_id}; your token is "
                                   f"for {caller.business_id}")

    @staticmethod
    async def _as_seen_by(caller: Caller, work, refusal: Callable[[str], PermissionDenied]):
        """Run ``work`` (a repository call on a named application) in a thread; to an
        agency, a missing application is refused as another's is (``refusal(name)``:
        :func:`not_yours` for reading, :func:`not_creator` for submitting), with the
        same reason and words."""
        try:
            return await asyncio.to_thread(work)
        except NotFound as exc:
            if caller.is_agency:
                raise refusal(exc.resource) from None
            raise

    def _create(self, request_id: str, actor: Actor, request):
        draft = translate.draft(request)
        try:  # the repository validates the draft and computes a grant's cost lines
            return self.repository.create(request_id, actor, draft)
        except InvalidArgument as exc:
            raise translate.create_error(exc) from None

    @translate_errors
    async def CreateApplication(self, request, context):
        caller = caller_of(context)
        actor = actor_of(caller, "create applications")
        self._check_owner(caller, request.applicant.business_id, "the application")
        app = await asyncio.to_thread(self._create, request.request_id, actor, request)
        return funding_pb2.CreateApplicationResponse(application=translate.application(app))

    @translate_errors
    async def GetApplication(self, request, context):
        caller = caller_of(context)
        app_id = translate.application_id(request.name)
        app = await self._as_seen_by(caller, lambda: self.repository.get(app_id), not_yours)
        if caller.is_agency and app.beneficiary.business_id != caller.business_id:
            raise not_yours(app.name)
        history = ()
        if request.include_history:
            history = await asyncio.to_thread(self.repository.audit_log, app_id)
        return funding_pb2.GetApplicationResponse(
            application=translate.application(app, history))

    @translate_errors
    async def ListApplications(self, request, context):
        caller = caller_of(context)
        business_id = request.applicant_business_id
        if caller.is_agency:
            business_id = business_id or caller.business_id
            self._check_owner(caller, business_id, "that list")
        page, token = await asyncio.to_thread(
            lambda: self.repository.list(
                state=translate.application_state(request.state),
                kind=translate.application_kind(request.kind),
                business_id=business_id or None, page_size=request.page_size,
                page_token=request.page_token))
        return funding_pb2.ListApplicationsResponse(
            applications=[translate.application(a) for a in page], next_page_token=token)

    @translate_errors
    async def SubmitApplication(self, request, context):
        caller = caller_of(context)
        actor = actor_of(caller, "submit applications")
        app_id = translate.application_id(request.name)
        app = await self._as_seen_by(
            caller, lambda: self.repository.submit(request.request_id, actor, app_id,
                                                   request.reason),
            lambda name: not_creator(name, "submit"))
        return funding_pb2.SubmitApplicationResponse(
            application=translate.application(app), rules_version=app.rules_version)

    @translate_errors
    async def RecordScores(self, request, context):
        actor = actor_of(caller_of(context), "score applications")
        app = await asyncio.to_thread(
            self.repository.score, request.request_id, actor,
            translate.application_id(request.name), translate.score_criteria(request),
            request.reason)
        return funding_pb2.RecordScoresResponse(
            application=translate.application(app), rules_version=app.rules_version)

    async def _act(self, context, doing: str, operation, response_class, request, *rest):
        """An officer's action on the named application: ``operation(request_id, actor,
        application_id, *rest)`` in a thread, answered with the application and the rules
        version it was decided under."""
        actor = actor_of(caller_of(context), doing)
        app = await asyncio.to_thread(operation, request.request_id, actor,
                                      translate.application_id(request.name), *rest)
        return response_class(application=translate.application(app),
                              rules_version=app.rules_version)

    @translate_errors
    async def DecideApplication(self, request, context):
        actor = actor_of(caller_of(context), "decide applications")
        decision = translate.decision(request.decision)
        if decision is None:
            raise InvalidArgument(FieldViolation("decision", "must be DECISION_APPROVE or "
                                                             "DECISION_REJECT"))
        terms = {name: getattr(request, name) for name in
                 ("expected_grant_cents", "indirect_cost_rate", "grant_cents")
                 if request.HasField(name)}
        app = await asyncio.to_thread(
            self.repository.decide, request.request_id, actor,
            translate.application_id(request.name), decision, request.reason, **terms)
        return funding_pb2.DecideApplicationResponse(
            application=translate.application(app), rules_version=app.rules_version)

    @translate_errors
    async def ActivateGuarantee(self, request, context):
        return await self._act(context, "activate guarantees", self.repository.activate,
                               funding_pb2.ActivateGuaranteeResponse, request, request.reason)

    @translate_errors
    async def RecordClaim(self, request, context):
        return await self._act(context, "record claims", self.repository.claim,
                               funding_pb2.RecordClaimResponse, request, request.amount_cents,
                               request.reason)

    @translate_errors
    async def ExpireGuarantee(self, request, context):
        return await self._act(context, "expire guarantees", self.repository.expire,
                               funding_pb2.ExpireGuaranteeResponse, request, request.reason)

    @translate_errors
    async def RecordDeMinimisAid(self, request, context):
        actor = actor_of(caller_of(context), "record de minimis aid")
        record = await asyncio.to_thread(
            self.repository.record_aid, request.request_id, actor, request.business_id,
            translate.parse_date(request.granted_on), request.amount_cents, request.reference)
        return translate.aid_response(record, request.business_id)

    @translate_errors
    async def GetDeMinimisRegister(self, request, context):
        caller = caller_of(context)
        if caller.role != "officer":
            raise PermissionDenied(f"role {caller.role} may not read the de minimis register")
        register = await asyncio.to_thread(self.repository.de_minimis_register,
                                           request.business_id)
        beneficiary = await asyncio.to_thread(self.repository.beneficiary, request.business_id)
        return translate.de_minimis_register_response(*register, beneficiary)

    @translate_errors
    async def CorrectBeneficiaryKind(self, request, context):
        actor = actor_of(caller_of(context), "correct a beneficiary's kind")
        kind = translate.registered_kind(request.kind)
        if kind is None:
            raise InvalidArgument(FieldViolation(
                "kind", "must be BENEFICIARY_KIND_PUBLIC_UNIT or BENEFICIARY_KIND_COMPANY"))
        beneficiary = await asyncio.to_thread(
            self.repository.correct_kind, request.request_id, actor, request.business_id,
            kind, request.reason)
        return translate.beneficiary_kind_response(beneficiary)

    @translate_errors
    async def CorrectDeMinimisAid(self, request, context):
        actor = actor_of(caller_of(context), "correct the de minimis register")
        correction = await asyncio.to_thread(
            self.repository.correct_aid, request.request_id, actor, request.business_id,
            request.aid_id, request.reason)
        return funding_pb2.CorrectDeMinimisAidResponse(
            correction=translate.aid_row(correction))

    def _fund_reader(self, context) -> None:
        caller = caller_of(context)
        if caller.role not in FUND_READ_ROLES:
            raise PermissionDenied(f"role {caller.role} may not read the fund's position")

    @translate_errors
    async def GetFundStatus(self, request, context):
        self._fund_reader(context)
        # One resolution of the rules (the repository's clock and rules): the status and
        # its risk figures are under the same rules.
        status, portfolio, rules = await asyncio.to_thread(self.repository.fund_position)
        response = translate.fund_status_response(status)
        risk = self.ledger.risk
        result, missing = (await risk.headline_figures(portfolio, status.capital_cents, rules)
                           if risk else (None, ""))
        response.risk_figures_unavailable = missing
        if result is not None:
            response.risk_figures.extend(translate.headline_figures(
                result, rules.risk_measure))
            if result.exhaustion_probability_by_year:
                exhaustion = result.exhaustion_probability_by_year[-1]
                response.exhaustion_probability = exhaustion.value
                response.exhaustion_probability_standard_error = exhaustion.standard_error
        return response

    @translate_errors
    async def GetExposure(self, request, context):
        self._fund_reader(context)
        version, sectors, branches = await asyncio.to_thread(self.repository.exposure_position)
        return translate.exposure_response(version, sectors, branches)


def build_funding(settings: Settings) -> ServiceRuntime:
    """The funding runtime (call inside the running event loop)."""
    keys = caller_keys(settings, SERVICE_SUBJECT)
    # Served to its callers, presented to risk (which checks it names funding).
    tls = internal_tls(settings, serves=True, calls={"IJH_RISK_ADDRESS": settings.risk_address},
                       own_name=own_certificate_name(settings, SERVICE_SUBJECT))
    events = EventPublisher(settings.nats_url, settings.event_stream,
                            limits=StreamLimits.from_settings(settings))
    risk = RiskServiceCheck(settings, keys, tls)
    ledger = Ledger(settings, events, risk)
    servicer = FundingServicer(events, ledger)
    registry = metrics.new_registry()
    metrics.register_event_publisher(events, registry)
    metrics.register_outbox_relay(ledger.relay, registry)
    return ServiceRuntime(
        "funding", settings.funding_address, settings,
        [Registration(funding_pb2.DESCRIPTOR.services_by_name["FundingService"].full_name,
                      funding_pb2_grpc.add_FundingServiceServicer_to_server, servicer)],
        on_start=[events.start, risk.start, ledger.start],
        on_stop=[ledger.stop, risk.stop, events.close],
        observer=metrics.CallObserver(metrics.CallMetrics("ijh_funding", registry)),
        metrics_address=settings.funding_metrics_address, metrics_registry=registry,
        caller_keys=keys, tls=tls, channel_tls=tls, caller_certificates=caller_certificate_names(
            settings, SERVICE_SUBJECT, mutual_tls=tls is not None),
        probe_address=settings.funding_probe_address)


async def main() -> None:
    settings = service_settings("funding")
    try:
        runtime = build_funding(settings)
    except ConfigurationError as exc:
        cannot_start(exc)
    try:
        await runtime.run_until_signalled()
    except DBAPIError as exc:  # only the start's migrations get here: calls answer their own
        database = make_url(settings.ledger_url).render_as_string(hide_password=True)
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        cannot_start(f"IJH_DATABASE_URL: cannot open the ledger database {database}: {reason}")
