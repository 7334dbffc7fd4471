"""Idempotent retries, refused input that writes nothing, listing with page tokens, and
the fund's position after approvals, expiries and claims."""

from __future__ import annotations

import base64
import threading
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import Engine, select, update

from services.funding.ledger.model import (
    ApplicationKind,
    ApplicationState,
    Branch,
    Decision,
    GuaranteeTerms,
)
from services.funding.storage import migrate
from services.funding.storage import tables as t
from services.funding.storage.repository import Repository
from services.shared.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from tests.funding.storage.ledger_support import (
    APPLICANT,
    COMPANY,
    GOOD,
    OFFICER_A,
    OFFICER_B,
    PUBLIC_UNIT,
    Clock,
    business_id,
    counts,
    guarantee_draft,
    rid,
    to_scored,
    to_term_end,
)

S = ApplicationState


def test_create_retry_returns_the_first_result(repo: Repository, engine: Engine) -> None:
    first = repo.create("req-1", APPLICANT, guarantee_draft())
    before = counts(engine)
    again = repo.create("req-1", APPLICANT, guarantee_draft())
    assert again == first
    assert counts(engine) == before


def test_transition_retry_returns_the_first_result_even_after_later_moves(
        repo: Repository, engine: Engine) -> None:
    app = repo.create(rid(), APPLICANT, guarantee_draft())
    submitted = repo.submit("submit-1", APPLICANT, app.id)
    repo.score(rid(), OFFICER_A, app.id, GOOD)
    before = counts(engine)
    retried = repo.submit("submit-1", APPLICANT, app.id)
    assert retried == submitted and retried.state is S.SUBMITTED
    assert counts(engine) == before
    assert repo.get(app.id).state is S.SCORED


def test_approval_retry_reserves_once(repo: Repository, engine: Engine) -> None:
    app_id = to_scored(repo, guarantee_draft())
    first = repo.decide("decide-1", OFFICER_B, app_id, Decision.APPROVE, "ok")
    committed = repo.fund_position()[0].committed_cents
    before = counts(engine)
    assert repo.decide("decide-1", OFFICER_B, app_id, Decision.APPROVE, "ok") == first
    assert counts(engine) == before
    assert repo.fund_position()[0].committed_cents == committed == 500_000_00


def test_same_request_id_with_other_content_is_refused(repo: Repository,
                                                       engine: Engine) -> None:
    app = repo.create("req-x", APPLICANT, guarantee_draft())
    before = counts(engine)
    with pytest.raises(AlreadyExists):
        repo.create("req-x", APPLICANT, guarantee_draft(amount_cents=2_000_000_00))
    with pytest.raises(AlreadyExists):
        repo.submit("req-x", APPLICANT, app.id)
    assert counts(engine) == before


def test_concurrent_duplicates_act_once(repo: Repository, engine: Engine) -> None:
    results, errors = [], []
    barrier = threading.Barrier(8)

    def create() -> None:
        barrier.wait()
        try:
            results.append(repo.create("dup", APPLICANT, guarantee_draft()))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=create) for _ in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert len({a.id for a in results}) == 1
    assert counts(engine)["applications"] == 1


def test_bad_create_names_fields_and_writes_nothing(repo: Repository, engine: Engine) -> None:
    before = counts(engine)
    bad = guarantee_draft(rate="1.5", amount_cents=-1)
    with pytest.raises(InvalidArgument) as err:
        repo.create(rid(), APPLICANT, bad)
    assert {v.field for v in err.value.violations} == {"guarantee.amount_cents",
                                                        "guarantee.guarantee_rate"}
    with pytest.raises(InvalidArgument) as err:
        repo.create("", APPLICANT, guarantee_draft())
    assert [v.field for v in err.value.violations] == ["request_id"]
    assert counts(engine) == before


