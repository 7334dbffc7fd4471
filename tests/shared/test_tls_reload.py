"""Certificates renewed while the services run (``shared/tls.py``: TlsSource,
ReloadingChannel), over real TLS on loopback: renewed files are written as the kubelet
writes a Secret cert-manager renewed (a new directory, then the ``..data`` link swapped
at once), from the same development CA. New connections then see the new certificate, on
a server port and from a channel, while the process goes on; calls in flight on the old
channel end normally; a set that does not fit together is refused with one WARNING and
the loaded one kept; the expiry gauge follows. The last test does all of it on the three
services as processes."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import os
import re
import shutil
import socket
import ssl
import subprocess
import time
import urllib.request
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from grpc_health.v1 import health_pb2, health_pb2_grpc
from ijh.funding.v1 import funding_pb2 as f
from ijh.funding.v1 import funding_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families

from services.gateway.dev_pki import INTERNAL_SERVICES, DevPki, ensure_dev_pki, internal_name
from services.shared.caller import own_certificate_name
from services.shared.config import ConfigurationError, client_options, load_settings
from services.shared.metrics import TLS_CERTIFICATE_EXPIRY, new_registry
from services.shared.nats_server import free_port
from services.shared.server import ServiceRuntime
from services.shared.tls import (
    CLIENT_AUTH,
    SERVER_AUTH,
    ReloadingChannel,
    TlsSource,
    internal_channel,
    internal_tls,
    read_tls,
)
from tests.funding.ledger_api_support import good_scores, guarantee_request, rid
from tests.gateway.test_gateway import _grant_request
from tests.stack import start_stack, wait_for_text

SECRET_FILES = ("tls.crt", "tls.key", "ca.crt")
REFUSED = "new TLS files refused"


class SecretVolume:
    """A directory laid out as the kubelet mounts a Secret: ``tls.crt`` ->
    ``..data/tls.crt``, ``..data`` -> the directory of the current version."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.versions = 0
        directory.mkdir(parents=True)

    def path(self, name: str) -> str:
        return str(self.directory / name)

    def write(self, files: dict[str, bytes]) -> None:
        """A new version, made whole in a directory of its own, then swapped in at once."""
        self.versions += 1
        version = self.directory / f"..version-{self.versions}"
        version.mkdir()
        for name, data in files.items():
            (version / name).write_bytes(data)
        swap = self.directory / "..data_tmp"
        swap.symlink_to(version.name)
        os.replace(swap, self.directory / "..data")
        for name in files:
            if not (self.directory / name).is_symlink():
                (self.directory / name).symlink_to(f"..data/{name}")

    def env(self) -> dict[str, str]:
        """The IJH_INTERNAL_TLS_* settings pointing here."""
        return {f"IJH_INTERNAL_TLS_{variable}": self.path(name)
                for variable, name in zip(("CERT", "KEY", "CA"), SECRET_FILES, strict=True)}


def _secret(pki: DevPki, cert_and_key: tuple[bytes, bytes]) -> dict[str, bytes]:
    return dict(zip(SECRET_FILES, (*cert_and_key, pki.internal_ca.read_bytes()), strict=True))


def _issued(pki: DevPki, service: str) -> tuple[bytes, bytes]:
    """The certificate and key ``ensure_dev_pki`` wrote for ``service``."""
    return pki.internal_cert(service).read_bytes(), pki.internal_key(service).read_bytes()


def _serial(pem: bytes) -> int:
    return x509.load_pem_x509_certificate(pem).serial_number


def _not_after(pem: bytes) -> float:
    return x509.load_pem_x509_certificate(pem).not_valid_after_utc.timestamp()


def _served_serial(address: str, ca: Path, client: tuple[Path, Path] | None = None) -> int:
    """The serial number of the certificate ``address`` shows a new TLS connection (as a
    gRPC client connects: ALPN h2, presenting ``client``)."""
    host, _, port = address.rpartition(":")
    context = ssl.create_default_context(cafile=str(ca))
    if client is not None:
        context.load_cert_chain(*client)
    context.set_alpn_protocols(["h2"])
    with socket.create_connection((host, int(port)), timeout=5) as raw, \
            context.wrap_socket(raw, server_hostname="localhost") as connection:
        return x509.load_der_x509_certificate(connection.getpeercert(True)).serial_number


