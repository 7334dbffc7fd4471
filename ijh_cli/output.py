"""Answers for people (rich tables on stdout) and for machines (``--json``: the proto's
JSON form with proto field names, every field printed; 64-bit integers as strings)."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable
from decimal import Decimal, InvalidOperation

from google.protobuf import json_format
from ijh.funding.v1 import funding_pb2
from ijh.risk.v1 import risk_pb2
from rich.console import Console
from rich.table import Table
from rich.text import Text

# No markup: figures, notes and messages come from the services and may hold brackets
# ("E[payout]") that rich would take for style tags and drop. Styles go by argument.
console = Console(highlight=False, soft_wrap=False, markup=False,
                  width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True, highlight=False, markup=False)


def as_dict(message) -> dict:
    return json_format.MessageToDict(message, preserving_proto_field_name=True,
                                     always_print_fields_with_no_presence=True)


def print_json(payload) -> None:
    """One JSON document on stdout (a message, or a dict of messages)."""
    if not isinstance(payload, dict):
        payload = as_dict(payload)
    else:
        payload = {k: as_dict(v) if hasattr(v, "DESCRIPTOR") else v for k, v in payload.items()}
    sys.stdout.write(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def eur(cents: float | int) -> str:
    """Euros from cents, with thousands separators: €28,150.00."""
    if isinstance(cents, int):
        sign = "-" if cents < 0 else ""
        whole, part = divmod(abs(cents), 100)
        return f"{sign}€{whole:,}.{part:02d}"
    sign = "-" if cents < 0 else ""
    return f"{sign}€{abs(cents) / 100:,.0f}"


def exact_eur(cents: Decimal) -> str:
    """Euros from a figure in cents that may have decimals (an exact grant before its
    rounding, 3417000.50 cents), every digit kept: €34,170.005."""
    value = cents.scaleb(-2)
    cent = Decimal("0.01")
    value = value.quantize(cent) if value == value.quantize(cent) else value.normalize()
    return f"{'-' if value < 0 else ''}€{abs(value):,f}"


def figure(name: str, value) -> tuple[str, str]:
    """A figure of an explanation as people read it: one in cents (``salary_cents``,
    ``exact_cents=3000000.000``) in euros, exactly (``exact_cents=€30,000.00``; the name
    stays the formula's, and ``eligible`` beside ``eligible_cents`` is another figure);
    anything else as it came."""
    text = str(value)
    if name.endswith("_cents") and not isinstance(value, bool):
        try:
            cents = Decimal(text)
        except InvalidOperation:
            return name, text
        if cents.is_finite():
            return name, exact_eur(cents)
    return name, text


def est_eur(e: risk_pb2.Estimate) -> str:
    return f"{eur(e.value)} ± {eur(e.standard_error)}"


def pct(value: float, standard_error: float, decimals: int = 2) -> str:
    """A probability ± its standard error in percent. The error keeps two significant
    figures (3.2e-5 is 0.0032 %, not 0.00 %), and the value as many decimals."""
    if standard_error > 0:
        decimals = max(decimals, 1 - math.floor(math.log10(standard_error * 100)))
    return f"{value * 100:.{decimals}f}% ± {standard_error * 100:.{decimals}f}%"


def est_p(e: risk_pb2.Estimate) -> str:
    return pct(e.value, e.standard_error)


def _kv(title: str, rows: list[tuple[str, str]]) -> Table:
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for key, value in rows:
        table.add_row(key, value)
    return table


# ------------------------------------------------------------------ funding

def grant(r: funding_pb2.ComputeGrantResponse, explain: bool = False) -> None:
    console.print(_kv("IJH planning grant", [
        ("reference date", r.reference_date), ("rules version", r.rules_version),
        ("eligible", "yes" if r.eligible else "NO"),
        ("claimed", eur(r.claimed_cents)), ("eligible costs", eur(r.eligible_cents)),
        ("rejected", eur(r.rejected_cents)), ("grant rate", r.grant_rate),
        ("grant", eur(r.grant_cents))]))
    lines = Table(title="Cost lines", title_justify="left")
    for column in ("#", "category", "description", "claimed", "accepted", "rejected", "why"):
        lines.add_column(column, justify="right" if column in {"claimed", "accepted",
                                                                "rejected"} else "left",
                         overflow="fold")
    for line in r.cost_lines:
        lines.add_row(str(line.index), line.category, line.description, eur(line.claimed_cents),
                      eur(line.accepted_cents), eur(line.rejected_cents),
                      "; ".join(f"{x.reason}: {x.description}" for x in line.rejections))
    console.print(lines)
    for rejection in r.rejections:
        console.print(Text.assemble(("rejected", "bold red"),
                                    f": {rejection.reason}: {rejection.description}"))
    if explain:
        console.print(_steps([(s.figure, s.result, s.rule, s.formula,
                               [(i.name, i.value) for i in s.inputs],
                               [(p.name, p.value, p.valid_from, p.reference)
                                for p in s.parameters]) for s in r.explanation]))


def _steps(steps, title: str = "How each figure was computed") -> Table:
    """One row per figure: (figure, result, rule, formula, [(input, value)],
    [(parameter, value, valid_from, reference)]). Long words fold, never cut: an officer
    must be able to read every figure's explanation in full. Cents are shown in euros
    (``figure``); --json keeps them."""
    table = Table(title=title, title_justify="left")
    for column in ("figure", "result", "rule", "formula", "inputs", "parameters"):
        table.add_column(column, overflow="fold")
    for name, result, rule, formula, inputs, params in steps:
        table.add_row(*figure(name, result), rule, formula,
                      ", ".join("=".join(figure(n, value)) for n, value in inputs),
                      "; ".join(f"{'='.join(figure(n, value))} (from {valid_from}, {reference})"
                                for n, value, valid_from, reference in params))
    return table


def parameters(r: funding_pb2.ListParametersResponse) -> None:
    table = Table(title=f"Parameters in force on {r.reference_date} ({r.rules_version})",
                  title_justify="left")
    for column in ("name", "value", "unit", "from", "until", "reference"):
        table.add_column(column, overflow="fold")
    for p in r.parameters:
        value = p.value_json if len(p.value_json) <= 80 else p.value_json[:77] + "..."
        table.add_row(p.name, value, p.unit, p.valid_from, p.valid_until or "-", p.reference)
    console.print(table)


def _state(value: int) -> str:
    return funding_pb2.ApplicationState.Name(value).removeprefix("APPLICATION_STATE_").lower()


def _kind(value: int) -> str:
    return funding_pb2.ApplicationKind.Name(value).removeprefix("APPLICATION_KIND_").lower()


# An approval awards the grant (or the guarantee's aid); the states after it keep it.
_AWARDED = frozenset({funding_pb2.APPLICATION_STATE_APPROVED, funding_pb2.APPLICATION_STATE_ACTIVE,
                      funding_pb2.APPLICATION_STATE_CLAIMED, funding_pb2.APPLICATION_STATE_EXPIRED})
# The fund's exposure counts against its capacity in these (services' COMMITTED_STATES).
_COMMITTED = frozenset({funding_pb2.APPLICATION_STATE_APPROVED,
                        funding_pb2.APPLICATION_STATE_ACTIVE})


def _awarded(a: funding_pb2.Application) -> bool:
    return a.state in _AWARDED


def _not_awarded(a: funding_pb2.Application) -> str:
    return ("not awarded" if a.state == funding_pb2.APPLICATION_STATE_REJECTED
            else "not awarded yet")


def _commitment(a: funding_pb2.Application) -> str:
    return "committed" if a.state in _COMMITTED else "not committed"


def _amount(a: funding_pb2.Application) -> str:
    """An application's money in a list: a grant awarded or only computed, an exposure
    committed or not; never a bare figure that reads as awarded."""
    if a.HasField("grant_cents"):
        return (f"{eur(a.grant_cents)} awarded" if _awarded(a) else
                f"{eur(a.grant_cents)} computed at submission ({_not_awarded(a)})")
    if a.exposure_cents:
        return f"{eur(a.exposure_cents)} exposure ({_commitment(a)})"
    return "-"


def application(a: funding_pb2.Application, history: bool = False) -> None:
    rows = [("name", a.name), ("state", _state(a.state)), ("kind", _kind(a.kind)),
            ("title", a.title),
            ("applicant", f"{a.applicant.name} ({a.applicant.business_id}, "
                          f"{a.applicant.kind})"),
            ("sector / branch", f"{a.sector or '-'} / {a.branch or '-'}")]
    if a.procurement_kind:
        rows.append(("procurement kind", a.procurement_kind))
    if a.HasField("grant_cents"):
        rows.append(("awarded grant", eur(a.grant_cents)) if _awarded(a) else
                    ("grant computed at submission", f"{eur(a.grant_cents)} "
                                                     f"({_not_awarded(a)})"))
    if a.kind == funding_pb2.APPLICATION_KIND_GUARANTEE:
        g = a.guarantee
        rows += [("guaranteed amount", eur(g.amount_cents)),
                 ("rate / fee", f"{g.guarantee_rate} / {g.fee_rate} a year"),
                 ("cap", eur(g.cap_cents)),
                 ("exposure", f"{eur(a.exposure_cents)} ({_commitment(a)})"),
                 ("term", f"{g.term_months} months")]
        if g.rating_class:
            rows.append(("rating class", g.rating_class))
        if a.HasField("gross_grant_equivalent_cents"):  # set by the approval
            rows.append(("de minimis aid (gross grant equivalent)",
                         eur(a.gross_grant_equivalent_cents)))
        if a.claim_paid_cents:
            rows.append(("claim paid", eur(a.claim_paid_cents)))
    if a.aid_granted_on:
        rows.append(("aid granted on", a.aid_granted_on))
    if a.decision_rules_version:
        rows.append(("decided under", a.decision_rules_version))
    if a.activated_on:
        rows.append(("in force", f"from {a.activated_on}; term ends {a.term_ends_on}"))
    rows += [("rules version", a.rules_version or "-"), ("creator", a.creator),
             ("etag", a.etag)]
    console.print(_kv(f"Application {a.name}", rows))
    if a.scores:
        table = Table(title="Score sheets", title_justify="left")
        for column in ("officer", "scores", "sheet total", "scored"):
            table.add_column(column)
        for s in a.scores:
            table.add_row(s.officer_id, ", ".join(f"{c.criterion}={c.score}" for c in s.scores),
                          _sheet_total(s), s.score_time.ToJsonString()
                          if s.HasField("score_time") else "-")
        console.print(table)
        # A sheet's total and passed are the aggregate of every sheet recorded up to it;
        # the last one recorded (a replaced sheet is re-recorded) holds today's aggregate.
        last = max(enumerate(a.scores), key=lambda i_s: (i_s[1].score_time.ToNanoseconds(),
                                                          i_s[0]))[1]
        console.print(f"aggregate of the {len(a.scores)} sheet(s): total {last.total} (the sum "
                      f"of each criterion's mean score), passed: {'yes' if last.passed else 'no'}")
    if history and a.history:
        table = Table(title="History", title_justify="left")
        for column in ("time", "action", "from", "to", "actor", "reason", "rules"):
            table.add_column(column, overflow="fold")
        for h in a.history:
            table.add_row(h.time.ToJsonString(), h.action,
                          _state(h.from_state) if h.from_state else "-", _state(h.to_state),
                          f"{h.actor_id} ({h.actor_role})", h.reason, h.rules_version)
        console.print(table)
        for h in a.history:
            why(h)


def _sheet_total(s: funding_pb2.OfficerScore) -> str:
    """The sum of one officer's own scores."""
    try:
        return f"{sum((Decimal(c.score) for c in s.scores), Decimal(0)):.2f}"
    except InvalidOperation:
        return "-"


# The audit log's explanation_json, for people: what each transition checked and
# computed. Decisions (approve, reject) get every table; submit and score entries their
# figures in a line each (the same grant and score tables again would bury the decision).

_DECISIONS = {"approve", "reject"}
_ORDER = {key: i for i, key in enumerate((
    "checks", "risk", "risk_note", "scoring", "aggregate", "grant", "gge", "de_minimis",
    "capital_cents", "exposure_cents", "position"))}


def _money(text) -> str:
    """A trace figure: whole numbers there are cents; rates and scores stay as written."""
    text = str(text)
    return eur(int(text)) if text.lstrip("-").isdigit() else text


def _yes(value) -> str:
    return "yes" if value else "NO"


def _total(g: dict, name: str) -> int:
    """A cost total of a stored grant explanation: named as in ComputeGrantResponse
    (``eligible_cents``), or ``eligible_total_cents`` in explanations stored before."""
    return g.get(f"{name}_cents", g.get(f"{name}_total_cents", 0))


def _grant_line(g: dict) -> str:
    return (f"{eur(g.get('grant_cents', 0))} = {g.get('grant_rate', '?')} × eligible "
            f"{eur(_total(g, 'eligible'))} (claimed {eur(_total(g, 'claimed'))}, rejected "
            f"{eur(_total(g, 'rejected'))}); eligible: {_yes(g.get('eligible'))}; "
            f"{g.get('rules_version', '')}")


def _score_line(s: dict) -> str:
    return (f"total {s.get('total_score', '?')} of {s.get('maximum_total', '?')} (pass mark "
            f"{s.get('overall_pass_mark', '?')}), weighted {s.get('weighted_score', '?')}; "
            f"every criterion passed: {_yes(s.get('all_criteria_passed'))}; officers "
            f"disagree: {'yes' if s.get('disagreement') else 'no'}; passed: "
            f"{_yes(s.get('passed'))}")


def why(h: funding_pb2.AuditEntry) -> None:
    """Print one audit entry's explanation: rule checks with their figures and outcome,
    the risk figure ± its standard error and seed, the score aggregation, the grant."""
    try:
        trace = json.loads(h.explanation_json) if h.explanation_json else {}
    except ValueError:
        trace = {"explanation_json": h.explanation_json}
    if not trace:
        return
    decision = h.action in _DECISIONS
    rows: list[tuple[str, str]] = []
    tables: list[Table] = []
    for key, value in sorted(trace.items(), key=lambda kv: _ORDER.get(kv[0], len(_ORDER))):
        if key in {"rules_version", "fund_rules_version", "total", "passed"}:
            continue  # in the history table, or repeated in the aggregate below
        if key in {"scoring", "aggregate"} and isinstance(value, dict):
            rows.append(("score", _score_line(value)))
            if decision:
                tables.append(_criteria(value.get("criteria", [])))
        elif key == "grant" and isinstance(value, dict):
            rows.append(("grant", _grant_line(value)))
            rejected = [f"#{line.get('index')} {r.get('reason')} {eur(r.get('amount_cents', 0))}"
                        for line in value.get("cost_lines", [])
                        for r in line.get("rejections", [])]
            if rejected:
                rows.append(("rejected", "; ".join(rejected)))
            if decision:
                tables.append(_steps(
                    [(x.get("figure", ""), x.get("result", ""), x.get("rule", ""),
                      x.get("formula", ""), list(x.get("inputs", {}).items()),
                      [(p.get("name", ""), p.get("value", ""), p.get("valid_from", ""),
                        p.get("reference", "")) for p in x.get("parameters", [])])
                     for x in value.get("explanation", [])],
                    title=f"How the grant was computed ({h.action})"))
        elif key == "checks" and isinstance(value, list):
            checks = Table(title=f"Fund rules checked ({h.action})", title_justify="left")
            for column in ("rule", "subject", "value", "limit", "result"):
                checks.add_column(column, overflow="fold",
                                  justify="right" if column in {"value", "limit"} else "left")
            for c in value:
                checks.add_row(c.get("rule", ""), c.get("subject", ""),
                               _money(c.get("value", "")), _money(c.get("limit", "")),
                               "pass" if c.get("ok") else "FAIL")
            tables.append(checks)
        elif key == "risk" and isinstance(value, dict):
            rows.append(("risk", f"{value.get('measure')} after the guarantee "
                                 f"{eur(value.get('after_cents', 0))} ± "
                                 f"{eur(value.get('standard_error_cents', 0))} (before "
                                 f"{eur(value.get('before_cents', 0))}), seed "
                                 f"{value.get('seed')}"))
        elif key == "gge" and isinstance(value, dict):
            text = (f"{eur(value['gge_cents'])} by {value.get('method')}: "
                    f"{value.get('formula')}" if "gge_cents" in value
                    else value.get("note", "not computed"))
            for reason in value.get("safe_harbour_not_applicable", []):
                text += f"; no safe harbour: {reason}"
            rows.append(("gross grant equivalent", text))
        elif key == "de_minimis" and isinstance(value, dict):
            window = value.get("window") or ["?", "?"]
            rows.append(("de minimis", f"{eur(value.get('counted_cents', 0))} counted "
                                       f"{window[0]}..{window[1]} + "
                                       f"{eur(value.get('new_aid_cents', 0))} new, ceiling "
                                       f"{eur(value.get('ceiling_cents', 0))}: within: "
                                       f"{_yes(value.get('within_ceiling'))}"))
        elif key == "decision_terms" and isinstance(value, dict):
            rate = value.get("indirect_cost_rate")
            rows.append(("decision terms", (
                f"grant {_money(value.get('grant_cents', '?'))} of the computed "
                f"{_money(value.get('computed_grant_cents', '?'))}; indirect-cost rate "
                f"{rate if rate is not None else 'each line its own'}")))
        elif key == "grant_change" and isinstance(value, dict):
            rows.append(("grant change", _grant_change(value)))
        elif key == "position" and isinstance(value, dict):
            rows.append(("committed before", ", ".join(
                f"{name} {_money(value[k])}" for name, k in (
                    ("fund", "committed_cents"), ("beneficiary", "beneficiary_committed_cents"),
                    ("sector", "sector_committed_cents"), ("branch", "branch_committed_cents"),
                    ("claims paid", "claims_paid_cents")) if k in value)))
        elif key.endswith("_cents") and isinstance(value, int):
            rows.append((key.removesuffix("_cents").replace("_", " "), eur(value)))
        elif isinstance(value, bool):
            rows.append((key.replace("_", " "), "yes" if value else "no"))
        elif value is not None:
            rows.append((key.replace("_", " "), value if isinstance(value, str)
                         else json.dumps(value, ensure_ascii=False)))
    console.print(_kv(f"Why: {h.action} ({h.time.ToJsonString()}, {h.actor_id})", rows))
    for table in tables:
        console.print(table)


def _grant_change(g: dict) -> str:
    """The approval's grant_change: the submitted grant, both dates' rules at the
    decision's rate, and what was decided."""
    def figure(node: dict) -> str:
        cents = node.get("grant_cents")
        return "none" if cents is None else _money(cents)

    rules = g.get("rules", {})
    before, after = rules.get("submission", {}), rules.get("decision", {})
    rate = rules.get("indirect_cost_rate")
    return (f"submitted {figure(g.get('submitted', {}))}; at indirect-cost rate "
            f"{rate if rate is not None else 'each line its own'} the rules of "
            f"{before.get('on', '?')} give {figure(before)}, of {after.get('on', '?')} "
            f"{figure(after)} (changed by the rules: {'yes' if g.get('changed') else 'no'}); "
            f"decided {figure(g.get('decided', {}))}")


def _criteria(criteria: list[dict]) -> Table:
    table = Table(title="Score aggregation", title_justify="left")
    for column in ("criterion", "officers' scores", "mean", "pass mark", "weight", "passed",
                   "disagreement"):
        table.add_column(column, overflow="fold")
    for c in criteria:
        table.add_row(c.get("criterion", ""), ", ".join(c.get("officer_scores", [])),
                      c.get("mean_score", ""), c.get("pass_mark", ""), c.get("weight", ""),
                      _yes(c.get("passed")), "yes" if c.get("disagreement") else "no")
    return table


def applications(r: funding_pb2.ListApplicationsResponse) -> None:
    table = Table(title=f"Applications ({len(r.applications)})", title_justify="left")
    for column in ("name", "state", "kind", "applicant", "title", "amount"):
        table.add_column(column)
    for a in r.applications:
        table.add_row(a.name, _state(a.state), _kind(a.kind), a.applicant.business_id, a.title,
                      _amount(a))
    console.print(table)
    if r.next_page_token:
        console.print(f"more: --page-token {r.next_page_token}")


def _beneficiary_kind(value: int) -> str:
    if not value:
        return "not known to the ledger"
    return funding_pb2.BeneficiaryKind.Name(value).removeprefix("BENEFICIARY_KIND_").lower()


def _aid_note(aid: funding_pb2.DeMinimisAid) -> str:
    """What a row does to the register: a correction names the row it reverses, a row
    reversed the correction that did."""
    notes = []
    if aid.HasField("reverses_aid_id"):
        notes.append(f"reverses #{aid.reverses_aid_id}")
    if aid.HasField("reversed_by_aid_id"):
        notes.append(f"reversed by #{aid.reversed_by_aid_id}")
    return ", ".join(notes) or "-"


def _aid_amount(aid: funding_pb2.DeMinimisAid) -> str:
    # A correction's amount is what it takes back.
    return ("-" if aid.HasField("reverses_aid_id") else "") + eur(aid.amount_cents)


def de_minimis_register(r: funding_pb2.GetDeMinimisRegisterResponse) -> None:
    kind = _beneficiary_kind(r.beneficiary_kind)
    console.print(_kv(f"De minimis register of {r.business_id}", [
        ("kind", kind + (f" (confirmed by {r.kind_confirmed_by})" if r.kind_confirmed_by
                         else " (declared only)" if r.beneficiary_kind else "")),
        ("regulation", r.regulation), ("rules version", r.rules_version),
        ("ceiling", eur(r.ceiling_cents)),
        ("assessed on", r.assessed_on), ("window start", r.window_start),
        ("counted", eur(r.counted_cents)), ("room left", eur(r.room_cents))]
        + ([("OVER THE CEILING BY", eur(r.over_ceiling_cents))] if r.over_ceiling_cents
           else [])))
    ceiling_breaches(r.ceiling_breaches)
    table = Table(title=f"Rows, oldest first ({len(r.aid)})", title_justify="left")
    for column in ("id", "granted on", "amount", "counted", "correction", "reference",
                   "application", "reason", "recorded by", "recorded"):
        table.add_column(column, overflow="fold", justify="right" if column in {
            "id", "amount"} else "left")
    for aid in r.aid:
        table.add_row(str(aid.id), aid.granted_on, _aid_amount(aid),
                      "yes" if aid.counted else "no", _aid_note(aid), aid.reference,
                      aid.application or "-", aid.reason or "-", aid.recorded_by or "-",
                      aid.record_time.ToJsonString() if aid.HasField("record_time") else "-")
    console.print(table)


def ceiling_breaches(breaches) -> None:
    """Grants whose window is above the ceiling of their date with the aid known now: the
    decisions that would have been refused had it all been known, for the officers
    concerned to look at again."""
    if not breaches:
        return
    table = Table(title="Grants now above the de minimis ceiling of their date "
                        "(aid declared after them)", title_justify="left")
    for column in ("aid id", "application", "granted on", "window start", "counted",
                   "ceiling", "over by"):
        table.add_column(column, justify="right" if column in {
            "aid id", "counted", "ceiling", "over by"} else "left")
    for b in breaches:
        table.add_row(str(b.aid_id), b.application or "(another grantor)", b.granted_on,
                      b.window_start, eur(b.counted_cents), eur(b.ceiling_cents),
                      eur(b.over_ceiling_cents))
    console.print(table)


def aid_rows(title: str, rows) -> None:
    """Register rows a command wrote besides its own answer (a kind correction's)."""
    table = Table(title=title, title_justify="left")
    for column in ("id", "granted on", "amount", "counted", "correction", "reference",
                   "application"):
        table.add_column(column, overflow="fold", justify="right" if column in {
            "id", "amount"} else "left")
    for aid in rows:
        table.add_row(str(aid.id), aid.granted_on, _aid_amount(aid),
                      "yes" if aid.counted else "no", _aid_note(aid), aid.reference,
                      aid.application or "-")
    console.print(table)


def aid_row(title: str, business_id: str, aid: funding_pb2.DeMinimisAid) -> None:
    rows = [("business ID", business_id), ("id", str(aid.id)), ("granted on", aid.granted_on),
            ("amount", _aid_amount(aid)), ("reference", aid.reference)]
    if aid.HasField("reverses_aid_id"):
        rows += [("reverses", f"#{aid.reverses_aid_id} (neither counts from now on)"),
                 ("reason", aid.reason)]
    rows += [("counted", "yes" if aid.counted else "no"),
             ("recorded by", aid.recorded_by or "-")]
    console.print(_kv(title, rows))


def beneficiary_kind(r: funding_pb2.CorrectBeneficiaryKindResponse) -> None:
    console.print(_kv(f"Beneficiary {r.business_id}", [
        ("kind", _beneficiary_kind(r.kind)),
        ("previous kind", _beneficiary_kind(r.previous_kind)),
        ("confirmed by", r.kind_confirmed_by or "-")]))
    if r.aid:
        aid_rows("De minimis register rows this correction wrote", r.aid)
    for application in r.aid_not_registered:
        console.print(f"note: {application} was approved while {r.business_id} was held a "
                      f"public unit and its aid amount is not known: record it with "
                      f"ijh deminimis record")


def fund_risk_horizon(model: dict | None) -> tuple[str, bool] | None:
    """What the fund's risk figures are over, from the rules' risk model (parameter
    risk.model), which the status answer does not carry: ("1 year", fees counted), or
    None when it is not known."""
    years = (model or {}).get("horizon_years")
    if isinstance(years, bool) or not isinstance(years, int | str) or \
            not str(years).isdigit():
        return None
    years = int(years)
    return (f"{years} year" + ("" if years == 1 else "s"),
            any("fee" in key for key in model))


def fund(status: funding_pb2.GetFundStatusResponse,
         exposure: funding_pb2.GetExposureResponse | None, model: dict | None = None) -> None:
    """``model``: the fund rules' risk model (risk.model) the risk figures were computed
    under, when known; it says their horizon and whether fees count."""
    console.print(_kv(f"The fund ({status.rules_version})", [
        ("paid-in capital", eur(status.paid_in_capital_cents)),
        ("claims paid", eur(status.claims_paid_cents)), ("capital", eur(status.capital_cents)),
        ("capacity", eur(status.capacity_cents)), ("committed", eur(status.committed_cents)),
        ("available", eur(status.available_cents))]))
    horizon = fund_risk_horizon(model)
    if status.risk_figures:
        over = (f"over {horizon[0]}" + ("" if horizon[1] else ", no fee income")
                if horizon else "its horizon and fees: ijh params show --rule-set fund, "
                                "risk.model")
        console.print(f"Risk of the committed guarantees under the fund's risk model ({over}):")
    for figure in status.risk_figures:
        console.print(f"  {figure.measure}: {eur(figure.value_cents)} ± "
                      f"{eur(figure.standard_error_cents)} (seed {figure.seed})")
    if status.risk_figures:
        console.print(f"  P(capital exhausted{' within ' + horizon[0] if horizon else ''}): "
                      + pct(status.exhaustion_probability,
                            status.exhaustion_probability_standard_error, 3))
    if status.risk_figures_unavailable:
        console.print(f"risk figures unavailable: {status.risk_figures_unavailable}")
    if exposure is None:
        return
    for title, groups in (("sector", exposure.sectors), ("branch", exposure.branches)):
        table = Table(title=f"Committed exposure by {title}", title_justify="left")
        for column in (title, "guarantees", "committed", "limit", "use"):
            table.add_column(column, justify="left" if column == title else "right")
        for g in groups:
            use = f"{g.committed_cents / g.limit_cents:.0%}" if g.limit_cents else "-"
            table.add_row(g.key, str(g.guarantee_count), eur(g.committed_cents),
                          eur(g.limit_cents), use)
        console.print(table)


# ------------------------------------------------------------------ risk

def _quantiles(title: str, cost: risk_pb2.OutcomeSummary, unit) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("level")
    table.add_column("value", justify="right")
    table.add_column("± SE", justify="right")
    table.add_row("mean", unit(cost.mean.value), unit(cost.mean.standard_error))
    for q in cost.quantiles:
        table.add_row(f"P{q.level * 100:g}", unit(q.value), unit(q.standard_error))
    return table


def _days(value: float) -> str:
    return f"{value:,.1f} d"


def deadline_label(deadline_days: float | None) -> str:
    return (f"P(duration > deadline {deadline_days:,g} d)" if deadline_days is not None
            else "P(duration > deadline)")


def spend_depends_on_failure(model: risk_pb2.ProcurementModel) -> bool:
    """Whether a scenario that fails spends less than one that succeeds: some cost item is
    tied to a phase or spent only on success. Otherwise every item is spent in every
    scenario, failed or not."""
    return any(item.phase or item.only_on_success for item in model.cost_items)


def failed_included(r: risk_pb2.EstimateProcurementRiskResponse,
                    model: risk_pb2.ProcurementModel) -> str:
    """What the cost figures include when some scenarios fail a phase gate and the model
    ties spend to the phases or to success: those scenarios do not spend it, so they form
    the lower peaks of the cost histogram and pull the mean and low quantiles down. When
    no item is tied to either, a failed scenario spends what a successful one does, and
    there is nothing to say."""
    if r.probability_of_failure.value <= 0 or not spend_depends_on_failure(model):
        return ""
    return (f"Every scenario counts, including those where the procurement fails a phase "
            f"gate (P(failure) {est_p(r.probability_of_failure)}): they do not spend the "
            f"cost items of the phases they do not reach or those spent only on success, so "
            f"they form the lower peaks, and the mean and every quantile include them"
            + ("; the figures '| completed' are those given that it completes."
               if r.HasField("given_completion") else "."))


def estimate(r: risk_pb2.EstimateProcurementRiskResponse, title: str,
             model: risk_pb2.ProcurementModel, deadline_days: float | None = None,
             in_file: Callable[[str], str] | None = None) -> None:
    """``in_file``: a default's model path as the model file names that field."""
    rows = [("seed", str(r.seed)),
            ("scenarios", f"{r.scenario_count:,}" + (" (stopped early)" if r.stopped_early
                                                      else "")),
            ("base estimate", eur(r.base_estimate_cents)), ("budget", eur(r.budget_cents)),
            ("P(cost > budget)", est_p(r.probability_over_budget))]
    if r.HasField("probability_over_deadline"):
        rows.append((deadline_label(deadline_days), est_p(r.probability_over_deadline)))
    rows += [(f"cost at P{r.confidence * 100:g}", est_eur(r.cost_at_confidence_cents)),
             ("contingency over base", est_eur(r.contingency_over_base_estimate_cents)),
             ("contingency over budget", est_eur(r.contingency_over_budget_cents)),
             ("P(failure)", est_p(r.probability_of_failure))]
    rows += [(f"  fails in {f.phase_name}", est_p(f.probability)) for f in r.phase_failures]
    if r.HasField("given_completion"):
        g = r.given_completion
        rows += [("given it completes:", ""),
                 ("  P(cost > budget | completed)", est_p(g.probability_over_budget)),
                 (f"  cost at P{r.confidence * 100:g} | completed",
                  est_eur(g.cost_at_confidence_cents)),
                 ("  contingency over base | completed",
                  est_eur(g.contingency_over_base_estimate_cents)),
                 ("  contingency over budget | completed",
                  est_eur(g.contingency_over_budget_cents))]
    console.print(_kv(f"Risk estimate: {title}", rows))
    console.print(_quantiles("Total cost", r.total_cost, eur))
    if failed := failed_included(r, model):
        console.print(f"note: {failed}")
    if r.duration.quantiles:
        console.print(_quantiles("Duration", r.duration, _days))
    sens = Table(title="What drives the cost (share of its variance)", title_justify="left")
    for column in ("input", "share of variance", "± SE", "rank corr. ρ", "ρ ± SE"):
        sens.add_column(column, justify="left" if column == "input" else "right")
    for s in list(r.cost_sensitivity)[:8]:
        share = (f"{s.contribution.value:.2%}", f"{s.contribution.standard_error:.2%}") \
            if s.HasField("contribution") else ("-", "-")
        sens.add_row(s.input_name, *share, f"{s.rank_correlation.value:+.3f}",
                     f"{s.rank_correlation.standard_error:.3f}")
    console.print(sens)
    console.print("share of variance: Cov(input, total)/Var(total), adding to 100 % over the "
                  "inputs; ρ: how monotonely the input moves the total, not how much.")
    if r.activity_criticality:
        crit = Table(title="Critical path", title_justify="left")
        crit.add_column("activity")
        crit.add_column("criticality", justify="right")
        for a in r.activity_criticality:
            crit.add_row(a.activity_name, est_p(a.criticality_index))
        console.print(crit)
    if r.HasField("correlation") and r.correlation.repaired:
        console.print("the correlation matrix was repaired (largest change "
                      f"{r.correlation.max_abs_change:.3f})", style="yellow")
    for note in r.notes:
        console.print(f"note: {note}")
    defaults_used(r.defaults_used, in_file)


def defaults_used(defaults, in_file: Callable[[str], str] | None = None) -> None:
    if not defaults:
        return
    table = Table(title="Defaults the service filled in", title_justify="left")
    for column in ("field", "value", "why"):
        table.add_column(column, overflow="fold")
    for d in defaults:
        table.add_row(in_file(d.field) if in_file else d.field, d.value, d.rationale)
    console.print(table)


def guarantee(r: risk_pb2.EvaluateProcurementGuaranteeResponse, title: str,
              in_file: Callable[[str], str] | None = None) -> None:
    covered = risk_pb2.CoveredLoss.Name(r.terms.covered_loss).removeprefix("COVERED_LOSS_")
    rows = [("seed", str(r.seed)), ("scenarios", f"{r.scenario_count:,}"),
            ("covers", covered.lower()), ("rate", f"{r.terms.guarantee_rate:.0%}"),
            ("cap", eur(r.terms.cap_cents)), ("deductible", eur(r.terms.deductible_cents)),
            ("guaranteed amount", eur(r.guaranteed_amount_cents)),
            ("expected loss without the guarantee", est_eur(r.expected_loss_cents)),
            ("P(payout)", est_p(r.probability_of_payout)),
            ("P(payout reaches the cap)", est_p(r.probability_payout_at_cap)),
            ("expected payout", est_eur(r.expected_payout_cents)),
            ("loss the agency keeps", est_eur(r.expected_retained_loss_cents)),
            ("break-even fee (whole term)", est_eur(r.break_even_fee_cents)),
            ("break-even fee rate (whole term, not per year)", est_p(r.break_even_fee_rate))]
    for level in r.risk_levels:
        rows.append((f"VaR {level.level:.1%}", est_eur(level.value_at_risk_cents)))
        rows.append((f"ES {level.level:.1%}", est_eur(level.expected_shortfall_cents)))
    console.print(_kv(f"Guarantee on {title}", rows))
    defaults_used(r.defaults_used, in_file)


def method_name(value: int) -> str:
    return risk_pb2.PortfolioMethod.Name(value).removeprefix("PORTFOLIO_METHOD_").lower()


def contributions_source(r: risk_pb2.PortfolioRiskResult) -> str:
    """Where the contributions come from: their own two passes (RiskContributions), whose
    ES is not the headline's (another sample, drawn without the headline's twists); the
    terminal and the report say it alike."""
    c = r.contributions
    text = (f"ES {c.level:.1%} {est_eur(c.expected_shortfall_cents)} from their own "
            f"{c.scenario_count:,} scenarios ({method_name(c.method)}, seed {r.seed})")
    headline = next((t for t in r.tail_risk if abs(t.level - c.level) < 1e-9), None)
    if headline is not None:
        text += (f", not the headline's {est_eur(headline.expected_shortfall_cents)}: the "
                 "contributions add up to their own ES")
    return text


def over(years: int) -> str:
    """The horizon a portfolio loss covers ("over 5 years"): its VaR over five years is
    not comparable with one over one year. 0: an answer from a service that did not say."""
    if not years:
        return "over the horizon"
    return f"over {years} year" + ("" if years == 1 else "s")


def loss_title(years: int) -> str:
    """Which loss a portfolio's EL, VaR and ES are of (PortfolioRiskResult says so)."""
    return (f"Fund loss {over(years)} (cumulative, after the portfolio cap, before fee "
            "income)")


def portfolio(r: risk_pb2.PortfolioRiskResult, lines: list[int] | None = None) -> None:
    """``lines``: each guarantee's line in the CSV, when the file is at hand."""
    rows = [("method", method_name(r.method)), ("seed", str(r.seed)),
            ("scenarios", f"{r.scenario_count:,}" + (" (cancelled)" if r.cancelled else "")),
            ("guarantees", f"{r.guarantee_count:,}"), ("capital", eur(r.capital_cents)),
            ("annual fee income", eur(r.annual_fee_income_cents)),
            (f"expected loss {over(r.horizon_years)}", est_eur(r.expected_loss_cents))]
    if r.portfolio_cap_cents:
        rows.append(("portfolio cap", eur(r.portfolio_cap_cents)))
    if r.effective_sample_size:
        rows.append(("effective sample size", f"{r.effective_sample_size:,.0f}"))
    if r.contributions_stopped:
        rows.append(("state", CONTRIBUTIONS_STOPPED))
    console.print(_kv("Portfolio simulation", rows))
    tail = Table(title=f"Tail risk: {loss_title(r.horizon_years)}", title_justify="left")
    for column in ("level", "VaR", "ES"):
        tail.add_column(column, justify="right")
    for t in r.tail_risk:
        tail.add_row(f"{t.level:.1%}", est_eur(t.value_at_risk_cents),
                     est_eur(t.expected_shortfall_cents))
    console.print(tail)
    years = Table(title="Probability that the capital runs out, by year", title_justify="left")
    years.add_column("year", justify="right")
    years.add_column("probability", justify="right")
    for year, p in enumerate(r.exhaustion_probability_by_year, start=1):
        years.add_row(str(year), est_p(p))
    console.print(years)
    if r.HasField("contributions"):
        c = r.contributions
        if c.scenario_count:
            console.print(f"Contributions: {contributions_source(r)}")
        for title, groups in (("sector", c.by_sector), ("branch", c.by_branch)):
            table = Table(title=f"ES {c.level:.1%} contributions by {title}",
                          title_justify="left")
            for column in (title, "ES contribution", "share"):
                table.add_column(column, justify="left" if column == title else "right")
            total = c.conditional_tail_loss_cents or 1.0
            for g in sorted(groups, key=lambda g: -g.expected_shortfall_cents.value):
                if g.expected_shortfall_cents.value:
                    table.add_row(g.name, est_eur(g.expected_shortfall_cents),
                                  f"{g.expected_shortfall_cents.value / total:.1%}")
            console.print(table)
        # As many as were asked for (simulation.top_guarantees), each at its CSV line:
        # the answer's row counts from 0, the file's lines from the header's 1.
        top = Table(title="Top guarantees by ES contribution", title_justify="left")
        for column in (("CSV line",) if lines else ()) + ("id", "ES contribution"):
            top.add_column(column)
        for g in c.top_guarantees:
            line = (str(lines[g.row]) if 0 <= g.row < len(lines) else "-",) if lines else ()
            top.add_row(*line, g.id, est_eur(g.expected_shortfall_cents))
        console.print(top)
    for note in r.notes:
        console.print(f"note: {note}")


# A run whose contributions were stopped (a cancel, a shutdown) after its simulation had
# ended: its figures are whole and final, so neither a failure nor a plain success.
CONTRIBUTIONS_STOPPED = "done; contributions not computed (stopped)"


def done_share(p: risk_pb2.SimulationProgress) -> float:
    """The share of the whole run done, for the time left: the contributions' passes come
    after all the scenarios are done. A service that does not say its phase: the
    scenarios' share."""
    if p.phase or p.done_share:
        return p.done_share
    return p.scenarios_done / p.scenarios_total if p.scenarios_total else 0.0


def phase_text(p: risk_pb2.SimulationProgress) -> str:
    """What the run is doing and how much of that is done: "contributions 40%"."""
    if p.phase == risk_pb2.SIMULATION_PHASE_CONTRIBUTIONS:
        return f"contributions {p.phase_done_share:.0%}"
    if p.phase == risk_pb2.SIMULATION_PHASE_SIMULATING:
        return f"simulating {p.phase_done_share:.0%}"
    return f"simulating {done_share(p):.0%}"


def _operation_state(o: risk_pb2.Operation) -> str:
    if not o.done:
        return "running"
    if o.HasField("error"):
        return f"failed: {o.error.message}" if o.error.code != 1 else "cancelled"
    if o.metadata.contributions_stopped or o.response.contributions_stopped:
        return CONTRIBUTIONS_STOPPED
    return "done"


def _operation_method(m: risk_pb2.PortfolioSimulationMetadata) -> str:
    return method_name(m.method) if m.method else "-"


def _operation_seed(m: risk_pb2.PortfolioSimulationMetadata) -> str:
    # An operation names its seed from its start; one from a service before that has no
    # method either, and its seed is known only from its result.
    return str(m.seed) if m.seed or m.method else "-"


def operation(o: risk_pb2.Operation) -> None:
    m = o.metadata
    rows = [("name", o.name), ("state", _operation_state(o)), ("creator", m.creator or "-"),
            ("guarantees", f"{m.guarantee_count:,}"), ("method", _operation_method(m)),
            ("seed", _operation_seed(m)), ("started", m.create_time),
            ("updated", m.update_time)]
    if m.end_time:
        rows.append(("ended", m.end_time))
    if m.HasField("progress"):
        p = m.progress
        if not o.done:
            rows.append(("phase", phase_text(p)))
        rows.append(("scenarios", f"{p.scenarios_done:,} / {p.scenarios_total:,}"))
        if p.scenarios_done:  # before the first chunk its figures are zeros, not estimates
            rows.append((f"ES {p.level:.1%} {over(m.horizon_years)} so far",
                         est_eur(p.expected_shortfall_cents)))
        if not o.done:  # known once a chunk has run; the service's, from done_share
            rows.append(("time left", f"{m.seconds_left:.0f} s" if done_share(p)
                         else "not known until the first scenarios are done"))
    console.print(_kv(f"Operation {o.name}", rows))


def operations(items) -> None:
    table = Table(title="Portfolio simulations (newest first)", title_justify="left")
    for column in ("name", "state", "guarantees", "scenarios", "method", "seed", "started",
                   "creator"):
        table.add_column(column)
    for o in items:
        m = o.metadata
        p = m.progress
        table.add_row(o.name, _operation_state(o), f"{m.guarantee_count:,}",
                      f"{p.scenarios_done:,}/{p.scenarios_total:,}", _operation_method(m),
                      _operation_seed(m), m.create_time, m.creator)
    console.print(table)