def test_a_draft_does_not_fix_its_beneficiarys_kind(repo: Repository) -> None:
    """The first create request's kind fixed it for good (a draft declaring a company a
    public unit refused the company's own application); approvals now check it
    (test_storage_beneficiary_kind.py)."""
    repo.create(rid(), APPLICANT, guarantee_draft())  # declares the company
    from services.funding.ledger.model import Beneficiary, BeneficiaryKind
    from tests.funding.storage.ledger_support import COMPANY
    as_unit = Beneficiary(BeneficiaryKind.PUBLIC_UNIT, COMPANY.business_id)
    app = repo.create(rid(), APPLICANT, guarantee_draft(beneficiary=as_unit))
    assert app.beneficiary.kind is BeneficiaryKind.PUBLIC_UNIT


def test_refused_decisions_and_claims_write_nothing(repo: Repository, engine: Engine,
                                                    rules_box: dict[str, object]) -> None:
    app_id = to_scored(repo, guarantee_draft(rate="0.8"))
    rules_box["max_guarantee_rate"] = Decimal("0.5")
    before = counts(engine)
    with pytest.raises(FailedPrecondition) as err:
        repo.decide(rid(), OFFICER_B, app_id, Decision.APPROVE, "ok")
    assert [(v.type, v.subject) for v in err.value.violations] == \
        [("GUARANTEE_RATE", f"applications/{app_id}")]
    with pytest.raises(InvalidArgument) as err:
        repo.decide(rid(), OFFICER_B, app_id, Decision.APPROVE, " ")
    assert [v.field for v in err.value.violations] == ["reason"]
    assert counts(engine) == before
    del rules_box["max_guarantee_rate"]
    repo.decide(rid(), OFFICER_B, app_id, Decision.APPROVE, "ok")
    repo.activate(rid(), OFFICER_B, app_id)
    before = counts(engine)
    with pytest.raises(InvalidArgument) as err:  # exposure is 800 000.00
        repo.claim(rid(), OFFICER_B, app_id, 800_000_01, "overrun")
    assert [v.field for v in err.value.violations] == ["amount_cents"]
    with pytest.raises(NotFound):
        repo.claim(rid(), OFFICER_B, 9999, 1, "overrun")
    with pytest.raises(PermissionDenied):
        repo.claim(rid(), APPLICANT, app_id, 1, "overrun")
    assert counts(engine) == before


def test_failing_score_blocks_approval(repo: Repository, engine: Engine) -> None:
    from tests.funding.storage.ledger_support import BAD
    app_id = to_scored(repo, guarantee_draft(), scores=BAD)
    before = counts(engine)
    with pytest.raises(FailedPrecondition) as err:
        repo.decide(rid(), OFFICER_B, app_id, Decision.APPROVE, "ok")
    assert [(v.type, v.subject) for v in err.value.violations] == [
        ("SCORE", f"applications/{app_id}"), ("SCORE", "criterion/novelty")]
    assert counts(engine) == before
    assert repo.decide(rid(), OFFICER_B, app_id, Decision.REJECT, "novelty").state is S.REJECTED


def test_list_filters_and_pages(repo: Repository) -> None:
    ids = [repo.create(rid(), APPLICANT, guarantee_draft()).id for _ in range(5)]
    other = repo.create(rid(), OFFICER_A, guarantee_draft()).id
    for app_id in ids[:3]:
        repo.submit(rid(), APPLICANT, app_id)
    page, token = repo.list(owner_id=APPLICANT.id, page_size=2)
    seen = [a.id for a in page]
    while token:
        page, token = repo.list(owner_id=APPLICANT.id, page_size=2, page_token=token)
        seen += [a.id for a in page]
    assert seen == ids
    submitted, token = repo.list(state=S.SUBMITTED)
    assert [a.id for a in submitted] == ids[:3] and token == ""
    drafts, _ = repo.list(state=S.DRAFT, kind=ApplicationKind.GUARANTEE)
    assert [a.id for a in drafts] == [*ids[3:], other]
    assert repo.list(kind=ApplicationKind.IJH_GRANT) == ([], "")
    _, token = repo.list(owner_id=APPLICANT.id, page_size=2)
    with pytest.raises(InvalidArgument) as err:
        repo.list(state=S.DRAFT, page_size=2, page_token=token)
    assert [v.field for v in err.value.violations] == ["page_token"]
    with pytest.raises(InvalidArgument):
        repo.list(page_token="not-a-token")
    with pytest.raises(InvalidArgument):
        repo.list(page_size=10_000)


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


