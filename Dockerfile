# The Jigsaw API as a container image: `docker compose up` builds it (docker-compose.yml).
#
# Two stages: the first builds a virtual environment with Jigsaw and the neo4j driver
# from wheels; the second copies only that environment onto a clean base, so nothing of
# the build (pip's cache, the source tree, setuptools' build files) is left behind. The
# slim base has no compiler, and neither stage installs one: every dependency ships a
# binary wheel for CPython 3.11 on Linux, and a build that needed to compile would fail
# here rather than pull a toolchain in.
#
# The base image is pinned to an exact Python patch release and Debian release. To pin
# it by content as well, append the digest that
#     docker buildx imagetools inspect python:3.11.14-slim-bookworm
# prints (FROM python:3.11.14-slim-bookworm@sha256:...); it could not be looked up
# where this file was written (no registry access), so none is given rather than a guess.

FROM python:3.11.14-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY graph ./graph
COPY ingest ./ingest
COPY api ./api
COPY viz ./viz
# --prefer-binary: never build a dependency from source when a wheel exists. pip compiles
# the bytecode as it installs; pip itself is then removed, as nothing installs at run time.
RUN python -m venv /opt/jigsaw \
    && /opt/jigsaw/bin/pip install --prefer-binary ".[neo4j]" \
    && /opt/jigsaw/bin/pip uninstall --yes pip

FROM python:3.11.14-slim-bookworm
# A fixed numeric id, so `user:` in docker-compose.yml and file ownership on any volume
# agree; no login shell, no home directory.
RUN groupadd --system --gid 10001 jigsaw \
    && useradd --system --uid 10001 --gid jigsaw --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin jigsaw \
    && mkdir -p /var/lib/jigsaw \
    && chown jigsaw:jigsaw /var/lib/jigsaw
COPY --from=build /opt/jigsaw /opt/jigsaw
# The root filesystem runs read-only (docker-compose.yml): Python must not try to write
# bytecode (it was compiled at build time), and output goes straight to the log.
ENV PATH=/opt/jigsaw/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    JIGSAW_HOST=0.0.0.0 \
    JIGSAW_PORT=8000
# An embedded store (JIGSAW_BACKEND=embedded) lives here, on a volume; the Neo4j backend
# keeps nothing on the API's disk.
WORKDIR /var/lib/jigsaw
USER 10001:10001
EXPOSE 8000
# /health answers without a token and says nothing about the store (api/routers/health.py).
# The slim image has no curl or wget: Python's own HTTP client does the check.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; port = os.environ.get('JIGSAW_PORT', '8000'); sys.exit(0 if urllib.request.urlopen(f'http://127.0.0.1:{port}/health', timeout=4).status == 200 else 1)"]
# Listens on all of the container's interfaces; docker-compose.yml publishes the port on
# the host's 127.0.0.1 only (put TLS in front: docs/deploying.md).
CMD ["jigsaw", "serve", "--host", "0.0.0.0", "--port", "8000"]
