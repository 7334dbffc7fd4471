"""Keys renewed while the services run (``shared/file_source.py``): the gateway's trusted
token keys (``gateway/identity.py``, TokenKeySource) and the internal caller keys
(``shared/caller.py``, CallerKeySource), on the three services as processes over
loopback, real TLS, real tokens. The key files are rewritten as the kubelet rewrites a
Secret (a new directory, the ``..data`` link swapped), and the same processes take them:
a token of a key added is accepted, one of a key removed refused at once (cached or
not), a broken JWKS refused with one WARNING while the loaded keys go on; a link's key
rotated in three steps with calls going through all along. Last, in process: a PEM
key file replaced by a key of no usable algorithm, on a TokenKeySource alone; a key file
changed in its ctime alone (a chmod), on a CallerKeySource."""

from __future__ import annotations

import json
import logging
import os
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from google.protobuf import json_format
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from ijh.funding.v1 import funding_pb2_grpc
from ijh.risk.v1 import risk_pb2, risk_pb2_grpc

from services.gateway.dev_pki import DEV_AUDIENCE, DEV_ISSUER, ensure_caller_keys, issue_token
from services.gateway.identity import TokenKeySource, TokenVerifier, Unauthenticated, key_id
from services.shared.caller import (
    CallerKeySource,
    key_fingerprint,
    read_caller_keys,
    signed_metadata,
)
from services.shared.caller_assertion import GATEWAY, LINKS, key_file_name, parse_keys
from services.shared.config import ConfigurationError
from services.shared.file_source import file_stamp
from tests.gateway.test_gateway import _grant_request
from tests.shared.test_tls_reload import SecretVolume, _approve_a_guarantee
from tests.stack import Stack, start_stack

GRANT = "/ijh.funding.v1.FundingService/ComputeGrant"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TOKEN_KEYS_RELOADED = "token signing keys reloaded"
CALLER_KEYS_RELOADED = "caller keys reloaded"


@dataclass
class Rotating:
    """A stack whose caller keys and JWKS are Secret-like volumes of the test's."""

    stack: Stack
    caller_keys: SecretVolume
    jwks: SecretVolume
    first_token_key: ec.EllipticCurvePrivateKey
    channels: dict[str, grpc.Channel] = field(default_factory=dict)

    def channel(self, token: str = "officer") -> grpc.Channel:
        """TLS to the gateway with a demo token (by name) on every call."""
        if token not in self.channels:
            self.channels[token] = self.stack.gateway_channel(token)
        return self.channels[token]


def _jwks(*keys: ec.EllipticCurvePrivateKey) -> bytes:
    jwks = []
    for key in keys:
        jwk = jwt.algorithms.ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
        jwks.append({**jwk, "kid": key_id(key.public_key()), "alg": "ES256", "use": "sig"})
    return json.dumps({"keys": jwks}).encode()


@pytest.fixture(scope="module")
def rotating(nats_server, tmp_path_factory) -> Iterator[Rotating]:
    var = tmp_path_factory.mktemp("rotating")
    caller_keys = SecretVolume(var / "caller-keys")
    caller_keys.write({path.name: path.read_bytes()
                       for path in ensure_caller_keys(var).glob("*.key")})
    jwks = SecretVolume(var / "jwks")
    first = ec.generate_private_key(ec.SECP256R1())
    jwks.write({"jwks.json": _jwks(first)})
    # The demo tokens' PEM key (IJH_JWT_PUBLIC_KEYS) stays trusted beside the JWKS.
    stack = start_stack(nats_server, var, {
        "IJH_TLS_RELOAD_SECONDS": "0.2", "IJH_CALLER_KEY_DIR": str(caller_keys.directory),
        "IJH_JWT_JWKS_FILE": jwks.path("jwks.json")})
    running = Rotating(stack, caller_keys, jwks, first)
    yield running
    for channel in running.channels.values():
        channel.close()
    stack.stop()


def _lines(path: Path, message: str) -> list[dict]:
    return [line for line in map(json.loads, path.read_text().splitlines())
            if line["message"] == message]


def _await_lines(path: Path, message: str, count: int) -> list[dict]:
    """The lines of ``message`` once there are ``count`` (a poll taking new files)."""
    deadline = time.monotonic() + 10
    while len(lines := _lines(path, message)) < count:
        assert time.monotonic() < deadline, f"{path.name}: {len(lines)} of {count} {message!r}"
        time.sleep(0.05)
    return lines


