"""A real Jigsaw HTTP server for tests: uvicorn on 127.0.0.1 on a free port, in a thread
of the test process, serving ``create_app`` over a real store file. Tests talk to it
with httpx over real sockets."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import uvicorn

from api.app import create_app
from api.cli import _DEMO_ACCESS, _DEMO_STAFF, build_demo
from api.settings import Settings
from graph.embedded import EmbeddedStore
from graph.store import Store

# How tests and benchmarks start Debian's Chromium: headless, and with nothing that
# reaches out to the network on its own (this machine refuses such connections).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    base: str
    store: Store
    tokens: dict[str, str] = field(default_factory=dict)

    def client(self, reader: str | None = None, purpose: str | None = "safeguarding") -> httpx.Client:
        headers = {}
        if reader is not None:
            headers["Authorization"] = f"Bearer {self.tokens[reader]}"
        if purpose is not None:
            headers["X-Jigsaw-Purpose"] = purpose
        return httpx.Client(base_url=self.base, headers=headers, timeout=30)


@contextmanager
def serve(store: Store, settings: Settings | None = None) -> Iterator[str]:
    """Serve ``store`` until the block ends; yields the base URL."""
    port = free_port()
    settings = settings or Settings(_env_file=None)  # type: ignore[call-arg]
    app = create_app(settings, store=store)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)


DEMO_READER_IDS = [r[0] for r in _DEMO_ACCESS] + [r[0] for r in _DEMO_STAFF]


@contextmanager
def demo_server(folder: Path, settings: Settings | None = None) -> Iterator[Server]:
    """The demo store (readers, cases, the Walsh family) served, with a token per reader."""
    path = folder / "demo.sqlite"
    build_demo(path)
    store = EmbeddedStore.open(path, busy_timeout=settings.busy_timeout if settings else 5.0)
    try:
        with served(store, settings) as server:
            yield server
    finally:
        store.close()


@contextmanager
def served(store: Store, settings: Settings | None = None) -> Iterator[Server]:
    """A store that holds the demo (any backend) served, with a token per demo reader."""
    tokens = {rid: store.issue_token("test", rid)[1] for rid in DEMO_READER_IDS}
    with serve(store, settings) as base:
        yield Server(base, store, tokens)