def _internal_source(volume: SecretVolume, uses) -> TlsSource:
    return TlsSource("internal", *((f"IJH_INTERNAL_TLS_{variable}", volume.path(name))
                                   for variable, name in zip(("CERT", "KEY", "CA"),
                                                             SECRET_FILES, strict=True)),
                     uses=uses, chain_to_ca=True)


def _refusals(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.getMessage().startswith(REFUSED)]


async def test_a_port_shows_renewed_files_to_new_connections_and_keeps_a_set_it_refuses(
        tmp_path, caplog):
    caplog.set_level(logging.INFO, "services.shared.tls")
    pki = ensure_dev_pki(tmp_path)
    volume = SecretVolume(tmp_path / "risk-tls")
    volume.write(_secret(pki, _issued(pki, "risk")))
    registry = new_registry()
    runtime = ServiceRuntime(
        "risk", "127.0.0.1:0", load_settings({
            "IJH_DRAIN_SECONDS": "0", "IJH_GRACE_SECONDS": "0",
            "IJH_TLS_RELOAD_SECONDS": "0.05"}),
        registrations=[], tls=_internal_source(volume, [SERVER_AUTH]),
        metrics_registry=registry)
    await runtime.start()
    address = f"127.0.0.1:{runtime.port}"
    client = (pki.internal_cert("gateway"), pki.internal_key("gateway"))

    async def serial() -> int:
        return await asyncio.to_thread(_served_serial, address, pki.internal_ca, client)

    def expiry(role: str = "server") -> float | None:
        return registry.get_sample_value(TLS_CERTIFICATE_EXPIRY,
                                         {"tls": "internal", "role": role})

    credentials = grpc.ssl_channel_credentials(
        pki.internal_ca.read_bytes(), client[1].read_bytes(), client[0].read_bytes())
    check = health_pb2.HealthCheckRequest()
    try:
        assert await serial() == _serial(pki.internal_cert("risk").read_bytes())
        assert expiry() == _not_after(pki.internal_cert("risk").read_bytes())
        assert expiry("ca") == _not_after(pki.internal_ca.read_bytes())
        # A connection made before the renewal lives on (until the server ages it out).
        before = grpc.aio.secure_channel(f"localhost:{runtime.port}", credentials)
        await health_pb2_grpc.HealthStub(before).Check(check, timeout=5)

        renewed = pki.renew("risk", days=30)
        volume.write(_secret(pki, renewed))
        deadline = time.monotonic() + 5
        while await serial() != _serial(renewed[0]):
            assert time.monotonic() < deadline, "the renewed certificate is not served"
            await asyncio.sleep(0.05)
        assert expiry() == _not_after(renewed[0])
        for channel in (before, grpc.aio.secure_channel(f"localhost:{runtime.port}",
                                                        credentials)):
            async with channel:
                reply = await health_pb2_grpc.HealthStub(channel).Check(check, timeout=5)
                assert reply.status == health_pb2.HealthCheckResponse.SERVING

        # A new certificate with the key of another: refused once, the loaded set kept.
        volume.write(_secret(pki, (pki.renew("risk")[0], renewed[1])))
        deadline = time.monotonic() + 5
        while not _refusals(caplog):
            assert time.monotonic() < deadline, "the set was not refused"
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)  # more polls: no more lines
        [refusal] = _refusals(caplog)
        assert refusal.levelname == "WARNING" and refusal.tls == "internal"
        assert refusal.error == (f"IJH_INTERNAL_TLS_KEY: {volume.path('tls.key')} is not the "
                                 f"key of the certificate in IJH_INTERNAL_TLS_CERT "
                                 f"({volume.path('tls.crt')})")
        assert await serial() == _serial(renewed[0])
        assert expiry() == _not_after(renewed[0])
    finally:
        await runtime.stop()


