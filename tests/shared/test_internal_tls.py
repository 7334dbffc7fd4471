"""Mutual TLS between the services (``IJH_INTERNAL_TLS_*``) and the plaintext probe port,
on real processes over loopback: calls through the gateway, and funding's to risk, work;
a backend's port refuses, at the TLS layer, whoever cannot show a certificate of the
internal CA, however well the call is signed, and serves a call only over the certificate
of the service that signed it (IJH_INTERNAL_TLS_CALLERS); the probe port answers health
alone, drain
included, and stops with the service (in-process); a wrong setting is one line and exit
2, a certificate outside its validity window among them."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import logging
import signal
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from google.protobuf import json_format
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_status import rpc_status
from ijh.funding.v1 import funding_pb2 as f
from ijh.funding.v1 import funding_pb2_grpc
from ijh.risk.v1 import risk_pb2, risk_pb2_grpc

from services.gateway.dev_pki import ensure_dev_pki, internal_name
from services.gateway.server import public_tls
from services.shared.caller import (
    caller_certificate_names,
    own_certificate_name,
    signed_metadata,
)
from services.shared.config import ConfigurationError, load_settings
from services.shared.logs import JsonFormatter
from services.shared.nats_server import free_port
from services.shared.server import Registration, ServiceRuntime
from services.shared.tls import CLIENT_AUTH, SERVER_AUTH, internal_tls, pem_certificate_names
from tests.funding.ledger_api_support import good_scores, guarantee_request, rid
from tests.gateway.test_gateway import _grant_request
from tests.shared.test_service_lifecycle import _process, _refused
from tests.stack import Stack, keys_of, start_stack, wait_for_text

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
FUNDING = "ijh.funding.v1.FundingService"
COMPUTE_GRANT = f"/{FUNDING}/ComputeGrant"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def mtls(nats_server, tmp_path_factory) -> Iterator[Stack]:
    running = start_stack(nats_server, tmp_path_factory.mktemp("mtls"), internal_tls=True)
    yield running
    running.stop()


def _probe_address(stack: Stack, service: str) -> str:
    return getattr(stack, service).env[f"IJH_{service.upper()}_PROBE_ADDRESS"]


def test_calls_through_the_gateway_reach_both_backends_over_mutual_tls(mtls):
    with mtls.gateway_channel("officer") as channel:
        # The gateway's health polls of its backends (and the client-side health checks
        # that pick a replica) go over the same mutual TLS: each public service SERVING.
        health = health_pb2_grpc.HealthStub(channel)
        for name in ("ijh.risk.v1.RiskService", FUNDING):
            assert health.Check(health_pb2.HealthCheckRequest(service=name),
                                timeout=5).status == SERVING
        grant = funding_pb2_grpc.FundingServiceStub(channel).ComputeGrant(
            _grant_request(), timeout=10)
        estimate = risk_pb2_grpc.RiskServiceStub(channel).EstimateProcurementRisk(
            json_format.Parse((REPO / "examples/procurement_risk.json").read_text(),
                              risk_pb2.EstimateProcurementRiskRequest()), timeout=30)
    assert grant.grant_cents == 50_00
    assert estimate.scenario_count == 10_000
    for process in (mtls.risk, mtls.funding):
        assert '"tls": true' in process.log_path.read_text()


def test_an_approval_asks_risk_over_mutual_tls(mtls):
    # Approving a guarantee makes funding call risk's EvaluateIncrementalRisk; the fund's
    # status then asks risk for its figures (a stream): both over funding's own TLS.
    with mtls.gateway_channel("company") as company, \
            mtls.gateway_channel("officer") as officer, \
            mtls.gateway_channel("officer2") as officer2:
        as_company, as_officer, as_officer2 = (funding_pb2_grpc.FundingServiceStub(c)
                                               for c in (company, officer, officer2))
        name = as_company.CreateApplication(guarantee_request(), timeout=20).application.name
        as_company.SubmitApplication(f.SubmitApplicationRequest(request_id=rid(), name=name),
                                     timeout=20)
        as_officer.RecordScores(f.RecordScoresRequest(request_id=rid(), name=name,
                                                      scores=good_scores()), timeout=20)
        request_id = f"approve-{uuid.uuid4().hex}"
        decided = as_officer2.DecideApplication(
            f.DecideApplicationRequest(request_id=rid(), name=name,
                                       decision=f.DECISION_APPROVE, reason="fund rules met"),
            metadata=[("x-request-id", request_id)], timeout=30)
        assert decided.application.state == f.APPLICATION_STATE_APPROVED
        status = as_officer.GetFundStatus(f.GetFundStatusRequest(), timeout=30)
    assert not status.risk_figures_unavailable and status.risk_figures
    risk_log = wait_for_text(mtls.risk.log_path, request_id)
    assert any("EvaluateIncrementalRisk" in line and '"code": "OK"' in line
               for line in risk_log.splitlines() if request_id in line)


@pytest.mark.parametrize("service", ["risk", "funding"])
def test_a_plaintext_caller_is_refused_at_the_tls_layer(mtls, service):
    # The call is signed as the gateway signs it: only the transport can refuse it.
    request_id = f"plaintext-{uuid.uuid4().hex}"
    metadata = (*mtls.signed(COMPUTE_GRANT), ("x-request-id", request_id))
    with grpc.insecure_channel(getattr(mtls, service).address) as channel, \
            pytest.raises(grpc.RpcError) as failure:
        funding_pb2_grpc.FundingServiceStub(channel).ComputeGrant(
            _grant_request(), metadata=metadata, timeout=5)
    assert failure.value.code() == grpc.StatusCode.UNAVAILABLE
    assert request_id not in getattr(mtls, service).log_path.read_text()


def _client_credentials(stack: Stack, client: str) -> grpc.ChannelCredentials:
    if client == "the gateway's internal certificate":
        return stack.internal_credentials("gateway")
    ca = stack.pki.internal_ca.read_bytes()  # the backend's own CA: the server is trusted
    if client == "no certificate":
        return grpc.ssl_channel_credentials(ca)
    # The public CA's client certificate, handed to people for the gateway's mutual TLS.
    return grpc.ssl_channel_credentials(ca, private_key=stack.pki.client_key.read_bytes(),
                                        certificate_chain=stack.pki.client_cert.read_bytes())


@pytest.mark.parametrize("client, served", [
    ("the gateway's internal certificate", True),
    ("no certificate", False),
    ("a certificate of the public CA", False),
])
def test_a_backend_serves_only_callers_with_an_internal_certificate(mtls, client, served):
    metadata = mtls.signed(COMPUTE_GRANT)
    with grpc.secure_channel(mtls.funding.address, _client_credentials(mtls, client)) as channel:
        call = funding_pb2_grpc.FundingServiceStub(channel).ComputeGrant
        if served:
            assert call(_grant_request(), metadata=metadata, timeout=5).grant_cents == 50_00
            return
        with pytest.raises(grpc.RpcError) as failure:
            call(_grant_request(), metadata=metadata, timeout=5)
    assert failure.value.code() == grpc.StatusCode.UNAVAILABLE


@pytest.mark.parametrize("backend, method, request_message", [
    ("funding", COMPUTE_GRANT, _grant_request()),  # funding serves the gateway alone
    ("risk", "/ijh.risk.v1.RiskService/EstimateProcurementRisk",
     risk_pb2.EstimateProcurementRiskRequest()),
])
def test_a_certificate_of_another_service_does_not_carry_the_gateways_calls(
        mtls, backend, method, request_message):
    # Funding's own certificate and a call signed with the gateway's key (as if funding's
    # pod held it): the certificate must be the signer's (IJH_INTERNAL_TLS_CALLERS).
    request_id = f"not-the-gateway-{uuid.uuid4().hex}"
    metadata = mtls.signed(method, request_id=request_id)
    with grpc.secure_channel(getattr(mtls, backend).address,
                             mtls.internal_credentials("funding")) as channel, \
            pytest.raises(grpc.RpcError) as failure:
        channel.unary_unary(method, request_serializer=type(request_message).SerializeToString,
                            response_deserializer=bytes)(request_message, metadata=metadata,
                                                         timeout=5)
    assert failure.value.code() == grpc.StatusCode.PERMISSION_DENIED
    [detail] = rpc_status.from_call(failure.value).details
    info = error_details_pb2.ErrorInfo()
    assert detail.Unpack(info) and info.reason == "CALLER_CERTIFICATE_NOT_ALLOWED"
    assert dict(info.metadata) == {"method": method, "signer": "gateway"}
    [line] = [json.loads(line) for line in wait_for_text(
        getattr(mtls, backend).log_path, request_id).splitlines()
        if request_id in line and "caller refused" in line]
    assert (line["level"], line["wanted"]) == ("WARNING", internal_name("gateway")), line
    assert f"URI:{internal_name('funding')}" in line["certificate"], line


def _named(pki, names: list[x509.GeneralName], common_name: str = "ijh-test (internal)",
           usages=(CLIENT_AUTH,)) -> tuple[bytes, bytes]:
    """A certificate of the development internal CA with the SANs ``names`` (none: no SAN
    extension) and the CN ``common_name``, for ``usages``, valid a day: PEM (cert, key)."""
    ca = x509.load_pem_x509_certificate(pki.internal_ca.read_bytes())
    ca_key = serialization.load_pem_private_key(
        pki.internal_ca.with_name("ca-key.pem").read_bytes(), None)
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
               .issuer_name(ca.subject).public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(_days(-1)).not_valid_after(_days(1))
               .add_extension(x509.ExtendedKeyUsage(list(usages)), critical=False))
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return (builder.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()))


async def test_a_certificates_names_are_read_as_grpc_reads_a_peers_identities(tmp_path):
    # One reading of a certificate's names serves the caller check and a service's check
    # of its own certificate: it must be what gRPC shows of a client over a handshake.
    pki = ensure_dev_pki(tmp_path)
    shown: list[list[str]] = []

    async def who(request: bytes, context) -> bytes:
        shown.append([name.decode() for name in context.peer_identities()])
        [pem] = context.auth_context()["x509_pem_cert"]
        return ",".join(str(name) for name in pem_certificate_names(pem)).encode()

    server = grpc.aio.server()
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("test.Peer", {
        "Who": grpc.unary_unary_rpc_method_handler(who)})])
    port = server.add_secure_port("127.0.0.1:0", grpc.ssl_server_credentials(
        [(pki.internal_key("risk").read_bytes(), pki.internal_cert("risk").read_bytes())],
        pki.internal_ca.read_bytes(), require_client_auth=True))
    await server.start()
    certificates = {
        "dev gateway": (pki.internal_cert("gateway").read_bytes(),
                        pki.internal_key("gateway").read_bytes()),
        "dev funding": (pki.internal_cert("funding").read_bytes(),
                        pki.internal_key("funding").read_bytes()),
        "every kind": _named(pki, [
            x509.DNSName("Gateway.IJH.example"), x509.UniformResourceIdentifier("spiffe://a/B"),
            x509.IPAddress(ipaddress.ip_address("2001:db8::1")), x509.RFC822Name("ops@ijh.example"),
            x509.DirectoryName(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dir")]))]),
        "no SANs": _named(pki, [], common_name="ijh-gateway.internal"),
    }
    expected = {
        "dev gateway": ["URI:spiffe://ijh-dev/gateway"],
        "dev funding": ["DNS:localhost", "IP:127.0.0.1", "URI:spiffe://ijh-dev/funding"],
        "every kind": ["DNS:Gateway.IJH.example", "URI:spiffe://a/B", "IP:2001:db8::1",
                       "email:ops@ijh.example"],
        "no SANs": ["CN:ijh-gateway.internal"],
    }
    try:
        for case, (cert, key) in certificates.items():
            credentials = grpc.ssl_channel_credentials(pki.internal_ca.read_bytes(), key, cert)
            async with grpc.aio.secure_channel(f"localhost:{port}", credentials) as channel:
                names = (await channel.unary_unary("/test.Peer/Who")(b"", timeout=5)).decode()
            assert names.split(",") == expected[case], case
            assert [name.partition(":")[2] for name in expected[case]] == \
                [name for name in shown[-1] if name != "other types of SAN"], case
    finally:
        await server.stop(0)


async def test_a_dns_name_allowed_is_matched_in_any_case_a_uri_only_as_written(tmp_path):
    # Risk with the allow-list written in other cases than the certificates: funding's
    # DNS name (localhost) is served, the gateway's URI (spiffe://ijh-dev/gateway) not.
    pki = ensure_dev_pki(tmp_path)
    settings = load_settings({
        **pki.internal_tls_env("risk"), "IJH_DRAIN_SECONDS": "0", "IJH_GRACE_SECONDS": "0",
        "IJH_INTERNAL_TLS_CALLERS": "gateway=SPIFFE://ijh-dev/gateway,funding=LocalHost"})

    async def answer(request: bytes, context) -> bytes:
        return b"served"

    risk = "ijh.risk.v1.RiskService"
    handler = grpc.method_handlers_generic_handler(risk, {
        name: grpc.unary_unary_rpc_method_handler(answer)
        for name in ("EvaluateIncrementalRisk", "EstimateProcurementRisk")})
    tls = internal_tls(settings, serves=True)
    runtime = ServiceRuntime(
        "risk", "127.0.0.1:0", settings,
        [Registration(risk, lambda servicer, server: server.add_generic_rpc_handlers(
            [servicer]), handler)],
        tls=tls, caller_keys=keys_of(tmp_path, "risk"),
        caller_certificates=caller_certificate_names(settings, "risk", mutual_tls=True))
    await runtime.start()

    async def call(service: str, method: str, metadata) -> bytes:
        credentials = grpc.ssl_channel_credentials(pki.internal_ca.read_bytes(),
                                                   pki.internal_key(service).read_bytes(),
                                                   pki.internal_cert(service).read_bytes())
        async with grpc.aio.secure_channel(f"localhost:{runtime.port}", credentials) as channel:
            return await channel.unary_unary(method)(b"", metadata=metadata, timeout=5)

    try:
        method = f"/{risk}/EvaluateIncrementalRisk"
        as_funding = signed_metadata(keys_of(tmp_path, "funding"), method, "funding", "service")
        assert await call("funding", method, as_funding) == b"served"
        method = f"/{risk}/EstimateProcurementRisk"
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call("gateway", method, signed_metadata(keys_of(tmp_path), method,
                                                          "t-officer", "officer"))
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    finally:
        await runtime.stop()


@pytest.mark.parametrize("service, problem, words", [
    ("risk", {"IJH_INTERNAL_TLS_CALLERS": "gateway=spiffe://x/gateway"},
     "no name for funding, which calls risk"),
    ("funding", {"IJH_INTERNAL_TLS_CALLERS": "gateway=a,risk=b"},
     "risk: not a service that calls another (those are funding, gateway)"),
    ("funding", {"IJH_INTERNAL_TLS_CALLERS": "gateway=a", "IJH_INTERNAL_TLS_CERT": "",
                 "IJH_INTERNAL_TLS_KEY": "", "IJH_INTERNAL_TLS_CA": ""},
     "set, but not IJH_INTERNAL_TLS_*: there is no client certificate to check without "
     "mutual TLS"),
], ids=["a caller without its name", "a service that calls none", "without mutual TLS"])
def test_a_wrong_callers_setting_is_named(tmp_path, service, problem, words):
    pki = ensure_dev_pki(tmp_path)
    settings = load_settings({**pki.internal_tls_env(service), **problem})
    with pytest.raises(ConfigurationError) as refused:
        caller_certificate_names(settings, service, bool(settings.internal_tls_cert))
    assert str(refused.value) == f"IJH_INTERNAL_TLS_CALLERS: {words}"


@pytest.mark.parametrize("service, name", [("risk", "ijh.risk.v1.RiskService"),
                                           ("funding", FUNDING),
                                           ("gateway", FUNDING)])  # its port: TLS anyway
def test_the_probe_port_answers_health_in_plaintext_and_nothing_else(mtls, service, name):
    with grpc.insecure_channel(_probe_address(mtls, service)) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for checked in ("", name):
            assert health.Check(health_pb2.HealthCheckRequest(service=checked),
                                timeout=5).status == SERVING
        with pytest.raises(grpc.RpcError) as business:
            funding_pb2_grpc.FundingServiceStub(channel).ComputeGrant(
                _grant_request(), metadata=mtls.signed(COMPUTE_GRANT), timeout=5)
        assert business.value.code() == grpc.StatusCode.UNIMPLEMENTED
        with pytest.raises(grpc.RpcError) as listing:  # no reflection either
            list(reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(
                iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5))
        assert listing.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_the_probe_port_shows_the_drain(nats_server, tmp_path):
    pki = ensure_dev_pki(tmp_path)
    probe = f"127.0.0.1:{free_port()}"
    process = _process("funding", tmp_path, {
        "IJH_NATS_URL": nats_server.url, "IJH_DRAIN_SECONDS": "3", "IJH_GRACE_SECONDS": "1",
        "IJH_FUNDING_PROBE_ADDRESS": probe, **pki.internal_tls_env("funding")})
    process.tls_ca = pki.internal_ca
    process.tls_client = (pki.internal_cert("gateway"), pki.internal_key("gateway"))
    process.start()
    try:
        process.wait_serving()
        with grpc.insecure_channel(probe) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            check = health_pb2.HealthCheckRequest(service=FUNDING)
            assert health.Check(check, timeout=5).status == SERVING
            process.process.send_signal(signal.SIGTERM)
            signalled = time.monotonic()
            while (status := health.Check(check, timeout=5).status) == SERVING:
                assert time.monotonic() - signalled < 1.0, "never NOT_SERVING"
                time.sleep(0.02)
            assert status == NOT_SERVING
        assert process.process.wait(10) == 0
    finally:
        process.stop()


def _refuses_connections(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


async def test_the_probe_port_stops_with_the_service():
    # In-process: a process's exit would close every port, a probe port left open included.
    runtime = ServiceRuntime("risk", "127.0.0.1:0", load_settings({
        "IJH_DRAIN_SECONDS": "0", "IJH_GRACE_SECONDS": "0"}), registrations=[],
        probe_address="127.0.0.1:0")
    await runtime.start()
    probe_server = runtime.probe_server  # held, so no garbage collection stops it instead
    ports = (runtime.port, runtime.probe_port)
    assert probe_server is not None and not any(map(_refuses_connections, ports))
    await runtime.stop()
    assert all(map(_refuses_connections, ports))


@pytest.mark.parametrize("module, setting, words", [
    ("risk", "only the certificate", "IJH_INTERNAL_TLS_KEY, IJH_INTERNAL_TLS_CA: not set"),
    ("funding", "an unreadable CA", "IJH_INTERNAL_TLS_CA: cannot read"),
    ("gateway", "a key that is a directory", "IJH_INTERNAL_TLS_KEY: cannot read"),
    ("risk", "an expired certificate", "IJH_INTERNAL_TLS_CERT: "),
])
def test_a_wrong_internal_tls_setting_is_one_line_naming_it_and_exit_2(tmp_path, module,
                                                                       setting, words):
    pki = ensure_dev_pki(tmp_path)
    env = {**pki.gateway_env(), **pki.internal_tls_env(module)}
    if setting == "only the certificate":
        env.update(IJH_INTERNAL_TLS_KEY="", IJH_INTERNAL_TLS_CA="")
    elif setting == "an unreadable CA":
        env["IJH_INTERNAL_TLS_CA"] = str(tmp_path / "no-such-ca.pem")
    elif setting == "an expired certificate":
        expired = _certificate(tmp_path, "expired", _days(-30), _days(-1))
        env.update(IJH_INTERNAL_TLS_CERT=str(expired[0]), IJH_INTERNAL_TLS_KEY=str(expired[1]))
        words += f"{expired[0]}: CN=expired has expired: not after {_days(-1)}"
    else:
        env["IJH_INTERNAL_TLS_KEY"] = str(tmp_path)  # a directory
    line = _refused(_process(module, tmp_path, env))
    assert line["error"].startswith(words), line


@pytest.mark.parametrize("module", ["gateway", "funding"])
def test_a_caller_whose_certificate_lacks_its_name_does_not_start(tmp_path, module):
    # A certificate of the internal CA, valid, for what the service does, but without the
    # name IJH_INTERNAL_TLS_CALLERS gives the service (issued for another one, or without
    # its URI): the backends would refuse every call it made, found only by its users.
    pki = ensure_dev_pki(tmp_path)
    env = {**pki.gateway_env(), **pki.internal_tls_env(module)}
    if module == "gateway":
        cert, key = pki.internal_cert("funding"), pki.internal_key("funding")
        names = f"DNS:localhost, IP:127.0.0.1, URI:{internal_name('funding')}"
    else:
        pem, key_pem = _named(pki, [x509.DNSName("localhost"),
                                    x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
                              "ijh-funding (internal)", (SERVER_AUTH, CLIENT_AUTH))
        cert, key = tmp_path / "funding-unnamed.pem", tmp_path / "funding-unnamed-key.pem"
        cert.write_bytes(pem)
        key.write_bytes(key_pem)
        names = "DNS:localhost, IP:127.0.0.1"
    env.update(IJH_INTERNAL_TLS_CERT=str(cert), IJH_INTERNAL_TLS_KEY=str(key))
    line = _refused(_process(module, tmp_path, env))
    assert line["error"] == (
        f"IJH_INTERNAL_TLS_CERT: {cert}: it names {names}, not {internal_name(module)}, "
        f"{module}'s name in IJH_INTERNAL_TLS_CALLERS: the services {module} calls would "
        "refuse every call over it (PERMISSION_DENIED, CALLER_CERTIFICATE_NOT_ALLOWED)"), line


@pytest.mark.parametrize("service, problem, words", [
    ("gateway", {"IJH_INTERNAL_TLS_CALLERS": "funding=spiffe://x/funding"},
     "no name for gateway, which calls funding and risk: they check its certificate for "
     "it, and so does it"),
    ("gateway", {"IJH_INTERNAL_TLS_CALLERS": "gateway=a", "IJH_INTERNAL_TLS_CERT": "",
                 "IJH_INTERNAL_TLS_KEY": "", "IJH_INTERNAL_TLS_CA": ""},
     "set, but not IJH_INTERNAL_TLS_*: there is no client certificate to check without "
     "mutual TLS"),
    ("funding", {"IJH_INTERNAL_TLS_CALLERS": "gateway=a,risk=b"},
     "risk: not a service that calls another (those are funding, gateway); no name for "
     "funding, which calls risk: they check its certificate for it, and so does it"),
], ids=["gateway without its name", "gateway without mutual TLS", "funding without its name"])
def test_a_callers_setting_without_the_callers_own_name_is_named(tmp_path, service, problem,
                                                                  words):
    pki = ensure_dev_pki(tmp_path)
    settings = load_settings({**pki.internal_tls_env(service), **problem})
    with pytest.raises(ConfigurationError) as refused:
        own_certificate_name(settings, service)
    assert str(refused.value) == f"IJH_INTERNAL_TLS_CALLERS: {words}"


def _internal_tls(tmp_path, service: str, **changes):
    """:func:`internal_tls` as ``service`` would read it, with ``changes`` to its
    settings (IJH_ variables without the prefix)."""
    pki = ensure_dev_pki(tmp_path)
    env = {**pki.internal_tls_env(service),
           **{f"IJH_{name}": value for name, value in changes.items()}}
    settings = load_settings(env)
    calls = {"gateway": {"IJH_RISK_ADDRESS": settings.risk_address,
                         "IJH_FUNDING_ADDRESS": settings.funding_address},
             "funding": {"IJH_RISK_ADDRESS": settings.risk_address}}.get(service)
    return internal_tls(settings, serves=service != "gateway", calls=calls)


def test_internal_tls_is_off_without_its_settings_and_checked_with_them(tmp_path):
    assert internal_tls(load_settings({}), serves=True) is None
    tls = _internal_tls(tmp_path, "funding")
    assert tls is not None and b"BEGIN CERTIFICATE" in tls.files.ca


@pytest.mark.parametrize("service, wrong", [
    # the key of another certificate: every handshake would fail
    ("risk", lambda pki: ({"INTERNAL_TLS_KEY": pki.internal_key("funding")},
                          f"IJH_INTERNAL_TLS_KEY: {pki.internal_key('funding')} is not the key "
                          "of the certificate")),
    # the public server certificate (serverAuth only) for a service that calls another
    ("funding", lambda pki: ({"INTERNAL_TLS_CERT": pki.server_cert,
                              "INTERNAL_TLS_KEY": pki.server_key},
                             f"IJH_INTERNAL_TLS_CERT: {pki.server_cert}: its extended key "
                             "usage lacks clientAuth")),
    # the public client certificate (clientAuth only) for a service that serves others
    ("risk", lambda pki: ({"INTERNAL_TLS_CERT": pki.client_cert,
                           "INTERNAL_TLS_KEY": pki.client_key},
                          f"IJH_INTERNAL_TLS_CERT: {pki.client_cert}: its extended key usage "
                          "lacks serverAuth")),
    # a certificate of the public CA: the other services, trusting the internal one,
    # would refuse it at every handshake
    ("risk", lambda pki: ({"INTERNAL_TLS_CERT": pki.server_cert,
                           "INTERNAL_TLS_KEY": pki.server_key},
                          f"IJH_INTERNAL_TLS_CERT: {pki.server_cert}: not issued by a "
                          f"certificate of IJH_INTERNAL_TLS_CA ({pki.internal_ca})")),
    ("gateway", lambda pki: ({"INTERNAL_TLS_CA": pki.internal_key("gateway")},
                             f"IJH_INTERNAL_TLS_CA: {pki.internal_key('gateway')} is not a PEM "
                             "file")),
    # a list of addresses has no host name for a certificate to carry
    ("gateway", lambda pki: ({"RISK_ADDRESS": "ipv4:127.0.0.1:5001,127.0.0.1:5002"},
                             "IJH_RISK_ADDRESS: 'ipv4:127.0.0.1:5001,127.0.0.1:5002': with "
                             "IJH_INTERNAL_TLS_* set")),
], ids=["key of another certificate", "serverAuth only, calls risk",
         "clientAuth only, serves", "another CA's certificate", "CA not PEM",
         "list of addresses"])
def test_a_wrong_internal_tls_file_or_target_is_named(tmp_path, service, wrong):
    changes, words = wrong(ensure_dev_pki(tmp_path))
    with pytest.raises(ConfigurationError) as refused:
        _internal_tls(tmp_path, service, **{k: str(v) for k, v in changes.items()})
    assert str(refused.value).startswith(words), refused.value


@pytest.mark.parametrize("service, usages", [("gateway", {CLIENT_AUTH}),
                                             ("risk", {SERVER_AUTH}),  # it calls no one
                                             ("funding", {SERVER_AUTH, CLIENT_AUTH})])
def test_each_dev_certificate_is_for_what_its_service_does(tmp_path, service, usages):
    pki = ensure_dev_pki(tmp_path)
    certificate = x509.load_pem_x509_certificate(pki.internal_cert(service).read_bytes())
    assert set(certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) \
        == usages
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert internal_name(service) in names.get_values_for_type(x509.UniformResourceIdentifier)
    assert _internal_tls(tmp_path, service) is not None  # enough for its role


# --- validity windows: certificates made here, dates to the second as certificates hold them

_NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


def _days(days: float) -> dt.datetime:
    return _NOW + dt.timedelta(days=days)


def _certificate(directory: Path, name: str, not_before: dt.datetime,
                 not_after: dt.datetime,
                 issuer: tuple[Path, Path] | None = None) -> tuple[Path, Path]:
    """A certificate ``CN=name`` (any use; a CA too) valid from ``not_before`` to
    ``not_after``, issued by ``issuer`` (its certificate and key) or self-signed, and its
    key: their paths."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    signer, issuer_name = key, subject
    if issuer is not None:
        signer = serialization.load_pem_private_key(issuer[1].read_bytes(), None)
        issuer_name = x509.load_pem_x509_certificate(issuer[0].read_bytes()).subject
    certificate = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer_name)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(not_before).not_valid_after(not_after)
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
                   .sign(signer, hashes.SHA256()))
    paths = directory / f"{name}.pem", directory / f"{name}-key.pem"
    paths[0].write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths


