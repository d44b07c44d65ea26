"""Settings for the HTTP API, from JIGSAW_* environment variables and an optional .env.

Built by ``create_app`` (never at import), so tests and several apps in one process each
get their own. Every setting is listed in docs/deploying.md. The Neo4j connection is read
from NEO4J_URI, NEO4J_USER, NEO4J_PASSWORD and NEO4J_DATABASE (no JIGSAW_ prefix: the
names Neo4j's own tools and hosted offerings use), listed in docs/scaling.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Only signature algorithms with a public key: never "none", never HMAC (HS*), where the
# "secret" could be the identity provider's public key that anyone can fetch.
ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
# The URI schemes the neo4j driver accepts: neo4j (routing, for a cluster or Aura) and
# bolt (one server); +s checks the server's certificate, +ssc accepts a self-signed one.
NEO4J_SCHEMES = ("neo4j", "neo4j+s", "neo4j+ssc", "bolt", "bolt+s", "bolt+ssc")


class Settings(BaseSettings):
    """How this Jigsaw API runs. Environment variables are JIGSAW_ and the name in capitals."""

    # populate_by_name: the NEO4J_* fields below are read from the environment by their
    # alias, and can still be given by field name in code (Settings(neo4j_uri=...)).
    # hide_input_in_errors: a settings error must never print the values (a password).
    model_config = SettingsConfigDict(
        env_prefix="JIGSAW_", env_file=".env", extra="ignore", populate_by_name=True, hide_input_in_errors=True
    )

    backend: Literal["embedded", "neo4j"] = Field(
        "embedded", description="Where the graph lives: the embedded SQLite store, or a Neo4j server (docs/scaling.md)."
    )
    store: Path = Field(Path("jigsaw-data") / "jigsaw.sqlite", description="The embedded store's SQLite file.")
    host: str = Field("127.0.0.1", description="Address `jigsaw serve` listens on.")
    port: int = Field(8000, ge=1, le=65535)
    busy_timeout: float = Field(5.0, gt=0, le=60, description="Seconds a write waits for another writer.")
    linkage_model: Path | None = Field(
        None, description="Entity resolution model settings (JSON); the shipped model when unset (docs/linkage.md)."
    )
    retry_after: int = Field(2, ge=1, le=300, description="Retry-After seconds when the store is busy or full.")

    # request limits
    max_body_bytes: int = Field(8 * 1024 * 1024, ge=1024, description="Largest request body accepted.")
    max_json_depth: int = Field(32, ge=4, le=256, description="Deepest JSON nesting accepted.")
    max_batch: int = Field(1000, ge=1, le=1000, description="Most fragments in one batch.")

    # OpenID Connect bearer tokens (Keycloak, Entra ID). Off unless an issuer is set.
    oidc_issuer: str | None = Field(None, description="The issuer (iss) tokens must carry.")
    oidc_audience: str | None = Field(None, description="The audience (aud) tokens must carry.")
    oidc_jwks_url: str | None = Field(None, description="The issuer's JWKS; default from its discovery document.")
    oidc_algorithms: list[str] = Field(["RS256", "PS256", "ES256"], description="Signature algorithms accepted.")
    oidc_reader_claim: str = Field("sub", description="The claim holding the Jigsaw reader id.")
    oidc_leeway: int = Field(30, ge=0, le=300, description="Seconds of clock skew allowed on exp and nbf.")

    docs: bool = Field(True, description="Serve the OpenAPI documentation at /docs (assets are local).")

    # Neo4j (JIGSAW_BACKEND=neo4j). Not JIGSAW_-prefixed: NEO4J_URI and friends.
    neo4j_uri: str | None = Field(
        None,
        validation_alias=AliasChoices("NEO4J_URI", "neo4j_uri"),
        description="The Neo4j server or cluster, e.g. neo4j://neo4j:7687 or neo4j+s://xxxx.databases.neo4j.io.",
    )
    neo4j_user: str = Field(
        "neo4j",
        min_length=1,
        validation_alias=AliasChoices("NEO4J_USER", "NEO4J_USERNAME", "neo4j_user"),
        description="The Neo4j user (NEO4J_USERNAME, the name Neo4j's own tools use, is read too).",
    )
    neo4j_password: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("NEO4J_PASSWORD", "neo4j_password"),
        description="The Neo4j user's password; never printed (shown as ********).",
    )
    neo4j_database: str = Field(
        "neo4j",
        min_length=1,
        validation_alias=AliasChoices("NEO4J_DATABASE", "neo4j_database"),
        description="The Neo4j database to use (Community Edition has one: neo4j).",
    )

    glossary: Path | None = Field(
        None, description="A TOML file of the deployment's own terms, merged over the shipped glossary."
    )
    webhook_interval: float = Field(
        0,
        ge=0,
        le=3600,
        description="Seconds between webhook delivery runs in the API; 0: run `jigsaw notices deliver`.",
    )

    derived_interval: float = Field(
        1.0,
        ge=0,
        le=3600,
        description=(
            "Seconds between runs of the projector that writes Neo4j's derived graph (people, events, places "
            "for analysts' Cypher) behind the writes; 0: run `jigsaw backend derive`. Nothing on the embedded store."
        ),
    )

    @field_validator("oidc_algorithms")
    @classmethod
    def _asymmetric_only(cls, v: list[str]) -> list[str]:
        bad = [a for a in v if a not in ASYMMETRIC_ALGORITHMS]
        if bad or not v:
            raise ValueError(f"use public-key algorithms only, from: {', '.join(sorted(ASYMMETRIC_ALGORITHMS))}")
        return v

    @field_validator("oidc_issuer", "oidc_audience", "oidc_jwks_url")
    @classmethod
    def _blank_is_none(cls, v: str | None) -> str | None:
        return v.strip() or None if v is not None else None

    @field_validator("neo4j_uri")
    @classmethod
    def _neo4j_scheme(cls, v: str | None) -> str | None:
        v = v.strip() or None if v is not None else None
        if v is not None and v.partition("://")[0] not in NEO4J_SCHEMES:
            raise ValueError(f"a Neo4j URI starts with one of {', '.join(s + '://' for s in NEO4J_SCHEMES)}")
        return v

    @model_validator(mode="after")
    def _neo4j_needs_connection(self) -> Settings:
        if self.backend == "neo4j":
            missing = [
                name
                for name, value in (("NEO4J_URI", self.neo4j_uri), ("NEO4J_PASSWORD", self.neo4j_password))
                if value is None or (isinstance(value, SecretStr) and not value.get_secret_value())
            ]
            if missing:
                raise ValueError(f"JIGSAW_BACKEND=neo4j needs {' and '.join(missing)} (see docs/scaling.md)")
        return self

    @property
    def oidc_enabled(self) -> bool:
        return self.oidc_issuer is not None
