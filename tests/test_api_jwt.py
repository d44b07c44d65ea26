"""OpenID Connect bearer tokens: a real identity provider stand-in on 127.0.0.1 (an HTTP
server publishing a discovery document and a JWKS), real RSA keys, real tokens, and the
real app. The attacks the issue names are each refused; entitlements come from the
store, never from the token's claims."""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.server
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from pydantic import ValidationError

from api.settings import Settings
from graph.store import fragment_id
from tests.api_server import Server, demo_server, free_port
from tests.test_access import GP_RECORD

AUDIENCE = "jigsaw-api"
KID = "test-key-1"


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def issuer(key: rsa.RSAPrivateKey) -> Iterator[str]:
    """An identity provider stand-in: discovery document and JWKS over real HTTP."""
    port = free_port()
    base = f"http://127.0.0.1:{port}/realms/northshire"
    jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    jwks = json.dumps({"keys": [{**jwk, "kid": KID, "use": "sig", "alg": "RS256"}]}).encode()
    discovery = json.dumps({"issuer": base, "jwks_uri": f"{base}/protocol/openid-connect/certs"}).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = {
                "/realms/northshire/.well-known/openid-configuration": discovery,
                "/realms/northshire/protocol/openid-connect/certs": jwks,
            }.get(self.path)
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body or b"{}")

        def log_message(self, *args: Any) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield base
    httpd.shutdown()


@pytest.fixture(scope="module")
def srv(issuer: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    settings = Settings(_env_file=None, oidc_issuer=issuer, oidc_audience=AUDIENCE)  # type: ignore[call-arg]
    with demo_server(tmp_path_factory.mktemp("jwt"), settings) as s:
        yield s


def claims(issuer: str, sub: str = "dsl-hollybank", **extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"iss": issuer, "aud": AUDIENCE, "sub": sub, "iat": now, "nbf": now - 5, "exp": now + 300, **extra}


def sign(key: rsa.RSAPrivateKey, body: dict[str, Any], alg: str = "RS256") -> str:
    return jwt.encode(body, key, algorithm=alg, headers={"kid": KID})


def get(srv: Server, token: str, path: str = "/people", purpose: str = "safeguarding") -> httpx.Response:
    with httpx.Client(
        base_url=srv.base, headers={"Authorization": f"Bearer {token}", "X-Jigsaw-Purpose": purpose}
    ) as c:
        return c.get(path, params={"q": "Walsh"} if path == "/people" else None)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_a_valid_token_from_the_issuer_is_accepted(srv: Server, key: rsa.RSAPrivateKey, issuer: str) -> None:
    r = get(srv, sign(key, claims(issuer)))
    assert r.status_code == 200, r.text
    assert r.json()["items"]  # the DSL is on the Walsh case


def _attacks(key: rsa.RSAPrivateKey, issuer: str) -> dict[str, str]:
    now = int(time.time())
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": KID}).encode())
    body = b64(json.dumps(claims(issuer)).encode())
    hs256 = f"{head}.{body}." + b64(hmac.new(pem, f"{head}.{body}".encode(), hashlib.sha256).digest())
    none_head = b64(json.dumps({"alg": "none", "typ": "JWT", "kid": KID}).encode())
    return {
        "alg none": f"{none_head}.{body}.",
        "HS256 signed with the public key": hs256,
        "expired": sign(key, {**claims(issuer), "exp": now - 3600, "iat": now - 7200, "nbf": now - 7200}),
        "not yet valid": sign(key, {**claims(issuer), "nbf": now + 3600}),
        "wrong audience": sign(key, {**claims(issuer), "aud": "someone-else"}),
        "wrong issuer": sign(key, {**claims(issuer), "iss": "http://127.0.0.1:1/realms/evil"}),
        "no expiry": sign(key, {k: v for k, v in claims(issuer).items() if k != "exp"}),
        "signed by another key": jwt.encode(claims(issuer), other, algorithm="RS256", headers={"kid": KID}),
        "tampered payload": sign(key, claims(issuer)).rsplit(".", 2)[0]
        + "."
        + b64(json.dumps(claims(issuer, sub="sw-northshire-118")).encode())
        + "."
        + sign(key, claims(issuer)).rsplit(".", 1)[1],
        "a reader the store does not know": sign(key, claims(issuer, sub="nobody-at-all")),
    }


@pytest.mark.parametrize(
    "attack",
    [
        "alg none",
        "HS256 signed with the public key",
        "expired",
        "not yet valid",
        "wrong audience",
        "wrong issuer",
        "no expiry",
        "signed by another key",
        "tampered payload",
        "a reader the store does not know",
    ],
)
def test_attacks_are_refused(srv: Server, key: rsa.RSAPrivateKey, issuer: str, attack: str) -> None:
    r = get(srv, _attacks(key, issuer)[attack])
    assert r.status_code == 401, (attack, r.text)
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["detail"] == "the token is not valid, has expired or was revoked"  # never says which


def test_claims_do_not_grant_what_the_store_does_not(srv: Server, key: rsa.RSAPrivateKey, issuer: str) -> None:
    boastful = sign(
        key,
        claims(issuer, roles=["administrator"], agency="millbrook-surgery", clearances=["special_category"]),
    )
    assert get(srv, boastful, "/readers", "administration").status_code == 403
    gp = get(srv, boastful, f"/fragments/{fragment_id(*GP_RECORD)}").json()
    assert gp["held_back"] is True and gp["fragment"] is None  # the DSL's own entitlements


def test_a_deactivated_reader_is_refused_with_a_valid_token(srv: Server, key: rsa.RSAPrivateKey, issuer: str) -> None:
    srv.store.put_reader("test", reader_id="jwt-temp", agency="northshire-csws", roles=["social_worker"])
    token = sign(key, claims(issuer, sub="jwt-temp"))
    assert get(srv, token).status_code == 200
    srv.store.set_reader_active("test", "jwt-temp", False)
    assert get(srv, token).status_code == 401


def test_issued_tokens_still_work_beside_oidc(srv: Server) -> None:
    assert get(srv, srv.tokens["sw-northshire-118"]).status_code == 200


@pytest.mark.parametrize("algs", [["HS256"], ["none"], ["RS256", "HS512"], []])
def test_symmetric_or_no_algorithms_cannot_be_configured(algs: list[str]) -> None:
    with pytest.raises(ValidationError, match="oidc_algorithms"):
        Settings(_env_file=None, oidc_issuer="http://idp", oidc_algorithms=algs)  # type: ignore[call-arg]
