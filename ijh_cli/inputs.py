"""The three kinds of input file and the requests they become.

* a **procurement model** (YAML) -> ``EstimateProcurementRiskRequest`` /
  ``EvaluateProcurementGuaranteeRequest`` (examples/pcp_procurement.yaml);
* an **application** (YAML) -> ``ComputeGrantRequest`` / ``CreateApplicationRequest``
  (examples/ijh_application.yaml);
* a **portfolio** (CSV, one guarantee a row) with its fund, dependence and simulation
  options (YAML or flags) -> ``SimulatePortfolioRequest`` messages
  (examples/fund_portfolio.csv, examples/fund_portfolio.yaml).

Each loader returns the request(s) and a :class:`SourceMap` from proto field paths back
to the file's lines. Money is euros in the files and integer cents in the requests.
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

from ijh.funding.v1 import funding_pb2
from ijh.risk.v1 import risk_pb2

from ijh_cli.errors import USAGE, CliError
from ijh_cli.files import (
    InputFileError,
    Node,
    Problem,
    Reader,
    SourceMap,
    euros_to_cents,
    load_yaml,
)

HELSINKI = ZoneInfo("Europe/Helsinki")


def helsinki_today() -> str:
    """Today's date where the rules apply (the services date by Helsinki, too), ISO."""
    return dt.datetime.now(HELSINKI).date().isoformat()


# ------------------------------------------------------------------ vocabularies

PROCUREMENT_KINDS = {
    "new_product_or_service": risk_pb2.PROCUREMENT_KIND_NEW_PRODUCT_OR_SERVICE,
    "pre_commercial_procurement": risk_pb2.PROCUREMENT_KIND_PRE_COMMERCIAL_PROCUREMENT,
    "innovation_partnership": risk_pb2.PROCUREMENT_KIND_INNOVATION_PARTNERSHIP,
    "catalyst_procurement": risk_pb2.PROCUREMENT_KIND_CATALYST_PROCUREMENT,
}
NOVELTY_LEVELS = {
    "new_to_sector": risk_pb2.NOVELTY_LEVEL_NEW_TO_SECTOR,
    "new_in_finland": risk_pb2.NOVELTY_LEVEL_NEW_IN_FINLAND,
    "new_worldwide": risk_pb2.NOVELTY_LEVEL_NEW_WORLDWIDE,
}
COVERED_LOSSES = {
    "cost_overrun": risk_pb2.COVERED_LOSS_COST_OVERRUN,
    "loss_at_failure": risk_pb2.COVERED_LOSS_LOSS_AT_FAILURE,
}
COUNTERPARTY_KINDS = {
    "public_unit": risk_pb2.COUNTERPARTY_KIND_PUBLIC_UNIT,
    "company": risk_pb2.COUNTERPARTY_KIND_COMPANY,
}
BRANCHES = ("VNK", "UM", "OM", "SM", "PLM", "VM", "OKM", "MMM", "LVM", "TEM", "STM", "YM")
COPULAS = {"gaussian": risk_pb2.COPULA_GAUSSIAN, "student_t": risk_pb2.COPULA_STUDENT_T}
PORTFOLIO_METHODS = {
    "auto": risk_pb2.PORTFOLIO_METHOD_UNSPECIFIED,
    "monte_carlo": risk_pb2.PORTFOLIO_METHOD_MONTE_CARLO,
    "importance_sampling": risk_pb2.PORTFOLIO_METHOD_IMPORTANCE_SAMPLING,
    "semi_analytic": risk_pb2.PORTFOLIO_METHOD_SEMI_ANALYTIC,
    "creditriskplus": risk_pb2.PORTFOLIO_METHOD_CREDITRISKPLUS,
}
APPLICATION_KINDS = {
    "ijh_grant": funding_pb2.APPLICATION_KIND_IJH_GRANT,
    "guarantee": funding_pb2.APPLICATION_KIND_GUARANTEE,
}
BENEFICIARY_KINDS = {
    "public_unit": funding_pb2.BENEFICIARY_KIND_PUBLIC_UNIT,
    "company": funding_pb2.BENEFICIARY_KIND_COMPANY,
}

# ------------------------------------------------------------------ procurement model