def _test_ca(directory: Path) -> tuple[Path, Path]:
    """A CA valid for a year in ``directory`` (made once): its certificate and key."""
    paths = directory / "test-ca.pem", directory / "test-ca-key.pem"
    return paths if paths[0].exists() else _certificate(directory, "test-ca", _days(-1),
                                                        _days(365))


def _issued(directory: Path, name: str, not_before: dt.datetime,
            not_after: dt.datetime) -> tuple[Path, Path]:
    """:func:`_certificate` issued by the :func:`_test_ca` of ``directory``."""
    return _certificate(directory, name, not_before, not_after, _test_ca(directory))


def _read_as(variables: str, cert: Path, key: Path, ca: Path | None = None):
    """The files read as the gateway's public TLS (``variables`` "IJH_GATEWAY_TLS") or
    as risk's internal TLS ("IJH_INTERNAL_TLS", with ``ca`` or the test CA)."""
    if variables == "IJH_GATEWAY_TLS":
        return public_tls(load_settings({"IJH_GATEWAY_TLS_CERT": str(cert),
                                         "IJH_GATEWAY_TLS_KEY": str(key),
                                         "IJH_GATEWAY_TLS_CLIENT_CA": str(ca or "")}))
    ca = ca or _test_ca(cert.parent)[0]
    return internal_tls(load_settings({"IJH_INTERNAL_TLS_CERT": str(cert),
                                       "IJH_INTERNAL_TLS_KEY": str(key),
                                       "IJH_INTERNAL_TLS_CA": str(ca)}), serves=True)


