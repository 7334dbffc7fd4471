"""The funding ledger's transactional operations (what the gRPC adapter calls).

Every operation that changes something is **one transaction** that writes the new
state, an append-only audit entry (who, role, when, why, rules version, inputs, trace),
the CloudEvent in the outbox, and the request id with its result. Either all of it is
committed or none of it (a refused request writes nothing, not even its request id).

Idempotency: every create and transition carries a ``request_id``. A retry with the same
id and the same content returns the *first* result (stored as JSON) without acting again;
the same id with different content raises ``AlreadyExists``.

Concurrency (see README): SQLite write transactions begin IMMEDIATE, so they are
serialised; on PostgreSQL (READ COMMITTED) a transition locks its application row, and an
approval also locks the fund row and then the beneficiary row (``SELECT … FOR NO KEY
UPDATE``, always in that order) before it reads the position it checks. Concurrent
approvals therefore see each other's committed reservations and can never overcommit
the fund's capacity or a company's de minimis room.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import re
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from ijh.events.v1 import events_pb2
from sqlalchemy import Connection, Engine, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, IntegrityError

from services.funding.ledger.de_minimis import (
    AidRecord,
    CeilingBreach,
    DeMinimisAssessment,
    DeMinimisRules,
    RecordedAid,
    RegisteredAid,
    assess_de_minimis,
    ceiling_breaches,
)
from services.funding.ledger.fund_rules import (
    FundRules,
    IncrementalRisk,
    PortfolioPosition,
    PortfolioRow,
    assess_guarantee,
    branch_limit_cents,
    capacity_cents,
    capital_cents,
    fund_rules_on,
    risk_inputs,
    sector_limit_cents,
)
from services.funding.ledger.gge import GgeRules, exposure_cents, gross_grant_equivalent
from services.funding.ledger.grant_decision import judge_grant_decision
from services.funding.ledger.lifecycle import (
    AID_GRANTED_STATES,
    COMMITTED_STATES,
    check_create,
    check_transition,
    claim_four_eyes_violations,
    expiry_violations,
    four_eyes_violations,
    register_four_eyes_violations,
    rescore_four_eyes_violations,
)
from services.funding.ledger.model import (
    Actor,
    Application,
    ApplicationDraft,
    ApplicationKind,
    ApplicationState,
    BeneficiaryKind,
    Decision,
    Exposure,
    FundStatus,
    RegisteredBeneficiary,
    Role,
    TransitionRecord,
)
from services.funding.ledger.ports import IjhRules
from services.funding.ledger.score_refusal import score_violations
from services.funding.ledger.validation import (
    MAX_APPLICATION_ID,
    check_reason,
    invalid,
    normalise_sector,
    validate_draft,
)
from services.funding.rules.parameters import ParameterNotInForce
from services.funding.storage import tables as t
from services.funding.storage.codec import (
    application_from_dict,
    application_from_row,
    application_to_dict,
    aware,
    jsonable,
    score_from_row,
    transition_from_row,
)
from services.funding.storage.engine import ReadTransaction, is_sqlite
from services.shared.business_id import business_id_problem
from services.shared.errors import (
    AlreadyExists,
    Collector,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    PreconditionViolation,
)
from services.shared.event_data import cloud_event
from services.shared.money import MAX_CENTS

#: The CloudEvents ``source`` of every funding event, the ledger's and ComputeGrant's
#: (the form every service uses: ``ijh/risk``, ``ijh/funding``).
EVENT_SOURCE = "ijh/funding"
#: CloudEvent type (= NATS subject) per action.
EVENT_TYPES = {
    "create": "ijh.funding.application.created",
    "submit": "ijh.funding.application.submitted",
    "score": "ijh.funding.application.scored",
    "approve": "ijh.funding.application.approved",
    "reject": "ijh.funding.application.rejected",
    "activate": "ijh.funding.guarantee.activated",
    "claim": "ijh.funding.guarantee.claimed",
    "expire": "ijh.funding.guarantee.expired",
    "record_aid": "ijh.funding.de_minimis.aid_recorded",
    "correct_aid": "ijh.funding.de_minimis.aid_corrected",
    "correct_kind": "ijh.funding.beneficiary.kind_corrected",
}
#: The ``ijh.events.v1`` message each event's ``data`` is the JSON form of.
EVENT_MESSAGES = {action: events_pb2.DeMinimisAidRecorded if action in ("record_aid",
                                                                       "correct_aid")
                  else events_pb2.BeneficiaryKindCorrected if action == "correct_kind"
                  else events_pb2.ApplicationStateChanged for action in EVENT_TYPES}
EVENT_SCHEMAS = {action: f"urn:ijh:proto:{message.DESCRIPTOR.full_name}"
                 for action, message in EVENT_MESSAGES.items()}
#: Decision dates (grant dates for de minimis) are calendar dates in Finland.
DECISION_TZ = ZoneInfo("Europe/Helsinki")
MAX_PAGE_SIZE = 500
DEFAULT_PAGE_SIZE = 50
_ATTEMPTS = 5
_RETRYABLE_PG = {"40001", "40P01"}  # serialization failure, deadlock detected

T = TypeVar("T")


def utc_now() -> datetime:
    return datetime.now(UTC)


def _fingerprint(operation: str, payload: Any) -> str:
    canonical = json.dumps([operation, jsonable(payload)], sort_keys=True,
                           separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _check_request_id(request_id: str) -> None:
    if not isinstance(request_id, str) or not 0 < len(request_id) <= 200:
        raise invalid("request_id", "required: 1..200 characters, unique per intended action")


def _check_id(application_id: int) -> None:
    """An id outside the INTEGER column's range names no application (NotFound, not a
    database error on PostgreSQL)."""
    if isinstance(application_id, int) and not 0 < application_id <= MAX_APPLICATION_ID:
        raise NotFound(f"applications/{application_id}")


def _de_minimis_rules(rules: FundRules, app: Application, today: date
                      ) -> tuple[DeMinimisRules, GgeRules]:
    """The de minimis and GGE rules an approval of aid to a company needs, or
    FailedPrecondition saying that none are in force on ``today`` (and which parameters
    are missing) rather than approving aid that cannot be assessed."""
    try:
        return rules.de_minimis, rules.gge
    except ParameterNotInForce as exc:
        raise FailedPrecondition([PreconditionViolation(
            "DE_MINIMIS_RULES_NOT_IN_FORCE", f"beneficiary/{app.beneficiary.business_id}",
            f"aid to a company needs a de minimis assessment, and no de minimis rules are "
            f"in force on {today.isoformat()}: {app.name} cannot be approved until the "
            f"fund parameters name the rules that apply"), *exc.violations]) from None


def _rfc3339(at: datetime) -> str:
    """``2025-03-01T10:00:00.000000Z``: an event's time, UTC."""
    return at.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _aid_from_dict(d: dict[str, Any]) -> RegisteredAid:
    """A stored record_aid/correct_aid result (results stored before the register had
    ids hold only the date, amount and reference)."""
    at = d.get("recorded_at")
    return RegisteredAid(
        id=int(d.get("id", 0)), business_id=d.get("business_id", ""),
        granted_on=date.fromisoformat(d["granted_on"]), amount_cents=int(d["amount_cents"]),
        reference=d["reference"], recorded_at=datetime.fromisoformat(at) if at else None,
        recorded_by=d.get("recorded_by", ""), application_id=d.get("application_id"),
        reverses_id=d.get("reverses_id"), reversed_by_id=d.get("reversed_by_id"),
        reason=d.get("reason", ""))


def _assessment_from_dict(d: dict[str, Any] | None) -> DeMinimisAssessment | None:
    """A stored assessment (None: none was made, or a result stored before they were)."""
    if not d:
        return None
    return DeMinimisAssessment(
        business_id=d["business_id"], grant_date=date.fromisoformat(d["grant_date"]),
        window_start=date.fromisoformat(d["window_start"]),
        counted_cents=int(d["counted_cents"]), new_aid_cents=int(d["new_aid_cents"]),
        ceiling_cents=int(d["ceiling_cents"]),
        counted=tuple(AidRecord(date.fromisoformat(a["granted_on"]), int(a["amount_cents"]),
                                a["reference"]) for a in d.get("counted", ())))


def _breach_from_dict(d: dict[str, Any]) -> CeilingBreach:
    return CeilingBreach(_aid_from_dict(d["aid"]), date.fromisoformat(d["window_start"]),
                         int(d["counted_cents"]), int(d["ceiling_cents"]))


def _recorded_from_dict(d: dict[str, Any]) -> RecordedAid:
    """A stored record_aid result (results stored before it held the assessment are the
    aid row alone)."""
    if "aid" not in d:
        return RecordedAid(_aid_from_dict(d))
    return RecordedAid(_aid_from_dict(d["aid"]), _assessment_from_dict(d.get("assessment")),
                       tuple(_breach_from_dict(b) for b in d.get("breaches", ())))


def _retryable(exc: DBAPIError) -> bool:
    code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return code in _RETRYABLE_PG


