"""One portfolio simulation, prepared from protobuf and run on a worker thread.

Shared by the streaming RPC and by long-running operations: both get progress as it
comes and stop the engine between chunks when asked (cancel, deadline, client gone).
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import secrets
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

from ijh.risk.v1 import risk_pb2

from services.risk import translate
from services.risk.engine import portfolio as pf
from services.shared.errors import Collector, FieldViolation, InvalidArgument

PROGRESS_UPDATES = 20  # progress reports per simulation, about


@dataclass(frozen=True)
class PortfolioLimits:
    """The service's bounds on one simulation."""

    max_guarantees: int
    max_scenarios: int


def seed_for_request(request_id: str) -> int:
    """The seed of an operation started without one: derived from its request_id, so that
    a retry of the start (same request_id, still no seed) is the same simulation, with the
    same figures, even once the first is gone (expired, or lost with NATS away)."""
    digest = hashlib.sha256(b"ijh.risk.portfolio-seed\0" + request_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1  # 63 bits, as a drawn seed


def simulation_options(options: risk_pb2.PortfolioSimulationOptions, limits: PortfolioLimits,
                       seed_if_absent: int | None = None
                       ) -> tuple[int, int, str, tuple[float, ...]]:
    """Scenarios, seed (``seed_if_absent``, or drawn, when the options give none), method
    and ascending levels, validated."""
    c = Collector()
    scenarios = options.scenario_count or 100_000
    c.check(scenarios >= 1, "simulation.scenario_count", "must be at least 1")
    c.check(scenarios <= limits.max_scenarios, "simulation.scenario_count",
            f"at most {limits.max_scenarios:,} scenarios per simulation (asked {scenarios:,})")
    levels = tuple(options.levels) or pf.DEFAULT_LEVELS
    for i, level in enumerate(levels):
        c.check(0.5 <= level < 1, f"simulation.levels[{i}]", "must be in [0.5, 1)")
    c.check(options.target_relative_error >= 0, "simulation.target_relative_error",
            "must not be negative")
    method = translate.portfolio_method(options.method)
    pf.check_method_accuracy(c, method, options.target_relative_error,
                             "simulation.target_relative_error")
    c.raise_if_any()
    if options.HasField("seed"):
        seed = options.seed
    else:
        seed = secrets.randbits(63) if seed_if_absent is None else seed_if_absent
    return scenarios, seed, method, tuple(sorted(levels))


def check_size(count: int, limits: PortfolioLimits, field: str = "guarantees") -> None:
    """Refuse a portfolio above the bound, naming the first row beyond it."""
    if count > limits.max_guarantees:
        raise InvalidArgument(FieldViolation(
            f"{field}[{limits.max_guarantees}]",
            f"the portfolio is above the bound of {limits.max_guarantees:,} guarantees per "
            "simulation; send a smaller portfolio"))


#: SimulatePortfolio's options: its first message carries them, its later ones rows only.
HEADER_FIELDS = ("fund", "dependence", "simulation")


def check_later_message(message: risk_pb2.SimulatePortfolioRequest, index: int) -> None:
    """Refuse options in a stream's later message (``index`` from 0): only the first
    message's count, and a client that changed them midway would get figures for options
    it did not mean."""
    again = [name for name in HEADER_FIELDS if message.HasField(name)]
    if again:
        raise InvalidArgument([FieldViolation(
            name, f"first message only: message {index} of the stream set it again; send "
                  "the later chunks with guarantees alone") for name in again])


def prepared_run(first: risk_pb2.SimulatePortfolioRequest,
                 guarantees: Sequence[risk_pb2.Guarantee], limits: PortfolioLimits,
                 prefix: str = "", seed_if_absent: int | None = None) -> PortfolioRun:
    """A :class:`PortfolioRun`, or InvalidArgument naming the request's own fields: the
    portfolio's as SimulatePortfolio's messages spell them, each after ``prefix`` where
    they sit inside another request (``simulation.`` in StartPortfolioSimulation)."""
    try:
        return PortfolioRun(first, guarantees, limits, seed_if_absent)
    except InvalidArgument as exc:
        raise translate.portfolio_api_error(exc, guarantees, prefix=prefix) from None


class _Finished:
    """End marker from the worker thread: its result or its exception."""

    def __init__(self, result=None, error: BaseException | None = None):
        self.result, self.error = result, error


class PortfolioRun:
    """A validated simulation request, ready to run."""

    def __init__(self, first: risk_pb2.SimulatePortfolioRequest,
                 guarantees: Sequence[risk_pb2.Guarantee], limits: PortfolioLimits,
                 seed_if_absent: int | None = None):
        if not guarantees:
            raise InvalidArgument(FieldViolation("guarantees", "at least one guarantee"))
        check_size(len(guarantees), limits)
        self.options = first.simulation
        self.scenarios, self.seed, self.method, self.levels = simulation_options(
            first.simulation, limits, seed_if_absent)
        fund = translate.fund_terms(first.fund)
        dependence = translate.dependence(first.dependence)
        portfolio = translate.portfolio(guarantees, first.dependence,
                                        dependence.factor_correlation.shape[0])
        # The one validation of the run: here, so that a bad request is refused before
        # anything starts; the engine trusts the ValidatedModel and does not check again.
        self.model = pf.validated_model(portfolio, fund, dependence)
        pf.check_model_method(self.model, self.method, "simulation.method")
        # The method that runs, known before it does (the engine's own choice for auto).
        self.method_run = (pf.choose_method(self.model, levels=self.levels)
                           if self.method == "auto" else self.method)
        self.ids = [g.id for g in guarantees]
        self.stop = threading.Event()
        # After contribution_shares: the contributions, or None (not asked, or stopped)
        self.contributions: pf.RiskContributions | None = None
        self.contributions_stopped = False

    @property
    def guarantee_count(self) -> int:
        return self.model.portfolio.size

    @property
    def horizon_years(self) -> int:
        """The years the simulated loss covers."""
        return int(self.model.fund.horizon_years)

    @property
    def blocks(self) -> int:
        """Blocks of scenarios the simulation runs at most (the engine's unit)."""
        return math.ceil(self.scenarios / pf.BLOCK_SCENARIOS)

    async def _in_worker(self, run: Callable[[Callable[[object], None]], object],
                         outcome: _Finished) -> AsyncIterator[object]:
        """``run(report)`` (an engine call) in a worker thread, yielding each item it
        reports as it comes; then ``outcome`` holds its value, or its exception is raised
        here. Whoever stops listening sets ``self.stop``, which the engine's callback
        reads between chunks or blocks: the thread is not cancelled with the call."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()

        def report(item: object) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, item)

        def work() -> None:
            try:
                finished = _Finished(run(report))
            except BaseException as exc:  # re-raised in the caller's task
                finished = _Finished(error=exc)
            report(finished)

        worker = loop.run_in_executor(None, work)
        finished = False
        try:
            while True:
                item = await queue.get()
                if isinstance(item, _Finished):
                    finished = True
                    break
                yield item
        finally:
            if not finished:
                self.stop.set()
        await worker
        if item.error is not None:
            raise item.error
        outcome.result = item.result

    async def progress(self) -> AsyncIterator[pf.Progress]:
        """Progress after each chunk; returns when the engine is done. ``self.result``
        then holds the final PortfolioResult (cancelled=True if stopped early)."""
        def run(report: Callable[[object], None]) -> pf.PortfolioResult:
            def on_progress(progress: pf.Progress) -> bool:
                report(progress)
                return not self.stop.is_set()

            return pf.simulate_portfolio(
                self.model, seed=self.seed,
                scenarios=self.scenarios, method=self.method, levels=self.levels,
                chunk_blocks=max(1, math.ceil(self.blocks / PROGRESS_UPDATES)),
                target_relative_error=self.options.target_relative_error or None,
                on_progress=on_progress)

        outcome = _Finished()
        items = self._in_worker(run, outcome)
        try:
            async for progress in items:
                if not progress.final:
                    yield progress
        finally:
            await items.aclose()  # at once, not when collected: it sets self.stop
        self.result = outcome.result

    @property
    def passes(self) -> int:
        """Passes over the scenarios: the simulation, and two more for contributions."""
        return 3 if self.options.include_contributions else 1

    @property
    def contribution_scenarios(self) -> int:
        """Scenarios of the contribution passes (after :meth:`progress`): as many as the
        sampled simulation ran, so a stop at the target error also shortens them; all the
        scenarios asked for when the figures came from a law (semi-analytic, CreditRisk+)."""
        if self.result.method in pf.MC_METHODS:
            return min(self.result.scenarios, self.scenarios)
        return self.scenarios

    async def contribution_shares(self) -> AsyncIterator[float]:
        """After :meth:`progress`: the contribution passes, when asked and the simulation
        ended, yielding the share of them done (about every 1/PROGRESS_UPDATES) as they
        go; nothing to yield otherwise. They stop between blocks like the simulation
        (``self.stop``; also when the caller stops listening): ``self.contributions`` is
        then None and ``self.contributions_stopped`` True, the simulation's result kept
        (:meth:`result_message`)."""
        if not self.options.include_contributions or self.result.cancelled:
            return
        reported = [0.0]

        def run(report: Callable[[object], None]):
            def on_block(done: int, total: int) -> bool:
                share = done / total
                if share - reported[0] >= 1 / PROGRESS_UPDATES:
                    reported[0] = share
                    report(share)
                return not self.stop.is_set()

            return pf.risk_contributions(
                self.model, seed=self.seed, scenarios=self.contribution_scenarios,
                level=self.levels[-1], on_block=on_block)

        outcome = _Finished()
        items = self._in_worker(run, outcome)
        try:
            async for share in items:
                yield share
        finally:
            await items.aclose()  # at once, not when collected: it sets self.stop
        self.contributions = outcome.result
        self.contributions_stopped = outcome.result is None

    def result_message(self, stopped_why: str = "stopped") -> risk_pb2.PortfolioRiskResult:
        """The result message (after :meth:`progress` and :meth:`contribution_shares`):
        with the contributions, or, when they were stopped (``stopped_why``: by what),
        without them, saying so."""
        result = translate.portfolio_result(self.result, self.guarantee_count,
                                            self.contributions, self.ids,
                                            self.options.top_guarantees or 20)
        if self.contributions_stopped:
            result.contributions_stopped = True
            result.notes.append(
                f"risk contributions not computed: {stopped_why} while they were computed, "
                "after the simulation had ended (its figures here are whole and final); "
                "run it again (same seed, same figures) for them")
        return result

    async def response(self, on_share: Callable[[float], None] | None = None
                       ) -> risk_pb2.PortfolioRiskResult:
        """The result message, with contributions when asked (after :meth:`progress`):
        :meth:`contribution_shares` (``on_share(share of them done)`` for each), then
        :meth:`result_message`."""
        async for share in self.contribution_shares():
            if on_share is not None:
                on_share(share)
        return self.result_message()
