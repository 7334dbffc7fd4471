"""Figures of risk answers, drawn with matplotlib's Agg backend into PNG files.

Every figure is FIGSIZE inches at DPI dots per inch (800 x 450 pixels); nothing trims
it (no ``bbox_inches="tight"``), so the size is a contract tests can check.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import itertools

import matplotlib.pyplot as plt
from ijh.risk.v1 import risk_pb2
from matplotlib.ticker import FuncFormatter

from ijh_cli.output import method_name, over

FIGSIZE = (8.0, 4.5)
DPI = 100
PIXELS = (round(FIGSIZE[0] * DPI), round(FIGSIZE[1] * DPI))


@dataclass(frozen=True)
class Figure:
    """A written figure and what it shows."""

    path: Path
    title: str
    caption: str


_euros = FuncFormatter(lambda x, _: f"€{x / 100:,.0f}")


def _save(fig, path: Path, title: str, caption: str) -> Figure:
    fig.tight_layout()
    fig.savefig(path, dpi=DPI, format="png")
    plt.close(fig)
    return Figure(path, title, caption)


def _quantile(summary: risk_pb2.OutcomeSummary, level: float) -> float | None:
    for q in summary.quantiles:
        if abs(q.level - level) < 1e-9:
            return q.value
    return None


def _value(value: float, money: bool) -> str:
    return f"€{value / 100:,.0f}" if money else f"{value:,.0f} d"


def mark_limit(ax, limit: float | None, label: str, money: bool) -> None:
    """The budget or deadline as a solid line; its legend says its value."""
    if limit:
        ax.axvline(limit, color="black", linewidth=1.2,
                   label=f"{label} = " + (_value(limit, money) if money else f"{limit:,g} d"))


def histogram(path: Path, hist: risk_pb2.Histogram, summary: risk_pb2.OutcomeSummary,
              title: str, money: bool, limit: float | None = None,
              limit_label: str = "", note: str = "") -> Figure:
    """A histogram with P50 and P80 marked (and the budget or deadline, when given);
    ``note`` ends the caption (what the scenarios include)."""
    fig, ax = plt.subplots(figsize=FIGSIZE, dpi=DPI)
    edges, counts = list(hist.bin_edges), list(hist.counts)
    if counts:
        widths = [b - a for a, b in itertools.pairwise(edges)]
        ax.bar(edges[:-1], counts, width=widths, align="edge", color="#6c8ebf",
               edgecolor="white", linewidth=0.4)
    marks = []
    for level, color in ((0.5, "#2b6"), (0.8, "#d62")):
        value = _quantile(summary, level)
        if value is not None:
            ax.axvline(value, color=color, linestyle="--", linewidth=1.5,
                       label=f"P{level * 100:g} = {_value(value, money)}")
            marks.append(value)
    mark_limit(ax, limit, limit_label, money)
    if money:
        ax.xaxis.set_major_formatter(_euros)
    ax.set_xlabel("total cost" if money else "duration (days)")
    ax.set_ylabel("scenarios")
    ax.set_title(title)
    ax.legend(loc="upper right")
    return _save(fig, path, title, "Histogram of the simulated outcome; dashed lines mark the "
                 "median (P50) and P80." + (f" {note}" if note else ""))


def s_curve(path: Path, cdf, summary: risk_pb2.OutcomeSummary, title: str, money: bool,
            limit: float | None = None, limit_label: str = "", note: str = "") -> Figure:
    """The empirical CDF (S-curve): the chance of finishing at or under each value."""
    fig, ax = plt.subplots(figsize=FIGSIZE, dpi=DPI)
    ax.plot([p.value for p in cdf], [p.cumulative_probability for p in cdf], color="#24578f")
    for level, color in ((0.5, "#2b6"), (0.8, "#d62")):
        value = _quantile(summary, level)
        if value is not None:
            ax.plot([value], [level], "o", color=color, label=f"P{level * 100:g}")
            ax.axhline(level, color=color, linestyle=":", linewidth=0.8)
    mark_limit(ax, limit, limit_label, money)
    if money:
        ax.xaxis.set_major_formatter(_euros)
    ax.set_ylim(0, 1)
    ax.set_ylabel("probability of at most this")
    ax.set_xlabel("total cost" if money else "duration (days)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    return _save(fig, path, title, "Cumulative distribution (S-curve): read the confidence of "
                 "staying within any budget or deadline." + (f" {note}" if note else ""))


def tornado(path: Path, sensitivities, title: str, top: int = 10) -> Figure:
    """Bars of each input's share of the outcome's variance where the service gives one
    (the total cost, a sum of its inputs), else of its rank correlation with the
    outcome; largest on top, in the service's order."""
    items = list(sensitivities)
    shares = bool(items) and items[0].HasField("contribution")
    items = [s for s in items if s.HasField("contribution")] if shares else items
    items = items[:top][::-1]
    fig, ax = plt.subplots(figsize=FIGSIZE, dpi=DPI)
    figure = [s.contribution if shares else s.rank_correlation for s in items]
    values = [e.value for e in figure]
    ax.barh([s.input_name for s in items], values, xerr=[e.standard_error for e in figure],
            color=["#d62" if v > 0 else "#6c8ebf" for v in values], capsize=3)
    ax.axvline(0, color="black", linewidth=0.8)
    if shares:
        ax.xaxis.set_major_formatter(lambda x, _: f"{x:.0%}")
        ax.set_xlabel("share of the outcome's variance, Cov(input, total)/Var(total) (± SE)")
        legend = ("Tornado chart: each input's share of the variance of the outcome (the "
                  "shares add to 100 %).")
    else:
        ax.set_xlim(-1, 1)
        ax.set_xlabel("Spearman rank correlation with the outcome (± SE)")
        legend = ("Tornado chart: how monotonely each input moves the outcome (rank "
                  "correlation), not how much.")
    ax.set_title(title)
    return _save(fig, path, title, legend)