_COST_SHAPES = {  # file word -> (proto oneof field, {file key: proto key})
    "fixed": ("fixed_cents", None),
    "most_likely": ("most_likely_cents", None),
    "triangular": ("triangular", {"min": "min_cents", "mode": "mode_cents", "max": "max_cents"}),
    "pert": ("pert", {"min": "min_cents", "mode": "mode_cents", "max": "max_cents",
                      "shape": "shape"}),
    "uniform": ("uniform", {"min": "min_cents", "max": "max_cents"}),
    "truncated_normal": ("truncated_normal", {"mean": "mean_cents",
                                              "sd": "standard_deviation_cents"}),
    "lognormal": ("lognormal", {"p10": "p10_cents", "p90": "p90_cents"}),
}
_DAY_SHAPES = {
    "fixed": ("fixed_days", None),
    "most_likely": ("most_likely_days", None),
    "triangular": ("triangular", {"min": "min_days", "mode": "mode_days", "max": "max_days"}),
    "pert": ("pert", {"min": "min_days", "mode": "mode_days", "max": "max_days",
                      "shape": "shape"}),
    "uniform": ("uniform", {"min": "min_days", "max": "max_days"}),
    "truncated_normal": ("truncated_normal", {"mean": "mean_days",
                                              "sd": "standard_deviation_days"}),
    "lognormal": ("lognormal", {"p10": "p10_days", "p90": "p90_days"}),
}


@dataclass
class ProcurementFile:
    """A procurement model file, read: the model, its options and where each field is."""

    path: Path
    title: str
    model: risk_pb2.ProcurementModel
    simulation: risk_pb2.SimulationOptions
    confidence: float
    quantile_levels: list[float]
    terms: risk_pb2.GuaranteeTerms | None
    sources: SourceMap
    guarantee_levels: list[float] = field(default_factory=list)


def _distribution(r: Reader, node: Node | None, proto_path: str, message, money: bool) -> None:
    """Fill a CostDistribution (euros) or DurationDistribution (days) from ``{shape: ...}``."""
    shapes = _COST_SHAPES if money else _DAY_SHAPES
    fields = r.mapping(node, set(shapes), "a mapping with one shape, e.g. "
                       "{triangular: {min, mode, max}}")
    if fields is None:
        return
    r.mark(proto_path, node)
    if len(fields) != 1:
        r.problem(node, f"give exactly one shape (one of {', '.join(shapes)}), "
                  f"found {len(fields)}")
        return
    (word, value), = fields.items()
    if word not in shapes:
        return
    proto_field, params = shapes[word]
    sub = f"{proto_path}.{proto_field}"
    if params is None:
        amount = (r.euros(value, sub) if money else r.number(value, sub, minimum=0.0))
        if amount is not None:
            setattr(message, proto_field, amount)
        return
    target = getattr(message, proto_field)
    target.SetInParent()
    values = r.mapping(value, set(params))
    r.mark(sub, value)
    for key, proto_key in params.items():
        child = r.get(value, values, key, required=key != "shape")
        if child is None:
            continue
        path = f"{sub}.{proto_key}"
        if key == "shape" or not money:
            number = r.number(child, path, minimum=0.0)
        else:
            number = r.euros(child, path)
        if number is not None:
            setattr(target, proto_key, number)


def _simulation(r: Reader, node: Node | None, proto_path: str,
                options: risk_pb2.SimulationOptions) -> None:
    fields = r.mapping(node, {"scenarios", "seed", "target_standard_error_eur"})
    if fields is None:
        return
    scenarios = r.integer(r.get(node, fields, "scenarios"), f"{proto_path}.scenario_count", 1)
    if scenarios is not None:
        options.scenario_count = scenarios
    seed = r.integer(r.get(node, fields, "seed"), f"{proto_path}.seed", 0, 2**64 - 1)
    if seed is not None:
        options.seed = seed
    target = r.euros(r.get(node, fields, "target_standard_error_eur"),
                     f"{proto_path}.target_standard_error_cents")
    if target is not None:
        options.target_standard_error_cents = float(target)