async def _who(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    """The serial number of the client certificate the call came with."""
    [pem] = context.auth_context()["x509_pem_cert"]
    return str(_serial(pem)).encode()


def _risk_peer(pki, handlers: dict, address: str = "127.0.0.1:0") -> tuple[grpc.aio.Server, int]:
    """A server under risk's internal certificate that requires a client certificate of
    the internal CA, serving ``handlers`` as test.Peer (not started)."""
    server = grpc.aio.server()
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("test.Peer",
                                                                          handlers)])
    port = server.add_secure_port(address, grpc.ssl_server_credentials(
        [(pki.internal_key("risk").read_bytes(), pki.internal_cert("risk").read_bytes())],
        pki.internal_ca.read_bytes(), require_client_auth=True))
    return server, port


async def test_a_channel_presents_renewed_files_and_its_calls_in_flight_end_on_the_old(
        tmp_path):
    pki = ensure_dev_pki(tmp_path)
    release = asyncio.Event()

    async def slow(request: bytes, context) -> bytes:
        await release.wait()
        return await _who(request, context)

    server, port = _risk_peer(pki, {"Who": grpc.unary_unary_rpc_method_handler(_who),
                                    "Slow": grpc.unary_unary_rpc_method_handler(slow)})
    await server.start()
    volume = SecretVolume(tmp_path / "gateway-tls")
    volume.write(_secret(pki, _issued(pki, "gateway")))
    source = _internal_source(volume, [CLIENT_AUTH])
    channel = internal_channel(f"localhost:{port}", source, options=[])
    # Made once, as the gateway's proxy and the generated stubs make them.
    who, slow_call = (channel.unary_unary(f"/test.Peer/{name}") for name in ("Who", "Slow"))
    try:
        first = _serial(pki.internal_cert("gateway").read_bytes())
        assert int(await who(b"", timeout=5)) == first
        in_flight = asyncio.ensure_future(slow_call(b"", timeout=10))
        await asyncio.sleep(0.2)  # sent
        old = channel.channel

        renewed = pki.renew("gateway", days=30)
        volume.write(_secret(pki, renewed))
        assert source.poll()
        assert channel.channel is not old
        assert int(await who(b"", timeout=5)) == _serial(renewed[0])
        assert not in_flight.done()
        with pytest.raises(grpc.aio.UsageError):  # closing: no new call
            await old.unary_unary("/test.Peer/Who")(b"", timeout=5)
        assert old.get_state() != grpc.ChannelConnectivity.SHUTDOWN
        release.set()
        assert int(await in_flight) == first  # on the old connection, to its end
        deadline = time.monotonic() + 5
        while old.get_state() != grpc.ChannelConnectivity.SHUTDOWN:
            assert time.monotonic() < deadline, "not closed once its last call ended"
            await asyncio.sleep(0.02)
    finally:
        await channel.close()
        await server.stop(0)


async def test_a_subscriber_failing_on_renewed_files_is_an_error_and_the_others_take_them(
        tmp_path, caplog):
    # The gateway's two backend channels share one source: a failure between them must not
    # leave the second on the old certificate.
    caplog.set_level(logging.INFO, "services.shared.tls")
    pki = ensure_dev_pki(tmp_path)
    server, port = _risk_peer(pki, {"Who": grpc.unary_unary_rpc_method_handler(_who)})
    await server.start()
    volume = SecretVolume(tmp_path / "gateway-tls")
    volume.write(_secret(pki, _issued(pki, "gateway")))
    source = _internal_source(volume, [CLIENT_AUTH])
    first = internal_channel(f"localhost:{port}", source, options=[])

    def failing(files) -> None:
        raise RuntimeError("no luck")

    source.subscribe(failing, "the failing one")
    second = internal_channel(f"127.0.0.1:{port}", source, options=[])
    try:
        renewed = pki.renew("gateway", days=30)
        volume.write(_secret(pki, renewed))
        assert source.poll()
        for channel in (first, second):
            assert int(await channel.unary_unary("/test.Peer/Who")(b"", timeout=5)) == \
                _serial(renewed[0])
        [failure] = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert (failure.levelname, failure.subscriber, failure.tls) == \
            ("ERROR", "the failing one", "internal")
        assert failure.exc_info[1].args == ("no luck",)
        replaced = [r.target for r in caplog.records if r.getMessage().startswith(
            "channel replaced")]
        assert replaced == [f"localhost:{port}", f"127.0.0.1:{port}"]
    finally:
        await first.close()
        await second.close()
        await server.stop(0)