def loss_distribution(path: Path, result: risk_pb2.PortfolioRiskResult) -> Figure:
    """The fund's loss distribution on a log probability scale, VaR and ES marked."""
    fig, ax = plt.subplots(figsize=FIGSIZE, dpi=DPI)
    edges = list(result.loss_histogram_edges_cents)
    probs = list(result.loss_histogram_probability)
    if probs:
        widths = [b - a for a, b in itertools.pairwise(edges)]
        ax.bar(edges[:-1], [p if p > 0 else float("nan") for p in probs], width=widths,
               align="edge", color="#6c8ebf", edgecolor="white", linewidth=0.3)
    ax.set_yscale("log")
    colors = ["#2b6", "#e90", "#d62", "#a0a"]
    for i, t in enumerate(result.tail_risk):
        color = colors[i % len(colors)]
        ax.axvline(t.value_at_risk_cents.value, color=color, linestyle="--",
                   label=f"VaR {t.level:.1%}")
        ax.axvline(t.expected_shortfall_cents.value, color=color, linestyle=":",
                   label=f"ES {t.level:.1%}")
    caption = ""
    resources = resources_by_horizon(result)
    if resources:
        years = result.horizon_years
        fees = result.annual_fee_income_cents * years
        # Exhaustion is tested against the capital plus the fees earned by then: the
        # capital alone would mark losses the fund can pay as beyond its means.
        if fees:
            ax.axvline(result.capital_cents, color="grey", linewidth=0.9,
                       label=f"capital {_value(result.capital_cents, True)}")
            ax.axvline(resources, color="black", linewidth=1.2,
                       label=f"capital + {years} years' fees {_value(resources, True)}")
            caption = (f" Solid black: the capital plus the fee income of {years} years "
                       f"({_value(fees, True)}); a loss beyond it exhausts the capital by "
                       "the horizon (a smaller one may too, if it came early, before the "
                       "fees); grey: the capital alone.")
        else:
            ax.axvline(resources, color="black", linewidth=1.2,
                       label=f"capital {_value(resources, True)} (no fee income)")
            caption = " Solid black: the capital; a loss beyond it exhausts it."
    ax.xaxis.set_major_formatter(_euros)
    ax.set_xlabel(f"fund loss {over(result.horizon_years)} (cumulative, after the "
                  "portfolio cap, before fee income)")
    ax.set_ylabel("probability (log scale)")
    ax.set_title("Loss distribution of the fund")
    ax.legend(loc="upper right", fontsize="small", ncol=2)
    return _save(fig, path, "Loss distribution of the fund", "Probability of each loss band "
                 "(log scale shows the tail); dashed VaR, dotted expected shortfall."
                 + caption)


def resources_by_horizon(result: risk_pb2.PortfolioRiskResult) -> int:
    """The capital plus the fee income of the horizon (result.horizon_years): what the
    fund's loss over the horizon is set against."""
    if not result.capital_cents:
        return 0
    return result.capital_cents + result.annual_fee_income_cents * result.horizon_years


def exhaustion(path: Path, result: risk_pb2.PortfolioRiskResult) -> Figure:
    """Probability that payouts exceed capital plus fees by each year, with 2 SE bars."""
    fig, ax = plt.subplots(figsize=FIGSIZE, dpi=DPI)
    years = list(range(1, len(result.exhaustion_probability_by_year) + 1))
    values = [e.value for e in result.exhaustion_probability_by_year]
    errors = [2 * e.standard_error for e in result.exhaustion_probability_by_year]
    ax.bar(years, values, yerr=errors, color="#d62", capsize=3)
    ax.set_xticks(years)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{y:.2%}"))
    ax.set_xlabel("year")
    ax.set_ylabel("probability capital is exhausted")
    ax.set_title("Capital exhaustion probability by year")
    return _save(fig, path, "Capital exhaustion probability by year",
                 "Chance that cumulative payouts exceed capital plus fee income by the end "
                 "of each year (bars: ± 2 standard errors).")


def contributions(path: Path, c: risk_pb2.RiskContributions) -> Figure:
    """Expected-shortfall contributions by sector and by branch, side by side."""
    fig, axes = plt.subplots(1, 2, figsize=FIGSIZE, dpi=DPI)
    for ax, groups, label in ((axes[0], c.by_sector, "sector"), (axes[1], c.by_branch,
                                                                  "branch")):
        items = sorted((g for g in groups if g.expected_shortfall_cents.value),
                       key=lambda g: g.expected_shortfall_cents.value)
        ax.barh([g.name for g in items], [g.expected_shortfall_cents.value for g in items],
                xerr=[g.expected_shortfall_cents.standard_error for g in items],
                color="#6c8ebf", capsize=2)
        ax.xaxis.set_major_formatter(_euros)
        ax.tick_params(axis="x", labelsize="small", labelrotation=30)
        ax.set_title(f"by {label}")
    fig.suptitle(f"Contributions to ES {c.level:.1%}")
    return _save(fig, path, f"Risk contributions at {c.level:.1%}",
                 "Euler allocation of expected shortfall to sectors and administrative "
                 f"branches (± SE), from its own {c.scenario_count:,} scenarios by "
                 f"{method_name(c.method).replace('_', ' ')}.")


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk; ValueError when it is not a PNG."""
    head = path.read_bytes()[:24]
    if head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        raise ValueError(f"{path} is not a PNG")
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
