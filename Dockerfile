# syntax=docker/dockerfile:1
# incident-bot production image.
#
#   docker build -t incident-bot:0.1.0 .
#   docker run --rm -p 8080:8080 -v incident-bot-data:/data \
#     -e SLACK_BOT_TOKEN -e SLACK_SIGNING_SECRET -e ALERTMANAGER_WEBHOOK_TOKEN incident-bot:0.1.0
#
# Two stages: the builder turns the project and its dependencies into wheels; the final
# stage installs those wheels into a virtualenv and carries no compiler, no pip and no
# pip cache. It runs as UID 10001 (numeric, so Kubernetes' runAsNonRoot can verify it) and
# writes only to /data (the SQLite database) and /tmp, so the root filesystem can be
# read-only. No HEALTHCHECK: Kubernetes probes /healthz and /readyz (see helm/).

# Pinned by digest, so a rebuild uses the same base until someone moves it on purpose. The
# digest is python:3.11-slim's as found pinned in public Dockerfiles; it was not pulled here
# (no Docker engine). Refresh it with:
#   docker buildx imagetools inspect python:3.11-slim --format '{{json .Manifest.Digest}}'
# and override it for one build with --build-arg PYTHON_IMAGE=python:3.11-slim@sha256:<digest>.
ARG PYTHON_IMAGE=python:3.11-slim@sha256:9c900dea9e8fb7e16277c179b555cc72d29a352dbc33cff48ad5a0412fd5bfc7

# --- builder: wheels for the project and every dependency ---------------------------------
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore

WORKDIR /src
# What the wheel is built from (the rest is kept out by .dockerignore).
COPY pyproject.toml README.md requirements.lock ./
COPY bot ./bot
COPY commands ./commands
COPY integrations ./integrations

# The dependencies come from the lock (every version pinned, every file hash-checked), the
# project's own wheel is built without resolving anything again.
RUN pip wheel --no-cache-dir --wheel-dir /wheels --require-hashes -r requirements.lock \
    && pip wheel --no-cache-dir --wheel-dir /wheels --no-deps .

# --- final: the virtualenv, a non-root user, nothing else ---------------------------------
FROM ${PYTHON_IMAGE}

ARG VERSION=0.1.0
ARG SOURCE_URL=https://github.com/your-org/incident-bot

LABEL org.opencontainers.image.title="incident-bot" \
      org.opencontainers.image.description="ChatOps incident bot: Alertmanager alerts to Slack incident channels, timelines, /status, /rollback, post-mortems" \
      org.opencontainers.image.source="${SOURCE_URL}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}"

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    DATABASE_URL=sqlite:////data/incident-bot.db

# The wheels are bind-mounted from the builder, never copied into a layer. The virtualenv
# gets no pip of its own (the base image's pip installs into it), and pip, setuptools and
# wheel are then removed from the base interpreter: no installer or build tool is left.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    python -m venv --without-pip "$VIRTUAL_ENV" \
    && python -m pip --python "$VIRTUAL_ENV/bin/python" install \
        --no-cache-dir --no-index --find-links=/wheels "incident-bot==${VERSION}" \
    && python -m pip uninstall --yes setuptools wheel pip \
    && groupadd --system --gid 10001 incident-bot \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin incident-bot \
    && mkdir /data \
    && chown 10001:10001 /data

WORKDIR /data
USER 10001:10001

EXPOSE 8080

ENTRYPOINT ["incident-bot"]
CMD ["serve"]