async def test_a_subscriber_that_failed_is_retried_at_the_next_polls_with_one_error(
        tmp_path, caplog):
    # A channel whose replacement fails (here: twice) must not stay on the old certificate
    # until the files change again, a renewal or more away.
    caplog.set_level(logging.DEBUG, "services.shared.tls")
    pki = ensure_dev_pki(tmp_path)
    server, port = _risk_peer(pki, {"Who": grpc.unary_unary_rpc_method_handler(_who)})
    await server.start()
    volume = SecretVolume(tmp_path / "gateway-tls")
    volume.write(_secret(pki, _issued(pki, "gateway")))
    source = _internal_source(volume, [CLIENT_AUTH])
    target, made = f"localhost:{port}", []

    def make(files):
        made.append(files)
        if len(made) in (2, 3):  # the first two replacements fail
            raise RuntimeError("not now")
        return grpc.aio.secure_channel(target, files.channel_credentials())

    channel = ReloadingChannel(target, source, make)
    who = channel.unary_unary("/test.Peer/Who")
    try:
        first = _serial(pki.internal_cert("gateway").read_bytes())
        renewed = pki.renew("gateway", days=30)
        volume.write(_secret(pki, renewed))
        assert source.poll()
        assert int(await who(b"", timeout=5)) == first  # failed: the old one kept
        assert not source.poll()  # the files unchanged: the channel tried again
        assert int(await who(b"", timeout=5)) == first
        assert not source.poll()  # and again: replaced
        assert int(await who(b"", timeout=5)) == _serial(renewed[0])
        assert not source.poll()  # up to date: not handed the set again
        assert [files.chain for files in made[1:]] == [renewed[0]] * 3
        [failure] = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert (failure.subscriber, failure.tls) == (f"channel to {target}", "internal")
        assert failure.getMessage().startswith("new TLS files not taken up by one of their "
                                               "users")
        [caught_up] = [r for r in caplog.records
                       if r.getMessage() == "new TLS files taken up at a retry"]
        assert caught_up.subscriber == f"channel to {target}"
    finally:
        await channel.close()
        await server.stop(0)


def _with_key(pki: DevPki, service: str, key) -> tuple[bytes, bytes]:
    """``service``'s internal certificate issued again by the internal CA, for ``key`` (a
    private key, or its PEM, kept as written)."""
    pem = key if isinstance(key, bytes) else None
    if pem is not None:
        key = serialization.load_pem_private_key(pem, None)
    issued = x509.load_pem_x509_certificate(pki.internal_cert(service).read_bytes())
    ca_key = serialization.load_pem_private_key(
        pki.internal_ca.with_name("ca-key.pem").read_bytes(), None)
    certificate = x509.CertificateBuilder(
        issuer_name=issued.issuer, subject_name=issued.subject, public_key=key.public_key(),
        serial_number=x509.random_serial_number(),
        not_valid_before=issued.not_valid_before_utc, not_valid_after=issued.not_valid_after_utc,
        extensions=list(issued.extensions)).sign(ca_key, hashes.SHA256())
    return (certificate.public_bytes(serialization.Encoding.PEM),
            pem or key.private_bytes(serialization.Encoding.PEM,
                                     serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption()))


def _openssl(*args: str) -> bytes:
    """What ``openssl args`` writes (the test is skipped where there is no openssl)."""
    if shutil.which("openssl") is None:
        pytest.skip("no openssl command")
    return subprocess.run(["openssl", *args], capture_output=True, check=True).stdout


def _rsa_pss_key() -> bytes:
    """An RSA-PSS key's PEM, as an operator makes one: cryptography reads it as RSA."""
    return _openssl("genpkey", "-algorithm", "RSA-PSS", "-pkeyopt", "rsa_keygen_bits:2048")


