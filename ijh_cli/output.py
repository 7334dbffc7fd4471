"""Answers for people (rich tables on stdout) and for machines (``--json``: the proto's
JSON form with proto field names, every field printed; 64-bit integers as strings)."""

from __future__ import annotations

import json
import sys

from google.protobuf import json_format
from ijh.funding.v1 import funding_pb2
from ijh.risk.v1 import risk_pb2
from rich.console import Console
from rich.table import Table

console = Console(highlight=False, soft_wrap=False,
                  width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True, highlight=False)


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


def est_eur(e: risk_pb2.Estimate) -> str:
    return f"{eur(e.value)} ± {eur(e.standard_error)}"


def est_p(e: risk_pb2.Estimate) -> str:
    return f"{e.value:.2%} ± {e.standard_error:.2%}"


def _kv(title: str, rows: list[tuple[str, str]]) -> Table:
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
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
                                                                "rejected"} else "left")
    for line in r.cost_lines:
        lines.add_row(str(line.index), line.category, line.description, eur(line.claimed_cents),
                      eur(line.accepted_cents), eur(line.rejected_cents),
                      "; ".join(f"{x.reason}: {x.description}" for x in line.rejections))
    console.print(lines)
    for rejection in r.rejections:
        console.print(f"[bold red]rejected[/]: {rejection.reason}: {rejection.description}")
    if explain:
        steps = Table(title="How each figure was computed", title_justify="left")
        for column in ("figure", "result", "rule", "formula", "inputs", "parameters"):
            steps.add_column(column)
        for s in r.explanation:
            steps.add_row(s.figure, s.result, s.rule, s.formula,
                          ", ".join(f"{i.name}={i.value}" for i in s.inputs),
                          "; ".join(f"{p.name}={p.value} (from {p.valid_from}, {p.reference})"
                                    for p in s.parameters))
        console.print(steps)


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


def application(a: funding_pb2.Application, history: bool = False) -> None:
    rows = [("name", a.name), ("state", _state(a.state)), ("kind", _kind(a.kind)),
            ("title", a.title),
            ("applicant", f"{a.applicant.name} ({a.applicant.business_id}, "
                          f"{a.applicant.kind})"),
            ("sector / branch", f"{a.sector or '-'} / {a.branch or '-'}")]
    if a.procurement_kind:
        rows.append(("procurement kind", a.procurement_kind))
    if a.HasField("grant_cents"):
        rows.append(("grant", eur(a.grant_cents)))
    if a.kind == funding_pb2.APPLICATION_KIND_GUARANTEE:
        g = a.guarantee
        rows += [("guaranteed amount", eur(g.amount_cents)),
                 ("rate / fee", f"{g.guarantee_rate} / {g.fee_rate} a year"),
                 ("exposure", eur(a.exposure_cents)), ("term", f"{g.term_months} months")]
        if a.claim_paid_cents:
            rows.append(("claim paid", eur(a.claim_paid_cents)))
    if a.aid_granted_on:
        rows.append(("aid granted on", a.aid_granted_on))
    rows += [("rules version", a.rules_version or "-"), ("creator", a.creator),
             ("etag", a.etag)]
    console.print(_kv(f"Application {a.name}", rows))
    if a.scores:
        table = Table(title="Score sheets", title_justify="left")
        for column in ("officer", "scores", "total so far", "passed"):
            table.add_column(column)
        for s in a.scores:
            table.add_row(s.officer_id, ", ".join(f"{c.criterion}={c.score}" for c in s.scores),
                          s.total, "yes" if s.passed else "no")
        console.print(table)
    if history and a.history:
        table = Table(title="History", title_justify="left")
        for column in ("time", "action", "from", "to", "actor", "reason", "rules"):
            table.add_column(column, overflow="fold")
        for h in a.history:
            table.add_row(h.time.ToJsonString(), h.action,
                          _state(h.from_state) if h.from_state else "-", _state(h.to_state),
                          f"{h.actor_id} ({h.actor_role})", h.reason, h.rules_version)
        console.print(table)