def load_procurement(path: Path) -> ProcurementFile:
    """Read a procurement model YAML (see examples/pcp_procurement.yaml)."""
    root = load_yaml(path)
    r = Reader(str(path))
    top = r.mapping(root, {"title", "description", "kind", "novelty", "budget_eur",
                           "deadline_days", "phases", "cost_items", "activities",
                           "risk_events", "correlations", "simulation", "confidence",
                           "quantiles", "guarantee"})
    r.raise_if_any()
    model = risk_pb2.ProcurementModel()
    m = "model"
    kind = r.choice(r.get(root, top, "kind", required=True), PROCUREMENT_KINDS, f"{m}.kind",
                    "procurement kind")
    if kind is not None:
        model.kind = kind
    novelty = r.choice(r.get(root, top, "novelty", required=True), NOVELTY_LEVELS,
                       f"{m}.novelty", "novelty level")
    if novelty is not None:
        model.novelty = novelty
    budget = r.euros(r.get(root, top, "budget_eur", required=True), f"{m}.budget_cents")
    if budget is not None:
        model.budget_cents = budget
    deadline = r.number(r.get(root, top, "deadline_days"), f"{m}.deadline_days", minimum=0.0)
    if deadline is not None:
        model.deadline_days = deadline

    for i, node in enumerate(r.sequence(r.get(root, top, "phases"))):
        p = f"{m}.phases[{i}]"
        fields = r.mapping(node, {"name", "suppliers", "pass_probability"})
        r.mark(p, node)
        phase = model.phases.add()
        name = r.text(r.get(node, fields, "name", required=True), f"{p}.name")
        phase.name = name or ""
        suppliers = r.integer(r.get(node, fields, "suppliers", required=True),
                              f"{p}.suppliers", 1)
        phase.suppliers = suppliers or 0
        q = r.probability(r.get(node, fields, "pass_probability"), f"{p}.pass_probability")
        if q is not None:
            phase.pass_probability = q

    items = r.get(root, top, "cost_items", required=True)
    for i, node in enumerate(r.sequence(items)):
        p = f"{m}.cost_items[{i}]"
        fields = r.mapping(node, {"name", "phase", "only_on_success", "cost", "description"})
        r.mark(p, node)
        item = model.cost_items.add()
        item.name = r.text(r.get(node, fields, "name", required=True), f"{p}.name") or ""
        item.phase = r.text(r.get(node, fields, "phase"), f"{p}.phase") or ""
        item.only_on_success = bool(r.boolean(r.get(node, fields, "only_on_success"),
                                              f"{p}.only_on_success"))
        _distribution(r, r.get(node, fields, "cost", required=True), f"{p}.distribution",
                      item.distribution, money=True)

    for i, node in enumerate(r.sequence(r.get(root, top, "activities"))):
        p = f"{m}.activities[{i}]"
        fields = r.mapping(node, {"name", "duration", "after", "description"})
        r.mark(p, node)
        activity = model.activities.add()
        activity.name = r.text(r.get(node, fields, "name", required=True), f"{p}.name") or ""
        _distribution(r, r.get(node, fields, "duration", required=True), f"{p}.duration",
                      activity.duration, money=False)
        activity.predecessors.extend(r.names(r.get(node, fields, "after"), f"{p}.predecessors"))

    for i, node in enumerate(r.sequence(r.get(root, top, "risk_events"))):
        p = f"{m}.risk_events[{i}]"
        fields = r.mapping(node, {"name", "probability", "cost", "delay", "delays",
                                  "description"})
        r.mark(p, node)
        event = model.risk_events.add()
        event.name = r.text(r.get(node, fields, "name", required=True), f"{p}.name") or ""
        q = r.probability(r.get(node, fields, "probability", required=True),
                          f"{p}.probability")
        event.probability = q or 0.0
        cost = r.get(node, fields, "cost")
        if cost is not None:
            _distribution(r, cost, f"{p}.cost_impact", event.cost_impact, money=True)
        delay = r.get(node, fields, "delay")
        if delay is not None:
            _distribution(r, delay, f"{p}.delay", event.delay, money=False)
        event.delayed_activities.extend(r.names(r.get(node, fields, "delays"),
                                                f"{p}.delayed_activities"))

    for i, node in enumerate(r.sequence(r.get(root, top, "correlations"))):
        p = f"{m}.correlations[{i}]"
        fields = r.mapping(node, {"inputs", "matrix"})
        r.mark(p, node)
        block = model.correlations.add()
        names = r.names(r.get(node, fields, "inputs", required=True), f"{p}.input_names")
        block.input_names.extend(names)
        matrix = r.get(node, fields, "matrix", required=True)
        r.mark(f"{p}.rank_correlations", matrix)
        rows = r.sequence(matrix, "a list of rows")
        if matrix is not None and rows and len(rows) != len(names):
            r.problem(matrix, f"must have one row per input ({len(names)}), found {len(rows)}")
        for j, row in enumerate(rows):
            cells = r.sequence(row, "a row of numbers")
            if row.is_list and len(cells) != len(names):
                r.problem(row, f"must have {len(names)} numbers, found {len(cells)}")
            for cell in cells:
                value = r.number(cell, f"{p}.rank_correlations[{j * len(names)}]", -1.0, 1.0)
                block.rank_correlations.append(value if value is not None else 0.0)

    simulation = risk_pb2.SimulationOptions()
    _simulation(r, r.get(root, top, "simulation"), "simulation", simulation)
    confidence = r.number(r.get(root, top, "confidence"), "confidence", 0.0, 1.0) or 0.0
    levels = []
    for i, node in enumerate(r.sequence(r.get(root, top, "quantiles"))):
        level = r.number(node, f"quantile_levels[{i}]", 0.0, 1.0)
        if level is not None:
            levels.append(level)

    terms = None
    guarantee_levels: list[float] = []
    g = r.get(root, top, "guarantee")
    if g is not None:
        fields = r.mapping(g, {"covers", "rate", "cap_eur", "deductible_eur", "levels"})
        terms = risk_pb2.GuaranteeTerms()
        r.mark("terms", g)
        covered = r.choice(r.get(g, fields, "covers", required=True), COVERED_LOSSES,
                           "terms.covered_loss", "covered loss")
        terms.covered_loss = covered or 0
        terms.guarantee_rate = r.number(r.get(g, fields, "rate", required=True),
                                        "terms.guarantee_rate", 0.0, 1.0) or 0.0
        terms.cap_cents = r.euros(r.get(g, fields, "cap_eur", required=True),
                                  "terms.cap_cents") or 0
        terms.deductible_cents = r.euros(r.get(g, fields, "deductible_eur"),
                                         "terms.deductible_cents") or 0
        for i, node in enumerate(r.sequence(r.get(g, fields, "levels"))):
            level = r.number(node, f"levels[{i}]", 0.0, 1.0)
            if level is not None:
                guarantee_levels.append(level)
    title_node = r.get(root, top, "title")
    title = r.text(title_node) if title_node is not None else path.stem
    r.raise_if_any()
    return ProcurementFile(path, title or path.stem, model, simulation, confidence, levels,
                           terms, r.sources, guarantee_levels)


