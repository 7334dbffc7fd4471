"""Who may do what: the one authorization table of the public API.

Each public method maps to the roles allowed to call it and, for callers acting for an
organisation (agencies), how ownership is checked:

- ``owner_field``: the gateway checks that this request field equals the caller's
  business ID (creating for oneself, listing one's own, computing for oneself);
- ``backend_owner_check``: the request names a resource (``applications/42``); the
  gateway cannot see whose it is, so the funding service checks it against the caller
  identity the gateway propagates (``x-ijh-caller-*`` metadata, which funding believes
  only with the gateway's signature over it: :mod:`services.shared.caller`).

A method missing from the table is refused (deny by default). Methods listed before
they exist in the protos wait here; :func:`unresolved_owner_fields` proves that every
existing method's ``owner_field`` names a real request field.

``python -m services.gateway.policy`` prints the table docs/AUTHORIZATION.md shows.
"""

from __future__ import annotations

from dataclasses import dataclass

from google.protobuf.descriptor import Descriptor, ServiceDescriptor

from services.gateway.identity import ROLES_WITH_BUSINESS_ID, Caller, Role

FUNDING = "ijh.funding.v1.FundingService"
RISK = "ijh.risk.v1.RiskService"

AGENCY, OFFICER, ANALYST, ADMIN = Role.AGENCY, Role.OFFICER, Role.ANALYST, Role.ADMIN
ALL_ROLES = frozenset(Role)


@dataclass(frozen=True)
class Rule:
    """Who may call one method."""

    roles: frozenset[Role]
    owner_field: str = ""  # dotted request field that must equal the caller's business ID
    backend_owner_check: bool = False  # the backend checks ownership of the named resource


def _rule(*roles: Role, owner_field: str = "", backend_owner_check: bool = False) -> Rule:
    return Rule(frozenset(roles), owner_field, backend_owner_check)


POLICY: dict[str, Rule] = {
    # Funding: grants, applications and their life cycle, guarantees, the fund.
    f"/{FUNDING}/ComputeGrant": _rule(OFFICER, AGENCY, ADMIN,
                                      owner_field="applicant.business_id"),
    f"/{FUNDING}/ScoreApplication": _rule(OFFICER),
    f"/{FUNDING}/ListParameters": _rule(*ALL_ROLES),
    f"/{FUNDING}/CreateApplication": _rule(AGENCY, OFFICER, owner_field="applicant.business_id"),
    f"/{FUNDING}/GetApplication": _rule(AGENCY, OFFICER, ANALYST, backend_owner_check=True),
    f"/{FUNDING}/ListApplications": _rule(AGENCY, OFFICER, ANALYST,
                                          owner_field="applicant_business_id"),
    f"/{FUNDING}/SubmitApplication": _rule(AGENCY, OFFICER, backend_owner_check=True),
    f"/{FUNDING}/RecordScores": _rule(OFFICER),
    f"/{FUNDING}/DecideApplication": _rule(OFFICER),
    f"/{FUNDING}/ActivateGuarantee": _rule(OFFICER),
    f"/{FUNDING}/RecordClaim": _rule(OFFICER),
    f"/{FUNDING}/ExpireGuarantee": _rule(OFFICER),
    f"/{FUNDING}/RecordDeMinimisAid": _rule(OFFICER),
    f"/{FUNDING}/GetDeMinimisRegister": _rule(OFFICER),
    f"/{FUNDING}/CorrectDeMinimisAid": _rule(OFFICER),
    f"/{FUNDING}/CorrectBeneficiaryKind": _rule(OFFICER),
    f"/{FUNDING}/GetFundStatus": _rule(ANALYST, OFFICER, ADMIN),
    f"/{FUNDING}/GetExposure": _rule(ANALYST, OFFICER, ADMIN),
    # Risk: procurement estimates for agencies; portfolio work for the fund.
    f"/{RISK}/EstimateProcurementRisk": _rule(AGENCY, OFFICER, ANALYST),
    f"/{RISK}/EvaluateProcurementGuarantee": _rule(AGENCY, OFFICER, ANALYST),
    f"/{RISK}/SimulatePortfolio": _rule(ANALYST, OFFICER),
    f"/{RISK}/EvaluateIncrementalRisk": _rule(ANALYST, OFFICER),
    f"/{RISK}/StartPortfolioSimulation": _rule(ANALYST, OFFICER),
    f"/{RISK}/GetOperation": _rule(ANALYST, OFFICER),
    f"/{RISK}/ListOperations": _rule(ANALYST, OFFICER),
    f"/{RISK}/WaitOperation": _rule(ANALYST, OFFICER),
    f"/{RISK}/CancelOperation": _rule(ANALYST, OFFICER),
}


@dataclass(frozen=True)
class Decision:
    """The verdict on one call; ``reason`` is machine-readable when refused."""

    allowed: bool
    reason: str = ""
    message: str = ""


ALLOWED = Decision(True)


def _field_value(message, path: str):
    for name in path.split("."):
        message = getattr(message, name)
    return message


def decide(method: str, caller: Caller, request) -> Decision:
    """May ``caller`` call ``method`` (``/package.Service/Method``) with ``request``?
    ``request`` is None when a stream opens: the role is checked then, ownership on
    each message."""
    rule = POLICY.get(method)
    if rule is None:
        return Decision(False, "METHOD_NOT_IN_POLICY",
                        f"{method} is not in the authorization table")
    if caller.role not in rule.roles:
        return Decision(False, "ROLE_NOT_ALLOWED",
                        f"role {caller.role} may not call {method.rsplit('/', 1)[-1]}")
    if rule.owner_field and caller.role in ROLES_WITH_BUSINESS_ID and request is not None:
        try:
            value = _field_value(request, rule.owner_field)
        except AttributeError:
            return Decision(False, "OWNER_FIELD_UNKNOWN",
                            f"{rule.owner_field} is not a field of the request")
        if value != caller.business_id:
            return Decision(False, "NOT_OWNER",
                            f"{rule.owner_field} must be your own business ID "
                            f"{caller.business_id}")
    return ALLOWED


def _resolves(message: Descriptor, path: str) -> bool:
    for name in path.split("."):
        field = message.fields_by_name.get(name) if message else None
        if field is None:
            return False
        message = field.message_type
    return True


def unresolved_owner_fields(services: list[ServiceDescriptor]) -> list[str]:
    """Existing methods whose ``owner_field`` does not name a request field (must be [])."""
    bad = []
    for service in services:
        for method in service.methods:
            rule = POLICY.get(f"/{service.full_name}/{method.name}")
            if rule and rule.owner_field and not _resolves(method.input_type, rule.owner_field):
                bad.append(f"/{service.full_name}/{method.name}: {rule.owner_field}")
    return bad


def policy_table() -> str:
    """The Markdown table of the policy, as docs/AUTHORIZATION.md shows it."""
    rows = ["| method | roles allowed | agency ownership |", "|---|---|---|"]
    for method, rule in POLICY.items():
        roles = ", ".join(r.value for r in Role if r in rule.roles)
        if AGENCY not in rule.roles:
            ownership = "n/a"
        elif rule.owner_field:
            ownership = f"gateway: `{rule.owner_field}` = caller's business ID"
        elif rule.backend_owner_check:
            ownership = "funding service: the named resource must be the caller's"
        else:
            ownership = "none (no organisation's data)"
        rows.append(f"| `{method.lstrip('/')}` | {roles} | {ownership} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(policy_table())
