"""The schedule network: topological order, and per-scenario longest path and
critical activities, vectorised over scenarios (critical path method)."""

from __future__ import annotations

import numpy as np


def topological_order(predecessors: list[list[int]]) -> tuple[list[int], list[int]]:
    """Kahn's algorithm. Returns (order, activities left on or behind a cycle)."""
    count = len(predecessors)
    successors: list[list[int]] = [[] for _ in range(count)]
    waiting = [len(set(p)) for p in predecessors]
    for i, preds in enumerate(predecessors):
        for p in set(preds):
            successors[p].append(i)
    ready = [i for i in range(count) if waiting[i] == 0]
    order: list[int] = []
    while ready:
        i = ready.pop()
        order.append(i)
        for s in successors[i]:
            waiting[s] -= 1
            if waiting[s] == 0:
                ready.append(s)
    stuck = sorted(set(range(count)) - set(order))
    return order, stuck


class Network:
    """An acyclic activity network, prepared once per model."""

    def __init__(self, predecessors: list[list[int]]):
        order, stuck = topological_order(predecessors)
        if stuck:
            raise ValueError("schedule has a cycle")  # validation reports it first
        self.order = order
        self.predecessors = [sorted(set(p)) for p in predecessors]
        successors: list[list[int]] = [[] for _ in predecessors]
        for i, preds in enumerate(self.predecessors):
            for p in preds:
                successors[p].append(i)
        self.successors = successors

    def on_every_path(self) -> list[bool]:
        """Whether each activity lies on every path from a first activity to a last one:
        such an activity is on the longest path, so critical, whatever the durations."""
        to = [0] * len(self.order)  # paths from a first activity ending at i
        for i in self.order:
            to[i] = sum(to[p] for p in self.predecessors[i]) or 1
        onward = [0] * len(self.order)  # paths from i to a last activity
        for i in reversed(self.order):
            onward[i] = sum(onward[s] for s in self.successors[i]) or 1
        total = sum(to[i] for i in self.order if not self.successors[i])
        return [to[i] * onward[i] == total for i in range(len(self.order))]

    def longest_path(self, durations_days: list[float]) -> float:
        """The project duration for one set of durations (inf allowed)."""
        finish = [0.0] * len(self.order)
        for i in self.order:
            finish[i] = max((finish[p] for p in self.predecessors[i]), default=0.0) + \
                durations_days[i]
        return max(finish, default=0.0)

    def evaluate(self, durations_days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Project duration per scenario (longest path from time 0) and a boolean
        (activities, scenarios) matrix of critical activities (zero total float).

        ``durations_days`` is (activities, scenarios)."""
        finish = np.empty_like(durations_days)
        start = np.zeros_like(durations_days)
        for i in self.order:
            preds = self.predecessors[i]
            if len(preds) == 1:
                start[i] = finish[preds[0]]
            elif preds:
                np.maximum.reduce(finish[preds], axis=0, out=start[i])
            np.add(start[i], durations_days[i], out=finish[i])
        project = finish.max(axis=0)
        # Backward pass: latest finish; total float = latest start − earliest start.
        latest_start = np.empty_like(durations_days)
        for i in reversed(self.order):
            succs = self.successors[i]
            if not succs:
                latest_finish = project
            elif len(succs) == 1:
                latest_finish = latest_start[succs[0]]
            else:
                latest_finish = np.minimum.reduce(latest_start[succs], axis=0)
            np.subtract(latest_finish, durations_days[i], out=latest_start[i])
        # Float is a difference of sums taken in different orders: allow rounding.
        tolerance = 1e-9 * np.maximum(project, 1.0)
        critical = (latest_start - start) <= tolerance
        return project, critical