@pytest.mark.parametrize("variables", ["IJH_GATEWAY_TLS", "IJH_INTERNAL_TLS"])
@pytest.mark.parametrize("not_before, not_after, words", [
    (_days(-30), _days(-1), f"has expired: not after {_days(-1)}"),
    (_days(1), _days(30), f"is not valid yet: not before {_days(1)}"),
    (_days(1 / 48), _days(30), f"is not valid yet: not before {_days(1 / 48)}"),  # 30 min
], ids=["expired", "not yet valid", "not valid for half an hour"])
def test_a_certificate_outside_its_validity_window_is_refused(tmp_path, variables, not_before,
                                                               not_after, words):
    cert, key = _issued(tmp_path, "outside", not_before, not_after)
    with pytest.raises(ConfigurationError) as refused:
        _read_as(variables, cert, key)
    assert str(refused.value) == f"{variables}_CERT: {cert}: CN=outside {words}"


def _warnings(caplog) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == "services.shared.tls"]


@pytest.mark.parametrize("variables", ["IJH_GATEWAY_TLS", "IJH_INTERNAL_TLS"])
def test_a_certificate_expiring_within_14_days_is_one_warning_saying_when(tmp_path, caplog,
                                                                          variables):
    caplog.set_level(logging.WARNING, "services.shared.tls")
    _read_as(variables, *_issued(tmp_path, "long", _days(-1), _days(15)))
    assert not _warnings(caplog)
    cert, key = _issued(tmp_path, "soon", _days(-1), _days(5))
    _read_as(variables, cert, key)
    [record] = _warnings(caplog)
    line = json.loads(JsonFormatter("gateway").format(record))
    assert line["level"] == "WARNING" and line["message"].startswith("certificate expires soon")
    assert (line["variable"], line["path"], line["certificate"], line["not_after"]) == \
        (f"{variables}_CERT", str(cert), "CN=soon", str(_days(5)))