# ------------------------------------------------------------------ applications

@dataclass
class ApplicationFile:
    """An application file, read."""

    path: Path
    kind: int
    title: str
    reference_date: str
    applicant: funding_pb2.Applicant
    beneficiary_kind: int
    sector: str
    branch: str
    procurement_kind: str
    cost_lines: list[funding_pb2.CostLine]
    guarantee: funding_pb2.GuaranteeTerms | None
    sources: SourceMap

    def grant_request(self, reference_date: str | None = None,
                      explain: bool = False) -> funding_pb2.ComputeGrantRequest:
        # The service needs a date: a file without one (as agencies write them) is
        # computed under today's rules, as --help says.
        return funding_pb2.ComputeGrantRequest(
            reference_date=reference_date or self.reference_date or helsinki_today(),
            applicant=self.applicant,
            procurement_kind=self.procurement_kind, cost_lines=self.cost_lines,
            include_explanation=explain)

    def create_request(self, request_id: str) -> funding_pb2.CreateApplicationRequest:
        request = funding_pb2.CreateApplicationRequest(
            request_id=request_id, kind=self.kind, title=self.title, applicant=self.applicant,
            beneficiary_kind=self.beneficiary_kind, sector=self.sector, branch=self.branch,
            procurement_kind=self.procurement_kind, cost_lines=self.cost_lines)
        if self.guarantee is not None:
            request.guarantee.CopyFrom(self.guarantee)
        return request


_COST_LINE_MONEY = {"amount_eur": "amount_cents", "vat_eur": "vat_cents",
                    "salary_eur": "salary_cents"}


