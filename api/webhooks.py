"""Delivering correction notices to agencies' own systems: signed webhooks with retries.

The store keeps an outbox (``graph.meaning``): one delivery per correction per agency
with a registered webhook. ``deliver_due`` sends each delivery that is due as a JSON POST
signed the Standard Webhooks way, and records the outcome; a failure (no answer, or any
status but 2xx) is retried with exponential backoff, and dead-lettered after
``MAX_ATTEMPTS``. It runs from ``jigsaw notices deliver`` and, when the API is served with
``JIGSAW_WEBHOOK_INTERVAL`` > 0, from a background task of the API.

Signing (https://www.standardwebhooks.com): headers ``webhook-id`` (the delivery id, the
same on every retry, so a receiver can drop repeats), ``webhook-timestamp`` (Unix
seconds) and ``webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">``, the
key being the secret's bytes after its ``whsec_`` prefix, base64-decoded.

What a delivery carries is decided when it is sent, never copied from the record: the
kind (corrected or withdrawn), the agency that did it, when, the notice feed's address,
and the earlier record's id only while some active reader of the receiving agency may
still know that record exists. Never its content.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

import orjson

from graph.meaning import Delivery
from graph.store import Store

TIMEOUT = 10.0
USER_AGENT = "Jigsaw-Webhooks/1"


def new_secret() -> str:
    """A fresh signing secret in the Standard Webhooks form: ``whsec_`` + base64 of 32 bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def _key(secret: str) -> bytes:
    raw = secret.removeprefix("whsec_")
    try:
        return base64.b64decode(raw, validate=True)
    except ValueError:
        return raw.encode()  # a secret not in base64 is used as its bytes


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header value for one delivery.

    >>> sign("whsec_" + base64.b64encode(b"k" * 32).decode(), "W1", 1700000000, b"{}")[:3]
    'v1,'
    """
    signed = f"{msg_id}.{timestamp}.".encode() + body
    mac = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def verify(
    secret: str, headers: dict[str, str], body: bytes, *, tolerance: int = 300, now: float | None = None
) -> bool:
    """Check a delivery as a receiver would: the signature, and a timestamp within
    ``tolerance`` seconds (against replays). Header names are matched in lower case."""
    h = {k.lower(): v for k, v in headers.items()}
    try:
        ts = int(h["webhook-timestamp"])
        msg_id = h["webhook-id"]
        given = h["webhook-signature"].split()
    except (KeyError, ValueError):
        return False
    if abs((now if now is not None else time.time()) - ts) > tolerance:
        return False
    want = sign(secret, msg_id, ts, body)
    return any(hmac.compare_digest(want, g) for g in given)


def payload(store: Store, d: Delivery) -> dict[str, Any]:
    """What one delivery says, decided now: the record's id only while an active reader of
    the receiving agency may still know it exists."""
    body: dict[str, Any] = {
        "type": "fragment.retracted" if d.kind == "retracted" else "fragment.corrected",
        "delivery": d.id,
        "agency": d.agency,
        "by_agency": d.by_agency,
        "at": d.created_at,
        "notices": "/notices",
    }
    if _existence_known(store, d.agency, d.fragment_id):
        body["fragment_id"] = d.fragment_id
    else:
        body["message"] = f"An item your agency saw has been changed by {d.by_agency}; ask them if you need it."
    return body


def _existence_known(store: Store, agency: str, fid: str) -> bool:
    for r in store.list_readers():
        if r.agency == agency and r.active and store.view(r.id, "safeguarding").fragment(fid) is not None:
            return True
    return False


@dataclass(frozen=True)
class Attempt:
    delivery_id: str
    agency: str
    ok: bool
    status: int | None
    state: str


def deliver_due(store: Store, *, limit: int = 100, timeout: float = TIMEOUT) -> list[Attempt]:
    """Send every delivery that is due, once each, and record each outcome."""
    out = []
    for d in store.due_deliveries(limit):
        body = orjson.dumps(payload(store, d), option=orjson.OPT_SORT_KEYS)
        ts = int(time.time())
        req = urllib.request.Request(
            d.url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
                "webhook-id": d.id,
                "webhook-timestamp": str(ts),
                "webhook-signature": sign(d.secret, d.id, ts, body),
            },
        )
        status: int | None = None
        error: str | None = None
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                status = resp.status
        except urllib.error.HTTPError as exc:
            status, error = exc.code, f"HTTP {exc.code}"
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            error = type(exc).__name__
        ok = status is not None and 200 <= status < 300
        state = store.record_delivery(d.id, ok=ok, error=None if ok else error or f"HTTP {status}")
        out.append(Attempt(d.id, d.agency, ok, status, state))
    return out
