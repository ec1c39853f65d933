"""Running ``taskora serve`` beside a local Dapr sidecar, for ``taskora serve --dapr``.

Two ways, tried in this order:

1. The Dapr CLI on PATH: ``dapr run --app-id taskora --app-port PORT --resources-path DIR
   -- <serve command>``. The CLI starts daprd and the service, and passes the sidecar's
   ports to the service in ``DAPR_HTTP_PORT`` and ``DAPR_GRPC_PORT``.
2. Docker: a ``daprio/daprd`` container on the host network, so the sidecar reaches the
   service on 127.0.0.1 and the service reaches the sidecar on loopback ports, plus a
   Redis container published on 127.0.0.1 when nothing listens at the Redis address.
   The service runs as a child process of this one.

Both render the components into ``<data dir>/dapr/components`` and the secrets into
``<data dir>/dapr/secrets.json`` (mode 0600) first. The secrets file stays outside the
components directory, where daprd would log a warning about a file that is not YAML. Ctrl-C or SIGTERM
stops what was started.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from taskora.deploy.components import (
    APP_ID,
    DEFAULT_MAX_LEN_APPROX,
    DEFAULT_REDIS_HOST,
    DEFAULT_SCHEDULE,
    SECRETS_FILE_NAME,
    ComponentNames,
    ComponentOptions,
    render_components,
    validate_options,
    write_components,
    write_secrets_file,
)
from taskora.errors import TaskoraError

logger = logging.getLogger(__name__)

# NOTE: the daprd version is pinned so local runs are repeatable. It should follow the
# Dapr version of the cluster; TASKORA_DAPRD_IMAGE overrides it.
DAPRD_IMAGE = "daprio/daprd:1.14.4"
REDIS_IMAGE = "redis:7-alpine"
# Mount point of the run directory inside the daprd container.
CONTAINER_RUN_DIR = "/taskora-run"
STOP_TIMEOUT_SECONDS = 15.0

NO_SIDECAR_MESSAGE = (
    "cannot start a Dapr sidecar: the Dapr CLI is not on PATH and Docker is not available "
    "({reason}). Install the Dapr CLI and run `dapr init` "
    "(https://docs.dapr.io/getting-started/install-dapr-cli/), or install and start "
    "Docker, then run `taskora serve --dapr` again. `taskora serve` without --dapr needs "
    "neither."
)


@dataclass(frozen=True)
class SidecarRequest:
    """The inputs of ``serve --dapr``: the service's command line and the sidecar's options."""

    serve_command: Sequence[str]
    """The service's own command line, without ``--dapr``."""
    app_port: int
    run_dir: Path
    secrets: Mapping[str, str]
    """Entries of the secrets file that the secret store component reads."""
    redis_host: str = DEFAULT_REDIS_HOST
    schedule: str = DEFAULT_SCHEDULE
    max_len_approx: int = DEFAULT_MAX_LEN_APPROX
    names: ComponentNames = field(default_factory=ComponentNames)
    daprd_image: str = DAPRD_IMAGE
    service_env: Mapping[str, str] = field(default_factory=dict)
    """Variables set for the service on top of this process's environment."""