def _grant(rotating: Rotating, token: str) -> int:
    with rotating.stack.gateway_channel(token_name=None) as channel:
        return funding_pb2_grpc.FundingServiceStub(channel).ComputeGrant(
            _grant_request(), metadata=(("authorization", f"Bearer {token}"),),
            timeout=10).grant_cents


def _refused(rotating: Rotating, token: str) -> tuple[grpc.StatusCode, str]:
    """The code and ErrorInfo reason of the gateway's refusal of ``token``."""
    with pytest.raises(grpc.RpcError) as failure:
        _grant(rotating, token)
    info = error_details_pb2.ErrorInfo()
    assert any(detail.Unpack(info) for detail in rpc_status.from_call(failure.value).details)
    return failure.value.code(), info.reason


def test_the_gateway_takes_rotated_token_keys_without_a_restart(rotating):
    gateway = rotating.stack.gateway
    pid, log = gateway.process.pid, gateway.log_path
    old, new = rotating.first_token_key, ec.generate_private_key(ec.SECP256R1())
    old_kid, new_kid = key_id(old.public_key()), key_id(new.public_key())
    old_token, new_token = (issue_token(key, {"sub": "jwks-officer", "role": "officer"}, 600)
                            for key in (old, new))
    # What it trusts from its start, as a pod started mid-rotation says it.
    [loaded] = _lines(log, "token signing keys loaded")
    assert old_kid in loaded["kids"] and len(loaded["kids"]) == 2  # beside the PEM's
    reloads = len(_lines(log, TOKEN_KEYS_RELOADED))
    assert _grant(rotating, old_token) == 50_00  # and cached: verified once
    assert _refused(rotating, new_token) == (grpc.StatusCode.UNAUTHENTICATED, "UNKNOWN_SIGNER")

    # The identity provider publishes its next key beside the current one...
    rotating.jwks.write({"jwks.json": _jwks(old, new)})
    line = _await_lines(log, TOKEN_KEYS_RELOADED, reloads + 1)[-1]
    assert (line["added"], line["removed"]) == ([new_kid], [])
    assert _grant(rotating, new_token) == 50_00
    assert _grant(rotating, old_token) == 50_00

    # ... then drops the old one (rotated out, or leaked): its token, cached, is refused.
    rotating.jwks.write({"jwks.json": _jwks(new)})
    line = _await_lines(log, TOKEN_KEYS_RELOADED, reloads + 2)[-1]
    assert (line["added"], line["removed"]) == ([], [old_kid])
    assert new_kid in line["kids"] and old_kid not in line["kids"]  # beside the PEM's
    assert _refused(rotating, old_token) == (grpc.StatusCode.UNAUTHENTICATED, "UNKNOWN_SIGNER")
    assert _grant(rotating, new_token) == 50_00

    # A JWKS cut short: one WARNING, the loaded keys go on.
    rotating.jwks.write({"jwks.json": _jwks(new)[:40]})
    [refusal] = _await_lines(log, "new token signing keys refused: the loaded ones stay in use", 1)
    time.sleep(1)  # five more polls: no more lines
    assert len(_lines(log, "new token signing keys refused: the loaded ones stay in use")) == 1
    assert refusal["level"] == "WARNING"
    assert refusal["error"].startswith(
        f"IJH_JWT_JWKS_FILE: {rotating.jwks.path('jwks.json')}: not a file of trusted keys")
    assert _grant(rotating, new_token) == 50_00
    assert _refused(rotating, old_token) == (grpc.StatusCode.UNAUTHENTICATED, "UNKNOWN_SIGNER")
    assert len(_lines(log, TOKEN_KEYS_RELOADED)) == reloads + 2
    assert gateway.process.pid == pid and gateway.process.poll() is None


def _estimate_request() -> risk_pb2.EstimateProcurementRiskRequest:
    """The example procurement, on few scenarios (a cheap call to risk)."""
    request = json_format.Parse((EXAMPLES / "procurement_risk.json").read_text(),
                                risk_pb2.EstimateProcurementRiskRequest())
    request.simulation.scenario_count = 200
    return request