def load_application(path: Path) -> ApplicationFile:
    """Read an application YAML (see examples/ijh_application.yaml)."""
    root = load_yaml(path)
    r = Reader(str(path))
    top = r.mapping(root, {"kind", "title", "reference_date", "applicant", "beneficiary_kind",
                           "sector", "branch", "procurement_kind", "cost_lines", "guarantee",
                           "description"})
    r.raise_if_any()
    kind = r.choice(r.get(root, top, "kind", required=True), APPLICATION_KINDS, "kind",
                    "application kind")
    title = r.text(r.get(root, top, "title", required=True), "title") or ""
    reference_node = r.get(root, top, "reference_date")
    reference = r.iso_date(reference_node, "reference_date") or ""
    applicant = funding_pb2.Applicant()
    a_node = r.get(root, top, "applicant", required=True)
    a_fields = r.mapping(a_node, {"kind", "business_id", "name"})
    r.mark("applicant", a_node)
    for key in ("kind", "business_id", "name"):
        value = r.text(r.get(a_node, a_fields, key, required=key != "name"),
                       f"applicant.{key}")
        setattr(applicant, key, value or "")
    beneficiary = r.choice(r.get(root, top, "beneficiary_kind"), BENEFICIARY_KINDS,
                           "beneficiary_kind", "beneficiary kind") or 0
    sector = r.text(r.get(root, top, "sector"), "sector") or ""
    branch_node = r.get(root, top, "branch")
    branch = ""
    if branch_node is not None:
        branch = r.choice(branch_node, {b.lower(): b for b in BRANCHES}, "branch",
                          "administrative branch") or ""
    procurement_kind = r.text(r.get(root, top, "procurement_kind",
                                    required=kind == funding_pb2.APPLICATION_KIND_IJH_GRANT),
                              "procurement_kind") or ""
    if procurement_kind and procurement_kind not in PROCUREMENT_KINDS:
        r.problem(top["procurement_kind"], f"unknown procurement kind {procurement_kind!r} "
                  f"(expected one of {', '.join(PROCUREMENT_KINDS)})")
    lines = []
    allowed = {"category", "description", "working_time_share", "indirect_cost_rate",
               *_COST_LINE_MONEY}
    for i, node in enumerate(r.sequence(r.get(root, top, "cost_lines"))):
        p = f"cost_lines[{i}]"
        fields = r.mapping(node, allowed)
        r.mark(p, node)
        line = funding_pb2.CostLine()
        # The category's vocabulary and eligibility are the rules' (dated): the service
        # judges it, and its answer is mapped back to this line.
        line.category = r.text(r.get(node, fields, "category", required=True),
                               f"{p}.category") or ""
        line.description = r.text(r.get(node, fields, "description"), f"{p}.description") or ""
        for key, proto_key in _COST_LINE_MONEY.items():
            cents = r.euros(r.get(node, fields, key), f"{p}.{proto_key}")
            if cents is not None:
                setattr(line, proto_key, cents)
        for key in ("working_time_share", "indirect_cost_rate"):
            value = r.decimal(r.get(node, fields, key), f"{p}.{key}")
            if value is not None:
                setattr(line, key, value)
        lines.append(line)
    terms = None
    g = r.get(root, top, "guarantee", required=kind == funding_pb2.APPLICATION_KIND_GUARANTEE)
    if g is not None:
        fields = r.mapping(g, {"amount_eur", "guarantee_rate", "cap_eur", "fee_rate",
                               "term_months", "rating_class"})
        r.mark("guarantee", g)
        terms = funding_pb2.GuaranteeTerms(
            amount_cents=r.euros(r.get(g, fields, "amount_eur", required=True),
                                 "guarantee.amount_cents") or 0,
            guarantee_rate=r.decimal(r.get(g, fields, "guarantee_rate", required=True),
                                     "guarantee.guarantee_rate") or "",
            cap_cents=r.euros(r.get(g, fields, "cap_eur", required=True),
                              "guarantee.cap_cents") or 0,
            fee_rate=r.decimal(r.get(g, fields, "fee_rate", required=True),
                               "guarantee.fee_rate") or "",
            term_months=r.integer(r.get(g, fields, "term_months", required=True),
                                  "guarantee.term_months", 1, 360) or 0,
            rating_class=r.text(r.get(g, fields, "rating_class"),
                                "guarantee.rating_class") or "")
    r.raise_if_any()
    return ApplicationFile(path, kind, title, reference, applicant, beneficiary, sector, branch,
                           procurement_kind, lines, terms, r.sources)


