"""Write examples/fund_portfolio.csv: a deterministic example portfolio of the risk fund.

About 3,000 partial guarantees on innovative procurements, across sectors and the 12
administrative branches, to public units (procurement risk) and companies (supplier
product-development risk). Figures are illustrative, chosen to look like a real book:
exposures lognormal around EUR 250,000, annual default probabilities by counterparty kind
and sector, guarantee rates 50 % (EIF InnovFin-like) or 80 % (Finnvera-like, capped at
EUR 120,000 per company), fees 0.25-2 % a year on the guaranteed amount. The CSV's
fee_rate is the API's: a share of the exposure (the loan or contract), so a fee f on the
guaranteed amount min(guarantee_rate x exposure, cap) is written as
f x min(guarantee_rate x exposure, cap) / exposure. Run it again to get the same file:

    .venv/bin/python examples/make_fund_portfolio.py
"""

from __future__ import annotations

import csv
import random
from decimal import Decimal
from pathlib import Path

ROWS = 3000
SEED = 2017  # the action plan's first year

# sector -> (administrative branches it mostly falls under, share of guarantees, PD scale)
SECTORS = {
    "health": (["STM"], 0.20, 1.0),
    "social_services": (["STM", "VM"], 0.10, 0.9),
    "transport": (["LVM"], 0.15, 1.1),
    "energy": (["TEM", "YM"], 0.12, 1.3),
    "construction": (["YM", "VM"], 0.12, 1.5),
    "education": (["OKM"], 0.08, 0.7),
    "digital_services": (["VM", "SM", "OM", "VNK"], 0.13, 1.2),
    "defence_and_security": (["PLM", "SM", "UM"], 0.05, 0.8),
    "food_and_forestry": (["MMM"], 0.05, 1.0),
}
COLUMNS = ["id", "exposure_eur", "probability_of_default", "loss_given_default", "lgd_std",
           "guarantee_rate", "cap_eur", "deductible_eur", "fee_rate", "sector", "branch",
           "counterparty_kind"]


def euros(value: float) -> str:
    return f"{Decimal(round(value * 100)) / 100:.2f}"


def rows(rng: random.Random):
    names = list(SECTORS)
    weights = [SECTORS[s][1] for s in names]
    for i in range(ROWS):
        sector = rng.choices(names, weights)[0]
        branches, _, pd_scale = SECTORS[sector]
        branch = rng.choice(branches)
        company = rng.random() < 0.55
        exposure = min(max(rng.lognormvariate(12.4, 0.8), 20_000.0), 4_000_000.0)
        base_pd = 0.025 if company else 0.006
        pd = min(base_pd * pd_scale * rng.lognormvariate(0.0, 0.5), 0.25)
        lgd = rng.uniform(0.35, 0.75) if company else rng.uniform(0.15, 0.45)
        if company:
            rate, cap = 0.8, min(0.8 * exposure, 120_000.0)
        else:
            rate, cap = 0.5, 0.5 * exposure
        deductible = 0.0 if rng.random() < 0.7 else round(0.05 * exposure, -2)
        # A Finnvera-style fee is charged on the guaranteed amount, which the cap bounds;
        # fee_rate applies to the exposure: on a EUR 4 M loan with EUR 120,000 of cover,
        # 2 % is EUR 2,400 a year, not EUR 80,000.
        fee = rng.choice([0.005, 0.01, 0.015, 0.02] if company else [0.0025, 0.005])
        exposure_eur, cap_eur = round(exposure, -2), round(cap, -2)
        fee_on_exposure = fee * min(rate * exposure_eur, cap_eur) / exposure_eur
        yield {
            "id": f"G{i + 1:05d}",
            "exposure_eur": euros(exposure_eur),
            "probability_of_default": f"{pd:.5f}",
            "loss_given_default": f"{lgd:.3f}",
            "lgd_std": f"{0.2 * lgd * (1 - lgd):.3f}" if company else "",
            "guarantee_rate": f"{rate}",
            "cap_eur": euros(cap_eur),
            "deductible_eur": euros(deductible),
            "fee_rate": f"{fee_on_exposure:.10g}",
            "sector": sector,
            "branch": branch,
            "counterparty_kind": "company" if company else "public_unit",
        }


def main() -> None:
    path = Path(__file__).with_name("fund_portfolio.csv")
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows(random.Random(SEED)))
    print(f"wrote {ROWS} guarantees to {path}")


if __name__ == "__main__":
    main()
