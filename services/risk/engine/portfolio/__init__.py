"""Portfolio risk of the guarantee fund: model, Monte Carlo (plain and importance-sampled,
shardable), semi-analytic and CreditRisk+ laws, Euler contributions. See README.md."""

from services.risk.engine.portfolio.contributions import (
    GroupContribution,
    IncrementalRisk,
    IncrementalTailRisk,
    RiskContributions,
    incremental_risk,
    risk_contributions,
)
from services.risk.engine.portfolio.model import (
    BRANCHES,
    COUNTERPARTY_KINDS,
    MAX_GUARANTEES,
    Dependence,
    Fund,
    Portfolio,
    sector_loadings,
    validate_model,
)
from services.risk.engine.portfolio.montecarlo import (
    BLOCK_SCENARIOS,
    DEFAULT_LEVELS,
    PortfolioResult,
    Progress,
    ShardResult,
    SimulationPlan,
    TailRisk,
    merge_shards,
    simulate_shard,
)
from services.risk.engine.portfolio.simulate import (
    METHODS,
    choose_method,
    iter_portfolio_simulation,
    simulate_portfolio,
)

__all__ = [
    "BLOCK_SCENARIOS", "BRANCHES", "COUNTERPARTY_KINDS", "DEFAULT_LEVELS", "MAX_GUARANTEES",
    "METHODS", "Dependence", "Fund", "GroupContribution", "IncrementalRisk",
    "IncrementalTailRisk", "Portfolio", "PortfolioResult", "Progress", "RiskContributions",
    "ShardResult", "SimulationPlan", "TailRisk", "choose_method", "incremental_risk",
    "iter_portfolio_simulation", "merge_shards", "risk_contributions", "sector_loadings",
    "simulate_portfolio", "simulate_shard", "validate_model",
]
