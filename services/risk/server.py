"""The risk service's gRPC adapter: translate, run the engine off the event loop, publish.

Every call must carry a caller assertion (the gateway's for its callers, funding's for
its own risk checks), verified by the runtime before any method runs
(:class:`~services.shared.caller.CallerCheck`)."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import secrets
import socket
import threading
import time
import uuid

import grpc
import numpy as np
from ijh.risk.v1 import risk_pb2, risk_pb2_grpc

from services.risk import translate
from services.risk.engine import portfolio as pf
from services.risk.engine import procurement as pr
from services.risk.engine.procurement import estimate_procurement_risk, evaluate_guarantee
from services.risk.operation_store import OperationStore, Owner, check_retention
from services.risk.operations import SOURCE, OperationBook, caller_subject
from services.risk.portfolio_run import (
    PortfolioLimits,
    check_later_message,
    check_size,
    prepared_run,
    seed_for_request,
    simulation_options,
)
from services.shared import metrics
from services.shared.caller import caller_certificate_names, caller_keys
from services.shared.config import ConfigurationError, Settings
from services.shared.errors import Collector, FieldViolation, InvalidArgument
from services.shared.event_data import cloud_event
from services.shared.events import EventPublisher, StreamLimits
from services.shared.grpc_errors import translate_errors
from services.shared.server import (
    Registration,
    ServiceRuntime,
    cannot_start,
    service_settings,
)
from services.shared.tls import internal_tls

log = logging.getLogger(__name__)

#: The most scenarios × inputs (cost items + activities + risk events) of one procurement
#: estimate or guarantee evaluation. A call must end within the gateway's backend deadline
#: (IJH_BACKEND_DEADLINE_SECONDS, 30 s): an input costs 25-70 ns a scenario on the 2-core
#: machine under load (PERT items ~55, activities ~40-60, risk events with a delay ~70;
#: 2,000 PERT items x 80,000 scenarios took 7 s), so this is 6-14 s of work. Without it
#: 2,000 items were allowed the 2,000,000 scenarios of IJH_MAX_SCENARIOS: minutes.
MAX_INPUT_SCENARIOS = 200_000_000

async def aenumerate(iterator):
    """``enumerate`` of an async iterator."""
    index = 0
    async for item in iterator:
        yield index, item
        index += 1


def _in_model(exc: InvalidArgument, model: risk_pb2.ProcurementModel) -> InvalidArgument:
    """The engine names fields of its own model; answer with the request's paths."""
    return InvalidArgument([FieldViolation(translate.api_field(model, v.field), v.description)
                            for v in exc.violations])


async def _until_the_call_ends(context: grpc.aio.ServicerContext, run, *args, **kwargs):
    """``run(*args, **kwargs)`` (a procurement engine entry point) in a worker thread,
    stopped between its chunks once the call is cancelled or its deadline passes: the
    thread is not cancelled with the call, and went on computing for no one (9 s after a
    DEADLINE_EXCEEDED, measured). A run stopped by the deadline before gRPC ended the call
    answers DEADLINE_EXCEEDED."""
    ended = threading.Event()
    remaining = context.time_remaining()
    deadline = time.monotonic() + remaining if remaining is not None else math.inf
    context.add_done_callback(lambda _: ended.set())

    def go_on(drawn: int, asked: int) -> bool:
        return not ended.is_set() and time.monotonic() < deadline

    try:
        return await asyncio.to_thread(run, *args, on_chunk=go_on, **kwargs)
    except asyncio.CancelledError:
        ended.set()
        raise
    except pr.RunStopped:
        await context.abort(grpc.StatusCode.DEADLINE_EXCEEDED,
                            "the estimate did not end within the call's deadline; ask fewer "
                            "scenarios or allow more time")


def _check_loss_at_failure(model: pr.ProcurementModel, terms: pr.GuaranteeTerms) -> None:
    """A guarantee on the loss at failure of a model in which every cost item is spent in
    every scenario would pay on the whole cost (a service never bought when the
    procurement fails, say) in each failure: refused, with what to change."""
    if terms.covered_loss == pr.CoveredLoss.LOSS_AT_FAILURE \
            and not pr.spend_depends_on_failure(model):
        raise InvalidArgument(FieldViolation(
            "terms.covered_loss",
            "LOSS_AT_FAILURE pays on what a failed procurement has spent, but no cost item "
            "of this model says when it is spent (phase, only_on_success): each counts as "
            "spent in every scenario, so every failure would lose the whole cost. Mark what "
            "is bought only if the procurement succeeds with only_on_success and tie what "
            "a phase spends to its phase (what is spent whatever happens, to the first "
            "phase), or cover COST_OVERRUN"))