class _Traffic:
    """Calls through the gateway to both backends, a pair at a time, until stopped: every
    outcome recorded."""

    def __init__(self, stack: Stack):
        self.stack, self.codes = stack, []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        with self.stack.gateway_channel("officer") as channel:
            funding = funding_pb2_grpc.FundingServiceStub(channel)
            risk = risk_pb2_grpc.RiskServiceStub(channel)
            while not self.stop.wait(0.02):  # well within the gateway's rate per caller
                for call, request in ((funding.ComputeGrant, _grant_request()),
                                      (risk.EstimateProcurementRisk, _estimate_request())):
                    try:
                        call(request, timeout=10)
                        self.codes.append(grpc.StatusCode.OK)
                    except grpc.RpcError as error:
                        self.codes.append(error.code())

    def await_more(self) -> None:
        """Return once a call has ended after this was called."""
        made, deadline = len(self.codes), time.monotonic() + 10
        while len(self.codes) <= made:
            assert time.monotonic() < deadline and self.thread.is_alive(), "no call made"
            time.sleep(0.02)

    def end(self) -> list[grpc.StatusCode]:
        self.stop.set()
        self.thread.join(30)
        return self.codes


def _direct_grant(rotating: Rotating, metadata) -> grpc.StatusCode:
    """A call straight to funding (plaintext) signed as the gateway with ``metadata``."""
    with grpc.insecure_channel(rotating.stack.funding.address) as channel:
        try:
            funding_pb2_grpc.FundingServiceStub(channel).ComputeGrant(
                _grant_request(), metadata=metadata, timeout=10)
        except grpc.RpcError as error:
            return error.code()
    return grpc.StatusCode.OK


def test_a_caller_key_rotates_in_three_steps_with_calls_going_through(rotating):
    stack, volume = rotating.stack, rotating.caller_keys
    pids = [process.process.pid for process in stack.processes]
    files = [key_file_name(*link) for link in LINKS]
    old = {name: parse_keys(Path(volume.path(name)).read_text())[0] for name in files}
    new = {name: secrets.token_hex(32).encode() for name in files}
    # Signed as the gateway under the old key (what the test's stack hands out).
    old_signed = stack.signed(GRANT)
    assert _direct_grant(rotating, old_signed) == grpc.StatusCode.OK
    logs = {process.module: process.log_path for process in stack.processes}
    seen = {name: len(_lines(path, CALLER_KEYS_RELOADED)) for name, path in logs.items()}
    traffic = _Traffic(stack)

    def step(lines: dict[str, list[bytes]]) -> dict[tuple[str, str], dict]:
        """Write every link's file with ``lines``; once each service has taken both of its
        files, a call over each link: gateway to funding and risk, funding to risk."""
        volume.write({name: b"".join(key + b"\n" for key in lines[name]) for name in files})
        taken = {}
        for service, path in logs.items():
            seen[service] += 2  # each service holds two links
            for line in _await_lines(path, CALLER_KEYS_RELOADED, seen[service])[-2:]:
                taken[service, line["file"]] = line
        _approve_a_guarantee(rotating.channel)
        traffic.await_more()
        return taken

    def fingerprints(*keys: bytes) -> list[str]:
        return [key_fingerprint(key) for key in keys]

    try:
        # 1. The new key second on both sides of each link: the old one still signs.
        taken = step({name: [old[name], new[name]] for name in files})
        for (service, name), line in taken.items():
            assert line["keys"] == fingerprints(old[name], new[name])
            signer = name.partition("-")[0]
            assert line["signs"] == (key_fingerprint(old[name]) if service == signer else None)
        # 2. The new key first: it signs, the old one still verifies.
        taken = step({name: [new[name], old[name]] for name in files})
        assert {(name, line["signs"]) for (service, name), line in taken.items()
                if line["signs"]} == {(name, key_fingerprint(new[name])) for name in files}
        assert _direct_grant(rotating, old_signed) == grpc.StatusCode.OK
        # 3. The old key dropped: what it signs is refused from then on.
        taken = step({name: [new[name]] for name in files})
        assert all(line["keys"] == fingerprints(new[name])
                   for (service, name), line in taken.items())
        assert _direct_grant(rotating, stack.signed(GRANT)) == \
            grpc.StatusCode.UNAUTHENTICATED
        new_signed = signed_metadata(read_caller_keys(volume.directory, GATEWAY), GRANT,
                                     "t-officer", "officer")
        assert _direct_grant(rotating, new_signed) == grpc.StatusCode.OK
    finally:
        codes = traffic.end()
    assert codes and set(codes) == {grpc.StatusCode.OK}, codes
    assert [process.process.pid for process in stack.processes] == pids