# Keys cryptography reads and gRPC's TLS cannot use: it fails to load one (and keeps
# serving the old set), or loads one no gRPC peer completes a handshake with.
# Each: how to make one, and how the refusal names it.
UNUSABLE_KEYS = {"secp256k1": (lambda: ec.generate_private_key(ec.SECP256K1()),
                               "EC on secp256k1"),
                 "P-521": (lambda: ec.generate_private_key(ec.SECP521R1()), "EC on secp521r1"),
                 "Ed25519": (ed25519.Ed25519PrivateKey.generate, "Ed25519"),
                 "RSA-PSS": (_rsa_pss_key, "RSA-PSS (id-RSASSA-PSS, 1.2.840.113549.1.1.10)")}


@pytest.mark.parametrize("kind", ["secp256k1", "P-521", "RSA-PSS"])
async def test_a_certificate_of_a_key_grpc_cannot_use_is_refused_and_the_old_kept(
        tmp_path, caplog, kind):
    caplog.set_level(logging.INFO, "services.shared.tls")
    pki = ensure_dev_pki(tmp_path)
    volume = SecretVolume(tmp_path / "risk-tls")
    volume.write(_secret(pki, _issued(pki, "risk")))
    runtime = ServiceRuntime(
        "risk", "127.0.0.1:0", load_settings({
            "IJH_DRAIN_SECONDS": "0", "IJH_GRACE_SECONDS": "0",
            "IJH_TLS_RELOAD_SECONDS": "0.05"}),
        registrations=[], tls=_internal_source(volume, [SERVER_AUTH]))
    await runtime.start()
    credentials = grpc.ssl_channel_credentials(
        pki.internal_ca.read_bytes(), pki.internal_key("gateway").read_bytes(),
        pki.internal_cert("gateway").read_bytes())
    try:
        make, described = UNUSABLE_KEYS[kind]
        volume.write(_secret(pki, _with_key(pki, "risk", make())))
        deadline = time.monotonic() + 5
        while not _refusals(caplog):
            assert time.monotonic() < deadline, "the set was not refused"
            await asyncio.sleep(0.05)
        [refusal] = _refusals(caplog)
        assert refusal.error == (
            f"IJH_INTERNAL_TLS_KEY: {volume.path('tls.key')}: its key is {described}: gRPC's "
            "TLS takes only RSA and ECDSA P-256 or P-384 keys")
        assert not [r for r in caplog.records if r.getMessage() == "TLS files reloaded"]
        # A new connection: the loaded certificate, a handshake gRPC completes.
        async with grpc.aio.secure_channel(f"localhost:{runtime.port}", credentials) as channel:
            reply = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        await runtime.stop()


@pytest.mark.parametrize("kind", sorted(UNUSABLE_KEYS))
def test_a_service_does_not_start_with_a_key_grpc_cannot_use(tmp_path, kind):
    # Not gRPC's "Failed to bind" (the port looks taken) nor handshakes failing.
    pki = ensure_dev_pki(tmp_path)
    volume = SecretVolume(tmp_path / "risk-tls")
    make, described = UNUSABLE_KEYS[kind]
    volume.write(_secret(pki, _with_key(pki, "risk", make())))
    with pytest.raises(ConfigurationError, match=f"IJH_INTERNAL_TLS_KEY: .*: its key is "
                       f"{re.escape(described)}: gRPC's TLS takes only RSA and ECDSA P-256 or "
                       "P-384 keys"):
        _internal_source(volume, [SERVER_AUTH])


def test_a_certificate_of_an_rsa_pss_key_is_refused(tmp_path):
    # Its key written as plain RSA (PKCS#8 rsaEncryption): the certificate alone says PSS.
    key_path, cert_path = tmp_path / "tls.key", tmp_path / "tls.crt"
    key_path.write_bytes(_rsa_pss_key())
    cert_path.write_bytes(_openssl("req", "-x509", "-key", str(key_path), "-subj", "/CN=risk",
                                   "-days", "1"))
    key = serialization.load_pem_private_key(key_path.read_bytes(), None)
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    with pytest.raises(ConfigurationError) as refused:
        read_tls(("IJH_INTERNAL_TLS_CERT", str(cert_path)),
                 ("IJH_INTERNAL_TLS_KEY", str(key_path)))
    assert str(refused.value) == (
        f"IJH_INTERNAL_TLS_CERT: {cert_path}: its key is RSA-PSS (id-RSASSA-PSS, "
        "1.2.840.113549.1.1.10): gRPC's TLS cannot load such a certificate; issue it for an "
        "RSA key (rsaEncryption) or an ECDSA P-256 or P-384 one")


