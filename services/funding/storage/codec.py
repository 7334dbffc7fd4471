"""Rows ↔ domain objects, and domain objects ↔ JSON (for the idempotency store and
event payloads). Decimals travel as strings, dates and datetimes as ISO text."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import asdict, is_dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from services.funding.ledger.model import (
    Actor,
    Application,
    ApplicationKind,
    ApplicationState,
    Beneficiary,
    BeneficiaryKind,
    Branch,
    CostLine,
    GuaranteeTerms,
    Role,
    Score,
    TransitionRecord,
)


def jsonable(value: Any) -> Any:
    """Plain JSON types for anything a trace or input may hold."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return aware(value).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if is_dataclass(value) and not isinstance(value, type):
        return jsonable(asdict(value))
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    if isinstance(value, float):
        raise TypeError("binary floats are not stored in the ledger")
    raise TypeError(f"cannot store {type(value).__name__} as JSON")


def aware(ts: datetime) -> datetime:
    """SQLite returns naive datetimes; everything stored is UTC."""
    return ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)


def cost_line_from(d: Mapping[str, Any]) -> CostLine:
    return CostLine(category=d["category"], description=d.get("description", ""),
                    amount_cents=int(d["amount_cents"]),
                    attributes=dict(d.get("attributes") or {}))


def score_from_row(r: Any) -> Score:
    return Score(officer_id=r.officer_id,
                 criteria={k: Decimal(v) for k, v in (r.criteria or {}).items()},
                 total=Decimal(r.total), passed=bool(r.passed), scored_at=aware(r.scored_at),
                 rules_version=r.rules_version, trace=dict(r.trace or {}))


def application_from_row(r: Any, scores: tuple[Score, ...] = ()) -> Application:
    guarantee = None
    if r.kind == ApplicationKind.GUARANTEE.value:
        guarantee = GuaranteeTerms(
            amount_cents=int(r.amount_cents), guarantee_rate=Decimal(r.guarantee_rate),
            cap_cents=int(r.cap_cents), fee_rate=Decimal(r.fee_rate),
            term_months=int(r.term_months), rating_class=r.rating_class or "")
    return Application(
        id=int(r.id), kind=ApplicationKind(r.kind), state=ApplicationState(r.state),
        title=r.title, owner_id=r.owner_id,
        beneficiary=Beneficiary(BeneficiaryKind(r.beneficiary_kind), r.business_id,
                                r.beneficiary_name),
        sector=r.sector, branch=Branch(r.branch), procurement_kind=r.procurement_kind,
        applicant_kind=r.applicant_kind, guarantee=guarantee,
        cost_lines=tuple(cost_line_from(c) for c in (r.cost_lines or [])),
        exposure_cents=int(r.exposure_cents),
        grant_cents=None if r.grant_cents is None else int(r.grant_cents),
        grant_trace=r.grant_trace, gge_cents=None if r.gge_cents is None else int(r.gge_cents),
        gge_trace=r.gge_trace, aid_granted_on=r.aid_granted_on,
        claim_paid_cents=int(r.claim_paid_cents), rules_version=r.rules_version,
        created_at=aware(r.created_at), updated_at=aware(r.updated_at), version=int(r.version),
        scores=scores, decision_rules_version=r.decision_rules_version,
        submitted_on=r.submitted_on, activated_on=r.activated_on)


def application_to_dict(app: Application) -> dict[str, Any]:
    return jsonable(app)


def application_from_dict(d: Mapping[str, Any]) -> Application:
    g = d.get("guarantee")
    b = d["beneficiary"]
    return Application(
        id=int(d["id"]), kind=ApplicationKind(d["kind"]), state=ApplicationState(d["state"]),
        title=d["title"], owner_id=d["owner_id"],
        beneficiary=Beneficiary(BeneficiaryKind(b["kind"]), b["business_id"], b["name"]),
        sector=d["sector"], branch=Branch(d["branch"]), procurement_kind=d["procurement_kind"],
        applicant_kind=d["applicant_kind"],
        guarantee=None if g is None else GuaranteeTerms(
            amount_cents=int(g["amount_cents"]), guarantee_rate=Decimal(g["guarantee_rate"]),
            cap_cents=int(g["cap_cents"]), fee_rate=Decimal(g["fee_rate"]),
            term_months=int(g["term_months"]), rating_class=g["rating_class"]),
        cost_lines=tuple(cost_line_from(c) for c in d["cost_lines"]),
        exposure_cents=int(d["exposure_cents"]), grant_cents=d["grant_cents"],
        grant_trace=d["grant_trace"], gge_cents=d["gge_cents"], gge_trace=d["gge_trace"],
        aid_granted_on=None if d["aid_granted_on"] is None
        else date.fromisoformat(d["aid_granted_on"]),
        claim_paid_cents=int(d["claim_paid_cents"]), rules_version=d["rules_version"],
        created_at=datetime.fromisoformat(d["created_at"]),
        updated_at=datetime.fromisoformat(d["updated_at"]), version=int(d["version"]),
        scores=tuple(Score(officer_id=s["officer_id"],
                           criteria={k: Decimal(v) for k, v in s["criteria"].items()},
                           total=Decimal(s["total"]), passed=bool(s["passed"]),
                           scored_at=datetime.fromisoformat(s["scored_at"]),
                           rules_version=s["rules_version"], trace=s["trace"])
                     for s in d.get("scores", [])),
        # Results stored before migrations 0007-0009 lacked these three; migration 0010
        # filled them in from the application (a result without them reads as empty).
        decision_rules_version=d.get("decision_rules_version", ""),
        submitted_on=date.fromisoformat(d["submitted_on"]) if d.get("submitted_on") else None,
        activated_on=date.fromisoformat(d["activated_on"]) if d.get("activated_on") else None)


def transition_from_row(r: Any) -> TransitionRecord:
    return TransitionRecord(
        seq=int(r.seq), application_id=int(r.application_id), action=r.action,
        from_state=None if r.from_state is None else ApplicationState(r.from_state),
        to_state=ApplicationState(r.to_state), actor=Actor(r.actor_id, Role(r.actor_role)),
        at=aware(r.at), reason=r.reason, rules_version=r.rules_version,
        request_id=r.request_id, inputs=dict(r.inputs or {}), trace=dict(r.trace or {}))