def free_loopback_port() -> int:
    """Return a TCP port that was free on 127.0.0.1 a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def redis_answers(redis_host: str, timeout: float = 1.0) -> bool:
    """Return whether a TCP connection to ``redis_host`` (HOST:PORT) succeeds."""
    host, _, port = redis_host.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            return True
    except OSError:
        return False


def _is_loopback(redis_host: str) -> bool:
    host = redis_host.rpartition(":")[0].strip("[]")
    return host in {"127.0.0.1", "localhost", "::1"}


def run_with_sidecar(request: SidecarRequest, *, docker_client: Any = None) -> int:
    """Start the service beside a sidecar and return the exit code once it stopped.

    The Dapr CLI on PATH wins over Docker. ``docker_client`` replaces
    ``python_on_whales.docker``. Raises :class:`TaskoraError` when neither is available.
    """
    # Invalid options fail before anything starts.
    validate_options(_component_options(request, secrets_file="-", consumer_id=APP_ID))
    dapr_cli = shutil.which("dapr")
    if dapr_cli is not None:
        return _run_with_dapr_cli(request, dapr_cli)

    client = docker_client if docker_client is not None else _docker_or_raise()
    return _run_with_containers(request, client)


def _prepare_run_dir(request: SidecarRequest, *, secrets_file: str, consumer_id: str) -> Path:
    """Render the components and the secrets file into the run directory; return the former."""
    request.run_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(request.run_dir, 0o700)
    components_dir = request.run_dir / "components"
    for pattern in ("*.yaml", "*.yml"):
        for stale in components_dir.glob(pattern):
            # daprd loads every .yaml and .yml file in the directory, so one left by an
            # older version (or a renamed component) would load beside the current ones.
            stale.unlink()

    options = _component_options(request, secrets_file=secrets_file, consumer_id=consumer_id)
    write_components(render_components(options), components_dir)
    write_secrets_file(request.run_dir / SECRETS_FILE_NAME, request.secrets)
    return components_dir


def _component_options(
    request: SidecarRequest, *, secrets_file: str, consumer_id: str
) -> ComponentOptions:
    return ComponentOptions(
        secrets_file=secrets_file,
        redis_host=request.redis_host,
        recurrence_schedule=request.schedule,
        reminder_schedule=request.schedule,
        consumer_id=consumer_id,
        max_len_approx=request.max_len_approx,
        names=request.names,
        # Both ways of starting the sidecar pass this app ID, so it is not an option here.
        app_id=APP_ID,
    )


def _local_consumer_id(app_port: int) -> str:
    """Return a consumer ID that is stable across restarts and unique per local replica.

    Two services on one machine listen on different ports, so each gets its own Redis
    consumer group and both receive every event.
    """
    return f"{APP_ID}-{socket.gethostname()}-{app_port}"


def dapr_run_command(dapr_cli: str, request: SidecarRequest, components_dir: Path) -> list[str]:
    """Return the ``dapr run`` command line that starts daprd and the service."""
    return [
        dapr_cli,
        "run",
        "--app-id",
        APP_ID,
        "--app-port",
        str(request.app_port),
        "--app-protocol",
        "http",
        "--resources-path",
        str(components_dir),
        "--",
        *request.serve_command,
    ]


def _run_with_dapr_cli(request: SidecarRequest, dapr_cli: str) -> int:
    components_dir = _prepare_run_dir(
        request,
        secrets_file=str(request.run_dir / SECRETS_FILE_NAME),
        consumer_id=_local_consumer_id(request.app_port),
    )
    if not redis_answers(request.redis_host):
        logger.warning(
            "Nothing listens at Redis %s, so pub/sub and state will fail. `dapr init` starts "
            "Redis on 127.0.0.1:6379, or pass --redis-host.",
            request.redis_host,
        )

    command = dapr_run_command(dapr_cli, request, components_dir)
    logger.info("Starting the Dapr CLI: %s", " ".join(command))
    return _run_child(command, _service_environment(request))


def _service_environment(
    request: SidecarRequest, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    env = dict(os.environ)
    env.update(request.service_env)
    env["TASKORA_DAPR"] = "1"
    env.update(extra or {})
    return env


def _run_child(command: Sequence[str], env: Mapping[str, str]) -> int:
    """Run ``command`` until it exits, forwarding SIGINT and SIGTERM to it.

    The child gets its own process group, so a Ctrl-C in the terminal reaches it once,
    through this process, and not a second time from the terminal. The Dapr CLI stops its
    app and daprd on the first signal and may act differently on a second one.
    """
    try:
        process = subprocess.Popen(list(command), env=dict(env), process_group=0)
    except OSError as error:
        raise TaskoraError(
            f"cannot start {command[0]}: {error.strerror or error}. Check that it is executable."
        ) from None

    with _forward_signals(process):
        try:
            code = process.wait()
        except KeyboardInterrupt:
            code = _stop_child(process, signal.SIGINT)
    if code == 0:
        logger.info("%s exited with code 0", Path(command[0]).name)
    else:
        logger.warning("%s exited with code %d", Path(command[0]).name, code)
    return code if code >= 0 else 128 - code


@contextmanager
def _forward_signals(process: subprocess.Popen[bytes]) -> Iterator[None]:
    def forward(sig: int, _frame: FrameType | None) -> None:
        logger.info("Received %s: stopping the sidecar and the service", signal.Signals(sig).name)
        if process.poll() is None:
            process.send_signal(sig)

    previous = signal.signal(signal.SIGTERM, forward)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _stop_child(process: subprocess.Popen[bytes], sig: signal.Signals) -> int:
    name = Path(str(process.args[0])).name  # type: ignore[index]
    logger.info("Received %s: stopping %s", sig.name, name)
    if process.poll() is None:
        process.send_signal(sig)
    try:
        return process.wait(timeout=STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        logger.warning("%s did not stop within %.0f s: killing it", name, STOP_TIMEOUT_SECONDS)
    except KeyboardInterrupt:
        logger.warning("Received a second SIGINT: killing %s", name)
    process.kill()
    return process.wait()


def _docker_or_raise() -> Any:
    """Return ``python_on_whales.docker`` if a Docker engine responds, else raise."""
    # Imported here: only this way of running needs python-on-whales.
    from python_on_whales import DockerException, docker
    from python_on_whales.client_config import ClientNotFoundError

    try:
        docker.info()
    except ClientNotFoundError:
        reason = "no docker command on PATH"
        raise TaskoraError(NO_SIDECAR_MESSAGE.format(reason=reason)) from None
    except DockerException as error:
        reason = _docker_reason(error)
        raise TaskoraError(NO_SIDECAR_MESSAGE.format(reason=reason)) from None
    return docker


def _docker_reason(error: Exception) -> str:
    """Return the first meaningful line of a Docker error, for messages."""
    stderr = getattr(error, "stderr", None) or str(error)
    lines = [line.strip() for line in str(stderr).splitlines() if line.strip()]
    return lines[-1] if lines else type(error).__name__


def daprd_arguments(request: SidecarRequest, *, http_port: int, grpc_port: int) -> list[str]:
    """Return the arguments of ``/daprd`` in the container."""
    return [
        "--app-id",
        APP_ID,
        "--app-port",
        str(request.app_port),
        "--app-protocol",
        "http",
        "--app-channel-address",
        "127.0.0.1",
        "--dapr-listen-addresses",
        "127.0.0.1",
        "--dapr-http-port",
        str(http_port),
        "--dapr-grpc-port",
        str(grpc_port),
        "--resources-path",
        f"{CONTAINER_RUN_DIR}/components",
        "--enable-metrics=false",
        "--log-level",
        "info",
    ]


def _run_with_containers(request: SidecarRequest, docker: Any) -> int:
    from python_on_whales import DockerException

    _prepare_run_dir(
        request,
        secrets_file=f"{CONTAINER_RUN_DIR}/{SECRETS_FILE_NAME}",
        consumer_id=_local_consumer_id(request.app_port),
    )
    http_port = free_loopback_port()
    grpc_port = free_loopback_port()
    started: list[Any] = []
    try:
        redis = _start_redis_if_needed(request, docker)
        if redis is not None:
            started.append(redis)

        logger.info("Starting the sidecar container from %s", request.daprd_image)
        daprd = docker.run(
            request.daprd_image,
            daprd_arguments(request, http_port=http_port, grpc_port=grpc_port),
            entrypoint="/daprd",
            name=f"taskora-daprd-{request.app_port}",
            detach=True,
            remove=True,
            networks=["host"],
            user=f"{os.getuid()}:{os.getgid()}",
            volumes=[(str(request.run_dir), CONTAINER_RUN_DIR, "ro")],
        )
        started.append(daprd)
        logger.info(
            "Sidecar container %s: HTTP on 127.0.0.1:%d, gRPC on 127.0.0.1:%d; see its log "
            "with `docker logs -f %s`",
            f"taskora-daprd-{request.app_port}",
            http_port,
            grpc_port,
            f"taskora-daprd-{request.app_port}",
        )
    except DockerException as error:
        _stop_containers(docker, started)
        raise TaskoraError(
            f"cannot start the Dapr sidecar container: {_docker_reason(error)}. Check that "
            f"Docker can pull {request.daprd_image} and {REDIS_IMAGE}, or install the Dapr CLI."
        ) from None

    try:
        env = _service_environment(
            request, {"DAPR_HTTP_PORT": str(http_port), "DAPR_GRPC_PORT": str(grpc_port)}
        )
        logger.info("Starting the service: %s", " ".join(request.serve_command))
        return _run_child(request.serve_command, env)
    finally:
        _stop_containers(docker, started)


def _start_redis_if_needed(request: SidecarRequest, docker: Any) -> Any:
    """Start a Redis container when nothing listens at a loopback Redis address."""
    if redis_answers(request.redis_host):
        logger.info("Using the Redis that listens at %s", request.redis_host)
        return None
    if not _is_loopback(request.redis_host):
        logger.warning(
            "Nothing listens at Redis %s, so pub/sub and state will fail until it does",
            request.redis_host,
        )
        return None

    port = request.redis_host.rpartition(":")[2]
    logger.info("Nothing listens at %s: starting a Redis container", request.redis_host)
    return docker.run(
        REDIS_IMAGE,
        name=f"taskora-redis-{port}",
        detach=True,
        remove=True,
        publish=[(f"127.0.0.1:{port}", 6379)],
    )


def _stop_containers(docker: Any, containers: list[Any]) -> None:
    """Stop the containers in reverse start order; each was started with ``--rm``."""
    from python_on_whales import DockerException

    for container in reversed(containers):
        try:
            docker.stop(container)
            logger.info("Stopped container %s", getattr(container, "name", container))
        except DockerException as error:
            logger.error(
                "Cannot stop container %s: %s. Stop it with `docker stop`.",
                getattr(container, "name", container),
                _docker_reason(error),
            )