class RiskServicer(risk_pb2_grpc.RiskServiceServicer):
    """Serves ``ijh.risk.v1.RiskService``."""

    def __init__(self, settings: Settings, events: EventPublisher):
        self.max_scenarios = int(settings.max_scenarios)
        self.limits = PortfolioLimits(
            max_guarantees=min(int(settings.max_guarantees), pf.MAX_GUARANTEES),
            max_scenarios=int(settings.max_portfolio_scenarios))
        self.events = events
        try:
            retention = check_retention(float(settings.operation_retention_seconds))
        except ValueError as exc:
            raise ConfigurationError(f"IJH_OPERATION_RETENTION_SECONDS: {exc}") from None
        # A replica is its host and address: a restart of it keeps both (and owns its
        # port alone: so_reuseport is off), so it knows its earlier instance is gone.
        owner = Owner(f"{socket.gethostname()}/{settings.risk_address}", uuid.uuid4().hex[:12])
        self.operations = OperationBook(retention, events, OperationStore(events, retention),
                                        owner)

    @translate_errors
    async def SimulatePortfolio(self, request_iterator, context):
        first, refusal = None, None
        guarantees: list[risk_pb2.Guarantee] = []
        async for index, message in aenumerate(request_iterator):
            if refusal is not None:
                continue
            try:
                if first is None:
                    first = message
                else:
                    check_later_message(message, index)
                guarantees.extend(message.guarantees)
                check_size(len(guarantees), self.limits)
            except InvalidArgument as exc:
                refusal = exc
                guarantees.clear()
        if refusal is not None:
            # Refused once the caller has sent all it sends: a status before that races
            # the gateway's next write to this stream, and grpc.aio then reports its own
            # INTERNAL "Internal error from Core" in place of it (grpc/grpc#36066)
            raise refusal
        run = await asyncio.to_thread(  # off the event loop: a million rows take seconds
            prepared_run, first or risk_pb2.SimulatePortfolioRequest(), guarantees, self.limits)
        async for progress in run.progress():
            yield translate.progress(progress, run.levels[-1], run.passes)
        # The contribution passes, when asked: the rest of the work, reported too (they
        # stop when the call ends, as the simulation does).
        if run.options.include_contributions and not run.result.cancelled:
            yield risk_pb2.SimulatePortfolioResponse(
                progress=translate.result_progress(run.result, run.passes, 0.0))
        async for share in run.contribution_shares():
            yield risk_pb2.SimulatePortfolioResponse(
                progress=translate.result_progress(run.result, run.passes, share))
        result = run.result_message()
        self.events.publish_soon(cloud_event(
            "ijh.risk.portfolio.simulated", SOURCE, f"portfolio-simulations/seed-{run.seed}",
            translate.portfolio_simulated_event(run.result, run.guarantee_count),
            absent=translate.portfolio_simulated_event_absent(run.result)))
        yield risk_pb2.SimulatePortfolioResponse(result=result)

    @translate_errors
    async def StartPortfolioSimulation(self, request, context):
        if not request.request_id:
            raise InvalidArgument(FieldViolation("request_id", "required (e.g. a UUID)"))
        first = request.simulation
        fingerprint = hashlib.sha256(first.SerializeToString(deterministic=True)).digest()
        # No seed given: one derived from the request_id, so a retry without one is the
        # same simulation (and the operation's metadata names it).
        operation = await self.operations.start(
            request.request_id, caller_subject(context), fingerprint,
            lambda: prepared_run(first, first.guarantees, self.limits, prefix="simulation.",
                                 seed_if_absent=seed_for_request(request.request_id)))
        return risk_pb2.StartPortfolioSimulationResponse(operation=operation)

    @translate_errors
    async def GetOperation(self, request, context):
        return risk_pb2.GetOperationResponse(
            operation=await self.operations.get(request.name))

    @translate_errors
    async def ListOperations(self, request, context):
        return await self.operations.list(request.page_size, request.page_token)

    @translate_errors
    async def WaitOperation(self, request, context):
        operation = await self.operations.wait(request.name, request.timeout_seconds)
        return risk_pb2.WaitOperationResponse(operation=operation)

    @translate_errors
    async def CancelOperation(self, request, context):
        operation = await self.operations.cancel(request.name)
        return risk_pb2.CancelOperationResponse(operation=operation)

    @translate_errors
    async def EvaluateIncrementalRisk(self, request, context):
        check_size(len(request.portfolio), self.limits, field="portfolio")
        scenarios, seed, method, levels = simulation_options(request.simulation, self.limits)
        if method in ("auto", "semi_analytic", "creditriskplus"):
            # Common random numbers need a simulation; the engine picks importance
            # sampling, or plain Monte Carlo when the tail is two-sided.
            method = None

        def evaluate() -> pf.IncrementalRisk:  # off the event loop, reading the rows too
            fund = translate.fund_terms(request.fund)
            dependence = translate.dependence(request.dependence)
            factors = dependence.factor_correlation.shape[0]
            portfolio = translate.portfolio(request.portfolio, request.dependence, factors,
                                            field="portfolio")
            candidate = translate.portfolio([request.candidate], request.dependence, factors,
                                            field="candidate")
            return pf.incremental_risk(  # validates the model itself
                portfolio, fund, dependence, candidate, seed=seed, scenarios=scenarios,
                levels=levels, method=method)

        def evaluated() -> pf.IncrementalRisk:  # the engine's field names as the request's
            try:
                return evaluate()
            except InvalidArgument as exc:
                raise translate.portfolio_api_error(exc, request.portfolio,
                                                    rows_field="portfolio") from None

        return translate.incremental_response(await asyncio.to_thread(evaluated))

    def _simulation(self, options: risk_pb2.SimulationOptions,
                    model: risk_pb2.ProcurementModel) -> tuple[int, int]:
        c = Collector()
        c.check(options.scenario_count >= 1, "simulation.scenario_count",
                "must be at least 1")
        c.check(options.scenario_count <= self.max_scenarios, "simulation.scenario_count",
                f"at most {self.max_scenarios:,} scenarios per request "
                f"(asked {options.scenario_count:,})")
        inputs = len(model.cost_items) + len(model.activities) + len(model.risk_events)
        if inputs and options.scenario_count * inputs > MAX_INPUT_SCENARIOS \
                and options.scenario_count <= self.max_scenarios:  # else: the bound above
            c.add("simulation.scenario_count",
                  f"at most {MAX_INPUT_SCENARIOS // inputs:,} scenarios for this model's "
                  f"{inputs:,} inputs ({len(model.cost_items):,} cost items, "
                  f"{len(model.activities):,} activities, {len(model.risk_events):,} risk "
                  f"events): scenarios × inputs is at most {MAX_INPUT_SCENARIOS:,} per "
                  f"request, so that the answer comes within the call's deadline (asked "
                  f"{options.scenario_count:,} × {inputs:,})")
        c.raise_if_any()
        seed = options.seed if options.HasField("seed") else secrets.randbits(63)
        return options.scenario_count, seed

    @translate_errors
    async def EstimateProcurementRisk(self, request, context):
        scenarios, seed = self._simulation(request.simulation, request.model)
        model = translate.procurement_model(request.model)
        target = request.simulation.target_standard_error_cents or None
        try:
            result = await _until_the_call_ends(
                context, estimate_procurement_risk, model, scenarios=scenarios, seed=seed,
                target_standard_error_cents=target,
                quantiles=tuple(request.quantile_levels),
                confidence=request.confidence or 0.8,
                histogram_bins=request.histogram_bins or 50)
        except InvalidArgument as exc:
            raise _in_model(exc, request.model) from exc
        self.events.publish_soon(cloud_event(
            "ijh.risk.procurement.estimated", SOURCE, f"estimates/seed-{result.seed}",
            translate.risk_estimated_event(result),
            absent=translate.risk_estimated_event_absent(result)))
        return translate.risk_response(result, request.model)

    @translate_errors
    async def EvaluateProcurementGuarantee(self, request, context):
        scenarios, seed = self._simulation(request.simulation, request.model)
        model = translate.procurement_model(request.model)
        terms = translate.guarantee_terms(request.terms)
        _check_loss_at_failure(model, terms)
        try:
            result = await _until_the_call_ends(
                context, evaluate_guarantee, model, terms, scenarios=scenarios, seed=seed,
                risk_levels=tuple(request.levels) or (0.95, 0.99))
        except InvalidArgument as exc:
            raise _in_model(exc, request.model) from exc
        self.events.publish_soon(cloud_event(
            "ijh.risk.guarantee.evaluated", SOURCE, f"guarantee-evaluations/seed-{result.seed}",
            translate.guarantee_evaluated_event(result)))
        return translate.guarantee_response(result, request.model)