def load_scores(path: Path) -> tuple[list[funding_pb2.CriterionScore], str, SourceMap]:
    """A score sheet YAML: ``scores: {criterion: "3.5", ...}`` (0..5 in half points) and an
    optional ``reason``."""
    root = load_yaml(path)
    r = Reader(str(path))
    top = r.mapping(root, {"scores", "reason"})
    scores_node = r.get(root, top, "scores", required=True)
    fields = r.mapping(scores_node) or {}
    out = []
    for i, (criterion, node) in enumerate(fields.items()):
        r.mark(f"scores[{i}]", node)
        value = r.decimal(node, f"scores[{i}].score")
        out.append(funding_pb2.CriterionScore(criterion=criterion, score=value or ""))
    reason = r.text(r.get(root, top, "reason"), "reason") or ""
    r.raise_if_any()
    return out, reason, r.sources


# ------------------------------------------------------------------ portfolios

CSV_COLUMNS = ("id", "exposure_eur", "probability_of_default", "loss_given_default", "lgd_std",
               "guarantee_rate", "cap_eur", "deductible_eur", "fee_rate", "sector", "branch",
               "counterparty_kind")
CSV_REQUIRED = ("id", "exposure_eur", "probability_of_default", "loss_given_default",
                "guarantee_rate", "fee_rate", "sector", "branch", "counterparty_kind")
_CSV_PROTO = {"exposure_eur": "exposure_cents", "lgd_std": "loss_given_default_std",
              "cap_eur": "cap_cents", "deductible_eur": "deductible_cents"}
# A row's factor loadings come from its sector (the CSV has no column of them).
_PROTO_CSV = {v: k for k, v in _CSV_PROTO.items()} | {"factor_loadings": "sector"}


@dataclass
class PortfolioFile:
    """A portfolio CSV, read: one guarantee per data row, with its line number."""

    path: Path
    guarantees: list[risk_pb2.Guarantee]
    lines: list[int]  # file line of each guarantee

    def locate(self, proto_path: str) -> tuple[int, str] | None:
        """``guarantees[17].branch`` -> (line, column) of the CSV."""
        if not proto_path.startswith("guarantees["):
            return None
        index_text, _, rest = proto_path[len("guarantees["):].partition("]")
        if not index_text.isdigit() or int(index_text) >= len(self.lines):
            return None
        column = rest.lstrip(".").split(".")[0].split("[")[0]
        return self.lines[int(index_text)], _PROTO_CSV.get(column, column) or "(row)"

    def check_sectors(self, dependence: risk_pb2.Dependence, options: Path | None) -> None:
        """Each row's sector needs an entry in the dependence's sector loadings (the CSV
        has no loadings of its own): InputFileError naming the rows' ``sector`` cells.
        Without any loadings the service says what is missing."""
        known = {s.sector for s in dependence.sector_loadings}
        if not known:
            return
        where = f" of {options}" if options is not None else ""
        problems = [Problem(str(self.path), line, "sector",
                            f"{g.sector!r} has no entry in dependence.sector_loadings{where} "
                            f"(it has {', '.join(sorted(known))})")
                    for g, line in zip(self.guarantees, self.lines, strict=True)
                    if g.sector not in known]
        if problems:
            raise InputFileError(problems)


def load_portfolio_csv(path: Path) -> PortfolioFile:
    """Read a portfolio CSV (columns :data:`CSV_COLUMNS`; optional ones may be absent).
    ``fee_rate`` is a share of ``exposure_eur`` a year, as the API's is (README: the
    portfolio CSV): a fee on the guaranteed amount is written scaled to the exposure."""
    name = str(path)
    problems: list[Problem] = []
    guarantees: list[risk_pb2.Guarantee] = []
    lines: list[int] = []
    try:
        # utf-8-sig: Excel's "CSV UTF-8" starts with a byte-order mark, which would
        # otherwise be part of the first column's name.
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise CliError(f"{name}: cannot read: {exc.strerror}", USAGE) from None
    with handle:
        reader = csv.reader(handle)
        try:
            header = [h.strip() for h in next(reader)]
        except StopIteration:
            raise InputFileError([Problem(name, 1, "(header)", "the file is empty")]) from None
        except csv.Error as exc:
            raise InputFileError([Problem(name, 1, "(header)", f"not valid CSV: {exc}")]) \
                from None
        missing = [c for c in CSV_REQUIRED if c not in header]
        unknown = [c for c in header if c not in CSV_COLUMNS]
        if missing or unknown:
            problems += [Problem(name, 1, c, "missing required column") for c in missing]
            problems += [Problem(name, 1, c, f"unknown column (expected {', '.join(CSV_COLUMNS)})")
                         for c in unknown]
            raise InputFileError(problems)
        seen: dict[str, int] = {}
        while True:
            start = reader.line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                problems.append(Problem(name, start, "(row)", f"not valid CSV: {exc}"))
                break
            if not row or all(not cell.strip() for cell in row):
                continue
            line = start
            if len(row) != len(header):
                where = header[len(row)] if len(row) < len(header) else "(row)"
                problems.append(Problem(name, line, where,
                                        f"expected {len(header)} columns, found {len(row)}"))
                continue
            cells = {h: c.strip() for h, c in zip(header, row, strict=True)}
            g, row_problems = _guarantee(cells, name, line)
            problems += row_problems
            if g.id:
                if g.id in seen:
                    problems.append(Problem(name, line, "id", f"duplicates line {seen[g.id]}"))
                seen.setdefault(g.id, line)
            guarantees.append(g)
            lines.append(line)
    if not guarantees and not problems:
        problems.append(Problem(name, 2, "(rows)", "no guarantees"))
    if problems:
        raise InputFileError(problems)
    return PortfolioFile(path, guarantees, lines)