def applications(r: funding_pb2.ListApplicationsResponse) -> None:
    table = Table(title=f"Applications ({len(r.applications)})", title_justify="left")
    for column in ("name", "state", "kind", "applicant", "title", "amount"):
        table.add_column(column)
    for a in r.applications:
        amount = (eur(a.grant_cents) if a.HasField("grant_cents")
                  else eur(a.exposure_cents) if a.exposure_cents else "-")
        table.add_row(a.name, _state(a.state), _kind(a.kind), a.applicant.business_id, a.title,
                      amount)
    console.print(table)
    if r.next_page_token:
        console.print(f"more: --page-token {r.next_page_token}")


def fund(status: funding_pb2.GetFundStatusResponse,
         exposure: funding_pb2.GetExposureResponse | None) -> None:
    console.print(_kv(f"The fund ({status.rules_version})", [
        ("paid-in capital", eur(status.paid_in_capital_cents)),
        ("claims paid", eur(status.claims_paid_cents)), ("capital", eur(status.capital_cents)),
        ("capacity", eur(status.capacity_cents)), ("committed", eur(status.committed_cents)),
        ("available", eur(status.available_cents))]))
    for figure in status.risk_figures:
        console.print(f"{figure.measure}: {eur(figure.value_cents)} ± "
                      f"{eur(figure.standard_error_cents)} (seed {figure.seed})")
    if status.risk_figures:
        console.print(f"P(capital exhausted): {status.exhaustion_probability:.3%} ± "
                      f"{status.exhaustion_probability_standard_error:.3%}")
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


def estimate(r: risk_pb2.EstimateProcurementRiskResponse, title: str) -> None:
    rows = [("seed", str(r.seed)),
            ("scenarios", f"{r.scenario_count:,}" + (" (stopped early)" if r.stopped_early
                                                      else "")),
            ("base estimate", eur(r.base_estimate_cents)), ("budget", eur(r.budget_cents)),
            ("P(cost > budget)", est_p(r.probability_over_budget))]
    if r.HasField("probability_over_deadline"):
        rows.append(("P(duration > deadline)", est_p(r.probability_over_deadline)))
    rows += [(f"cost at P{r.confidence * 100:g}", est_eur(r.cost_at_confidence_cents)),
             ("contingency over base", est_eur(r.contingency_over_base_estimate_cents)),
             ("contingency over budget", est_eur(r.contingency_over_budget_cents)),
             ("P(failure)", est_p(r.probability_of_failure))]
    rows += [(f"  fails in {f.phase_name}", est_p(f.probability)) for f in r.phase_failures]
    console.print(_kv(f"Risk estimate: {title}", rows))
    console.print(_quantiles("Total cost", r.total_cost, eur))
    if r.duration.quantiles:
        console.print(_quantiles("Duration", r.duration, _days))
    sens = Table(title="What drives the cost (rank correlation)", title_justify="left")
    for column in ("input", "rho", "± SE", "share"):
        sens.add_column(column, justify="left" if column == "input" else "right")
    for s in list(r.cost_sensitivity)[:8]:
        sens.add_row(s.input_name, f"{s.rank_correlation.value:+.3f}",
                     f"{s.rank_correlation.standard_error:.3f}", f"{s.variance_share:.0%}")
    console.print(sens)
    if r.activity_criticality:
        crit = Table(title="Critical path", title_justify="left")
        crit.add_column("activity")
        crit.add_column("criticality", justify="right")
        for a in r.activity_criticality:
            crit.add_row(a.activity_name, est_p(a.criticality_index))
        console.print(crit)
    if r.HasField("correlation") and r.correlation.repaired:
        console.print(f"[yellow]the correlation matrix was repaired (largest change "
                      f"{r.correlation.max_abs_change:.3f})[/]")
    defaults_used(r.defaults_used)


def defaults_used(defaults) -> None:
    if not defaults:
        return
    table = Table(title="Defaults the service filled in", title_justify="left")
    for column in ("field", "value", "why"):
        table.add_column(column, overflow="fold")
    for d in defaults:
        table.add_row(d.field, d.value, d.rationale)
    console.print(table)


