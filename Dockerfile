# syntax=docker/dockerfile:1
# The taskora service image: `taskora images build` builds it with buildx.
#
# The builder stage turns the source into a wheel and installs it with its dependencies
# into a virtual environment. The final stage copies only that environment onto a slim
# Python, so no compiler, pip cache or source tree ends up in the image.

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY taskora ./taskora
RUN python -m pip wheel --no-deps --wheel-dir /wheels . \
 && python -m venv /opt/taskora \
 && /opt/taskora/bin/pip install /wheels/taskora-*.whl \
 && /opt/taskora/bin/pip uninstall --yes pip setuptools

FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/taskora/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp
# The numeric user and group match the chart's runAsUser and runAsGroup (10001), so
# Kubernetes can verify runAsNonRoot without reading /etc/passwd.
RUN groupadd --system --gid 10001 taskora \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
    --shell /usr/sbin/nologin taskora
COPY --from=builder /opt/taskora /opt/taskora
USER 10001:10001
EXPOSE 8000
# No HEALTHCHECK: Kubernetes ignores it and probes /healthz and /readyz itself.
ENTRYPOINT ["taskora", "serve", "--host", "0.0.0.0"]
CMD ["--port", "8000"]