def _guarantee(cells: dict[str, str], name: str, line: int
               ) -> tuple[risk_pb2.Guarantee, list[Problem]]:
    problems: list[Problem] = []
    g = risk_pb2.Guarantee(id=cells.get("id", ""))

    def bad(column: str, message: str) -> None:
        problems.append(Problem(name, line, column, message))

    for column in CSV_REQUIRED:
        if not cells.get(column):
            bad(column, "missing value")
    for column in ("exposure_eur", "cap_eur", "deductible_eur"):
        text = cells.get(column, "")
        if text:
            try:
                cents = euros_to_cents(text)
            except ValueError as exc:
                bad(column, str(exc))
                continue
            if cents < 0:
                bad(column, "must not be negative")
            setattr(g, _CSV_PROTO[column], cents)
    # The fund pays rate x max(exposure x LGD - deductible, 0), LGD at most 1.
    if g.deductible_cents > 0 and g.exposure_cents > 0 \
            and g.deductible_cents >= g.exposure_cents:
        bad("deductible_eur", f"{cells['deductible_eur']} is at least the exposure "
            f"({cells['exposure_eur']}): the guarantee could never pay")
    for column, low, high in (("probability_of_default", 0, 1), ("loss_given_default", 0, 1),
                              ("lgd_std", 0, 0.5), ("guarantee_rate", 0, 1), ("fee_rate", 0, 1)):
        text = cells.get(column, "")
        if not text:
            continue
        try:
            value = float(text)
        except ValueError:
            bad(column, f"{text!r} is not a number")
            continue
        if column == "guarantee_rate" and not 0 < value <= 1:  # the service refuses 0 too
            bad(column, f"must be in (0, 1], not {text}" +
                (": a guarantee that covers none of the loss" if value == 0 else ""))
            continue
        if not low <= value <= high:
            bad(column, f"must be in [{low}, {high}], not {text}")
            continue
        setattr(g, _CSV_PROTO.get(column, column), value)
    g.sector = cells.get("sector", "")
    branch = cells.get("branch", "").upper()
    if branch and branch not in BRANCHES:
        bad("branch", f"unknown administrative branch {cells['branch']!r} (expected one of "
            f"{', '.join(BRANCHES)})")
    g.branch = branch
    kind = cells.get("counterparty_kind", "").lower()
    if kind and kind not in COUNTERPARTY_KINDS:
        bad("counterparty_kind", f"unknown counterparty kind {cells['counterparty_kind']!r} "
            f"(expected one of {', '.join(COUNTERPARTY_KINDS)})")
    g.counterparty_kind = COUNTERPARTY_KINDS.get(kind, 0)
    return g, problems


@dataclass
class PortfolioOptions:
    """Fund, dependence and simulation options of a portfolio simulation."""

    fund: risk_pb2.FundTerms
    dependence: risk_pb2.Dependence
    simulation: risk_pb2.PortfolioSimulationOptions
    sources: SourceMap | None = None


