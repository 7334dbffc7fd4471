"""A service's start and stop as an operator sees them, on real processes: wrong settings
are one log line and exit 2 before slow start-up work; SIGTERM drains (NOT_SERVING while
calls are still served), then stops within drain + grace."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from ijh.funding.v1 import funding_pb2_grpc

from services.embedded import ServiceProcess
from services.gateway.dev_pki import ensure_dev_pki
from services.shared.caller import signed_metadata
from services.shared.nats_server import free_port
from tests.gateway.test_gateway import _grant_request
from tests.stack import caller_key_env, keys_of


def _process(module, tmp_path, env) -> ServiceProcess:
    address = f"127.0.0.1:{free_port()}"
    base = {"IJH_VAR_DIR": str(tmp_path), f"IJH_{module.upper()}_ADDRESS": address,
            f"IJH_{module.upper()}_METRICS_ADDRESS": "0", "IJH_NATS_URL": "nats://127.0.0.1:9",
            **caller_key_env(tmp_path)}
    return ServiceProcess(module, address, {**base, **env}, tmp_path / f"{module}.log")


def _refused(process: ServiceProcess, seconds: float = 20) -> dict:
    """Start ``process``; it must exit 2 within ``seconds``, its log ending in its one
    ERROR line (before it only gRPC's own C core, e.g. "Failed to add port", and other
    parts' warnings, e.g. NATS not reachable yet), with no traceback."""
    process.start()
    try:
        code = process.process.wait(seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail(f"{process.module} still running with a wrong setting")
    lines = process.log_path.read_text().splitlines()
    assert code == 2, lines
    assert "Traceback" not in process.log_path.read_text()
    assert all(json.loads(text)["level"] != "ERROR" for text in lines[:-1]
               if text.startswith("{")), lines
    line = json.loads(lines[-1])
    assert line["level"] == "ERROR" and line["message"] == "cannot start"
    return line


@pytest.mark.parametrize(("module", "variable", "value"), [
    ("risk", "IJH_GRACE_SECONDS", "abc"),  # was accepted, then crashed at SIGTERM
    ("risk", "IJH_MAX_SCENARIOS", "abc"),
    ("funding", "IJH_MAX_MESSAGE_BYTES", "abc"),
    ("gateway", "IJH_LOG_LEVEL", "LOUD"),
    ("risk", "IJH_CALLER_KEY_DIR", "/nonexistent/caller-keys"),
    ("risk", "IJH_RISK_ADDRESS", "dns:///risk-headless:50052"),  # where callers reach it
    ("risk", "IJH_RISK_METRICS_ADDRESS", "nowhere"),
    ("funding", "IJH_FUNDING_ADDRESS", "127.0.0.1:abc"),
    ("funding", "IJH_DATABASE_URL", "notaurl"),
])
def test_a_wrong_setting_is_one_line_naming_it_and_exit_2(tmp_path, module, variable, value):
    line = _refused(_process(module, tmp_path, {variable: value}))
    assert variable in line["error"]


@pytest.mark.parametrize("module", ["risk", "funding", "gateway"])
def test_no_caller_keys_is_one_line_naming_it_and_exit_2(tmp_path, module):
    # Refusing to start is the default: a backend without the keys would have to believe
    # any caller, a gateway without them could sign for none.
    env = {**ensure_dev_pki(tmp_path).gateway_env(), "IJH_CALLER_KEY_DIR": ""}
    line = _refused(_process(module, tmp_path, env))
    assert "IJH_CALLER_KEY_DIR: not set" in line["error"]


@pytest.mark.parametrize("content, words", [
    ("too-short\n", "at least 32"),
    ("# nothing but a comment\n", "holds no key"),
    (b"\xff" * 40, "not ASCII"),
])
def test_a_wrong_caller_key_file_is_named_without_its_content(tmp_path, content, words):
    directory = tmp_path / "keys"
    directory.mkdir()
    path = directory / "gateway-funding.key"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    line = _refused(_process("funding", tmp_path, {"IJH_CALLER_KEY_DIR": str(directory)}))
    assert line["error"].startswith("IJH_CALLER_KEY_DIR: ") and str(path) in line["error"]
    assert words in line["error"]
    assert "too-short" not in line["error"]


@pytest.mark.parametrize("module, missing", [
    ("funding", "gateway-funding.key"), ("funding", "funding-risk.key"),
    ("risk", "gateway-risk.key"), ("risk", "funding-risk.key"),
    ("gateway", "gateway-funding.key"), ("gateway", "gateway-risk.key"),
])
def test_a_service_without_a_key_of_its_links_names_the_file(tmp_path, module, missing):
    # Each service needs the keys of its own links and only those: a directory holding
    # the others (as a pod's secret volume would) is enough.
    directory = tmp_path / "keys"
    directory.mkdir()
    for name in {"gateway-funding.key", "gateway-risk.key", "funding-risk.key"} - {missing}:
        (directory / name).write_text(name[0] * 64 + "\n")
    env = {**ensure_dev_pki(tmp_path).gateway_env(), "IJH_CALLER_KEY_DIR": str(directory)}
    line = _refused(_process(module, tmp_path, env))
    assert line["error"].startswith("IJH_CALLER_KEY_DIR: ")
    assert str(directory / missing) in line["error"]
    assert "needs the key of its link" in line["error"]


@pytest.mark.parametrize("module, shared", [
    ("funding", ("gateway-funding.key", "funding-risk.key")),
    ("risk", ("gateway-risk.key", "funding-risk.key")),
    ("gateway", ("gateway-funding.key", "gateway-risk.key")),
])
def test_one_key_on_two_links_is_refused_by_the_service_holding_both(tmp_path, module,
                                                                    shared):
    # An operator copying one key into every file would let, e.g., risk vouch to funding.
    directory = tmp_path / "keys"
    directory.mkdir()
    for number, name in enumerate(("gateway-funding.key", "gateway-risk.key",
                                   "funding-risk.key")):
        (directory / name).write_text(("s" if name in shared else str(number)) * 64 + "\n")
    env = {**ensure_dev_pki(tmp_path).gateway_env(), "IJH_CALLER_KEY_DIR": str(directory)}
    line = _refused(_process(module, tmp_path, env))
    assert line["error"].startswith("IJH_CALLER_KEY_DIR: ") and "hold the same key" in line["error"]
    assert all(name in line["error"] for name in shared) and "s" * 32 not in line["error"]


def test_a_port_in_use_is_found_before_the_kernels_are_compiled(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        started = time.monotonic()
        line = _refused(_process("risk", tmp_path, {"IJH_RISK_ADDRESS": address}))
    assert "IJH_RISK_ADDRESS" in line["error"] and address in line["error"]
    assert time.monotonic() - started < 6  # compiling the kernels takes longer than this


@pytest.mark.parametrize("module", ["risk", "funding", "gateway"])
def test_a_probe_port_in_use_is_one_line_naming_it_and_exit_2(tmp_path, module):
    variable = f"IJH_{module.upper()}_PROBE_ADDRESS"
    env = ensure_dev_pki(tmp_path).gateway_env()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        started = time.monotonic()
        line = _refused(_process(module, tmp_path, {**env, variable: address}))
    assert line["error"].startswith(f"{variable}: cannot listen on '{address}'"), line
    assert time.monotonic() - started < 6  # bound before the start hooks, as the port is


def test_a_certificate_that_is_not_pem_is_named(tmp_path):
    env = ensure_dev_pki(tmp_path).gateway_env()
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN CERTIFICATE-----\nnot base64 at all\n")
    env["IJH_GATEWAY_TLS_CERT"] = str(garbage)
    line = _refused(_process("gateway", tmp_path, env))
    assert "IJH_GATEWAY_TLS_CERT" in line["error"] and "Failed to bind" not in line["error"]


def test_a_database_that_does_not_exist_is_named_without_its_password(tmp_path):
    from tests.funding.storage.conftest import _PG
    from tests.funding.storage.ledger_support import PG_URL
    if not _PG:
        pytest.skip("PostgreSQL not reachable at " + PG_URL)
    from sqlalchemy.engine import make_url
    url = make_url(PG_URL).set(password="s3cret-pw", database="ijh_no_such_database")
    line = _refused(_process("funding", tmp_path, {
        "IJH_DATABASE_URL": url.render_as_string(hide_password=False)}))
    assert "IJH_DATABASE_URL" in line["error"] and "ijh_no_such_database" in line["error"]
    assert "s3cret-pw" not in (tmp_path / "funding.log").read_text()


def test_a_database_that_never_answers_is_named_within_the_connect_timeout(tmp_path):
    # A port that accepts and never answers (a hung server, a dropping firewall) used to
    # hold the start in its migrations for ever, its last line "connected to NATS".
    with socket.create_server(("127.0.0.1", 0)) as silent:
        port = silent.getsockname()[1]
        started = time.monotonic()
        line = _refused(_process("funding", tmp_path, {
            "IJH_DATABASE_URL": f"postgresql+psycopg://postgres@127.0.0.1:{port}/ijh"}),
            seconds=40)
    assert time.monotonic() - started < 30
    assert line["error"].startswith("IJH_DATABASE_URL: cannot open the ledger database")
    assert f"127.0.0.1:{port}" in line["error"] and "timeout" in line["error"], line
    assert "migrating the ledger database" in (tmp_path / "funding.log").read_text()


def test_sigterm_drains_not_serving_while_calls_are_served_then_stops(nats_server, tmp_path):
    drain, grace = 3.0, 2.0
    process = _process("funding", tmp_path, {"IJH_NATS_URL": nats_server.url,
                                             "IJH_DRAIN_SECONDS": str(drain),
                                             "IJH_GRACE_SECONDS": str(grace)}).start()
    try:
        process.wait_serving()
        with grpc.insecure_channel(process.address) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            process.process.send_signal(signal.SIGTERM)
            signalled = time.monotonic()
            status = health_pb2.HealthCheckResponse.SERVING
            while status == health_pb2.HealthCheckResponse.SERVING:
                assert time.monotonic() - signalled < 1.0, "never NOT_SERVING"
                status = health.Check(health_pb2.HealthCheckRequest(
                    service="ijh.funding.v1.FundingService"), timeout=1).status
            assert status == health_pb2.HealthCheckResponse.NOT_SERVING
            # Still answering while the balancers stop sending.
            reply = funding_pb2_grpc.FundingServiceStub(channel).ComputeGrant(
                _grant_request(), timeout=1, metadata=signed_metadata(
                    keys_of(tmp_path), "/ijh.funding.v1.FundingService/ComputeGrant",
                    "t-officer", "officer"))
            assert reply.grant_cents == 50_00
            assert time.monotonic() - signalled < drain
        code = process.process.wait(drain + grace + 4)
        took = time.monotonic() - signalled
    finally:
        process.stop()
    assert code == 0
    assert drain <= took <= drain + grace + 4
    log = process.log_path.read_text()
    assert "Traceback" not in log and '"message": "stopped"' in log