@pytest.mark.parametrize("variables, variable", [
    ("IJH_GATEWAY_TLS", "IJH_GATEWAY_TLS_CLIENT_CA"), ("IJH_INTERNAL_TLS", "IJH_INTERNAL_TLS_CA")])
def test_a_ca_certificate_outside_its_window_is_a_warning_and_none_valid_is_refused(
        tmp_path, caplog, variables, variable):
    caplog.set_level(logging.WARNING, "services.shared.tls")
    old, new = (_certificate(tmp_path, name, before, after)
                for name, before, after in (("old-ca", _days(-400), _days(-1)),
                                            ("new-ca", _days(-1), _days(400))))
    cert, key = _certificate(tmp_path, "service", _days(-1), _days(90), new)
    old, new = old[0].read_bytes(), new[0].read_bytes()
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(old + new)  # as while a CA is rotated
    _read_as(variables, cert, key, bundle)
    [record] = _warnings(caplog)
    assert (record.levelname, record.variable, record.path) == ("WARNING", variable, str(bundle))
    assert record.problem == f"CN=old-ca has expired: not after {_days(-1)}"
    bundle.write_bytes(old)
    with pytest.raises(ConfigurationError) as refused:
        _read_as(variables, cert, key, bundle)
    assert str(refused.value) == (f"{variable}: {bundle}: no certificate in it is valid now: "
                                  f"CN=old-ca has expired: not after {_days(-1)}")