def test_a_pem_key_replaced_by_one_of_no_algorithm_is_refused_and_tokens_still_verify(
        tmp_path, caplog):
    # IJH_JWT_PUBLIC_KEYS as IJH_JWT_JWKS_FILE above: a P-384 key can sign no token here
    # (ES256 is P-256), so the set is refused and the loaded key goes on verifying.
    key = ec.generate_private_key(ec.SECP256R1())
    volume = SecretVolume(tmp_path / "jwt")
    volume.write({"signer.pem": _public_pem(key)})
    source = TokenKeySource([volume.path("signer.pem")])
    verifier = TokenVerifier(source, [DEV_ISSUER], DEV_AUDIENCE)
    token = issue_token(key, {"sub": "pem-officer", "role": "officer"}, 600)
    assert verifier.verify(token).subject == "pem-officer"
    volume.write({"signer.pem": _public_pem(ec.generate_private_key(ec.SECP384R1()))})
    assert not source.poll()
    [refusal] = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert refusal.getMessage() == "new token signing keys refused: the loaded ones stay in use"
    assert refusal.error.startswith(f"IJH_JWT_PUBLIC_KEYS: {volume.path('signer.pem')}: ")
    another = issue_token(key, {"sub": "pem-officer-2", "role": "officer"}, 600)  # not cached
    assert verifier.verify(another).subject == "pem-officer-2"


def _refusal_reason(verifier: TokenVerifier, token: str) -> str:
    with pytest.raises(Unauthenticated) as refused:
        verifier.verify(token)
    return refused.value.reason


def _logged(caplog, message: str) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.getMessage() == message]


def test_a_token_key_whose_file_is_removed_is_trusted_no_more(tmp_path, caplog):
    # A leaked PEM key revoked by removing its file from the Secret (its path still in
    # IJH_JWT_PUBLIC_KEYS): the others are taken without it, not refused with the old set.
    caplog.set_level(logging.INFO, "services.gateway.identity")
    kept, leaked = (ec.generate_private_key(ec.SECP256R1()) for _ in range(2))
    volume = SecretVolume(tmp_path / "jwt")
    volume.write({"kept.pem": _public_pem(kept), "leaked.pem": _public_pem(leaked)})
    source = TokenKeySource([volume.path("kept.pem"), volume.path("leaked.pem")])
    verifier = TokenVerifier(source, [DEV_ISSUER], DEV_AUDIENCE)
    forged, good = (issue_token(key, {"sub": "pem-admin", "role": "admin"}, 600)
                    for key in (leaked, kept))
    assert verifier.verify(forged).subject == "pem-admin"  # and cached
    volume.write({"kept.pem": _public_pem(kept)})
    assert source.poll()
    [gone] = _logged(caplog, "token key file gone: its keys are trusted no more")
    assert (gone.levelname, gone.variable, gone.path) == (
        "WARNING", "IJH_JWT_PUBLIC_KEYS", volume.path("leaked.pem"))
    [reloaded] = _logged(caplog, TOKEN_KEYS_RELOADED)
    assert (reloaded.removed, reloaded.kids) == ([key_id(leaked.public_key())],
                                                 [key_id(kept.public_key())])
    assert _refusal_reason(verifier, forged) == "UNKNOWN_SIGNER"
    assert verifier.verify(good).subject == "pem-admin"


