# syntax=docker/dockerfile:1
# The taskora service image: `taskora images build` builds it with buildx.
#
# The builder stage installs the locked dependencies (requirements/image.txt, exact versions
# with hashes) and the taskora wheel into a virtual environment. The wheel is built in a
# second environment with the locked setuptools of requirements/build.txt. The final stage
# copies only the first environment onto a slim Python, so no compiler, pip cache, build
# tool or source tree ends up in the image.

# The lock is resolved for Python 3.11, so the base image must stay on 3.11. The tag also
# fixes the Debian release. NOTE: the tag still moves with Python and Debian patch releases;
# pass --build-arg PYTHON_IMAGE=python:3.11-slim-trixie@sha256:... to pin one image exactly.
ARG PYTHON_IMAGE=python:3.11-slim-trixie

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# The dependencies come first, so their layer is reused while only the source changes.
COPY requirements/image.txt requirements/build.txt ./requirements/
RUN python -m venv /opt/taskora \
 && /opt/taskora/bin/pip install --require-hashes --no-deps -r requirements/image.txt \
 && python -m venv /opt/build \
 && /opt/build/bin/pip install --require-hashes --no-deps -r requirements/build.txt
COPY pyproject.toml README.md ./
COPY taskora ./taskora
# pip check fails the build when the lock lacks a dependency that pyproject.toml declares.
RUN /opt/build/bin/pip wheel --no-deps --no-build-isolation --wheel-dir /wheels . \
 && /opt/taskora/bin/pip install --no-deps /wheels/taskora-*.whl \
 && /opt/taskora/bin/pip check \
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