def load_portfolio_options(path: Path | None) -> PortfolioOptions:
    """Read a portfolio options YAML (see examples/fund_portfolio.yaml); None: empty."""
    options = PortfolioOptions(risk_pb2.FundTerms(), risk_pb2.Dependence(),
                               risk_pb2.PortfolioSimulationOptions())
    if path is None:
        return options
    root = load_yaml(path)
    r = Reader(str(path))
    top = r.mapping(root, {"fund", "dependence", "simulation", "title", "description"})
    r.raise_if_any()
    f_node = r.get(root, top, "fund")
    fields = r.mapping(f_node, {"capital_eur", "horizon_years", "portfolio_cap_rate",
                                "annual_fee_income_eur"})
    fund = options.fund
    if fields is not None:
        r.mark("fund", f_node)
        fund.capital_cents = r.euros(r.get(f_node, fields, "capital_eur", required=True),
                                     "fund.capital_cents") or 0
        fund.horizon_years = r.integer(r.get(f_node, fields, "horizon_years"),
                                       "fund.horizon_years", 1, 30) or 0
        cap_node = r.get(f_node, fields, "portfolio_cap_rate")
        cap = r.number(cap_node, "fund.portfolio_cap_rate")
        if cap is not None and not 0 < cap <= 1:  # the service refuses 0 too
            r.problem(cap_node, f"must be in (0, 1], not {cap:g}" + (
                ": it would cap the fund's payouts at nothing (leave it out for no "
                "portfolio cap)" if cap == 0 else ""))
        elif cap is not None:
            fund.portfolio_cap_rate = cap
        fees = r.euros(r.get(f_node, fields, "annual_fee_income_eur"),
                       "fund.annual_fee_income_cents")
        if fees is not None:
            fund.annual_fee_income_cents = fees
    d_node = r.get(root, top, "dependence")
    fields = r.mapping(d_node, {"copula", "degrees_of_freedom", "factor_correlation",
                                "sector_loadings"})
    dep = options.dependence
    if fields is not None:
        r.mark("dependence", d_node)
        dep.copula = r.choice(r.get(d_node, fields, "copula"), COPULAS, "dependence.copula",
                              "copula") or 0
        dep.degrees_of_freedom = r.number(r.get(d_node, fields, "degrees_of_freedom"),
                                          "dependence.degrees_of_freedom", 2.0) or 0.0
        matrix = r.get(d_node, fields, "factor_correlation")
        r.mark("dependence.factor_correlation", matrix)
        for row in r.sequence(matrix, "a list of rows"):
            for cell in r.sequence(row, "a row of numbers"):
                value = r.number(cell, "dependence.factor_correlation", -1.0, 1.0)
                dep.factor_correlation.append(value if value is not None else 0.0)
        s_node = r.get(d_node, fields, "sector_loadings")
        for i, (sector, node) in enumerate((r.mapping(s_node) or {}).items()):
            p = f"dependence.sector_loadings[{i}]"
            r.mark(p, node)
            loading_fields = r.mapping(node, {"factor", "loading"})
            dep.sector_loadings.add(
                sector=sector,
                factor_index=r.integer(r.get(node, loading_fields, "factor"),
                                       f"{p}.factor_index", 0) or 0,
                loading=r.number(r.get(node, loading_fields, "loading", required=True),
                                 f"{p}.loading", 0.0, 0.999) or 0.0)
    s_node = r.get(root, top, "simulation")
    fields = r.mapping(s_node, {"scenarios", "seed", "method", "levels",
                                "target_relative_error", "contributions", "top_guarantees"})
    sim = options.simulation
    if fields is not None:
        r.mark("simulation", s_node)
        sim.scenario_count = r.integer(r.get(s_node, fields, "scenarios"),
                                       "simulation.scenario_count", 1) or 0
        seed = r.integer(r.get(s_node, fields, "seed"), "simulation.seed", 0, 2**64 - 1)
        if seed is not None:
            sim.seed = seed
        sim.method = r.choice(r.get(s_node, fields, "method"), PORTFOLIO_METHODS,
                              "simulation.method", "method") or 0
        for i, node in enumerate(r.sequence(r.get(s_node, fields, "levels"))):
            level = r.number(node, f"simulation.levels[{i}]", 0.5, 0.99999)
            if level is not None:
                sim.levels.append(level)
        sim.target_relative_error = r.number(r.get(s_node, fields, "target_relative_error"),
                                             "simulation.target_relative_error", 0.0) or 0.0
        sim.include_contributions = bool(r.boolean(r.get(s_node, fields, "contributions"),
                                                   "simulation.include_contributions"))
        sim.top_guarantees = r.integer(r.get(s_node, fields, "top_guarantees"),
                                       "simulation.top_guarantees", 0, 10_000) or 0
    r.raise_if_any()
    options.sources = r.sources
    return options
