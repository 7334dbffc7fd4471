"""An IJH planning grant through the ledger with the real rules core: the grant and its
explanation trace are stored at submission and recomputed at the decision (rules in
force on the decision date). Expected: 50 % of €40 000 + €20 000.01 of purchased expert
services = €30 000.005, rounded down to the cent = €30 000.00 (grant_rate and
grant_rounding parameters)."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import Engine

from services.funding.ledger.model import ApplicationState, Decision
from services.funding.rules.rulebook import rules_version
from services.funding.storage.repository import Repository
from services.shared.errors import FailedPrecondition, InvalidArgument
from tests.funding.storage.ledger_support import (
    APPLICANT,
    OFFICER_A,
    OFFICER_B,
    counts,
    grant_draft,
    real_sheet,
    rid,
)


def test_grant_is_computed_stored_and_decided(real_repo: Repository, engine: Engine) -> None:
    app = real_repo.create(rid(), APPLICANT, grant_draft())
    submitted = real_repo.submit(rid(), APPLICANT, app.id)
    assert submitted.grant_cents == 30_000_00
    assert submitted.grant_trace is not None
    assert submitted.grant_trace["grant_cents"] == 30_000_00
    assert submitted.grant_trace["application_id"] == app.name  # not ""
    assert submitted.grant_trace["eligible_cents"] == 60_000_01
    assert submitted.rules_version == rules_version(date(2025, 3, 14))
    real_repo.score(rid(), OFFICER_A, app.id, real_sheet("4"))
    before = counts(engine)
    with pytest.raises(InvalidArgument):       # off the half-point scale
        real_repo.score(rid(), OFFICER_B, app.id, real_sheet("3.3"))
    assert counts(engine) == before
    real_repo.score(rid(), OFFICER_B, app.id, real_sheet("3"))   # mean 3.5 × 5 = 17.5 ≥ 17
    decided = real_repo.decide(rid(), OFFICER_B, app.id, Decision.APPROVE, "good plan")
    assert (decided.state, decided.grant_cents) == (ApplicationState.APPROVED, 30_000_00)
    entry = real_repo.audit_log(app.id)[-1]
    assert entry.trace["scoring"]["passed"] is True
    assert entry.trace["grant"]["grant_cents"] == 30_000_00
    assert entry.trace["grant"]["application_id"] == app.name
    assert entry.rules_version.startswith(rules_version(date(2025, 3, 14)) + ";fund-rules/")


def test_a_failing_panel_blocks_the_grant(real_repo: Repository, engine: Engine) -> None:
    app = real_repo.create(rid(), APPLICANT, grant_draft())
    real_repo.submit(rid(), APPLICANT, app.id)
    real_repo.score(rid(), OFFICER_A, app.id, real_sheet("3"))  # total 15 < 17
    before = counts(engine)
    with pytest.raises(FailedPrecondition) as err:
        real_repo.decide(rid(), OFFICER_B, app.id, Decision.APPROVE, "ok")
    [violation] = err.value.violations  # no criterion fails: the total alone
    assert (violation.type, violation.subject) == ("SCORE", app.name)
    assert "0 of its 5 criteria below their pass mark, total 15.00 < overall pass mark " \
           "17:" in violation.description
    assert counts(engine) == before