def _compile_kernels() -> None:
    """Run each compiled (numba) kernel once on a tiny model, so the first real request
    does not pay the compilation (seconds on a fresh checkout; the cache makes later
    starts quick). Plain Monte Carlo compiles the simulation kernel that importance
    sampling, contributions and incremental risk run too (same argument types; the
    exponential twist's kernel is not reachable through the API); the semi-analytic run
    compiles the law's kernels, the exact convolution of conditional PDs near ½ included
    (a loading of 0.6 puts some of the tiny book's PDs there) and the rounding model of
    amounts off the loss lattice (the tiny book's amounts share no common unit)."""
    tiny = pr.ProcurementModel(
        kind=pr.ProcurementKind.PRE_COMMERCIAL_PROCUREMENT,
        novelty=pr.NoveltyLevel.NEW_TO_SECTOR, budget_cents=10_000,
        cost_items=(pr.CostItem("a", pr.CostDistribution(pr.DistributionKind.PERT, 1, 2, 3)),
                    pr.CostItem("b", pr.CostDistribution(pr.DistributionKind.TRIANGULAR,
                                                         1, 2, 3))))
    estimate_procurement_risk(tiny, scenarios=64, seed=1)
    book = pf.Portfolio.from_arrays(exposure_cents=1000 + 37 * np.arange(8),
                                    probability_of_default=0.05,
                                    loss_given_default=0.5, factor_loadings=np.full(8, 0.6))
    model = pf.validated_model(book, pf.Fund(capital_cents=10**6), pf.Dependence.one_factor())
    for method in ("monte_carlo", "semi_analytic"):
        pf.simulate_portfolio(model, seed=1, scenarios=1024, method=method)


