"""`make run`'s launcher: everything comes up, answers, and Ctrl-C stops all of it; a
second run starts again on the same state."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest
from ijh.funding.v1 import funding_pb2, funding_pb2_grpc

from services.shared.nats_server import free_port

ROOT = Path(__file__).resolve().parents[2]


def _launch(var_dir: Path, ports: dict[str, int],
            extra_env: dict[str, str] | None = None) -> subprocess.Popen:
    env = {**os.environ, **(extra_env or {}),
           "IJH_VAR_DIR": str(var_dir),
           "IJH_GATEWAY_ADDRESS": f"127.0.0.1:{ports['gateway']}",
           "IJH_RISK_ADDRESS": f"127.0.0.1:{ports['risk']}",
           "IJH_FUNDING_ADDRESS": f"127.0.0.1:{ports['funding']}",
           "IJH_EMBEDDED_NATS_PORT": str(ports["nats"]),
           "IJH_EMBEDDED_NATS_MONITOR_PORT": str(ports["monitor"]),
           "IJH_GATEWAY_METRICS_ADDRESS": f"127.0.0.1:{ports['metrics']}",
           "IJH_RISK_METRICS_ADDRESS": f"127.0.0.1:{ports['risk_metrics']}",
           "IJH_FUNDING_METRICS_ADDRESS": f"127.0.0.1:{ports['funding_metrics']}",
           "IJH_GRACE_SECONDS": "2"}
    env.pop("IJH_NATS_URL", None)
    # Its own process group, as a terminal gives `make run`: Ctrl-C signals the whole group.
    return subprocess.Popen([sys.executable, "-m", "services.embedded"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def _wait_for(process: subprocess.Popen, text: str, timeout: float = 180) -> str:
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            break
        seen.append(line)
        if text in line:
            return "".join(seen)
    raise AssertionError(f"{text!r} not printed:\n{''.join(seen)}")


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def _grant(var_dir: Path, address: str) -> int:
    credentials = grpc.composite_channel_credentials(
        grpc.ssl_channel_credentials((var_dir / "dev-pki" / "ca.pem").read_bytes()),
        grpc.access_token_call_credentials(
            (var_dir / "tokens" / "officer.jwt").read_text().strip()))
    request = funding_pb2.ComputeGrantRequest(
        reference_date="2026-01-15", procurement_kind="new_product_or_service",
        applicant=funding_pb2.Applicant(kind="contracting_authority", business_id="0201256-6"),
        cost_lines=[funding_pb2.CostLine(category="purchased_expert_services",
                                         amount_cents=1_000_000)])
    with grpc.secure_channel(address, credentials) as channel:
        return funding_pb2_grpc.FundingServiceStub(channel).ComputeGrant(
            request, timeout=30).grant_cents


@pytest.mark.timeout(600)
def test_make_run_starts_answers_and_ctrl_c_or_a_hang_up_stops_everything(tmp_path):
    ports = {name: free_port() for name in
             ("gateway", "risk", "funding", "nats", "monitor", "metrics", "risk_metrics",
              "funding_metrics")}
    for attempt in (1, 2):
        launcher = _launch(tmp_path, ports)
        try:
            banner = _wait_for(launcher, "Ctrl-C stops everything")
            assert f"127.0.0.1:{ports['gateway']}" in banner
            for name in ("metrics", "risk_metrics", "funding_metrics"):  # all three /metrics
                assert f"http://127.0.0.1:{ports[name]}/metrics" in banner, name
            # the NATS this run uses, not the default port
            assert f"services.watch_events --nats-url nats://127.0.0.1:{ports['nats']}" \
                in banner
            assert _grant(tmp_path, f"127.0.0.1:{ports['gateway']}") == 500_000
            if attempt == 1:  # NATS dies: the launcher says so and brings it back
                nats_pid = int(subprocess.run(
                    ["pgrep", "-f", f"nats-server -c {tmp_path}"], capture_output=True,
                    text=True).stdout.split()[0])
                os.kill(nats_pid, signal.SIGKILL)
                _wait_for(launcher, f"restarting it on nats://127.0.0.1:{ports['nats']}",
                          timeout=30)
                deadline = time.monotonic() + 30
                while _port_free(ports["nats"]):
                    assert time.monotonic() < deadline, "NATS not back"
                    time.sleep(0.2)
                assert _grant(tmp_path, f"127.0.0.1:{ports['gateway']}") == 500_000
            # What Ctrl-C sends to the whole group; the second time, a closing terminal's
            # hang-up.
            os.killpg(launcher.pid, signal.SIGINT if attempt == 1 else signal.SIGHUP)
            tail = _wait_for(launcher, "stopped.", timeout=60)
            assert launcher.wait(timeout=30) == 0, tail
            # NATS is stopped by the launcher after the services (SIGTERM), not by the
            # Ctrl-C itself, so the services' last events still reach it.
            nats_log = (tmp_path / "nats" / "nats-server.log").read_text()
            assert nats_log.count('Trapped "terminated" signal') == attempt, nats_log[-2000:]
            assert 'Trapped "interrupt" signal' not in nats_log, nats_log[-2000:]
            assert 'Trapped "hangup" signal' not in nats_log, nats_log[-2000:]
        finally:
            if launcher.poll() is None:
                launcher.kill()
        for name, port in ports.items():
            assert _port_free(port), f"run {attempt}: {name} still listening on {port}"
    # The embedded NATS kept its JetStream store under var/ across the two runs.
    assert (tmp_path / "nats" / "jetstream").is_dir()


@pytest.mark.timeout(300)
@pytest.mark.skipif(not sys.platform.startswith("linux"),
                    reason="the launcher's children end with it through a Linux call")
def test_a_killed_launcher_takes_its_services_and_nats_with_it(tmp_path):
    ports = {name: free_port() for name in
             ("gateway", "risk", "funding", "nats", "monitor", "metrics", "risk_metrics",
              "funding_metrics")}
    launcher = _launch(tmp_path, ports)
    try:
        _wait_for(launcher, "Ctrl-C stops everything")
        os.kill(launcher.pid, signal.SIGKILL)  # no chance to stop its children itself
        launcher.wait(timeout=10)
        deadline = time.monotonic() + 60
        while busy := [name for name, port in ports.items() if not _port_free(port)]:
            assert time.monotonic() < deadline, f"still listening after the launcher: {busy}"
            time.sleep(0.2)
        assert not subprocess.run(["pgrep", "-f", f"nats-server -c {tmp_path}"],
                                  capture_output=True).stdout
        # They stopped cleanly (SIGTERM), not killed: NATS says so in its log.
        assert 'Trapped "terminated" signal' in (tmp_path / "nats" / "nats-server.log"
                                                 ).read_text()
    finally:
        if launcher.poll() is None:
            launcher.kill()
        _kill_processes_of(tmp_path)  # should it fail, leave nothing running here


@pytest.mark.timeout(120)
def test_a_nats_server_already_on_its_ports_is_named_not_taken_for_its_own(tmp_path):
    # A stale `make run`'s NATS answered the health check: the launcher started on its
    # store, then restarted "its" NATS every half second without end.
    from services.shared.nats_server import NatsServer
    ports = {name: free_port() for name in
             ("gateway", "risk", "funding", "metrics", "risk_metrics", "funding_metrics")}
    stale = NatsServer(tmp_path / "stale-nats").start()
    ports.update(nats=stale.port, monitor=stale.monitor_port)
    launcher = _launch(tmp_path / "var", ports)
    try:
        output, _ = launcher.communicate(timeout=60)
        assert launcher.returncode == 1, output
        assert "are running" not in output and "restarting" not in output, output
        assert f"port {stale.port} is already in use" in output, output
        assert "IJH_EMBEDDED_NATS_PORT" in output, output
        assert stale.process.poll() is None  # left alone
        for name in ("gateway", "risk", "funding"):  # nothing started on a foreign NATS
            assert _port_free(ports[name]), name
    finally:
        if launcher.poll() is None:
            launcher.kill()
        _kill_processes_of(tmp_path / "var")
        stale.stop()


@pytest.mark.timeout(180)
def test_ctrl_c_during_start_up_stops_at_once_and_stops_what_started(tmp_path):
    # Funding waits on a database that never answers (its URL allows 120 s to connect):
    # the launcher waited for it to be SERVING through a Ctrl-C, for minutes.
    ports = {name: free_port() for name in
             ("gateway", "risk", "funding", "nats", "monitor", "metrics", "risk_metrics",
              "funding_metrics")}
    with socket.create_server(("127.0.0.1", 0)) as silent:
        database = (f"postgresql+psycopg://postgres@127.0.0.1:{silent.getsockname()[1]}"
                    "/ijh?connect_timeout=120")
        launcher = _launch(tmp_path, ports, {"IJH_DATABASE_URL": database})
        try:
            funding_log = tmp_path / "logs" / "funding.log"
            deadline = time.monotonic() + 90
            while not (funding_log.exists()
                       and "migrating the ledger database" in funding_log.read_text()):
                assert launcher.poll() is None, launcher.stdout.read()
                assert time.monotonic() < deadline, "funding never began to migrate"
                time.sleep(0.2)
            os.killpg(launcher.pid, signal.SIGINT)
            interrupted = time.monotonic()
            output, _ = launcher.communicate(timeout=30)
            assert time.monotonic() - interrupted < 15, output
            assert launcher.returncode == 0, output
            assert "stopped while funding was starting" in output, output
            assert "are running" not in output and "stopped." in output, output
        finally:
            if launcher.poll() is None:
                launcher.kill()
            _kill_processes_of(tmp_path)
    for name, port in ports.items():
        assert _port_free(port), f"{name} still listening on {port}"


def _kill_processes_of(var_dir: Path) -> None:
    """SIGKILL every process started with IJH_VAR_DIR=var_dir, or running NATS there."""
    marks = (f"IJH_VAR_DIR={var_dir}".encode(), f"-c {var_dir}".encode())
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            seen = (proc / "environ").read_bytes() + (proc / "cmdline").read_bytes().replace(
                b"\0", b" ")
        except OSError:
            continue
        if any(mark in seen for mark in marks):
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(proc.name), signal.SIGKILL)
