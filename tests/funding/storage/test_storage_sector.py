"""The sector concentration limit cannot be bypassed by spelling a sector differently:
the sector is stored normalised (NFKC, case-folded, whitespace collapsed, stripped), so
exposures group and the limit applies across variants."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.funding.ledger.model import Decision
from services.funding.storage.repository import Repository
from services.shared.errors import FailedPrecondition
from tests.funding.storage.ledger_support import (
    APPLICANT,
    OFFICER_B,
    PUBLIC_UNIT,
    guarantee_draft,
    rid,
    to_scored,
)


def test_spelling_variants_of_a_sector_share_one_concentration_limit(
        repo: Repository, rules_box: dict[str, object]) -> None:
    # Capital EUR 1 bn x 0.00075 = EUR 750 000: one EUR 500 000 exposure fits, two do not.
    rules_box["sector_max_share_of_capital"] = Decimal("0.00075")
    first = to_scored(repo, guarantee_draft(beneficiary=PUBLIC_UNIT, sector="Energy"))
    approved = repo.decide(rid(), OFFICER_B, first, Decision.APPROVE, "ok")
    assert approved.sector == "energy"
    for variant in ("energy", "ENERGY", "  Energy ", "\uff25nergy"):
        app_id = to_scored(repo, guarantee_draft(beneficiary=PUBLIC_UNIT, sector=variant))
        with pytest.raises(FailedPrecondition, match="CONCENTRATION_SECTOR sector/energy"):
            repo.decide(rid(), OFFICER_B, app_id, Decision.APPROVE, "ok")
    _, sectors, _ = repo.exposure_position()
    assert [(e.key, e.committed_cents, e.guarantees) for e in sectors] == \
        [("energy", 500_000_00, 1)]


def test_internal_whitespace_is_collapsed(repo: Repository) -> None:
    app = repo.create(rid(), APPLICANT, guarantee_draft(sector=" Health \t  Care "))
    assert app.sector == "health care"