def build_risk(settings: Settings) -> ServiceRuntime:
    """The risk runtime (call inside the running event loop)."""
    keys = caller_keys(settings, "risk")
    tls = internal_tls(settings, serves=True)
    events = EventPublisher(settings.nats_url, settings.event_stream,
                            limits=StreamLimits.from_settings(settings))
    servicer = RiskServicer(settings, events)
    registry = metrics.new_registry()
    metrics.register_event_publisher(events, registry)
    metrics.operations_in_flight_gauge(registry).set_function(servicer.operations.running)
    return ServiceRuntime(
        "risk", settings.risk_address, settings,
        [Registration(risk_pb2.DESCRIPTOR.services_by_name["RiskService"].full_name,
                      risk_pb2_grpc.add_RiskServiceServicer_to_server, servicer)],
        on_start=[events.start, lambda: asyncio.to_thread(_compile_kernels),
                  servicer.operations.start_sync],
        # Operations run on through the drain and are stopped at its end; their final
        # records are written (a hook of their own: at least a second) before NATS closes.
        on_shutdown=[lambda: servicer.operations.shut_down(settings.drain)],
        on_stop=[servicer.operations.close, servicer.operations.store_final, events.close],
        observer=metrics.CallObserver(metrics.CallMetrics("ijh_risk", registry)),
        metrics_address=settings.risk_metrics_address, metrics_registry=registry,
        # Every call signed: by the gateway (the caller it checked), or by funding, each
        # over a connection with its own certificate when IJH_INTERNAL_TLS_CALLERS says so.
        caller_keys=keys, tls=tls, caller_certificates=caller_certificate_names(
            settings, "risk", mutual_tls=tls is not None),
        probe_address=settings.risk_probe_address)


async def main() -> None:
    try:
        runtime = build_risk(service_settings("risk"))
    except ConfigurationError as exc:
        cannot_start(exc)
    await runtime.run_until_signalled()
