"""The risk service's gRPC adapter: translate, run the engine off the event loop, publish."""

from __future__ import annotations

import asyncio
import logging
import math
import secrets
import threading

from ijh.risk.v1 import risk_pb2, risk_pb2_grpc

from services.risk import translate
from services.risk.engine import portfolio as pf
from services.risk.engine.procurement import estimate_procurement_risk, evaluate_guarantee
from services.shared.config import Settings, load_settings
from services.shared.errors import Collector, FieldViolation, InvalidArgument, ResourceExhausted
from services.shared.event_data import cloud_event
from services.shared.events import EventPublisher
from services.shared.grpc_errors import translate_errors
from services.shared.logs import configure_logging
from services.shared.server import Registration, ServiceRuntime

log = logging.getLogger(__name__)

SOURCE = "ijh/risk"
_MODEL_FIELDS = ("kind", "novelty", "cost_items", "budget_cents", "activities", "risk_events",
                 "correlations", "phases", "deadline_days")


def _in_model(exc: InvalidArgument) -> InvalidArgument:
    """The engine names fields of the model; the API nests the model under ``model``."""
    return InvalidArgument([
        FieldViolation(f"model.{v.field}" if v.field.split("[")[0].split(".")[0]
                       in _MODEL_FIELDS else v.field, v.description)
        for v in exc.violations])


PROGRESS_UPDATES = 20  # progress messages per portfolio simulation, about


class _Finished:
    """End marker of a simulation thread: its result or its exception."""

    def __init__(self, result=None, error: BaseException | None = None):
        self.result, self.error = result, error