def guarantee(r: risk_pb2.EvaluateProcurementGuaranteeResponse, title: str) -> None:
    covered = risk_pb2.CoveredLoss.Name(r.terms.covered_loss).removeprefix("COVERED_LOSS_")
    rows = [("seed", str(r.seed)), ("scenarios", f"{r.scenario_count:,}"),
            ("covers", covered.lower()), ("rate", f"{r.terms.guarantee_rate:.0%}"),
            ("cap", eur(r.terms.cap_cents)), ("deductible", eur(r.terms.deductible_cents)),
            ("guaranteed amount", eur(r.guaranteed_amount_cents)),
            ("P(payout)", est_p(r.probability_of_payout)),
            ("expected payout", est_eur(r.expected_payout_cents)),
            ("break-even fee", est_eur(r.break_even_fee_cents)),
            ("break-even fee rate", est_p(r.break_even_fee_rate))]
    for level in r.risk_levels:
        rows.append((f"VaR {level.level:.1%}", est_eur(level.value_at_risk_cents)))
        rows.append((f"ES {level.level:.1%}", est_eur(level.expected_shortfall_cents)))
    console.print(_kv(f"Guarantee on {title}", rows))
    defaults_used(r.defaults_used)


def method_name(value: int) -> str:
    return risk_pb2.PortfolioMethod.Name(value).removeprefix("PORTFOLIO_METHOD_").lower()


def portfolio(r: risk_pb2.PortfolioRiskResult) -> None:
    rows = [("method", method_name(r.method)), ("seed", str(r.seed)),
            ("scenarios", f"{r.scenario_count:,}" + (" (cancelled)" if r.cancelled else "")),
            ("guarantees", f"{r.guarantee_count:,}"), ("capital", eur(r.capital_cents)),
            ("annual fee income", eur(r.annual_fee_income_cents)),
            ("expected loss", est_eur(r.expected_loss_cents))]
    if r.portfolio_cap_cents:
        rows.append(("portfolio cap", eur(r.portfolio_cap_cents)))
    if r.effective_sample_size:
        rows.append(("effective sample size", f"{r.effective_sample_size:,.0f}"))
    console.print(_kv("Portfolio simulation", rows))
    tail = Table(title="Tail risk of the fund's loss", title_justify="left")
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
        top = Table(title="Top guarantees by ES contribution", title_justify="left")
        for column in ("row", "id", "ES contribution"):
            top.add_column(column)
        for g in list(c.top_guarantees)[:10]:
            top.add_row(str(g.row), g.id, est_eur(g.expected_shortfall_cents))
        console.print(top)
    for note in r.notes:
        console.print(f"note: {note}")


def _operation_state(o: risk_pb2.Operation) -> str:
    if not o.done:
        return "running"
    if o.HasField("error"):
        return f"failed: {o.error.message}" if o.error.code != 1 else "cancelled"
    return "done"


def operation(o: risk_pb2.Operation) -> None:
    m = o.metadata
    rows = [("name", o.name), ("state", _operation_state(o)), ("creator", m.creator or "-"),
            ("guarantees", f"{m.guarantee_count:,}"), ("started", m.create_time),
            ("updated", m.update_time)]
    if m.end_time:
        rows.append(("ended", m.end_time))
    if m.HasField("progress"):
        p = m.progress
        rows += [("scenarios", f"{p.scenarios_done:,} / {p.scenarios_total:,}"),
                 (f"ES {p.level:.1%} so far", est_eur(p.expected_shortfall_cents))]
        if not o.done:
            rows.append(("time left", f"{m.seconds_left:.0f} s"))
    console.print(_kv(f"Operation {o.name}", rows))


def operations(items) -> None:
    table = Table(title="Portfolio simulations (newest first)", title_justify="left")
    for column in ("name", "state", "guarantees", "scenarios", "started", "creator"):
        table.add_column(column)
    for o in items:
        p = o.metadata.progress
        table.add_row(o.name, _operation_state(o), f"{o.metadata.guarantee_count:,}",
                      f"{p.scenarios_done:,}/{p.scenarios_total:,}", o.metadata.create_time,
                      o.metadata.creator)
    console.print(table)
