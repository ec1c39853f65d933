"""Build the service image with Docker buildx and look images up in their registry.

Both go through python-on-whales, which drives the ``docker`` command-line client. It is
imported inside the functions because it loads pydantic models, which ``taskora deploy
--dry-run`` does not need.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from taskora.deploy.errors import DeployError
from taskora.errors import ExitCode

if TYPE_CHECKING:
    from python_on_whales import DockerClient

logger = logging.getLogger(__name__)

# The repository root when taskora runs from a checkout, which contains the Dockerfile.
# An installed wheel has no Dockerfile there, so find_source_dir() looks in the working
# directory first.
SOURCE_ROOT = Path(__file__).resolve().parents[2]

# os/arch with an optional variant, as in linux/amd64 or linux/arm/v7.
_PLATFORM = re.compile(r"^[a-z0-9]+/[a-z0-9_]+(/[a-z0-9]+)?$")
# An OCI image tag.
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
# A repository with an optional registry host and port, in lowercase as OCI requires.
_REPOSITORY = re.compile(r"^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-]+[a-z0-9]+)*)+$")
# A full image reference: [REGISTRY[:PORT]/]PATH[:TAG][@sha256:DIGEST], as in
# python:3.11-slim-trixie or python:3.11-slim-trixie@sha256:<64 hex digits>.
_IMAGE_REFERENCE = re.compile(
    r"^([a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?/)?[a-z0-9]+([._-]+[a-z0-9]+)*"
    r"(/[a-z0-9]+([._-]+[a-z0-9]+)*)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[0-9a-f]{64})?$"
)

_NO_ENGINE = re.compile(
    r"Cannot connect to the Docker daemon|Is the docker daemon running|"
    r"error during connect|docker\.sock: connect",
    re.IGNORECASE,
)
# Without the buildx plugin, the docker CLI either rejects the buildx command or, where the
# legacy builder takes `docker build` over, the first flag that only buildx accepts.
_NO_BUILDX = re.compile(
    r"unknown command: docker buildx|'buildx' is not a docker command|unknown flag: --progress"
)
_DENIED = re.compile(r"unauthorized|denied|authentication required|401|403", re.IGNORECASE)
_NOT_FOUND = re.compile(r"no such manifest|manifest unknown|not found|404", re.IGNORECASE)

# The command that logs docker in to each profile's registry.
REGISTRY_LOGINS = {
    "registry.digitalocean.com": "doctl registry login",
    "docker.pkg.dev": "gcloud auth configure-docker REGION-docker.pkg.dev",
    "azurecr.io": "az acr login --name REGISTRY",
}


@dataclass(frozen=True)
class BuildRequest:
    """Input of ``taskora images build``: the image references, the platforms and whether to push."""

    repository: str
    tags: tuple[str, ...]
    platforms: tuple[str, ...] = ()
    push: bool = False
    context_dir: Path = SOURCE_ROOT
    dockerfile: Path = SOURCE_ROOT / "Dockerfile"
    # The Dockerfile's PYTHON_IMAGE build argument; None keeps the Dockerfile's default.
    base_image: str | None = None

    @property
    def references(self) -> list[str]:
        """Return ``repository:tag`` for every tag."""
        return [f"{self.repository}:{tag}" for tag in self.tags]


def check_build_request(request: BuildRequest) -> None:
    """Raise :class:`DeployError` for an invalid repository, tag, platform or Dockerfile."""
    lowered = request.repository.lower()
    if lowered != request.repository and _REPOSITORY.match(lowered):
        raise DeployError(
            f"invalid image repository {request.repository!r}: OCI registries accept only "
            f"lowercase repository names, so use {lowered!r}",
            exit_code=ExitCode.USAGE,
        )
    if not _REPOSITORY.match(request.repository):
        raise DeployError(
            f"invalid image repository {request.repository!r}: use lowercase "
            "REGISTRY/PATH/NAME, such as registry.digitalocean.com/acme/taskora",
            exit_code=ExitCode.USAGE,
        )
    if not request.tags:
        raise DeployError("no image tag given: pass --tag TAG", exit_code=ExitCode.USAGE)
    for tag in request.tags:
        if not _TAG.match(tag):
            raise DeployError(
                f"invalid image tag {tag!r}: use at most 128 letters, digits, '_', '.' and "
                "'-', not starting with '.' or '-'",
                exit_code=ExitCode.USAGE,
            )
    for platform in request.platforms:
        if not _PLATFORM.match(platform):
            raise DeployError(
                f"invalid platform {platform!r}: use OS/ARCH such as linux/amd64 or linux/arm64",
                exit_code=ExitCode.USAGE,
            )
    if request.base_image is not None:
        _check_base_image(request.base_image)
    if len(request.platforms) > 1 and not request.push:
        raise DeployError(
            f"building for {len(request.platforms)} platforms needs --push, because the local "
            "Docker image store keeps one platform of an image",
            exit_code=ExitCode.USAGE,
        )
    if not request.dockerfile.is_file():
        raise DeployError(
            f"Dockerfile not found at {request.dockerfile}: pass --directory with the root "
            "of a taskora checkout, run from inside one, or pass --file",
            exit_code=ExitCode.USAGE,
        )


def _check_base_image(reference: str) -> None:
    if not _IMAGE_REFERENCE.match(reference):
        raise DeployError(
            f"invalid base image {reference!r}: use NAME[:TAG][@sha256:DIGEST] in "
            "lowercase, such as python:3.11-slim-trixie@sha256: and the digest's 64 hex digits",
            exit_code=ExitCode.USAGE,
        )

    # Only the official python images name their Python version in the tag. Another image,
    # or a python image named by digest alone, is taken on trust.
    name, _, tag = reference.split("@", 1)[0].rsplit("/", 1)[-1].partition(":")
    if name != "python" or (not tag and "@" in reference):
        return
    if tag != "3.11" and not tag.startswith(("3.11-", "3.11.")):
        raise DeployError(
            f"invalid base image {reference!r}: requirements/image.txt is locked for Python "
            "3.11, so use a python:3.11 image such as python:3.11-slim-trixie",
            exit_code=ExitCode.USAGE,
        )


def build_image(
    request: BuildRequest,
    client: DockerClient | None = None,
    on_log: Callable[[str], None] | None = None,
) -> list[str]:
    """Build the image with ``docker buildx build``, push it if asked, and return its references.

    Without ``push`` the image is loaded into the local Docker engine. Each line of the
    build's log goes to ``on_log``. The log is streamed rather than left on the terminal
    so that a failure's message reaches the error.
    """
    check_build_request(request)
    from python_on_whales.exceptions import DockerException

    docker = client or _docker_client()
    logger.info(
        "building %s for %s, push %s",
        ", ".join(request.references),
        ", ".join(request.platforms) or "the engine's platform",
        request.push,
    )
    try:
        logs = docker.buildx.build(
            context_path=request.context_dir,
            file=request.dockerfile,
            tags=request.references,
            platforms=list(request.platforms) or None,
            build_args={"PYTHON_IMAGE": request.base_image} if request.base_image else {},
            push=request.push,
            load=not request.push,
            progress="plain",
            stream_logs=True,
        )
        for line in logs or ():
            if on_log is not None:
                on_log(line)
    except DockerException as error:
        raise _build_error(error, request) from None
    logger.info("built %s", ", ".join(request.references))
    return request.references


def registry_lookup(reference: str, client: DockerClient | None = None) -> tuple[bool | None, str]:
    """Look ``reference`` up with ``docker manifest inspect``, which queries the registry only.

    Returns ``(True, "")`` when found, ``(False, reason)`` when the registry reports that it does
    not exist, and ``(None, reason)`` when that cannot be determined.
    """
    from python_on_whales import DockerClient
    from python_on_whales.client_config import ClientNotFoundError
    from python_on_whales.exceptions import DockerException

    try:
        docker = client or DockerClient()
        docker.manifest.inspect(reference)
    except ClientNotFoundError:
        return None, "the docker command is not installed"
    except DockerException as error:
        output = (error.stderr or error.stdout or "").strip()
        logger.info("docker manifest inspect %s failed: %s", reference, output)
        if _DENIED.search(output):
            return None, f"the registry denied access, so log in with `{registry_login(reference)}`"
        if _NOT_FOUND.search(output):
            return False, output.splitlines()[-1] if output else "not found"
        return None, output.splitlines()[-1] if output else f"exit code {error.return_code}"
    return True, ""


def registry_login(reference: str) -> str:
    """Return the command that logs docker in to the registry of ``reference``."""
    host = reference.split("/", 1)[0]
    for suffix, command in REGISTRY_LOGINS.items():
        if host == suffix or host.endswith(f".{suffix}") or host.endswith(f"-{suffix}"):
            return command
    return f"docker login {host}"


def find_source_dir(start: Path) -> Path:
    """Return the taskora checkout to build: ``start`` or a parent of it, else SOURCE_ROOT.

    A checkout is a directory with a Dockerfile and a pyproject.toml of the project
    ``taskora``. Raises :class:`DeployError` when none is found, because the Dockerfile and
    the dependency lock are not part of the installed package.
    """
    start = start.resolve()
    for candidate in (start, *start.parents, SOURCE_ROOT):
        if _is_source_dir(candidate):
            return candidate
    raise DeployError(
        f"no taskora checkout found in {start} or its parents: run from a clone of the "
        "taskora repository, or pass --directory with its path. The installed package has "
        "no Dockerfile",
        exit_code=ExitCode.USAGE,
    )


def _is_source_dir(directory: Path) -> bool:
    if not (directory / "Dockerfile").is_file():
        return False
    try:
        project = tomllib.loads((directory / "pyproject.toml").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return False
    return project.get("project", {}).get("name") == "taskora"


def default_tag(version: str, source_dir: Path) -> tuple[str, str]:
    """Return the default image tag and, when it is mutable, a warning to print.

    In a git checkout the tag is ``VERSION-gSHORTSHA`` (``0.1.0-g1a2b3c4``), so every commit
    gets its own tag and a push never replaces an image that a release already runs.
    Uncommitted changes are not in the SHA, so they get a warning. Outside a checkout the
    tag is the version alone, which a later build would overwrite, so it gets a warning too.
    """
    git = shutil.which("git")
    if git is None:
        return version, (
            f"git not found, so the image is tagged {version} alone, a tag that the next build "
            "overwrites: pass --tag with a unique tag"
        )
    try:
        sha = _git(git, source_dir, "rev-parse", "--short=7", "HEAD").strip()
        changes = _git(git, source_dir, "status", "--porcelain", "--untracked-files=no")
    except DeployError as error:
        logger.info("no git commit for the image tag: %s", error.message)
        return version, (
            f"{source_dir} is not a git checkout, so the image is tagged {version} alone, a tag "
            "that the next build overwrites: pass --tag with a unique tag"
        )
    tag = f"{version}-g{sha}"
    if changes.strip():
        return tag, (
            f"the checkout has uncommitted changes, which tag {tag} does not identify: commit "
            "them, or pass --tag with a unique tag"
        )
    return tag, ""


def _git(git: str, source_dir: Path, *arguments: str) -> str:
    try:
        completed = subprocess.run(
            [git, "-C", str(source_dir), *arguments],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise DeployError(f"git {arguments[0]} failed: {error}") from None
    if completed.returncode != 0:
        raise DeployError(f"git {arguments[0]} failed: {completed.stderr.strip()}")
    return completed.stdout


def _docker_client() -> DockerClient:
    from python_on_whales import DockerClient
    from python_on_whales.client_config import ClientNotFoundError

    client = DockerClient()
    try:
        client.client_config.get_client_call_with_path()
    except ClientNotFoundError:
        raise DeployError(
            "docker not found on PATH: install Docker Engine or Docker Desktop with the "
            "buildx plugin (https://docs.docker.com/engine/install/)"
        ) from None
    return client


def _build_error(error: Exception, request: BuildRequest) -> DeployError:
    output = (getattr(error, "stderr", None) or getattr(error, "stdout", None) or "").strip()
    last_line = (
        output.splitlines()[-1] if output else f"exit code {getattr(error, 'return_code', '?')}"
    )
    # The DeployError returned below is what the command prints, so the log only keeps
    # the raw line at DEBUG.
    logger.debug("docker buildx build failed: %s", last_line)
    # The docker CLI's own message has already been streamed to stderr with the build log,
    # so these two errors give the fix without repeating it.
    if _NO_BUILDX.search(output):
        return DeployError(
            "the docker buildx plugin is not installed: install it (the docker-buildx-plugin "
            "package, or https://docs.docker.com/build/concepts/overview/#install-buildx) and "
            "try again"
        )
    if _NO_ENGINE.search(output):
        return DeployError(
            "no Docker engine is reachable: start Docker (`sudo systemctl start docker`, or "
            "Docker Desktop), or point DOCKER_HOST or the docker context at a running engine",
            exit_code=ExitCode.UNREACHABLE,
        )
    if request.push and _DENIED.search(output):
        return DeployError(
            f"the registry rejected the push of {request.references[0]} ({last_line}): log in "
            f"with `{registry_login(request.repository)}` and try again"
        )
    return DeployError(f"docker buildx build failed: {last_line}")