async def test_a_callers_certificate_renewed_without_its_name_is_refused_and_the_old_kept(
        tmp_path, caplog):
    # A mis-renewed certificate of the gateway (another service's, valid, of the same CA):
    # taken, each backend would refuse every call over it (IJH_INTERNAL_TLS_CALLERS).
    caplog.set_level(logging.INFO, "services.shared.tls")
    pki = ensure_dev_pki(tmp_path)
    server, port = _risk_peer(pki, {"Who": grpc.unary_unary_rpc_method_handler(_who)})
    await server.start()
    volume = SecretVolume(tmp_path / "gateway-tls")
    volume.write(_secret(pki, _issued(pki, "gateway")))
    settings = load_settings({**volume.env(), "IJH_INTERNAL_TLS_CALLERS":
                              pki.internal_tls_env("gateway")["IJH_INTERNAL_TLS_CALLERS"]})
    target = f"localhost:{port}"
    source = internal_tls(settings, calls={"IJH_RISK_ADDRESS": target},
                          own_name=own_certificate_name(settings, "gateway"))
    channel = internal_channel(target, source, options=[])
    who = channel.unary_unary("/test.Peer/Who")
    try:
        first = _serial(pki.internal_cert("gateway").read_bytes())
        assert int(await who(b"", timeout=5)) == first
        volume.write(_secret(pki, pki.renew("funding", days=30)))
        assert not source.poll()
        assert not source.poll()  # the same files: not read again
        [refusal] = _refusals(caplog)
        assert refusal.levelname == "WARNING" and refusal.tls == "internal"
        assert refusal.error.startswith(
            f"IJH_INTERNAL_TLS_CERT: {volume.path('tls.crt')}: it names DNS:localhost, "
            f"IP:127.0.0.1, URI:{internal_name('funding')}, not {internal_name('gateway')}, "
            "gateway's name in IJH_INTERNAL_TLS_CALLERS: "), refusal.error
        assert int(await who(b"", timeout=5)) == first
        renewed = pki.renew("gateway", days=30)  # the right one comes: taken
        volume.write(_secret(pki, renewed))
        assert source.poll()
        assert int(await who(b"", timeout=5)) == _serial(renewed[0])
    finally:
        await channel.close()
        await server.stop(0)


async def test_a_channel_watched_across_a_replacement_shows_the_new_ones_state(tmp_path):
    # A wait for a channel's state (channel_ready: a backend coming up) must not be left on
    # the old channel when a new one replaces it: closing, it refuses a watch, or stays
    # READY while a stream ends on it.
    pki = ensure_dev_pki(tmp_path)
    volume = SecretVolume(tmp_path / "gateway-tls")
    volume.write(_secret(pki, _issued(pki, "gateway")))
    source = _internal_source(volume, [CLIENT_AUTH])
    port = free_port()
    channel = internal_channel(f"localhost:{port}", source,
                               options=client_options(load_settings({})))
    release = asyncio.Event()

    async def progress(request: bytes, context):
        yield b"started"
        await release.wait()
        yield b"done"

    server, _ = _risk_peer(pki, {"Progress": grpc.unary_stream_rpc_method_handler(progress)},
                           f"127.0.0.1:{port}")
    try:
        # Waiting for a backend that is not up yet; the files are renewed meanwhile.
        ready = asyncio.ensure_future(channel.channel_ready())
        await asyncio.sleep(0)  # waiting on the first channel
        volume.write(_secret(pki, pki.renew("gateway", days=30)))
        assert source.poll()
        await server.start()
        await asyncio.wait_for(ready, 10)
        assert channel.get_state() == grpc.ChannelConnectivity.READY

        # A stream keeps the old channel READY until it ends: a watch of READY from
        # before the replacement returns with the new channel's state.
        stream = channel.unary_stream("/test.Peer/Progress")(b"", timeout=10)
        assert await stream.read() == b"started"
        changed = asyncio.ensure_future(
            channel.wait_for_state_change(grpc.ChannelConnectivity.READY))
        await asyncio.sleep(0)
        volume.write(_secret(pki, pki.renew("gateway", days=30)))
        assert source.poll()
        await asyncio.wait_for(changed, 10)
        assert channel.get_state() != grpc.ChannelConnectivity.READY
        release.set()  # the stream ends on the old channel
        assert await stream.read() == b"done"
        assert await stream.code() == grpc.StatusCode.OK
    finally:
        release.set()
        await channel.close()
        await server.stop(0)