@pytest.mark.parametrize("token", [
    # Found by the API fuzzing (ListApplications through the gateway): each was INTERNAL.
    _b64('{"after": 1e400, "filter": ""}'),  # int(inf): OverflowError
    _b64("[" * 100_000),  # the JSON parser's RecursionError
    # Other shapes that are no token of this list.
    _b64('{"after": 1.5, "filter": ""}'), _b64('{"after": true, "filter": ""}'),
    _b64('{"after": "12", "filter": ""}'), _b64('{"after": 1, "filter": 7}'),
    _b64('{"after": NaN}'), _b64("[1]"), _b64('"after"'), "\u00e9t\u00e9",
])
def test_a_page_token_not_made_by_the_list_is_refused_by_name(repo: Repository,
                                                               token: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        repo.list(page_token=token)
    assert [v.field for v in err.value.violations] == ["page_token"]


def test_fund_status_and_exposures(repo: Repository, rules_box: dict[str, object]) -> None:
    # Capital 10 M€, leverage 2 → capacity 20 M€; sector limit 1 × capital, branch 0.5.
    rules_box.update(paid_in_capital_cents=10_000_000_00, max_leverage=Decimal(2),
                     branch_max_share_of_capital=Decimal("0.5"))

    def approved(n: int, amount: int, sector: str, branch: Branch) -> int:
        unit = PUBLIC_UNIT.__class__(PUBLIC_UNIT.kind, business_id(3_000_000 + n))
        app_id = to_scored(repo, guarantee_draft(beneficiary=unit, amount_cents=amount,
                                                 rate="0.5", sector=sector, branch=branch))
        repo.decide(rid(), OFFICER_B, app_id, Decision.APPROVE, "ok")
        return app_id

    a = approved(1, 4_000_000_00, "health", Branch.STM)      # exposure 2 M€
    b = approved(2, 2_000_000_00, "health", Branch.OKM)      # 1 M€
    c = approved(3, 6_000_000_00, "transport", Branch.LVM)   # 3 M€
    repo.activate(rid(), OFFICER_A, a)
    repo.activate(rid(), OFFICER_B, b)
    repo.claim(rid(), OFFICER_B, a, 1_500_000_00, "supplier failed")
    repo.activate(rid(), OFFICER_B, c)
    to_term_end(repo, c)
    repo.expire(rid(), OFFICER_B, c)
    status, portfolio, rules = repo.fund_position()
    # Capital 10 − 1.5 = 8.5 M€; capacity 17 M€; only b (1 M€) is still committed.
    assert status.claims_paid_cents == 1_500_000_00
    assert status.capital_cents == 8_500_000_00
    assert status.capacity_cents == 17_000_000_00
    assert status.committed_cents == 1_000_000_00
    assert status.available_cents == 16_000_000_00
    assert [row.application_id for row in portfolio] == [b]
    # The status comes with the rules it is under (the injected ones).
    assert (rules.paid_in_capital_cents, rules.version) == \
        (10_000_000_00, status.rules_version)
    version, sectors, branches = repo.exposure_position()
    assert version == status.rules_version
    assert [(e.key, e.committed_cents, e.limit_cents, e.guarantees) for e in sectors] == \
        [("health", 1_000_000_00, 8_500_000_00, 1)]
    assert [(e.key, e.committed_cents, e.limit_cents) for e in branches] == \
        [("OKM", 1_000_000_00, 4_250_000_00)]
    claimed = repo.get(a)
    assert (claimed.state, claimed.claim_paid_cents) == (S.CLAIMED, 1_500_000_00)


def test_guarantee_terms_round_trip_exactly(repo: Repository) -> None:
    draft = guarantee_draft(rate="0.333333", fee_rate="0.0125", amount_cents=123_456_789)
    app = repo.get(repo.create(rid(), APPLICANT, draft).id)
    assert app.guarantee == GuaranteeTerms(123_456_789, Decimal("0.333333"), 10_000_000_00,
                                           Decimal("0.0125"), 60)
    assert app.exposure_cents == 41_152_221  # floor(123 456 789 × 0.333333 = 41 152 221.8…)


def test_risk_appetite_uses_the_injected_risk_figure(engine: Engine, clock) -> None:  # type: ignore[no-untyped-def]
    from services.funding.ledger.fund_rules import FundRules, PortfolioRow, RiskFigures
    from tests.funding.storage.ledger_support import FakeRules, roomy_rules

    seen: list[tuple[list[int], int]] = []

    def incremental_risk(rows: list[PortfolioRow], candidate: PortfolioRow,
                         capital_cents: int, rules: FundRules) -> RiskFigures:
        seen.append(([r.application_id for r in rows], candidate.application_id))
        # A stand-in "ES": the total exposure after the candidate (every guarantee lost).
        return RiskFigures("ES99.9", sum(r.exposure_cents for r in rows)
                           + candidate.exposure_cents, seed=7)

    # Capital €1 m, appetite 0.8 → ES may reach €800 000; each exposure is €500 000.
    repo = Repository(engine, ijh_rules=FakeRules(), clock=clock,
                      incremental_risk=incremental_risk,
                      fund_rules=lambda on: roomy_rules(on, paid_in_capital_cents=1_000_000_00,
                                                        risk_appetite_ratio=Decimal("0.8")))
    first = to_scored(repo, guarantee_draft(beneficiary=PUBLIC_UNIT))
    second = to_scored(repo, guarantee_draft(beneficiary=PUBLIC_UNIT))
    repo.decide(rid(), OFFICER_B, first, Decision.APPROVE, "ok")
    before = counts(engine)
    with pytest.raises(FailedPrecondition) as err:
        repo.decide(rid(), OFFICER_B, second, Decision.APPROVE, "ok")
    assert [(v.type, v.subject) for v in err.value.violations] == [("RISK_APPETITE", "fund")]
    assert counts(engine) == before
    assert seen == [([], first), ([first], second)]
    trace = repo.audit_log(first)[-1].trace
    figures = {k: v for k, v in trace["risk"].items() if k != "inputs"}
    assert figures == {"measure": "ES99.9", "after_cents": 500_000_00,
                       "before_cents": None, "standard_error_cents": 0, "seed": 7}
    assert (trace["risk"]["inputs"]["portfolio_ids"],
            trace["risk"]["inputs"]["candidate_id"]) == ([], first)


def test_the_risk_check_is_told_the_capital_left_after_claims(engine: Engine, clock) -> None:  # type: ignore[no-untyped-def]
    """The risk service simulates the fund against the capital the fund rules use
    (paid-in − claims paid, as GetFundStatus shows it), read in the approval's own
    transaction, not the paid-in capital."""
    from services.funding.ledger.fund_rules import FundRules, PortfolioRow, RiskFigures
    from tests.funding.storage.ledger_support import FakeRules, roomy_rules

    told: list[int] = []

    def incremental_risk(rows: list[PortfolioRow], candidate: PortfolioRow,
                         capital_cents: int, rules: FundRules) -> RiskFigures:
        told.append(capital_cents)
        return RiskFigures("ES99.9", 0, seed=7)

    repo = Repository(engine, ijh_rules=FakeRules(), clock=clock,
                      incremental_risk=incremental_risk,
                      fund_rules=lambda on: roomy_rules(on, paid_in_capital_cents=1_000_000_00,
                                                        max_leverage=Decimal(5)))
    first = to_scored(repo, guarantee_draft(beneficiary=PUBLIC_UNIT))
    repo.decide(rid(), OFFICER_B, first, Decision.APPROVE, "ok")
    repo.activate(rid(), OFFICER_A, first)
    repo.claim(rid(), OFFICER_B, first, 300_000_00, "supplier failed")
    second = to_scored(repo, guarantee_draft(beneficiary=PUBLIC_UNIT))
    repo.decide(rid(), OFFICER_B, second, Decision.APPROVE, "ok")
    assert told == [1_000_000_00, 700_000_00]
    assert repo.fund_position()[0].capital_cents == 700_000_00
    assert repo.audit_log(second)[-1].trace["capital_cents"] == 700_000_00


def test_a_retry_of_a_result_stored_before_the_later_fields_answers_them(
        repo: Repository, engine: Engine, clock: Clock) -> None:
    """Reproduction: a request answered before migrations 0007-0009 kept its result
    without activated_on, decision_rules_version and submitted_on; its retry answered an
    approved application with no decision rules version and a submitted one with no
    submission date. Migration 0010 fills them in from the application, as they stood at
    the time of the result (immutable once set): none before submission, no decision
    version before the decision, no activation date before activation."""
    app = repo.create("old-create", APPLICANT, guarantee_draft())
    firsts = {"old-create": app, "old-submit": repo.submit("old-submit", APPLICANT, app.id),
              "old-score": repo.score("old-score", OFFICER_A, app.id, GOOD),
              "old-decide": repo.decide("old-decide", OFFICER_B, app.id, Decision.APPROVE,
                                        "ok")}
    clock.set_date(date(2025, 4, 2))
    firsts["old-activate"] = repo.activate("old-activate", OFFICER_B, app.id)
    assert firsts["old-activate"].activated_on == date(2025, 4, 2)
    aid = repo.record_aid("old-aid", OFFICER_A, COMPANY.business_id, date(2025, 3, 1),
                          1_00, "not an application")
    with engine.connect() as conn:
        aid_result = conn.execute(select(t.requests.c.result).where(
            t.requests.c.request_id == "old-aid")).scalar_one()
    # The results as the code before migration 0007 stored them.
    migrate.downgrade(engine, "0009_submitted_on")
    later = ("activated_on", "decision_rules_version", "submitted_on")
    with engine.begin() as conn:
        for request_id, result in conn.execute(select(t.requests.c.request_id,
                                                      t.requests.c.result)).all():
            conn.execute(update(t.requests).where(t.requests.c.request_id == request_id)
                         .values(result={k: v for k, v in result.items() if k not in later}))
    migrate.upgrade(engine)
    before = counts(engine)
    retried = {
        "old-create": repo.create("old-create", APPLICANT, guarantee_draft()),
        "old-submit": repo.submit("old-submit", APPLICANT, app.id),
        "old-score": repo.score("old-score", OFFICER_A, app.id, GOOD),
        "old-decide": repo.decide("old-decide", OFFICER_B, app.id, Decision.APPROVE, "ok"),
        "old-activate": repo.activate("old-activate", OFFICER_B, app.id)}
    assert retried == firsts
    assert repo.record_aid("old-aid", OFFICER_A, COMPANY.business_id, date(2025, 3, 1),
                           1_00, "not an application") == aid
    with engine.connect() as conn:  # no application: left alone
        assert conn.execute(select(t.requests.c.result).where(
            t.requests.c.request_id == "old-aid")).scalar_one() == aid_result
    assert [(a.submitted_on, a.decision_rules_version != "", a.activated_on)
            for a in retried.values()] == [
        (None, False, None), (date(2025, 3, 14), False, None),
        (date(2025, 3, 14), False, None), (date(2025, 3, 14), True, None),
        (date(2025, 3, 14), True, date(2025, 4, 2))]
    assert counts(engine) == before
