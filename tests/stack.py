"""A running set of the three services as real processes, for tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from services.embedded import ServiceProcess
from services.shared.nats_server import NatsServer, free_port


@dataclass
class Stack:
    """Addresses and processes of one running set of services."""

    nats: NatsServer
    risk: ServiceProcess
    funding: ServiceProcess
    gateway: ServiceProcess
    var_dir: Path

    @property
    def processes(self) -> list[ServiceProcess]:
        return [self.risk, self.funding, self.gateway]

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()


def start_stack(nats: NatsServer, var_dir: Path, extra_env: dict[str, str] | None = None,
                *, start_gateway_only: bool = False) -> Stack:
    """Start risk, funding and gateway on free ports against ``nats``; wait for SERVING."""
    var_dir.mkdir(parents=True, exist_ok=True)
    addresses = {name: f"127.0.0.1:{free_port()}" for name in ("risk", "funding", "gateway")}
    env = {
        "IJH_NATS_URL": nats.url,
        "IJH_VAR_DIR": str(var_dir),
        "IJH_RISK_ADDRESS": addresses["risk"],
        "IJH_FUNDING_ADDRESS": addresses["funding"],
        "IJH_GATEWAY_ADDRESS": addresses["gateway"],
        "IJH_GRACE_SECONDS": "2",
        "IJH_BACKEND_DEADLINE_SECONDS": "5",
        **(extra_env or {}),
    }
    processes = {name: ServiceProcess(name, addresses[name], env, var_dir / f"{name}.log")
                 for name in addresses}
    order = ["gateway"] if start_gateway_only else ["risk", "funding", "gateway"]
    for name in order:
        processes[name].start()
    for name in order:
        processes[name].wait_serving()
    return Stack(nats, processes["risk"], processes["funding"], processes["gateway"], var_dir)