def _scrape(address: str) -> dict[tuple[str, str], float]:
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=5) as reply:
        text = reply.read().decode()
    return {(sample.labels["tls"], sample.labels["role"]): sample.value
            for family in text_string_to_metric_families(text)
            if family.name == TLS_CERTIFICATE_EXPIRY for sample in family.samples}


def _approve_a_guarantee(channel_of) -> None:
    """Approving makes funding ask risk (EvaluateIncrementalRisk)."""
    company, officer, officer2 = (funding_pb2_grpc.FundingServiceStub(channel_of(name))
                                  for name in ("company", "officer", "officer2"))
    name = company.CreateApplication(guarantee_request(), timeout=20).application.name
    company.SubmitApplication(f.SubmitApplicationRequest(request_id=rid(), name=name),
                              timeout=20)
    officer.RecordScores(f.RecordScoresRequest(request_id=rid(), name=name,
                                               scores=good_scores()), timeout=20)
    decided = officer2.DecideApplication(
        f.DecideApplicationRequest(request_id=rid(), name=name, decision=f.DECISION_APPROVE,
                                   reason="fund rules met"), timeout=30)
    assert decided.application.state == f.APPLICATION_STATE_APPROVED


def test_the_running_services_take_renewed_certificates_without_a_restart(nats_server,
                                                                          tmp_path):
    pki = ensure_dev_pki(tmp_path)
    volumes = {name: SecretVolume(tmp_path / "secrets" / name)
               for name in (*INTERNAL_SERVICES, "public")}
    for name in INTERNAL_SERVICES:
        volumes[name].write(_secret(pki, _issued(pki, name)))
    volumes["public"].write({"tls.crt": pki.server_cert.read_bytes(),
                             "tls.key": pki.server_key.read_bytes()})
    service_env = {name: volumes[name].env() for name in INTERNAL_SERVICES}
    service_env["gateway"].update(IJH_GATEWAY_TLS_CERT=volumes["public"].path("tls.crt"),
                                  IJH_GATEWAY_TLS_KEY=volumes["public"].path("tls.key"))
    stack = start_stack(nats_server, tmp_path, {"IJH_TLS_RELOAD_SECONDS": "0.2"},
                        internal_tls=True, service_env=service_env)
    channels: dict[str, grpc.Channel] = {}

    def channel_of(token: str) -> grpc.Channel:
        if token not in channels:
            channels[token] = stack.gateway_channel(token)
        return channels[token]

    gateway_client = (pki.internal_cert("gateway"), pki.internal_key("gateway"))
    served = {"risk": lambda: _served_serial(stack.risk.address, pki.internal_ca,
                                             gateway_client),
              "funding": lambda: _served_serial(stack.funding.address, pki.internal_ca,
                                                gateway_client),
              "public": lambda: _served_serial(stack.gateway.address, pki.ca)}
    metrics = {"gateway": stack.metrics_address, "risk": stack.risk_metrics_address,
               "funding": stack.funding_metrics_address}
    # Which gauge shows which files: (service, tls, role) -> volume.
    gauges = {("gateway", "public", "server"): "public",
              ("gateway", "internal", "client"): "gateway",
              ("risk", "internal", "server"): "risk",
              ("funding", "internal", "server"): "funding",
              ("funding", "internal", "client"): "funding"}
    pids = [process.process.pid for process in stack.processes]
    try:
        renewed = {name: pki.renew("server" if name == "public" else name, days=30)
                   for name in volumes}
        assert all(served[name]() != _serial(renewed[name][0]) for name in served)
        for name, volume in volumes.items():
            files = (_secret(pki, renewed[name]) if name != "public"
                     else dict(zip(SECRET_FILES, renewed[name], strict=False)))
            volume.write(files)
        deadline = time.monotonic() + 5
        while any(served[name]() != _serial(renewed[name][0]) for name in served):
            assert time.monotonic() < deadline, "renewed certificates not served"
            time.sleep(0.1)
        for (service, tls, role), name in gauges.items():
            assert _scrape(metrics[service])[(tls, role)] == _not_after(renewed[name][0])
        for service, channels_replaced in (("gateway", 2), ("funding", 1)):
            log = wait_for_text(getattr(stack, service).log_path, "channel replaced")
            assert log.count("channel replaced for new TLS files") == channels_replaced

        # Calls through the gateway reach both backends, and funding reaches risk: each
        # over new connections with the new certificates on both ends.
        grant = funding_pb2_grpc.FundingServiceStub(channel_of("officer")).ComputeGrant(
            _grant_request(), timeout=10)
        assert grant.grant_cents == 50_00
        _approve_a_guarantee(channel_of)

        # A certificate with another's key for risk, and for the gateway one renewed for
        # another service (funding's: valid, of the CA, not naming the gateway): each
        # refused, once; both serve on (a set taken, funding and risk would refuse every
        # call the gateway made).
        volumes["risk"].write(_secret(pki, (pki.renew("risk")[0], renewed["risk"][1])))
        volumes["gateway"].write(_secret(pki, pki.renew("funding", days=30)))
        log = {service: wait_for_text(getattr(stack, service).log_path, REFUSED)
               for service in ("risk", "gateway")}
        time.sleep(0.5)  # more polls: no more lines
        wrong = {"risk": "is not the key of the certificate",
                 "gateway": f"not {internal_name('gateway')}, gateway's name in "
                            "IJH_INTERNAL_TLS_CALLERS"}
        for service, words in wrong.items():
            [line] = [json.loads(line) for line in getattr(stack, service).log_path
                      .read_text().splitlines() if REFUSED in line]
            assert line["level"] == "WARNING" and words in line["error"], log[service]
        assert served["risk"]() == _serial(renewed["risk"][0])
        _approve_a_guarantee(channel_of)
        assert [process.process.pid for process in stack.processes] == pids
        assert all(process.process.poll() is None for process in stack.processes)
    finally:
        for channel in channels.values():
            channel.close()
        stack.stop()


