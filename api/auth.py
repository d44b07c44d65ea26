"""Who is asking, and why: bearer tokens, OIDC access tokens, and the declared purpose.

Two kinds of bearer token are accepted:

- tokens issued by ``jigsaw tokens issue`` (or the administrators' API): random strings
  of which only a SHA-256 hash is stored; revocable and optionally expiring;
- when ``JIGSAW_OIDC_ISSUER`` is set, access tokens (JWTs) from the deployment's identity
  provider (Keycloak, Entra ID): signature checked against the issuer's published keys
  (JWKS), algorithm from an allowlist of public-key algorithms only, ``exp`` required,
  ``nbf``, ``iss`` and ``aud`` checked.

Either way the token only says who the caller is. What they may see (agency, roles,
clearances, cases, share grants) is read from the store on every request, never taken
from token claims, so a change an administrator makes applies to the next request.
"""

from __future__ import annotations

import threading
import urllib.request
from dataclasses import dataclass
from typing import Any

import jwt
import orjson

from api.settings import Settings
from graph.access import Purpose, Reader
from graph.errors import NotFound
from graph.store import Store


@dataclass(frozen=True)
class Principal:
    """The reader making this request (entitlements as of now) and their declared purpose."""

    reader: Reader
    purpose: Purpose


class OidcVerifier:
    """Validates access tokens from one OpenID Connect issuer."""

    def __init__(self, settings: Settings) -> None:
        assert settings.oidc_issuer is not None
        self.issuer = settings.oidc_issuer
        self.audience = settings.oidc_audience
        self.algorithms = list(settings.oidc_algorithms)
        self.claim = settings.oidc_reader_claim
        self.leeway = settings.oidc_leeway
        self._jwks_url = settings.oidc_jwks_url
        self._client: jwt.PyJWKClient | None = None
        self._lock = threading.Lock()

    def _keys(self) -> jwt.PyJWKClient:
        with self._lock:
            if self._client is None:
                url = self._jwks_url or self._discover()
                self._client = jwt.PyJWKClient(url, cache_keys=True, lifespan=300, timeout=10)
            return self._client

    def _discover(self) -> str:
        url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
        with urllib.request.urlopen(url, timeout=10) as resp:  # the deployment's own identity provider
            doc: Any = orjson.loads(resp.read())
        jwks = doc.get("jwks_uri") if isinstance(doc, dict) else None
        if not isinstance(jwks, str):
            raise jwt.PyJWKClientError("the issuer's discovery document names no jwks_uri")
        return jwks

    def reader_id(self, token: str) -> str | None:
        """The reader id the token vouches for, or None if it is not a valid token."""
        try:
            header = jwt.get_unverified_header(token)
            if header.get("alg") not in self.algorithms:
                return None  # "none", HS256 signed with our public key, or anything not allowed
            key = self._keys().get_signing_key_from_jwt(token)
            claims = jwt.decode(
                token,
                key=key.key,
                algorithms=self.algorithms,
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": ["exp", "iss"] + (["aud"] if self.audience else [])},
            )
        except (jwt.PyJWTError, OSError, ValueError):
            return None
        value = claims.get(self.claim)
        return value if isinstance(value, str) and value else None


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2 and not token.startswith("jgs_")


def authenticate(store: Store, oidc: OidcVerifier | None, token: str) -> Reader | None:
    """The active reader a bearer token belongs to, or None (any reason: never say which)."""
    if looks_like_jwt(token):
        rid = oidc.reader_id(token) if oidc is not None else None
    else:
        rid = store.reader_for_token(token)
    if rid is None:
        return None
    try:
        reader = store.reader(rid)
    except NotFound:
        return None
    return reader if reader.active else None