@pytest.mark.parametrize("chain, bundle, taken", [
    (("leaf", "intermediate"), ("root",), True),  # cert-manager: leaf + chain; the root
    (("leaf", "intermediate"), ("intermediate",), True),  # ca.crt: the issuing CA
    (("leaf",), ("root", "intermediate"), True),  # a bundle of both
    (("leaf",), ("root",), False),  # the intermediate nowhere: no peer builds the chain
], ids=["chain, root", "chain, issuer", "leaf, both", "leaf, root"])
def test_an_internal_certificate_under_an_intermediate_ca(tmp_path, chain, bundle, taken):
    root = _certificate(tmp_path, "root", _days(-1), _days(365))
    intermediate = _certificate(tmp_path, "intermediate", _days(-1), _days(180), root)
    leaf = _certificate(tmp_path, "leaf", _days(-1), _days(90), intermediate)
    pem = {"root": root, "intermediate": intermediate, "leaf": leaf}
    cert, ca = tmp_path / "tls.crt", tmp_path / "ca.crt"
    cert.write_bytes(b"".join(pem[name][0].read_bytes() for name in chain))
    ca.write_bytes(b"".join(pem[name][0].read_bytes() for name in bundle))
    if taken:
        assert _read_as("IJH_INTERNAL_TLS", cert, leaf[1], ca) is not None
        return
    with pytest.raises(ConfigurationError) as refused:
        _read_as("IJH_INTERNAL_TLS", cert, leaf[1], ca)
    assert str(refused.value).startswith(f"IJH_INTERNAL_TLS_CERT: {cert}: not issued by a "
                                         f"certificate of IJH_INTERNAL_TLS_CA ({ca})")

def test_a_certificate_issued_moments_ago_by_a_clock_ahead_is_taken(tmp_path, caplog):
    # Issued "now" by an issuer whose clock runs 2 minutes ahead of this host's.
    caplog.set_level(logging.WARNING, "services.shared.tls")
    cert, key = _issued(tmp_path, "fresh", _days(2 / 1440), _days(90))
    assert _read_as("IJH_INTERNAL_TLS", cert, key) is not None
    assert not _warnings(caplog)


def test_a_ca_certificate_expiring_within_14_days_is_a_warning(tmp_path, caplog):
    caplog.set_level(logging.WARNING, "services.shared.tls")
    ca = _certificate(tmp_path, "ending-ca", _days(-400), _days(5))
    cert, key = _certificate(tmp_path, "service", _days(-1), _days(90), ca)
    _read_as("IJH_INTERNAL_TLS", cert, key, ca[0])
    [record] = _warnings(caplog)
    assert record.getMessage().startswith("CA certificate expires soon")
    assert (record.variable, record.certificate, record.not_after) == (
        "IJH_INTERNAL_TLS_CA", "CN=ending-ca", str(_days(5)))