def test_a_jwks_emptied_trusts_none_of_its_keys_and_no_key_left_refuses_every_token(
        tmp_path, caplog):
    caplog.set_level(logging.INFO, "services.gateway.identity")
    local, provider = (ec.generate_private_key(ec.SECP256R1()) for _ in range(2))
    volume = SecretVolume(tmp_path / "jwt")
    volume.write({"local.pem": _public_pem(local), "jwks.json": _jwks(provider)})
    source = TokenKeySource([volume.path("local.pem")], volume.path("jwks.json"))
    verifier = TokenVerifier(source, [DEV_ISSUER], DEV_AUDIENCE)
    local_token, provider_token = (issue_token(key, {"sub": "officer", "role": "officer"}, 600)
                                   for key in (local, provider))
    assert verifier.verify(provider_token).subject == "officer"
    # The provider revokes all its keys: its JWKS holds none.
    volume.write({"local.pem": _public_pem(local), "jwks.json": b'{"keys": []}'})
    assert source.poll()
    [empty] = _logged(caplog, "JWKS holds no key: none of it is trusted")
    assert (empty.levelname, empty.path) == ("WARNING", volume.path("jwks.json"))
    assert _logged(caplog, TOKEN_KEYS_RELOADED)[-1].removed == [key_id(provider.public_key())]
    assert _refusal_reason(verifier, provider_token) == "UNKNOWN_SIGNER"
    assert verifier.verify(local_token).subject == "officer"
    # The last key removed too: nothing is trusted, said at ERROR, every token refused.
    volume.write({"jwks.json": b'{"keys": []}'})
    assert source.poll()
    assert source.current == {}
    [none_left] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert none_left.getMessage().startswith("no token signing keys left: every token is "
                                             "refused")
    assert _refusal_reason(verifier, local_token) == "UNKNOWN_SIGNER"
    # A half-written file is still refused, the (empty) loaded set kept; a key back, taken.
    volume.write({"local.pem": _public_pem(local)[:50], "jwks.json": b'{"keys": []}'})
    assert not source.poll()
    volume.write({"local.pem": _public_pem(local), "jwks.json": b'{"keys": []}'})
    assert source.poll()
    assert verifier.verify(local_token).subject == "officer"


def test_token_key_files_missing_or_holding_no_key_at_start_are_refused(tmp_path):
    # A path mistyped is no revocation: the gateway does not start (exit 2) on it.
    with pytest.raises(ConfigurationError, match=r"IJH_JWT_PUBLIC_KEYS: .*nope\.pem: not a "
                       r"file of trusted keys \(FileNotFoundError"):
        TokenKeySource([str(tmp_path / "nope.pem")])
    (tmp_path / "jwks.json").write_text('{"keys": []}')
    with pytest.raises(ConfigurationError, match="no token signing keys configured"):
        TokenKeySource([], str(tmp_path / "jwks.json"))


def _public_pem(key) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


def test_the_caller_keys_loaded_at_start_are_logged_as_a_reload_logs_them(tmp_path, caplog):
    # A pod started mid-rotation: "every pod has logged the step" holds for it too.
    caplog.set_level(logging.INFO, "services.shared.caller")
    directory = ensure_caller_keys(tmp_path)
    source = CallerKeySource(directory, "funding")
    lines = {r.file: r for r in caplog.records if r.getMessage() == "caller keys loaded"}
    assert sorted(lines) == ["funding-risk.key", "gateway-funding.key"]
    signing, verifying = source.to["risk"][0], source.trusted[GATEWAY][0]
    assert (lines["funding-risk.key"].keys, lines["funding-risk.key"].signs) == (
        [key_fingerprint(signing)], key_fingerprint(signing))
    assert (lines["gateway-funding.key"].keys, lines["gateway-funding.key"].signs) == (
        [key_fingerprint(verifying)], None)
    assert {r.levelname for r in lines.values()} == {"INFO"}


def _after_a_clock_tick(stamp_ns: int) -> None:
    """Return once the clock has moved well past ``stamp_ns``: the kernel stamps a file's
    times from a coarse clock (a tick of up to 10 ms), and changes within one tick look
    alike."""
    while time.time_ns() < stamp_ns + 20_000_000:
        time.sleep(0.002)


def test_a_key_file_changed_only_in_its_ctime_is_read_again(tmp_path):
    # A rotation step written unreadable (mode 0200) is refused; the chmod or chown that
    # fixes it changes the file's ctime alone: no size, no mtime.
    directory = ensure_caller_keys(tmp_path)
    source = CallerKeySource(directory, "risk")
    path = directory / key_file_name(GATEWAY, "risk")
    stamp = file_stamp(str(path))
    _after_a_clock_tick(path.stat().st_ctime_ns)
    path.chmod(0o400)
    assert file_stamp(str(path)) != stamp
    # As the source sees a file taken after such a fix: new keys, size and mtime as before.
    before, [old] = path.stat(), parse_keys(path.read_text())
    new = secrets.token_hex(32).encode()
    _after_a_clock_tick(before.st_ctime_ns)
    path.write_bytes(path.read_bytes().replace(old, new))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert (path.stat().st_size, path.stat().st_mtime_ns) == (before.st_size,
                                                               before.st_mtime_ns)
    assert source.poll()
    assert source.trusted[GATEWAY] == (new,)