class RiskServicer(risk_pb2_grpc.RiskServiceServicer):
    """Serves ``ijh.risk.v1.RiskService``."""

    def __init__(self, settings: Settings, events: EventPublisher):
        self.max_scenarios = int(settings.max_scenarios)
        self.max_portfolio_scenarios = int(settings.max_portfolio_scenarios)
        self.max_guarantees = min(int(settings.max_guarantees), pf.MAX_GUARANTEES)
        self.events = events

    def _portfolio_options(self, options: risk_pb2.PortfolioSimulationOptions
                           ) -> tuple[int, int, str, tuple[float, ...]]:
        c = Collector()
        scenarios = options.scenario_count or 100_000
        c.check(scenarios >= 1, "simulation.scenario_count", "must be at least 1")
        c.check(scenarios <= self.max_portfolio_scenarios, "simulation.scenario_count",
                f"at most {self.max_portfolio_scenarios:,} scenarios per simulation "
                f"(asked {scenarios:,})")
        levels = tuple(options.levels) or pf.DEFAULT_LEVELS
        for i, level in enumerate(levels):
            c.check(0.5 <= level < 1, f"simulation.levels[{i}]", "must be in [0.5, 1)")
        c.check(options.target_relative_error >= 0, "simulation.target_relative_error",
                "must not be negative")
        c.raise_if_any()
        seed = options.seed if options.HasField("seed") else secrets.randbits(63)
        return scenarios, seed, translate.portfolio_method(options.method), tuple(sorted(levels))

    @translate_errors
    async def SimulatePortfolio(self, request_iterator, context):
        first = None
        guarantees: list[risk_pb2.Guarantee] = []
        async for message in request_iterator:
            first = first or message
            guarantees.extend(message.guarantees)
            if len(guarantees) > self.max_guarantees:
                raise ResourceExhausted(f"portfolio above the bound of {self.max_guarantees:,} "
                                        "guarantees per simulation")
        if first is None or not guarantees:
            raise InvalidArgument(FieldViolation("guarantees", "at least one guarantee"))
        scenarios, seed, method, levels = self._portfolio_options(first.simulation)
        fund = translate.fund_terms(first.fund)
        dependence = translate.dependence(first.dependence)
        portfolio = translate.portfolio(guarantees, first.dependence,
                                        dependence.factor_correlation.shape[0])
        pf.validate_model(portfolio, fund, dependence)

        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        stop = threading.Event()
        blocks = math.ceil(scenarios / pf.BLOCK_SCENARIOS)

        def on_progress(progress: pf.Progress) -> bool:
            loop.call_soon_threadsafe(queue.put_nowait, progress)
            return not stop.is_set()

        def run() -> None:
            try:
                result = pf.simulate_portfolio(
                    portfolio, fund, dependence, seed=seed, scenarios=scenarios, method=method,
                    levels=levels, chunk_blocks=max(1, math.ceil(blocks / PROGRESS_UPDATES)),
                    target_relative_error=first.simulation.target_relative_error or None,
                    on_progress=on_progress)
                finished = _Finished(result)
            except BaseException as exc:  # handed to the RPC task, mapped there
                finished = _Finished(error=exc)
            loop.call_soon_threadsafe(queue.put_nowait, finished)

        worker = loop.run_in_executor(None, run)
        try:
            while True:
                item = await queue.get()
                if isinstance(item, _Finished):
                    break
                if not item.final:
                    yield translate.progress(item, levels[-1])
        finally:
            stop.set()  # the caller cancelled or the deadline passed: stop between chunks
        await worker
        if item.error is not None:
            raise item.error
        result = item.result
        contributions = None
        if first.simulation.include_contributions and not result.cancelled:
            contributions = await asyncio.to_thread(
                pf.risk_contributions, portfolio, fund, dependence, seed=seed,
                scenarios=scenarios, level=levels[-1])
        self.events.publish_soon(cloud_event(
            "ijh.risk.portfolio.simulated", SOURCE, f"portfolio-simulations/seed-{seed}",
            translate.portfolio_simulated_event(result, portfolio.size)))
        yield risk_pb2.SimulatePortfolioResponse(result=translate.portfolio_result(
            result, portfolio.size, contributions, [g.id for g in guarantees],
            first.simulation.top_guarantees or 20))

    @translate_errors
    async def EvaluateIncrementalRisk(self, request, context):
        if len(request.portfolio) > self.max_guarantees:
            raise ResourceExhausted(f"portfolio above the bound of {self.max_guarantees:,} "
                                    "guarantees per simulation")
        scenarios, seed, method, levels = self._portfolio_options(request.simulation)
        if method in ("auto", "semi_analytic", "creditriskplus"):
            method = "importance_sampling"  # common random numbers need a simulation
        fund = translate.fund_terms(request.fund)
        dependence = translate.dependence(request.dependence)
        factors = dependence.factor_correlation.shape[0]
        portfolio = translate.portfolio(request.portfolio, request.dependence, factors,
                                        field="portfolio")
        candidate = translate.portfolio([request.candidate], request.dependence, factors,
                                        field="candidate")
        pf.validate_model(portfolio, fund, dependence)
        result = await asyncio.to_thread(
            pf.incremental_risk, portfolio, fund, dependence, candidate, seed=seed,
            scenarios=scenarios, levels=levels, method=method)
        return translate.incremental_response(result, method)

    def _simulation(self, options: risk_pb2.SimulationOptions) -> tuple[int, int]:
        c = Collector()
        c.check(options.scenario_count >= 1, "simulation.scenario_count",
                "must be at least 1")
        c.check(options.scenario_count <= self.max_scenarios, "simulation.scenario_count",
                f"at most {self.max_scenarios:,} scenarios per request "
                f"(asked {options.scenario_count:,})")
        c.raise_if_any()
        seed = options.seed if options.HasField("seed") else secrets.randbits(63)
        return options.scenario_count, seed

    @translate_errors
    async def EstimateProcurementRisk(self, request, context):
        scenarios, seed = self._simulation(request.simulation)
        model = translate.procurement_model(request.model)
        target = request.simulation.target_standard_error_cents or None
        try:
            result = await asyncio.to_thread(
                estimate_procurement_risk, model, scenarios=scenarios, seed=seed,
                target_standard_error_cents=target,
                quantiles=tuple(request.quantile_levels),
                confidence=request.confidence or 0.8,
                histogram_bins=request.histogram_bins or 50)
        except InvalidArgument as exc:
            raise _in_model(exc) from exc
        self.events.publish_soon(cloud_event(
            "ijh.risk.procurement.estimated", SOURCE, f"estimates/seed-{result.seed}",
            translate.risk_estimated_event(result)))
        return translate.risk_response(result)

    @translate_errors
    async def EvaluateProcurementGuarantee(self, request, context):
        scenarios, seed = self._simulation(request.simulation)
        model = translate.procurement_model(request.model)
        terms = translate.guarantee_terms(request.terms)
        try:
            result = await asyncio.to_thread(
                evaluate_guarantee, model, terms, scenarios=scenarios, seed=seed,
                risk_levels=tuple(request.levels) or (0.95, 0.99))
        except InvalidArgument as exc:
            raise _in_model(exc) from exc
        self.events.publish_soon(cloud_event(
            "ijh.risk.guarantee.evaluated", SOURCE, f"guarantee-evaluations/seed-{result.seed}",
            translate.guarantee_evaluated_event(result)))
        return translate.guarantee_response(result)


def build_risk(settings: Settings) -> ServiceRuntime:
    """The risk runtime (call inside the running event loop)."""
    events = EventPublisher(settings.nats_url, settings.event_stream)
    return ServiceRuntime(
        "risk", settings.risk_address, settings,
        [Registration(risk_pb2.DESCRIPTOR.services_by_name["RiskService"].full_name,
                      risk_pb2_grpc.add_RiskServiceServicer_to_server,
                      RiskServicer(settings, events))],
        on_start=[events.start], on_stop=[events.close])


async def main() -> None:
    settings = load_settings()
    configure_logging("risk", settings.log_level)
    await build_risk(settings).run_until_signalled()
