"""Every parameter ``reference`` is shown to officers (ListParameters, and each
``ParameterUse`` of an explained grant or score) as the official basis of a figure, so
it must be a citable source (act, regulation, published terms, the TEM action plan with
its chapter/table) or say plainly that the value is the fund's own configuration. It
must never point at development material: the seed file, DOMAIN.md ("the brief"), a
README or any other repository file."""

from __future__ import annotations

import json
import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from services.funding.rules import (
    Applicant,
    CostLine,
    GrantApplication,
    ParameterSet,
    compute_grant,
    ijh_parameters,
)
from services.funding.rules.scoring import CriterionScore, ScoreSheet, score_application

SERVICES = Path(__file__).resolve().parents[3] / "services"

# Markers of internal development notes. Checked case-insensitively.
_INTERNAL = [
    (re.compile(r"\bseed\b", re.I), "mentions 'the seed' (cite the TEM action plan)"),
    (re.compile(r"\b\d{3}_[0-9a-f]{16}\b"), "names the seed file"),
    (re.compile(r"DOMAIN|\b(domain|the) brief\b", re.I), "points at the domain brief"),
    (re.compile(r"readme", re.I), "points at a README"),
    (re.compile(r"\.(md|py|ya?ml|txt)\b|\b(services|tests|rules)/", re.I),
     "points at a repository file"),
    (re.compile(r"\b(TODO|FIXME|XXX)\b"), "carries a to-do marker"),
]
# An RNG "seed" is a legitimate word in a description (the fund's risk model has one),
# so descriptions are checked for every marker except the bare word.
_INTERNAL_IN_DESCRIPTIONS = _INTERNAL[1:]


def _problems(text: str, markers: list[tuple[re.Pattern[str], str]]) -> list[str]:
    return [f"{why}: {m.group(0)!r}" for pattern, why in markers
            if (m := pattern.search(text))]


def _parameter_directories() -> list[Path]:
    """Every shipped parameter set: any directory named ``parameters`` under services/
    holding YAML files (the IJH rules, the risk fund's rules, and any added later)."""
    found = sorted(d for d in SERVICES.rglob("parameters")
                   if d.is_dir() and any(d.rglob("*.yaml")))
    return found


def test_parameter_sets_are_found() -> None:
    names = {d.relative_to(SERVICES).as_posix() for d in _parameter_directories()}
    assert {"funding/rules/parameters", "funding/fund/parameters"} <= names


def _id(directory: Path) -> str:
    return directory.relative_to(SERVICES).as_posix()


@pytest.mark.parametrize("directory", _parameter_directories(), ids=_id)
def test_every_reference_is_a_citable_source(directory: Path) -> None:
    ps = ParameterSet.load(directory)
    bad = [f"{name} from {value.valid_from.isoformat()}: {problem}"
           for name in ps.names for value in ps.history(name)
           for problem in _problems(value.reference, _INTERNAL)]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("directory", _parameter_directories(), ids=_id)
def test_every_description_is_free_of_internal_pointers(directory: Path) -> None:
    ps = ParameterSet.load(directory)
    bad = [f"{name}: {problem}" for name in ps.names for value in ps.history(name)
           for problem in _problems(value.description, _INTERNAL_IN_DESCRIPTIONS)]
    assert not bad, "\n".join(bad)


def test_marker_check_catches_the_old_texts() -> None:
    # The texts a reviewer found in explained grants, before they were rewritten.
    for text in ('Seed 000_27e86f091628ee7c, Table 1, IJH row',
                 'DOMAIN brief: "the purchase itself is not funded"',
                 "fund configuration (documented in rules/README.md)",
                 "the seed (Table 1, Tekes 2017 guide)",
                 "spread -10 % / +66 % (README, default priors)"):
        assert _problems(text, _INTERNAL), text
    clean = ijh_parameters().get("grant_rate", date(2009, 1, 1)).reference
    assert not _problems(clean, _INTERNAL)


def test_seed_citations_name_the_publication() -> None:
    """Where the 2009 IJH values rest on the action plan, the reference names it (who
    published it and which table), so an officer can look it up."""
    ps = ijh_parameters()
    for name in ("grant_rate", "eligible_cost_categories", "procurement_kinds",
                 "ineligible_cost_categories", "eligible_applicant_kinds"):
        reference = ps.get(name, date(2009, 1, 1)).reference
        assert "Ministry of Economic Affairs and Employment (TEM)" in reference, name
        assert "action plan for innovative public procurement" in reference, name
        assert "Table 1" in reference, name


@pytest.mark.parametrize("name", ["vat_eligible", "maximum_grant_cents",
                                  "indirect_cost_rate_max", "scoring_criteria",
                                  "scoring_scale", "scoring_overall_pass_mark",
                                  "scoring_disagreement_threshold", "grant_rounding",
                                  "cost_line_rounding", "ineligible_cost_categories"])
def test_configuration_choices_say_so(name: str) -> None:
    reference = ijh_parameters().get(name, date(2024, 3, 1)).reference
    assert "Fund configuration (no statutory value)" in reference.replace(
        "fund configuration", "Fund configuration")


def _references(data: object) -> list[str]:
    """Every ``reference`` string anywhere in a JSON-ready result."""
    if isinstance(data, dict):
        found = [v for k, v in data.items() if k == "reference" and isinstance(v, str)]
        return found + [r for v in data.values() for r in _references(v)]
    if isinstance(data, list):
        return [r for v in data for r in _references(v)]
    return []


@pytest.mark.parametrize("on", [date(2010, 6, 1), date(2017, 6, 1), date(2024, 3, 1)])
def test_explained_grant_and_score_show_only_citable_references(on: date) -> None:
    """What the officer actually sees: ComputeGrant / ScoreApplication explanations."""
    grant = compute_grant(GrantApplication(
        applicant=Applicant("0201256-6", "contracting_authority", "City of Helsinki"),
        procurement_kind="pre_commercial_procurement",
        reference_date=on,
        cost_lines=(
            CostLine("own_personnel", "project manager", salary_cents=600000,
                     working_time_share="0.4", indirect_cost_rate="0.25"),
            CostLine("purchased_expert_services", "consultant", amount_cents=1000000,
                     vat_cents=255000),
            CostLine("travel", "supplier visit", amount_cents=45000),
            CostLine("equipment", "test rig", amount_cents=10000),
        )))
    criteria = [c["criterion"] for c in ijh_parameters().get("scoring_criteria", on).value]
    score = score_application(
        [ScoreSheet(o, tuple(CriterionScore(c, Decimal(s)) for c in criteria))
         for o, s in (("a", "3.5"), ("b", "4"))], on)
    references = (_references(json.loads(json.dumps(grant.to_dict())))
                  + _references(json.loads(json.dumps(score.to_dict()))))
    assert len(references) > 10
    bad = {r: _problems(r, _INTERNAL) for r in references if _problems(r, _INTERNAL)}
    assert not bad, bad
