"""The ledger through gRPC, on SQLite and on PostgreSQL: the funding service as a real
process, called directly with the caller identity the gateway would send."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator

import grpc
import pytest
from google.protobuf import json_format
from ijh.events.v1 import events_pb2
from ijh.funding.v1 import funding_pb2 as f
from sqlalchemy import create_engine, select

from services.funding.storage import tables as t
from tests.funding.ledger_api_support import (
    AGENCY,
    ANALYST,
    COMPANY_AGENCY,
    CRITERIA,
    ESPOO,
    HELSINKI,
    OFFICER_A,
    OFFICER_B,
    OTHER_AGENCY,
    Caller,
    Ledger,
    bad_fields,
    error_info,
    fresh_postgres_database,
    good_scores,
    grant_request,
    guarantee_request,
    postgres_available,
    precondition_failure,
    precondition_types,
    rid,
    row_counts,
    sqlite_url,
    start_funding_stack,
)
from tests.funding.storage.ledger_support import business_id

OFFICER_C = Caller("officer-c", "officer")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def ledger_stack(request, nats_server, tmp_path_factory) -> Iterator[tuple[object, str]]:
    """(stack, database URL): a stack per backend; PostgreSQL in a fresh database."""
    var_dir = tmp_path_factory.mktemp(f"ledger-{request.param}")
    if request.param == "sqlite":
        stack = start_funding_stack(nats_server, var_dir)
        yield stack, sqlite_url(var_dir)
        stack.stop()
        return
    if not postgres_available():
        pytest.skip("PostgreSQL not reachable")
    with fresh_postgres_database() as url:
        stack = start_funding_stack(nats_server, var_dir, url)
        yield stack, url
        stack.stop()


@pytest.fixture(scope="module")
async def ledger(ledger_stack) -> AsyncIterator[Ledger]:
    stack, _ = ledger_stack
    async with grpc.aio.insecure_channel(stack.funding.address) as channel:
        yield Ledger(channel, stack.caller_keys)


@pytest.fixture
def db_url(ledger_stack) -> str:
    return ledger_stack[1]


async def _decide(ledger: Ledger, name: str, decision=f.DECISION_APPROVE,
                  caller: Caller = OFFICER_B, request_id: str | None = None,
                  reason: str = "meets the rules"):
    return await ledger.call("DecideApplication", f.DecideApplicationRequest(
        request_id=request_id or rid(), name=name, decision=decision, reason=reason), caller)


async def test_every_allowed_transition_with_its_audit_and_events(ledger, db_url):
    # Guarantee 1: score, score again, approve, activate, claim.
    g1 = await ledger.to_scored(guarantee_request(), COMPANY_AGENCY)
    again = await ledger.call("RecordScores", f.RecordScoresRequest(
        request_id=rid(), name=g1, scores=good_scores()), OFFICER_C)
    assert again.application.state == f.APPLICATION_STATE_SCORED
    assert len(again.application.scores) == 2
    approved = await _decide(ledger, g1)
    assert approved.application.state == f.APPLICATION_STATE_APPROVED
    assert approved.rules_version.startswith("fund-rules/")
    assert approved.application.gross_grant_equivalent_cents > 0
    assert approved.application.decision_rules_version == approved.rules_version
    activated = await ledger.call("ActivateGuarantee", f.ActivateGuaranteeRequest(
        request_id=rid(), name=g1), OFFICER_B)
    assert activated.application.decision_rules_version == approved.rules_version
    with pytest.raises(grpc.aio.AioRpcError) as failure:  # two people pay a claim out
        await ledger.call("RecordClaim", f.RecordClaimRequest(
            request_id=rid(), name=g1, amount_cents=100_000_00, reason="supplier failed"),
            OFFICER_B)
    assert precondition_types(failure.value) == {"FOUR_EYES"}
    claimed = await ledger.call("RecordClaim", f.RecordClaimRequest(
        request_id=rid(), name=g1, amount_cents=100_000_00, reason="supplier failed"),
        OFFICER_A)
    assert claimed.application.state == f.APPLICATION_STATE_CLAIMED
    # Guarantee 2: approve, activate; expiry waits for its 60-month term (the storage
    # tests expire at its end), a claim does not. Guarantee 3 stays approved (committed).
    g2 = await ledger.to_scored(guarantee_request(), COMPANY_AGENCY)
    await _decide(ledger, g2)
    await ledger.call("ActivateGuarantee", f.ActivateGuaranteeRequest(
        request_id=rid(), name=g2), OFFICER_B)
    before = row_counts(db_url)
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await ledger.call("ExpireGuarantee", f.ExpireGuaranteeRequest(
            request_id=rid(), name=g2, reason="term ended"), OFFICER_B)
    assert precondition_types(failure.value) == {"TERM_NOT_ENDED"}
    assert "it may be expired from" in failure.value.details()
    assert row_counts(db_url) == before
    await ledger.call("RecordClaim", f.RecordClaimRequest(
        request_id=rid(), name=g2, amount_cents=100_000_00, reason="supplier failed"),
        OFFICER_A)
    g3 = await ledger.to_scored(guarantee_request(sector="energy", branch="TEM"),
                                COMPANY_AGENCY)
    await _decide(ledger, g3)
    # IJH grants: one approved (grant computed again under the rules of the day), one rejected.
    i1 = await ledger.to_scored(grant_request())
    with pytest.raises(grpc.aio.AioRpcError) as failure:  # not the grant the rules give
        await ledger.call("DecideApplication", f.DecideApplicationRequest(
            request_id=rid(), name=i1, decision=f.DECISION_APPROVE, reason="ok",
            expected_grant_cents=2_815_001), OFFICER_B)
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # no rule changed it
    assert "expected_grant_cents" in failure.value.details()
    with pytest.raises(grpc.aio.AioRpcError) as failure:  # more than the rules give
        await ledger.call("DecideApplication", f.DecideApplicationRequest(
            request_id=rid(), name=i1, decision=f.DECISION_APPROVE, reason="ok",
            grant_cents=2_815_001), OFFICER_B)
    assert precondition_types(failure.value) == {"GRANT_ABOVE_COMPUTED"}
    with pytest.raises(grpc.aio.AioRpcError) as failure:  # above indirect_cost_rate_max
        await ledger.call("DecideApplication", f.DecideApplicationRequest(
            request_id=rid(), name=i1, decision=f.DECISION_APPROVE, reason="ok",
            indirect_cost_rate="2"), OFFICER_B)
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "indirect_cost_rate" in failure.value.details()
    grant = await ledger.call("DecideApplication", f.DecideApplicationRequest(
        request_id=rid(), name=i1, decision=f.DECISION_APPROVE, reason="ok",
        expected_grant_cents=2_815_000, indirect_cost_rate="0.25"), OFFICER_B)
    assert grant.application.grant_cents == 2_815_000  # (31,500.00 + 24,800.00) x 50 %
    assert grant.rules_version.startswith("ijh-rules/") and ";fund-rules/" in grant.rules_version
    i2 = await ledger.to_scored(grant_request())
    rejected = await _decide(ledger, i2, f.DECISION_REJECT, reason="no market dialogue")
    assert rejected.application.state == f.APPLICATION_STATE_REJECTED
    # The stored grant explanation names its application and its figures as
    # ComputeGrantResponse does (claimed_cents, eligible_cents, rejected_cents).
    granted = (await ledger.call("GetApplication", f.GetApplicationRequest(
        name=i1, include_history=True), OFFICER_A)).application
    for entry in granted.history:
        if entry.action in {"submit", "approve"}:
            stored = json.loads(entry.explanation_json)["grant"]
            assert stored["application_id"] == i1, entry.action
            assert (stored["claimed_cents"], stored["eligible_cents"],
                    stored["rejected_cents"]) == (5_630_000 + 595_200, 5_630_000, 595_200)
            figures = {step["figure"] for step in stored["explanation"]}
            assert {"claimed_cents", "eligible_cents", "rejected_cents"} <= figures

    full = (await ledger.call("GetApplication", f.GetApplicationRequest(
        name=g1, include_history=True), OFFICER_A)).application
    assert [h.action for h in full.history] == [
        "create", "submit", "score", "score", "approve", "activate", "claim"]
    approve = full.history[4]
    assert (approve.actor_id, approve.actor_role, approve.reason) == \
        ("officer-b", "officer", "meets the rules")
    checks = {c["rule"]: c for c in json.loads(approve.explanation_json)["checks"]}
    assert checks["RISK_APPETITE"]["ok"] and checks["FUND_CAPACITY"]["ok"]
    risk = json.loads(approve.explanation_json)["risk"]
    assert risk["measure"] == "ES99.9" and risk["seed"] == 20180101

    status = await ledger.call("GetFundStatus", f.GetFundStatusRequest(), ANALYST)
    assert status.claims_paid_cents == 200_000_00
    assert status.capital_cents == status.paid_in_capital_cents - 200_000_00
    assert status.committed_cents == 3 * 500_000_00 - 2 * 500_000_00  # g3 only (per module)
    # Headline risk of the committed portfolio under the fund's risk model (the dated
    # parameter risk.model: BBB one-year PD 0.16 %, LGD 45 %): EL = PD x LGD x exposure.
    figures = {fig.measure: fig for fig in status.risk_figures}
    assert set(figures) == {"EL", "VaR99.9", "ES99.9"}
    assert 0 <= status.exhaustion_probability < 0.01  # one BBB guarantee vs the capital
    assert figures["EL"].value_cents == pytest.approx(0.0016 * 0.45 * 500_000_00, rel=1e-6)
    assert figures["ES99.9"].value_cents >= figures["VaR99.9"].value_cents >= 0
    assert figures["EL"].seed == 20180101
    exposure = await ledger.call("GetExposure", f.GetExposureRequest(), OFFICER_A)
    assert {(e.key, e.committed_cents) for e in exposure.sectors} >= {("energy", 500_000_00)}
    assert exposure.rules_version == status.rules_version

    # Every outbox event's data is the JSON form of its ijh.events.v1 message.
    engine = create_engine(db_url)
    with engine.connect() as conn:
        envelopes = [json.loads(r.envelope) for r in conn.execute(select(t.outbox.c.envelope))]
    engine.dispose()
    for envelope in envelopes:
        message_name = envelope["dataschema"].rsplit(".", 1)[-1]
        message = getattr(events_pb2, message_name)()
        json_format.ParseDict(envelope["data"], message)  # strict: unknown fields fail
        # ... and in the proto JSON form, as every service's events (int64 as strings,
        # no nulls), under the one source of funding events (ComputeGrant's too).
        assert json_format.MessageToDict(
            message, preserving_proto_field_name=True,
            always_print_fields_with_no_presence=True) == envelope["data"], envelope
        assert envelope["source"] == "ijh/funding"
    types = {e["type"] for e in envelopes}
    assert {"ijh.funding.application.approved", "ijh.funding.application.rejected",
            "ijh.funding.guarantee.claimed", "ijh.funding.guarantee.activated"} <= types


async def test_forbidden_transitions_name_the_rule(ledger):
    draft = (await ledger.call("CreateApplication", guarantee_request(),
                               COMPANY_AGENCY)).application
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await ledger.call("RecordClaim", f.RecordClaimRequest(
            request_id=rid(), name=draft.name, amount_cents=1, reason="x"), OFFICER_B)
    assert failure.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert precondition_types(failure.value) == {"TRANSITION"}
    assert "in state draft" in failure.value.details()
    grant = (await ledger.call("CreateApplication", grant_request(), AGENCY)).application
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await ledger.call("ActivateGuarantee", f.ActivateGuaranteeRequest(
            request_id=rid(), name=grant.name), OFFICER_B)
    assert precondition_types(failure.value) == {"TRANSITION"}
    assert "only to guarantees" in failure.value.details()
    scored = await ledger.to_scored(grant_request())
    with pytest.raises(grpc.aio.AioRpcError) as failure:  # the only scorer may not decide
        await _decide(ledger, scored, caller=OFFICER_A)
    assert precondition_types(failure.value) == {"FOUR_EYES"}
    with pytest.raises(grpc.aio.AioRpcError) as failure:  # agencies do not score
        await ledger.call("RecordScores", f.RecordScoresRequest(
            request_id=rid(), name=scored, scores=good_scores()), AGENCY)
    assert failure.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_a_score_refusal_names_every_failing_criterion(ledger, db_url):
    """Reproduction: every criterion failing made one SCORE description of ~600 bytes,
    which the error mapper cuts to 300 around " ... ": the middle criteria went unsaid.
    Now one violation per failing criterion, and a short one for the application."""
    name = (await ledger.call("CreateApplication", grant_request(), AGENCY)).application.name
    submitted = (await ledger.call("SubmitApplication", f.SubmitApplicationRequest(
        request_id=rid(), name=name), AGENCY)).application
    await ledger.call("RecordScores", f.RecordScoresRequest(
        request_id=rid(), name=name,
        scores=[f.CriterionScore(criterion=c, score="1") for c in CRITERIA]), OFFICER_A)
    before = row_counts(db_url)
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await _decide(ledger, name)
    assert failure.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert row_counts(db_url) == before
    violations = [(v.type, v.subject, v.description)
                  for v in precondition_failure(failure.value).violations]
    on = submitted.submitted_on
    assert violations == [
        ("SCORE", name, f"the officers' scores fail the rubric of its submission day {on}: "
                        "5 of its 5 criteria below their pass mark, total 5.00 < overall "
                        "pass mark 17: reject it, or whoever mistyped replaces their sheet "
                        "(ijh application score) and another officer decides"),
        *[("SCORE", f"criterion/{c}", "mean 1.00 < pass mark 3") for c in CRITERIA]]
    assert " ... " not in failure.value.details()  # the message is not cut either
    shown = (await ledger.call("GetApplication", f.GetApplicationRequest(name=name),
                               OFFICER_B)).application
    assert shown.state == f.APPLICATION_STATE_SCORED


async def test_a_retry_returns_the_first_result(ledger, db_url):
    name = await ledger.to_scored(guarantee_request(), COMPANY_AGENCY)
    key = rid()
    first = await _decide(ledger, name, request_id=key)
    await ledger.call("ActivateGuarantee", f.ActivateGuaranteeRequest(
        request_id=rid(), name=name), OFFICER_B)
    before = row_counts(db_url)
    again = await _decide(ledger, name, request_id=key)
    assert again == first  # the first answer, though the guarantee is active by now
    assert again.application.state == f.APPLICATION_STATE_APPROVED
    assert row_counts(db_url) == before
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await _decide(ledger, name, request_id=key, reason="another reason")
    assert failure.value.code() == grpc.StatusCode.ALREADY_EXISTS
    create = guarantee_request()
    made = await ledger.call("CreateApplication", create, COMPANY_AGENCY)
    assert await ledger.call("CreateApplication", create, COMPANY_AGENCY) == made


async def test_bad_input_names_each_field_and_writes_nothing(ledger, db_url):
    before = row_counts(db_url)
    bad = guarantee_request()
    bad.applicant.business_id = "1234567-0"
    bad.title = ""
    bad.branch = "XYZ"
    bad.guarantee.guarantee_rate = "1.5"
    bad.guarantee.term_months = 0
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await ledger.call("CreateApplication", bad, OFFICER_A)
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert bad_fields(failure.value) == {"applicant.business_id", "title", "branch",
                                         "guarantee.guarantee_rate", "guarantee.term_months"}
    grant = grant_request()
    grant.cost_lines[0].working_time_share = "1.2"
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await ledger.call("CreateApplication", grant, AGENCY)
    assert bad_fields(failure.value) == {"cost_lines[0].working_time_share"}
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await ledger.call("GetApplication", f.GetApplicationRequest(name="apps/1"), OFFICER_A)
    assert bad_fields(failure.value) == {"name"}
    assert row_counts(db_url) == before
    name = await ledger.to_scored(grant_request())
    before = row_counts(db_url)
    scores = good_scores()
    scores[1].score = "7"
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await ledger.call("RecordScores", f.RecordScoresRequest(
            request_id=rid(), name=name, scores=scores), OFFICER_B)
    assert bad_fields(failure.value) == {"scores[1].score"}
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await _decide(ledger, name, decision=f.DECISION_UNSPECIFIED)
    assert bad_fields(failure.value) == {"decision"}
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await _decide(ledger, name, reason="  ")
    assert bad_fields(failure.value) == {"reason"}
    assert row_counts(db_url) == before


async def test_agencies_see_only_their_own_and_anonymous_calls_are_refused(ledger):
    mine = (await ledger.call("CreateApplication", grant_request(), AGENCY)).application
    for caller in (AGENCY, OFFICER_A, ANALYST):
        got = await ledger.call("GetApplication", f.GetApplicationRequest(name=mine.name),
                                caller)
        assert got.application.applicant.business_id == HELSINKI
    # To another agency, the application and one that does not exist get the same
    # answer (code, ErrorInfo reason and words), which names no owner: names cannot be
    # probed for who has applied. Each method's answer states its own rule.
    for method, reason, rule in (
            ("GetApplication", "NOT_YOUR_APPLICATION",
             "<name> is not one of your applications: an agency reads only the "
             "applications for its own business ID"),
            ("SubmitApplication", "NOT_CREATOR",
             "only the caller who created <name> may submit it")):
        answers = set()
        for name in (mine.name, "applications/999999999"):
            request = (f.GetApplicationRequest(name=name) if method == "GetApplication"
                       else f.SubmitApplicationRequest(request_id=rid(), name=name))
            with pytest.raises(grpc.aio.AioRpcError) as failure:
                await ledger.call(method, request, OTHER_AGENCY)
            assert failure.value.code() == grpc.StatusCode.PERMISSION_DENIED, method
            info = error_info(failure.value)
            assert info is not None, method
            assert HELSINKI not in failure.value.details() + str(info)
            assert AGENCY.subject not in failure.value.details() + str(info)
            answers.add((failure.value.details().replace(name, "<name>"), info.reason,
                         info.domain, info.metadata["application"].replace(name, "<name>")))
        assert answers == {(rule, reason, "ijh", "<name>")}, (method, answers)
    # Reusing one of its own request ids tells it nothing either: the id is judged first.
    used = rid()
    await ledger.call("CreateApplication", grant_request(business=ESPOO, request_id=used),
                      OTHER_AGENCY)
    reused = []
    for name in (mine.name, "applications/999999999"):
        with pytest.raises(grpc.aio.AioRpcError) as failure:
            await ledger.call("SubmitApplication", f.SubmitApplicationRequest(
                request_id=used, name=name), OTHER_AGENCY)
        reused.append((failure.value.code(), failure.value.details()))
    assert reused[0] == reused[1], reused
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await ledger.call("ListApplications", f.ListApplicationsRequest(
            applicant_business_id=HELSINKI), OTHER_AGENCY)
    assert failure.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as failure:  # and may not create for others
        await ledger.call("CreateApplication", grant_request(business=HELSINKI), OTHER_AGENCY)
    assert failure.value.code() == grpc.StatusCode.PERMISSION_DENIED
    own = await ledger.call("ListApplications", f.ListApplicationsRequest(page_size=500),
                            AGENCY)
    assert own.applications and {a.applicant.business_id for a in own.applications} == \
        {HELSINKI}
    for method, request in [("GetApplication", f.GetApplicationRequest(name=mine.name)),
                            ("CreateApplication", grant_request()),
                            ("GetFundStatus", f.GetFundStatusRequest())]:
        with pytest.raises(grpc.aio.AioRpcError) as failure:
            await ledger.call(method, request, None)
        assert failure.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert "gateway" in failure.value.details()


async def test_an_agency_reading_an_application_it_did_not_create_hears_why_not_submit(
        ledger):
    # An officer creates an application for the agency's business: the agency reads it,
    # and may not submit it, because only its creator may. The refusal says that rule,
    # names no creator, and is the answer the agency gets for a name that does not exist.
    made = (await ledger.call("CreateApplication", grant_request(), OFFICER_A)).application
    seen = await ledger.call("GetApplication", f.GetApplicationRequest(name=made.name), AGENCY)
    assert seen.application.name == made.name
    answers = set()
    for name in (made.name, "applications/999999998"):
        with pytest.raises(grpc.aio.AioRpcError) as failure:
            await ledger.call("SubmitApplication", f.SubmitApplicationRequest(
                request_id=rid(), name=name), AGENCY)
        assert failure.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert failure.value.details() == f"only the caller who created {name} may submit it"
        assert "not one of your applications" not in failure.value.details()
        info = error_info(failure.value)
        assert OFFICER_A.subject not in failure.value.details() + str(info)
        answers.add((failure.value.details().replace(name, "<name>"), info.reason,
                     info.metadata["application"].replace(name, "<name>")))
    assert answers == {("only the caller who created <name> may submit it", "NOT_CREATOR",
                        "<name>")}
    submitted = await ledger.call("SubmitApplication", f.SubmitApplicationRequest(
        request_id=rid(), name=made.name), OFFICER_A)  # its creator may
    assert submitted.application.state == f.APPLICATION_STATE_SUBMITTED


async def test_pages_follow_their_tokens(ledger):
    owner = business_id(7_000_000)  # a business of its own
    agency = Caller("paging@example.fi", "agency", owner)
    made = [(await ledger.call("CreateApplication", grant_request(business=owner),
                               agency)).application.name for _ in range(5)]
    seen, token, pages = [], "", 0
    while True:
        page = await ledger.call("ListApplications", f.ListApplicationsRequest(
            applicant_business_id=owner, page_size=2, page_token=token), OFFICER_A)
        seen += [a.name for a in page.applications]
        pages += 1
        token = page.next_page_token
        if not token:
            break
        with pytest.raises(grpc.aio.AioRpcError) as failure:  # a token keeps its filters
            await ledger.call("ListApplications", f.ListApplicationsRequest(
                applicant_business_id=ESPOO, page_size=2, page_token=token), OFFICER_A)
        assert bad_fields(failure.value) == {"page_token"}
    assert (seen, pages) == (made, 3)
    drafts = await ledger.call("ListApplications", f.ListApplicationsRequest(
        applicant_business_id=owner, state=f.APPLICATION_STATE_SUBMITTED), agency)
    assert list(drafts.applications) == []


async def test_officers_read_and_correct_the_de_minimis_register(ledger, db_url):
    """The register through gRPC: a grant date after today is INVALID_ARGUMENT on
    granted_on; officers read every row with the room left today and correct a wrong row
    by a reversing one; no one else reads or corrects it."""
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    company = business_id(7_654_321)
    later = (datetime.now(ZoneInfo("Europe/Helsinki")) + timedelta(days=2)).date()
    before = row_counts(db_url)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await ledger.call("RecordDeMinimisAid", f.RecordDeMinimisAidRequest(
            request_id=rid(), business_id=company, granted_on=later.isoformat(),
            amount_cents=250_000_00, reference="ELY 1"), OFFICER_A)
    assert (err.value.code(), bad_fields(err.value)) == \
        (grpc.StatusCode.INVALID_ARGUMENT, {"granted_on"})
    assert row_counts(db_url) == before
    recorded = (await ledger.call("RecordDeMinimisAid", f.RecordDeMinimisAidRequest(
        request_id=rid(), business_id=company, granted_on="2025-06-01",
        amount_cents=250_000_00, reference="ELY 1"), OFFICER_A)).aid
    assert (recorded.id > 0, recorded.recorded_by, recorded.counted) == \
        (True, OFFICER_A.subject, True)
    register = await ledger.call("GetDeMinimisRegister", f.GetDeMinimisRegisterRequest(
        business_id=company), OFFICER_B)
    assert (register.ceiling_cents, register.counted_cents, register.room_cents,
            [a.id for a in register.aid]) == (300_000_00, 250_000_00, 50_000_00, [recorded.id])
    assert "2023/2831" in register.regulation and register.rules_version
    correction = (await ledger.call("CorrectDeMinimisAid", f.CorrectDeMinimisAidRequest(
        request_id=rid(), business_id=company, aid_id=recorded.id,
        reason="the declaration said €2,500"), OFFICER_B)).correction
    assert (correction.reverses_aid_id, correction.reason, correction.counted) == \
        (recorded.id, "the declaration said €2,500", False)
    register = await ledger.call("GetDeMinimisRegister", f.GetDeMinimisRegisterRequest(
        business_id=company), OFFICER_A)
    assert (register.counted_cents, register.room_cents) == (0, 300_000_00)
    assert [(a.id, a.counted, a.reversed_by_aid_id) for a in register.aid] == \
        [(recorded.id, False, correction.id), (correction.id, False, 0)]
    for caller in (COMPANY_AGENCY, ANALYST):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await ledger.call("GetDeMinimisRegister", f.GetDeMinimisRegisterRequest(
                business_id=company), caller)
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await ledger.call("CorrectDeMinimisAid", f.CorrectDeMinimisAidRequest(
            request_id=rid(), business_id=company, aid_id=recorded.id, reason="again"),
            OFFICER_A)
    assert precondition_types(err.value) == {"AID_ALREADY_CORRECTED"}


async def test_officers_correct_a_beneficiarys_kind(ledger, db_url):
    company = business_id(7_654_400)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await ledger.call("CorrectBeneficiaryKind", f.CorrectBeneficiaryKindRequest(
            request_id=rid(), business_id=company, kind=f.BENEFICIARY_KIND_PUBLIC_UNIT,
            reason="we are a municipality"), COMPANY_AGENCY)
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await ledger.call("CorrectBeneficiaryKind", f.CorrectBeneficiaryKindRequest(
            request_id=rid(), business_id=company, reason="no kind"), OFFICER_A)
    assert bad_fields(err.value) == {"kind"}
    answer = await ledger.call("CorrectBeneficiaryKind", f.CorrectBeneficiaryKindRequest(
        request_id=rid(), business_id=company, kind=f.BENEFICIARY_KIND_COMPANY,
        reason="trade register: an Oy"), OFFICER_A)
    assert (answer.kind, answer.previous_kind, answer.kind_confirmed_by) == \
        (f.BENEFICIARY_KIND_COMPANY, f.BENEFICIARY_KIND_UNSPECIFIED, OFFICER_A.subject)
    register = await ledger.call("GetDeMinimisRegister", f.GetDeMinimisRegisterRequest(
        business_id=company), OFFICER_B)
    assert (register.beneficiary_kind, register.kind_confirmed_by) == \
        (f.BENEFICIARY_KIND_COMPANY, OFFICER_A.subject)