def _page_position(page_token: str) -> tuple[int, str]:
    """The (application id, filter fingerprint) a ListApplications page token holds, or
    InvalidArgument. Only the shape this list writes is taken: JSON whose "after" is an
    id (an integer, not a float: 1e400 made int() raise OverflowError) and whose "filter"
    is text; JSON nested too deep for the parser (RecursionError) is no token either.
    Both escaped the old check and were INTERNAL."""
    try:
        token = json.loads(base64.urlsafe_b64decode(page_token.encode()))
    except (ValueError, RecursionError) as exc:
        raise invalid("page_token", "not a token returned by this list") from exc
    after = token.get("after") if isinstance(token, dict) else None
    token_fp = token.get("filter") if isinstance(token, dict) else None
    if not isinstance(after, int) or isinstance(after, bool) \
            or not 0 <= after <= MAX_APPLICATION_ID or not isinstance(token_fp, str):
        raise invalid("page_token", "not a token returned by this list")
    return after, token_fp


class Repository:
    """The ledger on one database (SQLite or PostgreSQL, migrated to head).

    ``ijh_rules`` computes IJH grants and aggregates scores (the rules core);
    ``fund_rules(on)`` returns the fund rules in force on a date (default: the YAML
    parameters); ``incremental_risk(portfolio_rows, candidate, capital_cents, rules)``
    returns the risk figure the risk-appetite rule checks, the fund simulated with the
    capital left after claims and measured as the decision's fund rules say (None: rule
    not evaluated, noted in the trace);
    ``clock`` returns an aware UTC datetime; ``after_commit`` is called after every
    commit that wrote outbox rows (e.g. to wake the relay)."""

    def __init__(self, engine: Engine, *, ijh_rules: IjhRules | None = None,
                 fund_rules: Callable[[date], FundRules] = fund_rules_on,
                 incremental_risk: IncrementalRisk | None = None,
                 clock: Callable[[], datetime] = utc_now,
                 event_source: str = EVENT_SOURCE,
                 after_commit: Callable[[], None] | None = None):
        self.engine = engine
        self.ijh_rules = ijh_rules
        self.fund_rules = fund_rules
        self.incremental_risk = incremental_risk
        self.clock = clock
        self.event_source = event_source
        self.after_commit = after_commit

    # --- public operations ------------------------------------------------------------

    def create(self, request_id: str, actor: Actor, draft: ApplicationDraft) -> Application:
        """Create a draft application. Raises InvalidArgument, PermissionDenied,
        AlreadyExists (request id reused with other content)."""
        validate_draft(draft)
        if draft.kind is ApplicationKind.IJH_GRANT and self.ijh_rules is not None:
            self.ijh_rules.compute_grant(draft, self._today())  # names bad cost lines now
        check_create(actor)

        def body(conn: Connection, _row: Any) -> Application:
            now = self._now()
            self._ensure_beneficiary(conn, draft, now)
            g = draft.guarantee
            values: dict[str, Any] = dict(
                kind=draft.kind.value, state=ApplicationState.DRAFT.value,
                title=draft.title.strip(), owner_id=actor.id,
                business_id=draft.beneficiary.business_id,
                beneficiary_kind=draft.beneficiary.kind.value,
                beneficiary_name=draft.beneficiary.name,
                sector=normalise_sector(draft.sector),
                branch=draft.branch.value, procurement_kind=draft.procurement_kind,
                applicant_kind=draft.applicant_kind,
                cost_lines=jsonable(list(draft.cost_lines)),
                exposure_cents=exposure_cents(g) if g else 0,
                created_at=now, updated_at=now, version=1, rules_version="")
            if g is not None:
                values.update(amount_cents=g.amount_cents, guarantee_rate=str(g.guarantee_rate),
                              cap_cents=g.cap_cents, fee_rate=str(g.fee_rate),
                              term_months=g.term_months, rating_class=g.rating_class)
            app_id = conn.execute(insert(t.applications).values(**values)).inserted_primary_key[0]
            app = self._load(conn, app_id)
            self._record(conn, app, "create", None, actor, "", "", request_id,
                         inputs={"draft": draft}, trace={}, now=now)
            return app

        return self._mutate("create", request_id, {"actor": actor, "draft": draft}, None, body)

    def get(self, application_id: int) -> Application:
        """The application with its scores. Raises NotFound."""
        with self._read() as conn:
            return self._load(conn, application_id)

    def list(self, *, state: ApplicationState | None = None,
             kind: ApplicationKind | None = None, owner_id: str | None = None,
             business_id: str | None = None,
             page_size: int = DEFAULT_PAGE_SIZE, page_token: str = ""
             ) -> tuple[list[Application], str]:
        """Applications in id order, filtered; returns (page, next_page_token) where the
        token is opaque and empty on the last page. Raises InvalidArgument for a bad page
        size or a token from another filter."""
        c = Collector()
        c.check(isinstance(page_size, int) and 0 <= page_size <= MAX_PAGE_SIZE, "page_size",
                f"must be 0..{MAX_PAGE_SIZE} (0 = default {DEFAULT_PAGE_SIZE})")
        c.raise_if_any()
        size = page_size or DEFAULT_PAGE_SIZE
        filt = {"state": state.value if state else None, "kind": kind.value if kind else None,
                "owner_id": owner_id}
        if business_id:
            filt["business_id"] = business_id
        filter_fp = _fingerprint("list", filt)[:16]
        after = 0
        if page_token:
            after, token_fp = _page_position(page_token)
            if token_fp != filter_fp:
                raise invalid("page_token", "token belongs to a list with other filters")
        q = select(t.applications).where(t.applications.c.id > after)
        if state:
            q = q.where(t.applications.c.state == state.value)
        if kind:
            q = q.where(t.applications.c.kind == kind.value)
        if owner_id:
            q = q.where(t.applications.c.owner_id == owner_id)
        if business_id:
            q = q.where(t.applications.c.business_id == business_id)
        q = q.order_by(t.applications.c.id).limit(size + 1)
        with self._read() as conn:
            rows = conn.execute(q).all()
            page = [self._with_scores(conn, r) for r in rows[:size]]
        next_token = ""
        if len(rows) > size:
            next_token = base64.urlsafe_b64encode(json.dumps(
                {"after": page[-1].id, "filter": filter_fp}).encode()).decode()
        return page, next_token

    def submit(self, request_id: str, actor: Actor, application_id: int,
               reason: str = "") -> Application:
        """draft → submitted. For an IJH grant the rules core computes the grant (stored
        with its trace and rules version)."""
        check_reason(reason)

        def body(conn: Connection, row: Any) -> Application:
            now, today = self._now(), self._today()
            app = application_from_row(row)
            target = check_transition("submit", app.kind, app.state, actor, app.owner_id,
                                      app.name)
            changes: dict[str, Any] = {"submitted_on": today}
            trace: dict[str, Any] = {}
            if app.kind is ApplicationKind.IJH_GRANT:
                result = self._ijh().compute_grant(self._draft_of(app), today, app.name)
                changes.update(grant_cents=result.grant_cents,
                               grant_trace=jsonable(result.trace),
                               rules_version=result.rules_version)
                trace = {"grant": result.trace}
                version = result.rules_version
            else:
                version = self.fund_rules(today).version
                changes.update(rules_version=version)
            return self._transition(conn, app, target, "submit", actor, reason, version,
                                    request_id, changes, {"reason": reason}, trace, now)

        return self._mutate("submit", request_id,
                            {"actor": actor, "id": application_id, "reason": reason},
                            application_id, body)

    def score(self, request_id: str, actor: Actor, application_id: int,
              criteria: Mapping[str, Decimal], reason: str = "") -> Application:
        """Record one officer's criterion scores (submitted|scored → scored) under the
        rubric in force on the submission date. The rules core aggregates all officers'
        sheets; an officer who scored already replaces their sheet (until the decision;
        the audit log keeps the one replaced); the same sheet again is nothing to do.
        A bad sheet is InvalidArgument naming
        ``scores[j]...`` of this request."""
        check_reason(reason)

        def body(conn: Connection, row: Any) -> Application:
            now = self._now()
            app = self._with_scores(conn, row)
            target = check_transition("score", app.kind, app.state, actor, app.owner_id,
                                      app.name)
            on = self._rubric_date(app)
            try:  # this request's sheet alone first: its faults are its own fields
                self._ijh().score([(actor.id, dict(criteria))], on)
            except InvalidArgument as exc:
                raise InvalidArgument([FieldViolation(
                    re.sub(r"^score_sheets\[0\]\.", "", v.field), v.description)
                    for v in exc.violations]) from None
            replaced = next((s for s in app.scores if s.officer_id == actor.id), None)
            if replaced is not None and dict(replaced.criteria) == dict(criteria):
                # The same sheet sent again (a retry with a new request id, a second
                # click) changes nothing: no audit entry, so no "replaced its sheet"
                # that would bar this officer from deciding.
                return app
            sheets = [(s.officer_id, s.criteria) for s in app.scores if s is not replaced]
            sheets.append((actor.id, dict(criteria)))
            result = self._aggregate(app, sheets, on)
            values = dict(criteria=jsonable(dict(criteria)), total=str(result.total),
                          passed=result.passed, rules_version=result.rules_version,
                          trace=jsonable(result.trace), scored_at=now)
            s = t.scores.c
            if replaced is None:
                conn.execute(insert(t.scores).values(application_id=app.id,
                                                     officer_id=actor.id, **values))
            else:
                conn.execute(update(t.scores).where(s.application_id == app.id,
                                                    s.officer_id == actor.id).values(**values))
            inputs: dict[str, Any] = {"criteria": criteria, "reason": reason}
            if replaced is not None:
                inputs["replaces"] = replaced.criteria
            return self._transition(conn, app, target, "score", actor, reason,
                                    result.rules_version, request_id, {}, inputs,
                                    {"aggregate": result.trace, "total": result.total,
                                     "passed": result.passed}, now)

        if not isinstance(criteria, Mapping) or not criteria:
            raise invalid("scores", "at least one criterion score is required")
        return self._mutate("score", request_id,
                            {"actor": actor, "id": application_id, "criteria": dict(criteria),
                             "reason": reason}, application_id, body)

    def decide(self, request_id: str, actor: Actor, application_id: int, decision: Decision,
               reason: str, *, expected_grant_cents: int | None = None,
               indirect_cost_rate: Decimal | str | None = None,
               grant_cents: int | None = None) -> Application:
        """scored → approved | rejected. Approval checks four eyes, the officers'
        aggregate score, and for a guarantee every fund rule, all under lock, and records
        the aid for de minimis. Raises FailedPrecondition naming each broken rule.

        An IJH grant's approval may set what the rules leave to the decision: the
        ``indirect_cost_rate`` own personnel is funded at (at most
        ``indirect_cost_rate_max``) and the ``grant_cents`` (at most the grant the rules
        compute, ``GRANT_ABOVE_COMPUTED``); and it may give the computed grant the
        officer expects at that rate (``expected_grant_cents``: ``GRANT_CHANGED`` if the
        rules changed it since submission, InvalidArgument if they did not and it is
        still not today's figure)."""
        if not isinstance(decision, Decision):
            raise invalid("decision", "must be approve or reject")
        check_reason(reason, required=True, missing="a decision must say why")
        terms = {"expected_grant_cents": expected_grant_cents,
                 "indirect_cost_rate": indirect_cost_rate, "grant_cents": grant_cents}
        terms = {k: v for k, v in terms.items() if v is not None}
        for name, value in terms.items():
            if decision is not Decision.APPROVE:
                raise invalid(name, "only an approval of an IJH grant sets it")
            low = 1 if name == "grant_cents" else 0
            if name != "indirect_cost_rate" and (
                    not isinstance(value, int) or isinstance(value, bool)
                    or not low <= value <= MAX_CENTS):
                raise invalid(name, f"must be a number of cents, {low}..{MAX_CENTS}")

        def body(conn: Connection, row: Any) -> Application:
            app = self._with_scores(conn, row)
            target = check_transition(decision.value, app.kind, app.state, actor,
                                      app.owner_id, app.name)
            # An approval may wait for the fund lock (a guarantee's) and the beneficiary's
            # (de minimis, kind) while another approval holds them: it is dated once it
            # holds them, so the position and the aid it checks are those of its date (an
            # approval dated 31 December that waited past midnight would miss the aid
            # another approval granted on 1 January). Order: application, fund, beneficiary.
            fund_row = beneficiary_row = None
            if decision is Decision.APPROVE:
                if app.kind is ApplicationKind.GUARANTEE:
                    fund_row = self._lock_fund(conn)
                beneficiary_row = self._lock_beneficiary(conn, app.beneficiary.business_id)
            now, today = self._now(), self._today()
            rules = self.fund_rules(today)
            violations = four_eyes_violations(actor.id, app.owner_id,
                                              [s.officer_id for s in app.scores],
                                              rules.four_eyes_required, app.name)
            violations += rescore_four_eyes_violations(
                actor.id, self._score_history(conn, app), rules.four_eyes_required, app.name)
            if decision is Decision.REJECT:
                if violations:
                    raise FailedPrecondition(violations)
                return self._transition(conn, app, target, "reject", actor, reason,
                                        rules.version, request_id,
                                        {"decision_rules_version": rules.version},
                                        {"decision": decision, "reason": reason},
                                        {"four_eyes_required": rules.four_eyes_required}, now)
            violations += register_four_eyes_violations(
                actor.id, self._register_correctors(conn, app), rules.four_eyes_required,
                app.name, app.beneficiary.business_id)
            on = self._rubric_date(app)
            scoring = self._aggregate(app, [(s.officer_id, s.criteria) for s in app.scores], on)
            violations += score_violations(app.name, on, scoring)
            if app.kind is ApplicationKind.GUARANTEE:
                for name in terms:
                    raise invalid(name, "a guarantee has no grant: only an IJH grant's "
                                        "approval sets it")
                return self._approve_guarantee(conn, fund_row, beneficiary_row, app, actor,
                                               reason, request_id, rules, scoring.trace,
                                               violations, now, today)
            return self._approve_grant(conn, beneficiary_row, app, actor, reason, request_id,
                                       rules,
                                       scoring.trace, violations, now, today,
                                       expected_grant_cents, indirect_cost_rate, grant_cents)

        # Terms not given are left out: the fingerprint of a request without them is
        # the one it had before they existed.
        payload = {"actor": actor, "id": application_id, "decision": decision,
                   "reason": reason, **terms}
        return self._mutate("decide", request_id, payload, application_id, body)

    def activate(self, request_id: str, actor: Actor, application_id: int,
                 reason: str = "") -> Application:
        """approved → active (guarantees only): the guarantee is in force; its term runs
        from today (Helsinki), stored as ``activated_on``."""
        return self._simple("activate", request_id, actor, application_id, reason,
                            lambda row, today: {"activated_on": today})

    def expire(self, request_id: str, actor: Actor, application_id: int,
               reason: str = "") -> Application:
        """active → expired (guarantees only): the term ended without a claim; its
        exposure no longer counts as committed. Refused (``TERM_NOT_ENDED``) before
        activation date + term."""

        def check(row: Any, today: date) -> dict[str, Any]:
            violations = expiry_violations(row.activated_on, row.term_months, today,
                                           f"applications/{row.id}")
            if violations:
                raise FailedPrecondition(violations)
            return {}

        return self._simple("expire", request_id, actor, application_id, reason, check)

    def claim(self, request_id: str, actor: Actor, application_id: int, amount_cents: int,
              reason: str) -> Application:
        """active → claimed: pay ``amount_cents`` (1..exposure). The payout is recorded,
        added to the fund's claims paid and so reduces its capital."""
        c = Collector()
        c.check(isinstance(amount_cents, int) and not isinstance(amount_cents, bool)
                and amount_cents > 0, "amount_cents", "must be a positive number of cents")
        c.check(isinstance(reason, str) and bool(reason.strip()), "reason",
                "a claim must say why")
        c.raise_if_any()
        check_reason(reason)

        def body(conn: Connection, row: Any) -> Application:
            now, today = self._now(), self._today()
            app = application_from_row(row)
            target = check_transition("claim", app.kind, app.state, actor, app.owner_id,
                                      app.name)
            if amount_cents > app.exposure_cents:
                raise invalid("amount_cents", f"exceeds the guarantee's exposure of "
                                              f"{app.exposure_cents} cents")
            rules = self.fund_rules(today)
            a = t.audit_log.c
            activator = conn.execute(select(a.actor_id).where(
                a.application_id == app.id, a.action == "activate")
                .order_by(a.seq.desc())).scalar() or ""
            violations = claim_four_eyes_violations(actor.id, app.owner_id, activator,
                                                    rules.four_eyes_required, app.name)
            if violations:
                raise FailedPrecondition(violations)
            fund_row = self._lock_fund(conn)
            conn.execute(update(t.fund).where(t.fund.c.id == t.FUND_ID).values(
                claims_paid_cents=t.fund.c.claims_paid_cents + amount_cents, updated_at=now))
            conn.execute(insert(t.claims).values(
                application_id=app.id, amount_cents=amount_cents, paid_on=today,
                actor_id=actor.id, reason=reason, at=now))
            paid_after = int(fund_row.claims_paid_cents) + amount_cents
            trace = {"claims_paid_before_cents": int(fund_row.claims_paid_cents),
                     "claims_paid_after_cents": paid_after,
                     "capital_after_cents": capital_cents(rules, paid_after)}
            return self._transition(conn, app, target, "claim", actor, reason, rules.version,
                                    request_id, {"claim_paid_cents": amount_cents},
                                    {"amount_cents": amount_cents, "reason": reason}, trace,
                                    now, extra={"claim_paid_cents": amount_cents})

        return self._mutate("claim", request_id,
                            {"actor": actor, "id": application_id, "amount": amount_cents,
                             "reason": reason}, application_id, body)

    def record_aid(self, request_id: str, actor: Actor, business_id: str, granted_on: date,
                   amount_cents: int, reference: str) -> RecordedAid:
        """Register de minimis aid a company received elsewhere (from its de minimis
        declaration) so that it counts against the ceiling. Officers only. Aid is granted
        on a past date or today (Helsinki): a later date (a typo such as 2052 for 2025)
        would fall outside every window and let aid above the ceiling through. A business
        ID held a public unit (declared or confirmed) is refused ``BENEFICIARY_KIND``: its
        kind is corrected first, with the reason. Returns the row with the register as
        assessed today (Helsinki), this aid included."""
        today = self._today()
        c = Collector()
        problem = business_id_problem(business_id)
        if problem:
            c.add("business_id", problem)
        if not isinstance(granted_on, date):
            c.add("granted_on", "must be a date")
        elif granted_on > today:
            c.add("granted_on", f"{granted_on.isoformat()} is after today "
                                f"({today.isoformat()}, Helsinki): give the date the right to "
                                "the aid was granted, as the grant decision states it")
        c.check(isinstance(amount_cents, int) and not isinstance(amount_cents, bool)
                and 0 < amount_cents <= MAX_CENTS, "amount_cents",
                f"must be a positive number of cents, at most {MAX_CENTS}")
        c.check(isinstance(reference, str) and 0 < len(reference.strip()) <= 500, "reference",
                "must name the grantor and decision (1..500 characters)")
        c.raise_if_any()
        if actor.role is not Role.OFFICER:
            raise PermissionDenied("only officers record de minimis aid")

        def body(conn: Connection, _row: Any) -> RecordedAid:
            now = self._now()
            conn.execute(self._insert_ignore(t.beneficiaries, "business_id").values(
                business_id=business_id, kind=BeneficiaryKind.COMPANY.value, name="",
                created_at=now))
            beneficiary = self._lock_beneficiary(conn, business_id)
            if beneficiary.kind != BeneficiaryKind.COMPANY.value:
                # Declared or confirmed, a public unit is not made a company by recording
                # aid: that would change its kind with no reason on record (a typo in the
                # business ID sufficed). The kind is corrected first, with its reason.
                by = beneficiary.kind_confirmed_by
                raise FailedPrecondition(PreconditionViolation(
                    "BENEFICIARY_KIND", f"beneficiary/{business_id}",
                    f"business ID {business_id} is "
                    + (f"registered a public unit (confirmed by {by})" if by else
                       "declared a public unit by an application")
                    + ", and de minimis aid is recorded for companies: check the business "
                      "ID; if it is a company, set its kind first (ijh beneficiary set-kind, "
                      "with the reason), then record the aid"))
            # Aid declared by an undertaking known as a company (or new to the ledger):
            # the register knows it for a company now.
            self._confirm_kind(conn, business_id, BeneficiaryKind.COMPANY, actor)
            aid_id = conn.execute(insert(t.de_minimis_aid).values(
                business_id=business_id, granted_on=granted_on, amount_cents=amount_cents,
                reference=reference.strip(), application_id=None, recorded_at=now,
                recorded_by=actor.id)).inserted_primary_key[0]
            aid = self._aid_rows(conn, business_id, aid_id)[0]
            # Late-declared aid is a fact and is recorded even when it puts a grant's
            # window over the ceiling after the fact; the answer and the audit say so.
            breaches = tuple(b for b in ceiling_breaches(self._aid_rows(conn, business_id),
                                                         self._de_minimis_rules_on)
                             if b.covers(aid.granted_on))
            self._audit_beneficiary(conn, business_id, "record_aid", actor, "", request_id,
                                    {"aid": aid, "ceiling_breaches": breaches}, now)
            self._emit_aid(conn, "record_aid", aid, actor, now)
            return RecordedAid(aid, self._assess_today(conn, business_id), breaches)

        payload = {"actor": actor, "business_id": business_id, "granted_on": granted_on,
                   "amount": amount_cents, "reference": reference}
        return self._mutate("record_aid", request_id, payload, None, body,
                            encode=jsonable, decode=_recorded_from_dict)

    def correct_aid(self, request_id: str, actor: Actor, business_id: str, aid_id: int,
                    reason: str) -> RegisteredAid:
        """Correct a wrong entry of the de minimis register (``record_aid``) by a new row
        reversing it: from then on neither counts; both stay, with who, when and why
        (officers only; the register is append-only). Record the right aid afterwards
        with ``record_aid``. Aid granted by an approval here follows its application and
        is not corrected this way. Returns the reversing row."""
        c = Collector()
        problem = business_id_problem(business_id)
        if problem:
            c.add("business_id", problem)
        c.check(isinstance(aid_id, int) and not isinstance(aid_id, bool) and aid_id > 0,
                "aid_id", "must be the id of a row of this business ID's register")
        c.raise_if_any()
        check_reason(reason, required=True, missing="a correction must say why")
        if actor.role is not Role.OFFICER:
            raise PermissionDenied("only officers correct the de minimis register")
        subject = f"beneficiaries/{business_id}/aid/{aid_id}"

        def body(conn: Connection, _row: Any) -> RegisteredAid:
            now = self._now()
            if aid_id >= 2**63 or not conn.execute(
                    select(t.beneficiaries.c.business_id)
                    .where(t.beneficiaries.c.business_id == business_id)).first():
                raise NotFound(subject)
            self._lock_beneficiary(conn, business_id)  # one correction at a time per company
            rows = self._aid_rows(conn, business_id)
            target = next((r for r in rows if r.id == aid_id), None)
            if target is None:
                raise NotFound(subject)
            if target.reverses_id is not None:
                raise FailedPrecondition(PreconditionViolation(
                    "AID_IS_A_CORRECTION", subject,
                    f"aid {aid_id} is the correction of aid {target.reverses_id}; it cannot "
                    "be corrected in turn: record the aid anew (ijh deminimis record)"))
            if target.reversed_by_id is not None:
                raise FailedPrecondition(PreconditionViolation(
                    "AID_ALREADY_CORRECTED", subject,
                    f"aid {aid_id} was already corrected by aid {target.reversed_by_id}; "
                    "nothing to do (record the right aid with ijh deminimis record)"))
            if target.application_id is not None and \
                    aid_id in self._aid_written_by_kind(conn, business_id):
                raise FailedPrecondition(PreconditionViolation(
                    "AID_FROM_APPLICATION", subject,
                    f"aid {aid_id} was registered when business ID {business_id} was set "
                    f"to a company (applications/{target.application_id} was approved while "
                    "it was held a public unit): if it is a public unit, set its kind back "
                    "(ijh beneficiary set-kind, with the reason), which reverses this row"))
            if target.application_id is not None:
                raise FailedPrecondition(PreconditionViolation(
                    "AID_FROM_APPLICATION", subject,
                    f"aid {aid_id} was granted by approving applications/"
                    f"{target.application_id} and counts as long as that decision stands; "
                    "only aid recorded from a declaration is corrected here"))
            reversal = self._reverse_aid(conn, target, actor, reason, now,
                                         f"correction of aid {aid_id}: {target.reference}")
            self._audit_beneficiary(conn, business_id, "correct_aid", actor, reason,
                                    request_id, {"corrected": target, "reversal": reversal},
                                    now)
            self._emit_aid(conn, "correct_aid", reversal, actor, now)
            return reversal

        payload = {"actor": actor, "business_id": business_id, "aid_id": aid_id,
                   "reason": reason}
        return self._mutate("correct_aid", request_id, payload, None, body,
                            encode=jsonable, decode=_aid_from_dict)

    def correct_kind(self, request_id: str, actor: Actor, business_id: str,
                     kind: BeneficiaryKind, reason: str) -> RegisteredBeneficiary:
        """An officer sets (and so confirms) a business ID's kind, with the reason:
        approvals then hold every application for it to that kind (``BENEFICIARY_KIND``),
        so a company is assessed for de minimis whatever a create request declared. The
        row is registered if the business ID is new; the change is audited
        (``beneficiary_audit``) and announced in the same transaction. Guarantees
        already decided keep the assessment they were decided with."""
        c = Collector()
        problem = business_id_problem(business_id)
        if problem:
            c.add("business_id", problem)
        c.check(isinstance(kind, BeneficiaryKind), "kind", "must be public_unit or company")
        c.raise_if_any()
        check_reason(reason, required=True, missing="a correction must say why")
        if actor.role is not Role.OFFICER:
            raise PermissionDenied("only officers correct a beneficiary's kind")

        def body(conn: Connection, _row: Any) -> RegisteredBeneficiary:
            now = self._now()
            new = conn.execute(select(t.beneficiaries.c.business_id).where(
                t.beneficiaries.c.business_id == business_id)).first() is None
            conn.execute(self._insert_ignore(t.beneficiaries, "business_id").values(
                business_id=business_id, kind=kind.value, name="", created_at=now))
            before = self._lock_beneficiary(conn, business_id)
            previous = None if new else BeneficiaryKind(before.kind)
            counted = [r for r in self._aid_rows(conn, business_id) if r.counts]
            reversals: list[RegisteredAid] = []
            if kind is BeneficiaryKind.PUBLIC_UNIT and counted:
                # The rows an earlier correction to company wrote are that correction's
                # consequence, not aid on record: setting the kind back reverses them
                # (new rows; the register is append-only). Any other row is aid a
                # company received, which a public unit has none of.
                by_kind = self._aid_written_by_kind(conn, business_id)
                kept = [r for r in counted if r.id not in by_kind]
                if kept:
                    raise FailedPrecondition(self._aid_recorded(business_id, kept))
                reversals = [self._reverse_aid(
                    conn, r, actor, reason, now,
                    f"correction of aid {r.id} (business ID {business_id} set back to a "
                    f"public unit): {r.reference}") for r in counted]
            conn.execute(update(t.beneficiaries)
                         .where(t.beneficiaries.c.business_id == business_id)
                         .values(kind=kind.value, kind_confirmed_by=actor.id))
            # A company's aid from this fund counts however it was declared when decided:
            # an approval under "public unit" wrote no register row, so write it now.
            granted, unknown = ((self._register_granted_aid(conn, business_id, actor, now))
                                if kind is BeneficiaryKind.COMPANY else ([], []))
            written = [*granted, *reversals]
            result = RegisteredBeneficiary(business_id, kind, actor.id, previous,
                                           tuple(written), tuple(unknown),
                                           self._assess_today(conn, business_id))
            self._audit_beneficiary(conn, business_id, "correct_kind", actor, reason,
                                    request_id, {"kind": kind, "previous_kind": previous,
                                                 "previously_confirmed_by":
                                                     before.kind_confirmed_by or "",
                                                 "aid_registered": granted,
                                                 "aid_reversed": reversals,
                                                 "aid_unknown": unknown}, now)
            self._emit(conn, "correct_kind", f"beneficiaries/{business_id}", {
                "business_id": business_id, "kind": kind, "previous_kind": previous or "",
                "actor_id": actor.id, "actor_role": actor.role, "reason": reason.strip(),
                "at": _rfc3339(now), "aid_ids": [r.id for r in written]}, now)
            return result

        def decode(d: dict[str, Any]) -> RegisteredBeneficiary:
            previous = d.get("previous_kind")
            return RegisteredBeneficiary(
                d["business_id"], BeneficiaryKind(d["kind"]), d["kind_confirmed_by"],
                BeneficiaryKind(previous) if previous else None,
                tuple(_aid_from_dict(a) for a in d.get("aid_written", ())),
                tuple(d.get("aid_unknown", ())), _assessment_from_dict(d.get("assessment")))

        payload = {"actor": actor, "business_id": business_id, "kind": kind,
                   "reason": reason}
        return self._mutate("correct_kind", request_id, payload, None, body,
                            encode=jsonable, decode=decode)

    def beneficiary(self, business_id: str) -> RegisteredBeneficiary | None:
        """The business ID as registered, or None if the ledger has not seen it."""
        with self._read() as conn:
            row = conn.execute(select(t.beneficiaries).where(
                t.beneficiaries.c.business_id == business_id)).first()
        return None if row is None else RegisteredBeneficiary(
            row.business_id, BeneficiaryKind(row.kind), row.kind_confirmed_by or "")

    def de_minimis_room(self, business_id: str, on: date | None = None) -> DeMinimisAssessment:
        """Aid counted in the window ending ``on`` (default today) and the room left."""
        return self.de_minimis_register(business_id, on)[0]

    def de_minimis_register(self, business_id: str, on: date | None = None
                            ) -> tuple[DeMinimisAssessment, list[RegisteredAid], FundRules,
                                       list[CeilingBreach]]:
        """A company's de minimis register, every row oldest first (corrections and the
        rows they reverse included), the aid counted in the window ending ``on``
        (default today, Helsinki) and the room left under the ceiling, with the fund
        rules that assessed it, and every grant whose window the register now puts over
        the ceiling of its date. FailedPrecondition when no de minimis rules are in force
        on ``on``."""
        problem = business_id_problem(business_id)
        if problem:
            raise invalid("business_id", problem)
        on = on or self._today()
        rules = self.fund_rules(on)
        de_minimis_rules = rules.de_minimis
        with self._read() as conn:
            rows = self._aid_rows(conn, business_id)
        assessment = assess_de_minimis(business_id, on, 0,
                                       [r.record() for r in rows if r.counts],
                                       de_minimis_rules)
        return assessment, rows, rules, ceiling_breaches(rows, self._de_minimis_rules_on)

    @staticmethod
    def _committed_rows(conn) -> list[PortfolioRow]:
        """The guarantees the fund is committed to (approved or active), by id."""
        a = t.applications.c
        committed = (a.kind == ApplicationKind.GUARANTEE.value) & \
            a.state.in_([s.value for s in COMMITTED_STATES])
        rows = conn.execute(select(a.id, a.business_id, a.beneficiary_kind, a.sector, a.branch,
                                   a.exposure_cents, a.term_months, a.rating_class)
                            .where(committed).order_by(a.id)).all()
        return [PortfolioRow(int(r.id), r.business_id, BeneficiaryKind(r.beneficiary_kind),
                             r.sector, r.branch, int(r.exposure_cents), int(r.term_months),
                             r.rating_class or "") for r in rows]

    def fund_position(self) -> tuple[FundStatus, list[PortfolioRow], FundRules]:
        """The fund's status (capital, committed, available capacity, claims paid, under
        today's rules; ``available_cents`` is 0, never negative, when claims pushed the
        capacity below the committed volume) and its committed guarantees (as the risk
        model sees them), from one snapshot, with the fund rules the status is under (the
        repository's clock and ``fund_rules``), so that the status's risk figures are
        measured and modelled under the same rules."""
        rules = self.fund_rules(self._today())
        with self._read() as conn:
            return self._status(conn, rules), self._committed_rows(conn), rules

    @staticmethod
    def _claims_paid(conn) -> int:
        return int(conn.execute(select(t.fund.c.claims_paid_cents)
                                .where(t.fund.c.id == t.FUND_ID)).scalar_one())

    def _status(self, conn, rules: FundRules) -> FundStatus:
        paid = self._claims_paid(conn)
        committed = self._committed(conn)
        capacity = capacity_cents(rules, paid)
        return FundStatus(capital_cents=capital_cents(rules, paid), committed_cents=committed,
                          available_cents=max(0, capacity - committed), claims_paid_cents=paid,
                          paid_in_capital_cents=rules.paid_in_capital_cents,
                          capacity_cents=capacity, rules_version=rules.version)

    def exposure_position(self) -> tuple[str, list[Exposure], list[Exposure]]:
        """(fund rules version, exposures by sector, by branch) from one snapshot, so
        both groupings and their limits describe the same state of the ledger."""
        rules = self.fund_rules(self._today())
        with self._read() as conn:
            paid = self._claims_paid(conn)
            return (rules.version, self._exposures(conn, rules, paid, "sector"),
                    self._exposures(conn, rules, paid, "branch"))

    @staticmethod
    def _exposures(conn: Connection, rules: FundRules, claims_paid_cents: int, by: str
                   ) -> list[Exposure]:
        col = t.applications.c[by]
        a = t.applications.c
        rows = conn.execute(
            select(col, func.sum(a.exposure_cents), func.count())
            .where(a.kind == ApplicationKind.GUARANTEE.value,
                   a.state.in_([s.value for s in COMMITTED_STATES]))
            .group_by(col).order_by(col)).all()
        limit = (sector_limit_cents if by == "sector" else branch_limit_cents)(
            rules, claims_paid_cents)
        return [Exposure(key=k, committed_cents=int(s), limit_cents=limit, guarantees=int(n))
                for k, s, n in rows]

    def audit_log(self, application_id: int) -> list[TransitionRecord]:
        """Every recorded transition of the application, oldest first."""
        with self._read() as conn:
            self._load(conn, application_id)
            rows = conn.execute(select(t.audit_log)
                                .where(t.audit_log.c.application_id == application_id)
                                .order_by(t.audit_log.c.seq)).all()
        return [transition_from_row(r) for r in rows]

    # --- approvals ----------------------------------------------------------------------

    def _approve_guarantee(self, conn: Connection, fund_row: Any, beneficiary: Any,
                           app: Application, actor: Actor, reason: str, request_id: str,
                           rules: FundRules, scoring: dict[str, Any],
                           violations: list[PreconditionViolation], now: datetime,
                           today: date) -> Application:
        """Approve a guarantee; ``fund_row`` and ``beneficiary`` are the fund's and the
        beneficiary's rows, locked by the caller."""
        assert app.guarantee is not None
        kind_trace: dict[str, Any] = {}
        kind_conflict = self._check_kind(beneficiary, app, actor, kind_trace)
        portfolio = self._committed_rows(conn)
        candidate = PortfolioRow(app.id, app.beneficiary.business_id, app.beneficiary.kind,
                                 app.sector, app.branch.value, app.exposure_cents,
                                 app.guarantee.term_months, app.guarantee.rating_class)
        position = PortfolioPosition(
            claims_paid_cents=int(fund_row.claims_paid_cents),
            committed_cents=sum(p.exposure_cents for p in portfolio),
            beneficiary_committed_cents=sum(p.exposure_cents for p in portfolio
                                            if p.business_id == candidate.business_id),
            sector_committed_cents=sum(p.exposure_cents for p in portfolio
                                       if p.sector == candidate.sector),
            branch_committed_cents=sum(p.exposure_cents for p in portfolio
                                       if p.branch == candidate.branch))
        de_minimis = None
        if app.beneficiary.kind is BeneficiaryKind.COMPANY:
            de_minimis_rules, gge_rules = _de_minimis_rules(rules, app, today)
            gge, gge_trace = gross_grant_equivalent(app.guarantee, gge_rules)
            de_minimis = assess_de_minimis(app.beneficiary.business_id, today, gge,
                                           self._aid_history(conn, app.beneficiary.business_id),
                                           de_minimis_rules)
        elif rules.gge_rules is not None:  # for information: a public unit gets no de minimis
            gge, gge_trace = gross_grant_equivalent(app.guarantee, rules.gge_rules)
        else:
            gge, gge_trace = None, {
                "rule": "GROSS_GRANT_EQUIVALENT", "computed": False,
                "note": f"no GGE parameters in force on {today.isoformat()}; a public "
                        "unit's guarantee needs no de minimis assessment"}
        risk = None
        capital = capital_cents(rules, position.claims_paid_cents)
        if self.incremental_risk is not None:
            risk = self.incremental_risk(portfolio, candidate, capital, rules)
        rule_violations, trace = assess_guarantee(app.name, candidate, app.guarantee, position,
                                                  rules, risk, de_minimis)
        if risk is not None:
            trace["risk"]["inputs"] = risk_inputs(portfolio, candidate, capital, rules)
        violations = violations + rule_violations + ([kind_conflict] if kind_conflict else [])
        if violations:
            raise FailedPrecondition(violations)
        self._confirm_kind(conn, app.beneficiary.business_id, app.beneficiary.kind, actor)
        if de_minimis is not None:
            self._insert_aid(conn, app, today, gge, rules, now, actor)
        trace.update(scoring=scoring, gge=gge_trace, **kind_trace)
        return self._transition(
            conn, app, ApplicationState.APPROVED, "approve", actor, reason, rules.version,
            request_id, {"gge_cents": gge, "gge_trace": jsonable(gge_trace),
                         "aid_granted_on": today, "rules_version": rules.version,
                         "decision_rules_version": rules.version},
            {"decision": Decision.APPROVE, "reason": reason, "guarantee": app.guarantee,
             "exposure_cents": app.exposure_cents}, trace, now,
            extra={"gge_cents": gge, "exposure_cents": app.exposure_cents})

    def _approve_grant(self, conn: Connection, beneficiary: Any, app: Application,
                       actor: Actor, reason: str, request_id: str, rules: FundRules,
                       scoring: dict[str, Any],
                       violations: list[PreconditionViolation], now: datetime, today: date,
                       expected_grant_cents: int | None,
                       indirect_cost_rate: Decimal | str | None, grant_cents: int | None
                       ) -> Application:
        grant = self._ijh().compute_grant(self._draft_of(app), today, app.name,
                                          indirect_cost_rate=indirect_cost_rate)
        submitted_on = app.submitted_on or today
        try:  # the same terms under the submission date's rules
            before = self._ijh().compute_grant(self._draft_of(app), submitted_on, app.name,
                                               indirect_cost_rate=indirect_cost_rate)
        except InvalidArgument:  # the rate is above the maximum of the submission date
            before = None
        a = t.audit_log.c
        submitted_under = conn.execute(select(a.rules_version).where(
            a.application_id == app.id, a.action == "submit").order_by(a.seq.desc())
        ).scalar() or ""
        judged = judge_grant_decision(app.name, today, grant, before, submitted_on,
                                      app.grant_cents, submitted_under, indirect_cost_rate,
                                      expected_grant_cents, grant_cents)
        decided = judged.decided_cents
        violations = [*violations, *judged.violations]
        trace: dict[str, Any] = {
            "scoring": scoring, "grant": grant.trace, "grant_change": judged.grant_change,
            "decision_terms": judged.decision_terms, "fund_rules_version": rules.version}
        kind_conflict = self._check_kind(beneficiary, app, actor, trace)
        if kind_conflict is not None:
            violations = [*violations, kind_conflict]
        de_minimis = None
        if app.beneficiary.kind is BeneficiaryKind.COMPANY:
            de_minimis_rules, _gge_rules = _de_minimis_rules(rules, app, today)
            de_minimis = assess_de_minimis(app.beneficiary.business_id, today, decided,
                                           self._aid_history(conn, app.beneficiary.business_id),
                                           de_minimis_rules)
            trace["de_minimis"] = de_minimis.trace()
            v = de_minimis.violation()
            if v is not None:
                violations = [*violations, v]
        if violations:
            raise FailedPrecondition(violations)
        self._confirm_kind(conn, app.beneficiary.business_id, app.beneficiary.kind, actor)
        if de_minimis is not None:
            self._insert_aid(conn, app, today, decided, rules, now, actor)
        version = f"{grant.rules_version};{rules.version}"
        return self._transition(
            conn, app, ApplicationState.APPROVED, "approve", actor, reason, version,
            request_id, {"grant_cents": decided, "grant_trace": jsonable(grant.trace),
                         "aid_granted_on": today, "rules_version": version,
                         "decision_rules_version": version},
            {"decision": Decision.APPROVE, "reason": reason, "cost_lines": app.cost_lines},
            trace, now, extra={"grant_cents": decided})

    # --- plumbing -------------------------------------------------------------------------

    def _rubric_date(self, app: Application) -> date:
        """The day whose rubric scores ``app``: its submission (every sheet and the
        decision under one rubric, so a rubric change strands no application)."""
        return app.submitted_on or self._today()

    def _aggregate(self, app: Application,
                   sheets: list[tuple[str, Mapping[str, Decimal]]], on: date) -> Any:
        """The rules core's aggregate of ``sheets``. A stored sheet that does not fit the
        rubric (the rules of ``on`` edited after it was scored) is the application's
        state, not a field of the request: FailedPrecondition naming the officer."""
        try:
            return self._ijh().score(sheets, on)
        except InvalidArgument as exc:
            def whose(v: FieldViolation) -> str:
                m = re.match(r"^score_sheets\[(\d+)\]\.?(.*)$", v.field)
                if m is None or int(m[1]) >= len(sheets):
                    return f"{v.field}: {v.description}"
                return f"{sheets[int(m[1])][0]}'s sheet ({m[2] or 'sheet'}): {v.description}"
            raise FailedPrecondition(PreconditionViolation(
                "SCORE_SHEETS", app.name,
                f"the stored score sheets do not fit the rubric in force on "
                f"{on.isoformat()}: {'; '.join(whose(v) for v in exc.violations)}: each "
                "officer named replaces their sheet (ijh application score)")) from None

    def _simple(self, action: str, request_id: str, actor: Actor, application_id: int,
                reason: str, changes: Callable[[Any, date], dict[str, Any]] | None = None
                ) -> Application:
        """A transition with no rule but the table's, and ``changes(row, today)``: the
        columns it sets besides the state (or a refusal it raises)."""
        check_reason(reason)

        def body(conn: Connection, row: Any) -> Application:
            now, today = self._now(), self._today()
            app = application_from_row(row)
            target = check_transition(action, app.kind, app.state, actor, app.owner_id,
                                      app.name)
            extra = changes(row, today) if changes else {}
            version = self.fund_rules(today).version
            return self._transition(conn, app, target, action, actor, reason, version,
                                    request_id, extra, {"reason": reason}, {}, now)

        return self._mutate(action, request_id,
                            {"actor": actor, "id": application_id, "reason": reason},
                            application_id, body)

    def _mutate(self, operation: str, request_id: str, payload: Any,
                application_id: int | None, body: Callable[[Connection, Any], T],
                encode: Callable[[T], Any] = application_to_dict,  # type: ignore[assignment]
                decode: Callable[[Any], T] = application_from_dict,  # type: ignore[assignment]
                ) -> T:
        """Run ``body`` in one write transaction with the idempotency protocol: look the
        request id up (return the stored result or refuse a different payload), lock the
        application (if any) and look again (a concurrent duplicate may have committed
        meanwhile), act, store the result under the request id, commit. The request id is
        judged before the application is touched, so a reused id says nothing of whether
        the application it names exists."""
        _check_request_id(request_id)
        fingerprint = _fingerprint(operation, payload)
        for attempt in range(_ATTEMPTS):
            try:
                with self.engine.begin() as conn:
                    row = None
                    prior = self._prior_request(conn, request_id)
                    if prior is None and application_id is not None:
                        row = self._lock_application(conn, application_id)
                        prior = self._prior_request(conn, request_id)
                    if prior is not None:
                        if prior.fingerprint != fingerprint:
                            raise AlreadyExists(
                                f"request_id {request_id!r} was already used for a different "
                                f"{prior.operation} request")
                        return decode(prior.result)
                    result = body(conn, row)
                    conn.execute(insert(t.requests).values(
                        request_id=request_id, operation=operation, fingerprint=fingerprint,
                        application_id=getattr(result, "id", None), result=encode(result),
                        created_at=self._now()))
            except IntegrityError:
                # A concurrent request with the same id won the race: the next attempt
                # finds its stored result. Any other integrity error is a bug: re-raise.
                if attempt + 1 < _ATTEMPTS and self._request_known(request_id):
                    continue
                raise
            except DBAPIError as exc:
                if _retryable(exc) and attempt + 1 < _ATTEMPTS:
                    continue
                raise
            if self.after_commit is not None:
                self.after_commit()
            return result
        raise AssertionError("unreachable")

    @staticmethod
    def _prior_request(conn: Connection, request_id: str) -> Any:
        return conn.execute(select(t.requests).where(
            t.requests.c.request_id == request_id)).first()

    def _request_known(self, request_id: str) -> bool:
        with self._read() as conn:
            return conn.execute(select(t.requests.c.request_id).where(
                t.requests.c.request_id == request_id)).first() is not None

    def _transition(self, conn: Connection, app: Application, target: ApplicationState,
                    action: str, actor: Actor, reason: str, rules_version: str,
                    request_id: str, changes: dict[str, Any], inputs: dict[str, Any],
                    trace: dict[str, Any], now: datetime,
                    extra: dict[str, Any] | None = None) -> Application:
        values = {"rules_version": rules_version, **changes, "state": target.value,
                  "updated_at": now, "version": app.version + 1}
        done = conn.execute(update(t.applications)
                            .where(t.applications.c.id == app.id,
                                   t.applications.c.version == app.version)
                            .values(**values))
        if done.rowcount != 1:  # cannot happen under the row lock; refuse rather than guess
            raise FailedPrecondition(PreconditionViolation(
                "CONCURRENT_CHANGE", app.name, "changed by another request; retry"))
        after = self._load(conn, app.id)
        self._record(conn, after, action, app.state, actor, reason, rules_version,
                     request_id, inputs, trace, now, extra)
        return after

    def _record(self, conn: Connection, app: Application, action: str,
                from_state: ApplicationState | None, actor: Actor, reason: str,
                rules_version: str, request_id: str, inputs: dict[str, Any],
                trace: dict[str, Any], now: datetime,
                extra: dict[str, Any] | None = None) -> None:
        conn.execute(insert(t.audit_log).values(
            application_id=app.id, action=action,
            from_state=from_state.value if from_state else None, to_state=app.state.value,
            actor_id=actor.id, actor_role=actor.role.value, at=now, reason=reason,
            rules_version=rules_version, request_id=request_id, inputs=jsonable(inputs),
            trace=jsonable(trace)))
        data = {"application": app.name, "application_id": app.id, "kind": app.kind,
                "action": action, "from_state": from_state or "", "state": app.state,
                "actor_id": actor.id, "actor_role": actor.role, "reason": reason,
                "rules_version": rules_version, "at": _rfc3339(now),
                "business_id": app.beneficiary.business_id, "sector": app.sector,
                "branch": app.branch, **(extra or {})}
        self._emit(conn, action, app.name, data, now)

    def _emit(self, conn: Connection, action: str, subject: str, data: dict[str, Any],
              now: datetime) -> None:
        """Write the event to the outbox; its ``data`` is the proto JSON form of the
        action's ``ijh.events.v1`` message (as every service's events are: 64-bit
        integers as strings, every field present), built from ``data``."""
        payload = EVENT_MESSAGES[action](**jsonable(data))
        event = dataclasses.replace(
            cloud_event(EVENT_TYPES[action], self.event_source, subject, payload),
            time=_rfc3339(now))
        conn.execute(insert(t.outbox).values(
            event_id=event.id, type=event.type, subject=event.subject,
            envelope=event.to_json_bytes().decode(), created_at=now, attempts=0))

    def _insert_aid(self, conn: Connection, app: Application, today: date, amount: int,
                    rules: FundRules, now: datetime, actor: Actor) -> None:
        conn.execute(insert(t.de_minimis_aid).values(
            business_id=app.beneficiary.business_id, granted_on=today, amount_cents=amount,
            reference=f"{app.name} ({rules.de_minimis.reference[:300]})",
            application_id=app.id, recorded_at=now, recorded_by=actor.id))

    def _de_minimis_rules_on(self, on: date) -> DeMinimisRules | None:
        """The de minimis rules in force on ``on``, None when none are."""
        try:
            return self.fund_rules(on).de_minimis
        except ParameterNotInForce:
            return None

    def _assess_today(self, conn: Connection, business_id: str
                      ) -> DeMinimisAssessment | None:
        """The business ID's register assessed today (Helsinki), as GetDeMinimisRegister
        assesses it, in this transaction; None when no de minimis rules are in force."""
        today = self._today()
        rules = self._de_minimis_rules_on(today)
        if rules is None:
            return None
        return assess_de_minimis(business_id, today, 0, self._aid_history(conn, business_id),
                                 rules)

    def _aid_history(self, conn: Connection, business_id: str) -> list[AidRecord]:
        """The aid that counts for de minimis: corrections and what they reverse do not."""
        return [r.record() for r in self._aid_rows(conn, business_id) if r.counts]

    def _register_granted_aid(self, conn: Connection, business_id: str, actor: Actor,
                              now: datetime) -> tuple[list[RegisteredAid], list[str]]:
        """Register the aid this fund granted ``business_id`` by approvals that wrote no
        register row (decided while it was held a public unit): each application's gross
        grant equivalent (guarantee) or grant, on the day it was approved. Returns the
        rows written and the applications whose amount is not known (approved without a
        GGE: an officer records those with ``record_aid``)."""
        a = t.applications.c
        in_register = {r.application_id for r in self._aid_rows(conn, business_id)
                       if r.application_id is not None and r.counts}
        decided = conn.execute(select(t.applications).where(
            a.business_id == business_id,
            a.state.in_([s.value for s in AID_GRANTED_STATES])).order_by(a.id)).all()
        written, unknown = [], []
        for row in decided:
            if row.id in in_register:
                continue
            amount = row.gge_cents if row.kind == ApplicationKind.GUARANTEE.value \
                else row.grant_cents
            if not amount or row.aid_granted_on is None:
                unknown.append(f"applications/{row.id}")
                continue
            aid_id = conn.execute(insert(t.de_minimis_aid).values(
                business_id=business_id, granted_on=row.aid_granted_on,
                amount_cents=int(amount),
                reference=f"applications/{row.id}, approved when the business ID was held "
                          "a public unit; counted from the kind's correction",
                application_id=row.id, recorded_at=now, recorded_by=actor.id)
            ).inserted_primary_key[0]
            written.append(self._aid_rows(conn, business_id, aid_id)[0])
        return written, unknown

    @staticmethod
    def _aid_written_by_kind(conn: Connection, business_id: str) -> set[int]:
        """The ids of the register rows corrections of the kind to company wrote (the aid
        granted here while the business ID was held a public unit), from their audit."""
        b = t.beneficiary_audit.c
        rows = conn.execute(select(b.inputs).where(
            b.business_id == business_id, b.action == "correct_kind")).all()
        return {int(a["id"]) for r in rows for a in (r.inputs or {}).get("aid_registered", ())
                if isinstance(a, dict) and a.get("id")}

    @staticmethod
    def _aid_recorded(business_id: str, rows: list[RegisteredAid]) -> PreconditionViolation:
        """Why a business ID with aid in its register is not made a public unit, and what
        undoes each row: declared aid is reversed; aid granted by an approval here stays
        while that decision stands."""
        def some(items: list[str]) -> str:  # a description is cut at 300 bytes
            return ", ".join(items[:3]) + (f" and {len(items) - 3} more"
                                           if len(items) > 3 else "")

        declared = [str(r.id) for r in rows if r.application_id is None]
        decided = sorted({f"applications/{r.application_id}" for r in rows
                          if r.application_id is not None})
        what = []
        if declared:
            what.append(f"aid {some(declared)} was recorded from a declaration: if wrong, "
                        "reverse it first (ijh deminimis correct)")
        if decided:
            what.append(f"{some(decided)} granted aid to it as a company, which stays while "
                        "the decision stands")
        return PreconditionViolation(
            "AID_RECORDED", f"beneficiary/{business_id}",
            f"business ID {business_id} has de minimis aid in its register and a public unit "
            f"has none: {'; '.join(what)}")

    def _reverse_aid(self, conn: Connection, target: RegisteredAid, actor: Actor,
                     reason: str, now: datetime, reference: str) -> RegisteredAid:
        """A new row reversing ``target`` (from then on neither counts)."""
        reversal_id = conn.execute(insert(t.de_minimis_aid).values(
            business_id=target.business_id, granted_on=target.granted_on,
            amount_cents=target.amount_cents, reference=reference[:500],
            application_id=None, recorded_at=now, recorded_by=actor.id,
            reverses_id=target.id, reason=reason.strip())).inserted_primary_key[0]
        return self._aid_rows(conn, target.business_id, reversal_id)[0]

    @staticmethod
    def _score_history(conn: Connection, app: Application) -> list[tuple[str, bool]]:
        """``app``'s score entries oldest first: (officer, whether it replaced their
        sheet by another), from the audit log. An entry that "replaced" a sheet by the
        same one (written before an identical sheet became nothing to do) changed
        nothing and is no replacement."""
        def sheet(d: Any) -> dict[str, Decimal]:
            return {k: Decimal(str(v)) for k, v in (d or {}).items()}

        a = t.audit_log.c
        rows = conn.execute(select(a.actor_id, a.inputs).where(
            a.application_id == app.id, a.action == "score").order_by(a.seq)).all()
        return [(r.actor_id, "replaces" in r.inputs
                 and sheet(r.inputs["replaces"]) != sheet(r.inputs.get("criteria")))
                for r in rows]

    @staticmethod
    def _register_correctors(conn: Connection, app: Application) -> list[str]:
        """The officers who corrected ``app``'s beneficiary register (kind or aid) since
        ``app`` was created."""
        b = t.beneficiary_audit.c
        rows = conn.execute(select(b.actor_id, b.at).where(
            b.business_id == app.beneficiary.business_id,
            b.action.in_(["correct_kind", "correct_aid"]))).all()
        return [r.actor_id for r in rows if aware(r.at) >= app.created_at]

    @staticmethod
    def _aid_rows(conn: Connection, business_id: str, only: int | None = None
                  ) -> list[RegisteredAid]:
        """The business ID's register rows oldest first (or row ``only``), each with the
        row that reverses it, if any."""
        d = t.de_minimis_aid.c
        rows = conn.execute(select(t.de_minimis_aid).where(d.business_id == business_id)
                            .order_by(d.id)).all()
        reversed_by = {int(r.reverses_id): int(r.id) for r in rows if r.reverses_id is not None}
        return [RegisteredAid(
            id=int(r.id), business_id=r.business_id, granted_on=r.granted_on,
            amount_cents=int(r.amount_cents), reference=r.reference,
            recorded_at=aware(r.recorded_at), recorded_by=r.recorded_by or "",
            application_id=r.application_id,
            reverses_id=None if r.reverses_id is None else int(r.reverses_id),
            reversed_by_id=reversed_by.get(int(r.id)), reason=r.reason or "")
            for r in rows if only is None or int(r.id) == only]

    def _audit_beneficiary(self, conn: Connection, business_id: str, action: str,
                           actor: Actor, reason: str, request_id: str,
                           inputs: dict[str, Any], now: datetime) -> None:
        conn.execute(insert(t.beneficiary_audit).values(
            business_id=business_id, action=action, actor_id=actor.id,
            actor_role=actor.role.value, at=now, reason=reason, request_id=request_id,
            inputs=jsonable(inputs), trace={}))

    def _emit_aid(self, conn: Connection, action: str, aid: RegisteredAid, actor: Actor,
                  now: datetime) -> None:
        self._emit(conn, action, f"beneficiaries/{aid.business_id}", {
            "business_id": aid.business_id, "granted_on": aid.granted_on,
            "amount_cents": aid.amount_cents, "reference": aid.reference,
            "actor_id": actor.id, "actor_role": actor.role, "at": _rfc3339(now),
            "aid_id": aid.id, "reverses_aid_id": aid.reverses_id, "reason": aid.reason}, now)

    def _committed(self, conn: Connection) -> int:
        a = t.applications.c
        return int(conn.execute(
            select(func.coalesce(func.sum(a.exposure_cents), 0))
            .where(a.kind == ApplicationKind.GUARANTEE.value,
                   a.state.in_([s.value for s in COMMITTED_STATES]))).scalar_one())

    def _ensure_beneficiary(self, conn: Connection, draft: ApplicationDraft,
                            now: datetime) -> None:
        """Register the business ID on first sight. The kind a create request declares
        fixes nothing (an agency's draft that never went further once made a company a
        public unit for good, and refused the company's own application): an officer
        confirms it by approving (``_check_kind``), recording aid or correcting it."""
        b = draft.beneficiary
        conn.execute(self._insert_ignore(t.beneficiaries, "business_id").values(
            business_id=b.business_id, kind=b.kind.value, name=b.name, created_at=now))
        if b.kind is BeneficiaryKind.COMPANY:
            # Until an officer confirms it, anyone's declaration as a company is kept: an
            # approval declaring it a public unit must then be resolved (``_check_kind``).
            c = t.beneficiaries.c
            conn.execute(update(t.beneficiaries).where(
                c.business_id == b.business_id, c.kind_confirmed_by.is_(None),
                c.kind != BeneficiaryKind.COMPANY.value).values(
                kind=BeneficiaryKind.COMPANY.value))

    @staticmethod
    def _check_kind(beneficiary: Any, app: Application, actor: Actor,
                    trace: dict[str, Any]) -> PreconditionViolation | None:
        """At approval: the application's declared kind against the confirmed one (the
        locked ``beneficiary`` row). A conflict says how to resolve it; without one the
        approval confirms the kind (``_confirm_kind``), so no later self-declaration as a
        public unit skips de minimis for a company."""
        declared, registered = app.beneficiary.kind.value, beneficiary.kind
        confirmed_by = beneficiary.kind_confirmed_by
        trace["beneficiary_kind"] = {"declared": declared, "registered": registered,
                                     "confirmed_by": confirmed_by or "",
                                     "confirmed_now_by": "" if confirmed_by else actor.id}
        bid, words = app.beneficiary.business_id, declared.replace("_", " ")
        if declared == registered:
            return None
        if not confirmed_by:
            if registered != BeneficiaryKind.COMPANY.value:
                return None  # declared a company: assessed for de minimis, confirmed so
            # Declared a company before and never confirmed otherwise: a public unit's
            # approval would skip de minimis on one declaration's word.
            return PreconditionViolation(
                "BENEFICIARY_KIND", f"beneficiary/{bid}",
                f"{app.name} declares a {words}; the business ID was declared a company "
                "(by another application or recorded aid) and no officer has confirmed "
                "which: an officer sets its kind (ijh beneficiary set-kind, with the "
                "reason), then the application is decided again")
        # The remedy for a wrong application is its beneficiary kind, not its applicant
        # kind: an IJH grant's applicant is a contracting entity (a company applicant is
        # ineligible) and its file says `beneficiary_kind: company` when it is one.
        return PreconditionViolation(
            "BENEFICIARY_KIND", f"beneficiary/{bid}",
            f"{app.name} declares a {words}; the business ID is registered a "
            f"{registered.replace('_', ' ')} (confirmed by {confirmed_by}). Register wrong: "
            "ijh beneficiary set-kind, with the reason, then decide again. Application "
            f"wrong: reject it and file it again with beneficiary_kind: {registered} in "
            "its file")

    @staticmethod
    def _confirm_kind(conn: Connection, business_id: str, kind: BeneficiaryKind,
                      actor: Actor) -> None:
        b = t.beneficiaries.c
        conn.execute(update(t.beneficiaries)
                     .where(b.business_id == business_id, b.kind_confirmed_by.is_(None))
                     .values(kind=kind.value, kind_confirmed_by=actor.id))

    def _insert_ignore(self, table: Any, key: str) -> Any:
        dialect = sqlite if is_sqlite(self.engine) else postgresql
        return dialect.insert(table).on_conflict_do_nothing(index_elements=[key])

    def _lock_application(self, conn: Connection, application_id: int) -> Any:
        if not isinstance(application_id, int) or isinstance(application_id, bool):
            raise invalid("application_id", "must be an integer id")
        _check_id(application_id)
        row = conn.execute(select(t.applications)
                           .where(t.applications.c.id == application_id)
                           .with_for_update()).first()
        if row is None:
            raise NotFound(f"applications/{application_id}")
        return row

    def _lock_fund(self, conn: Connection) -> Any:
        return conn.execute(select(t.fund).where(t.fund.c.id == t.FUND_ID)
                            .with_for_update(key_share=True)).one()

    def _lock_beneficiary(self, conn: Connection, business_id: str) -> Any:
        return conn.execute(select(t.beneficiaries)
                            .where(t.beneficiaries.c.business_id == business_id)
                            .with_for_update(key_share=True)).one()

    def _load(self, conn: Connection, application_id: int) -> Application:
        _check_id(application_id)
        row = conn.execute(select(t.applications)
                           .where(t.applications.c.id == application_id)).first()
        if row is None:
            raise NotFound(f"applications/{application_id}")
        return self._with_scores(conn, row)

    def _with_scores(self, conn: Connection, row: Any) -> Application:
        scores = conn.execute(select(t.scores).where(t.scores.c.application_id == row.id)
                              .order_by(t.scores.c.id)).all()
        return application_from_row(row, tuple(score_from_row(s) for s in scores))

    def _read(self) -> Any:
        return ReadTransaction(self.engine)

    def _ijh(self) -> IjhRules:
        if self.ijh_rules is None:
            raise RuntimeError("Repository needs ijh_rules (the rules core) for grants/scores")
        return self.ijh_rules

    def _now(self) -> datetime:
        now = self.clock()
        if now.tzinfo is None:
            raise ValueError("clock must return an aware datetime")
        return now.astimezone(UTC)

    def _today(self) -> date:
        return self._now().astimezone(DECISION_TZ).date()

    @staticmethod
    def _draft_of(app: Application) -> ApplicationDraft:
        return ApplicationDraft(kind=app.kind, title=app.title, beneficiary=app.beneficiary,
                                sector=app.sector, branch=app.branch, guarantee=app.guarantee,
                                cost_lines=app.cost_lines,
                                procurement_kind=app.procurement_kind,
                                applicant_kind=app.applicant_kind)


__all__ = ["EVENT_MESSAGES", "EVENT_SCHEMAS", "EVENT_SOURCE", "EVENT_TYPES", "Repository"]