def test_a_certificate_expiring_while_loaded_is_an_error_once(tmp_path, caplog):
    caplog.set_level(logging.WARNING, "services.shared.tls")
    pki = ensure_dev_pki(tmp_path)
    volume = SecretVolume(tmp_path / "risk-tls")
    # A certificate's end is to the second: 1 to 2 s left, so it is still valid when read
    # on a busy machine.
    renewed = pki.renew("risk", days=2 / 86400)
    volume.write(_secret(pki, renewed))
    source = _internal_source(volume, [SERVER_AUTH])
    [soon] = caplog.records  # at load, as at start
    assert soon.getMessage().startswith("certificate expires soon")
    source.poll()
    assert len(caplog.records) == 1
    time.sleep(max(_not_after(renewed[0]) - time.time(), 0) + 0.1)
    for _ in range(3):
        assert not source.poll()
    [expired] = caplog.records[1:]
    assert expired.levelname == "ERROR" and expired.getMessage().startswith(
        "TLS certificate expired: peers refuse every handshake")
    assert expired.tls == "internal" and volume.path("tls.crt") in expired.paths


def test_the_dev_pki_renews_from_the_same_ca(tmp_path):
    pki = ensure_dev_pki(tmp_path)
    cert, _ = pki.renew("funding", days=30)
    renewed = x509.load_pem_x509_certificate(cert)
    renewed.verify_directly_issued_by(x509.load_pem_x509_certificate(
        pki.internal_ca.read_bytes()))
    left = renewed.not_valid_after_utc - dt.datetime.now(dt.UTC)
    assert dt.timedelta(days=29) < left <= dt.timedelta(days=30)
