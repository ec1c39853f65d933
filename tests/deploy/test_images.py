"""``taskora images build`` and the project's Dockerfile.

No Docker engine runs on the test machine, so the build tests replace python-on-whales'
``buildx.build`` call and assert the exact arguments it receives. The failure tests run
python-on-whales for real against a fake ``docker`` executable on PATH that prints what
the docker CLI prints without an engine or without buildx.
"""

from __future__ import annotations

import json
import re
import subprocess
import tomllib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from deploy_helpers import REPO_ROOT, CliResult
from fake_cluster import FakeCluster, write_filled_placeholders
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from python_on_whales.components.buildx.cli_wrapper import BuildxCLI

from taskora.deploy.images import BuildRequest, build_image

Run = Callable[[Sequence[str]], CliResult]

DOCKERFILE = REPO_ROOT / "Dockerfile"
IMAGE_LOCK = REPO_ROOT / "requirements" / "image.txt"
BUILD_LOCK = REPO_ROOT / "requirements" / "build.txt"
NO_ENGINE = (
    "ERROR: Cannot connect to the Docker daemon at unix:///var/run/docker.sock. "
    "Is the docker daemon running?\n"
)


@pytest.fixture
def buildx_calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Record the keyword arguments of every ``buildx.build`` call instead of building."""
    calls: list[dict[str, Any]] = []

    def record(self: BuildxCLI, context_path: Path, **kwargs: Any) -> Iterator[str]:
        calls.append({"context_path": context_path, **kwargs})
        return iter(["#1 [internal] load build definition from Dockerfile\n", "#12 DONE 0.4s\n"])

    monkeypatch.setattr(BuildxCLI, "build", record)
    return calls


def test_build_profile_registry_arguments(
    run_taskora: Run, buildx_calls: list[dict[str, Any]], fake_cluster: FakeCluster, tmp_path: Path
) -> None:
    filled = write_filled_placeholders(tmp_path, "doks")

    result = run_taskora(
        [
            "images",
            "build",
            "--cloud",
            "doks",
            "-f",
            str(filled),
            "--push",
            "--tag",
            "0.3.1",
            "--tag",
            "latest",
            "--platform",
            "linux/amd64",
            "--platform",
            "linux/arm64",
        ]
    )

    assert result.exit_code == 0, result.stderr
    assert buildx_calls == [
        {
            "context_path": REPO_ROOT,
            "file": DOCKERFILE,
            "tags": [
                "registry.digitalocean.com/acme-registry/taskora:0.3.1",
                "registry.digitalocean.com/acme-registry/taskora:latest",
            ],
            "platforms": ["linux/amd64", "linux/arm64"],
            "build_args": {},
            "push": True,
            "load": False,
            "progress": "plain",
            "stream_logs": True,
        }
    ]
    assert result.stderr == ("#1 [internal] load build definition from Dockerfile\n#12 DONE 0.4s\n")
    assert result.stdout == (
        "Built and pushed registry.digitalocean.com/acme-registry/taskora:0.3.1, "
        "registry.digitalocean.com/acme-registry/taskora:latest.\n"
        "Deploy it with: taskora deploy --image-tag 0.3.1 ...\n"
    )


def git_checkout(directory: Path) -> str:
    """Make ``directory`` a git checkout with a Dockerfile in one commit; return the short SHA."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "Dockerfile").write_text("FROM scratch\n", encoding="utf-8")
    identity = ["-c", "user.name=Test", "-c", "user.email=test@example.invalid"]
    for arguments in (
        ["init", "-q"],
        ["add", "Dockerfile"],
        [*identity, "commit", "-q", "-m", "x"],
    ):
        subprocess.run(["git", "-C", str(directory), *arguments], check=True, capture_output=True)
    completed = subprocess.run(
        ["git", "-C", str(directory), "rev-parse", "--short=7", "HEAD"],
        check=True,
        capture_output=True,
        text=True,
    )
    return completed.stdout.strip()


def test_build_default_tag_from_commit(
    run_taskora: Run, buildx_calls: list[dict[str, Any]], tmp_path: Path
) -> None:
    checkout = tmp_path / "src"
    sha = git_checkout(checkout)

    result = run_taskora(
        [
            "images",
            "build",
            "--repository",
            "acme.azurecr.io/taskora",
            "--directory",
            str(checkout),
            "--json",
        ]
    )

    assert result.exit_code == 0, result.stderr
    assert buildx_calls == [
        {
            "context_path": checkout,
            "file": checkout / "Dockerfile",
            "tags": [f"acme.azurecr.io/taskora:0.1.0-g{sha}"],
            "platforms": None,
            "build_args": {},
            "push": False,
            "load": True,
            "progress": "plain",
            "stream_logs": True,
        }
    ]
    assert json.loads(result.stdout) == {
        "images": [f"acme.azurecr.io/taskora:0.1.0-g{sha}"],
        "pushed": False,
    }
    assert "Warning" not in result.stderr


def test_build_default_tag_dirty_warns(
    run_taskora: Run, buildx_calls: list[dict[str, Any]], tmp_path: Path
) -> None:
    checkout = tmp_path / "src"
    sha = git_checkout(checkout)
    (checkout / "Dockerfile").write_text("FROM scratch\nUSER 1\n", encoding="utf-8")

    result = run_taskora(
        ["images", "build", "--repository", "acme.azurecr.io/taskora", "--directory", str(checkout)]
    )

    assert result.exit_code == 0, result.stderr
    assert buildx_calls[0]["tags"] == [f"acme.azurecr.io/taskora:0.1.0-g{sha}"]
    assert result.stderr.splitlines()[0] == (
        f"Warning: the checkout has uncommitted changes, which tag 0.1.0-g{sha} does not "
        "identify: commit them, or pass --tag with a unique tag"
    )


def test_build_default_tag_outside_git(
    run_taskora: Run, buildx_calls: list[dict[str, Any]], tmp_path: Path
) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "Dockerfile").write_text("FROM scratch\n", encoding="utf-8")

    result = run_taskora(
        ["images", "build", "--repository", "acme.azurecr.io/taskora", "--directory", str(source)]
    )

    assert result.exit_code == 0, result.stderr
    assert buildx_calls[0]["tags"] == ["acme.azurecr.io/taskora:0.1.0"]
    assert result.stderr.splitlines()[0] == (
        f"Warning: {source} is not a git checkout, so the image is tagged 0.1.0 alone, a tag "
        "that the next build overwrites: pass --tag with a unique tag"
    )


def test_build_placeholder_repository_rejected(
    run_taskora: Run, buildx_calls: list[dict[str, Any]], fake_cluster: FakeCluster
) -> None:
    result = run_taskora(["images", "build", "--cloud", "aks"])

    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "Error: image.repository is still the profile placeholder 'replace-me.azurecr.io/taskora' "
        f"(set by profile aks ({REPO_ROOT / 'taskora/deploy/profiles/aks.yaml'})): set it with "
        "-f FILE, --set image.repository=REPOSITORY or --repository"
    )
    assert buildx_calls == []


def test_build_without_repository_rejected(
    run_taskora: Run, buildx_calls: list[dict[str, Any]]
) -> None:
    result = run_taskora(["images", "build"])

    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "Error: no image repository: pass --cloud with a values file that sets "
        "image.repository, or --repository"
    )


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            ["--platform", "linux"],
            "Error: invalid platform 'linux': use OS/ARCH such as linux/amd64 or linux/arm64",
        ),
        (
            ["--platform", "linux/amd64", "--platform", "linux/arm64"],
            "Error: building for 2 platforms needs --push, because the local Docker image store "
            "keeps one platform of an image",
        ),
        (
            ["--base-image", "Python:3.11"],
            "Error: invalid base image 'Python:3.11': use NAME[:TAG][@sha256:DIGEST] in "
            "lowercase, such as python:3.11-slim-trixie@sha256: and the digest's 64 hex digits",
        ),
        (
            ["--base-image", "python:3.11-slim@sha256:abc"],
            "Error: invalid base image 'python:3.11-slim@sha256:abc': use "
            "NAME[:TAG][@sha256:DIGEST] in lowercase, such as python:3.11-slim-trixie@sha256: "
            "and the digest's 64 hex digits",
        ),
        (
            ["--base-image", "python:3.12-slim"],
            "Error: invalid base image 'python:3.12-slim': requirements/image.txt is locked for "
            "Python 3.11, so use a python:3.11 image such as python:3.11-slim-trixie",
        ),
        (
            ["--base-image", "mirror.example.org/library/python"],
            "Error: invalid base image 'mirror.example.org/library/python': requirements/image.txt "
            "is locked for Python 3.11, so use a python:3.11 image such as python:3.11-slim-trixie",
        ),
        (
            ["--tag", "-bad"],
            "Error: invalid image tag '-bad': use at most 128 letters, digits, '_', '.' and '-', "
            "not starting with '.' or '-'",
        ),
    ],
    ids=[
        "platform",
        "platforms-without-push",
        "base-image-case",
        "base-image-digest",
        "base-image-python-3.12",
        "base-image-latest",
        "tag",
    ],
)
def test_build_invalid_input(
    run_taskora: Run, buildx_calls: list[dict[str, Any]], arguments: list[str], message: str
) -> None:
    result = run_taskora(["images", "build", "--repository", "ghcr.io/acme/taskora", *arguments])

    assert result.exit_code == 2
    assert result.stderr.strip() == message
    assert buildx_calls == []


@pytest.mark.parametrize(
    "base_image",
    [
        "python:3.11-slim-trixie@sha256:" + "0123456789abcdef" * 4,
        "registry.example.org:5000/mirror/python:3.11-slim-trixie",
        "python@sha256:" + "0123456789abcdef" * 4,
        "ghcr.io/acme/hardened-python:2026.11",
    ],
    ids=["digest", "mirror", "digest-only", "other-image"],
)
def test_build_base_image_argument(
    run_taskora: Run, buildx_calls: list[dict[str, Any]], base_image: str
) -> None:
    result = run_taskora(
        [
            "images",
            "build",
            "--repository",
            "ghcr.io/acme/taskora",
            "--tag",
            "0.3.1",
            "--base-image",
            base_image,
        ]
    )

    assert result.exit_code == 0, result.stderr
    [call] = buildx_calls
    assert call["build_args"] == {"PYTHON_IMAGE": base_image}


def test_build_json_error(run_taskora: Run, buildx_calls: list[dict[str, Any]]) -> None:
    """With --json, an error is one JSON object on stderr, as for taskora deploy."""
    result = run_taskora(
        ["images", "build", "--repository", "ghcr.io/acme/taskora", "--tag", "-bad", "--json"]
    )

    assert result.exit_code == 2
    assert json.loads(result.stderr) == {
        "error": "invalid image tag '-bad': use at most 128 letters, digits, '_', '.' and '-', "
        "not starting with '.' or '-'",
        "exit_code": 2,
    }
    assert result.stdout == ""
    assert buildx_calls == []


def test_build_invalid_repository(run_taskora: Run, buildx_calls: list[dict[str, Any]]) -> None:
    result = run_taskora(["images", "build", "--repository", "Acme/Taskora"])

    assert result.exit_code == 2
    assert result.stderr.strip().startswith("Error: invalid image repository 'Acme/Taskora'")


def test_build_missing_dockerfile(
    run_taskora: Run, buildx_calls: list[dict[str, Any]], tmp_path: Path
) -> None:
    result = run_taskora(
        ["images", "build", "--repository", "ghcr.io/acme/taskora", "--directory", str(tmp_path)]
    )

    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"Error: Dockerfile not found at {tmp_path / 'Dockerfile'}: pass --directory with the "
        "root of a taskora checkout, run from inside one, or pass --file"
    )
    assert buildx_calls == []


def test_build_no_docker_engine(run_taskora: Run, fake_cluster: FakeCluster) -> None:
    """python-on-whales runs the fake docker, which fails as the CLI does without an engine."""
    fake_cluster.on("docker", "buildx", "build", stderr=NO_ENGINE, exit_code=1)

    result = run_taskora(["images", "build", "--repository", "ghcr.io/acme/taskora", "--tag", "1"])

    assert result.exit_code == 3
    assert result.stderr.strip().splitlines()[-1] == (
        "Error: no Docker engine is reachable: start Docker (`sudo systemctl start docker`, or "
        "Docker Desktop), or point DOCKER_HOST or the docker context at a running engine"
    )
    # The build log, here the docker CLI's error, is streamed to stderr first, and only once.
    assert result.stderr.splitlines()[0] == NO_ENGINE.strip()
    assert result.stderr.count("Cannot connect to the Docker daemon") == 1
    [call] = fake_cluster.calls()
    assert call[:3] == ["docker", "buildx", "build"]
    assert "--tag" in call
    assert call[call.index("--tag") + 1] == "ghcr.io/acme/taskora:1"


def test_build_docker_without_buildx_flag(run_taskora: Run, fake_cluster: FakeCluster) -> None:
    """A docker CLI without the buildx plugin rejects the first flag that only buildx accepts."""
    fake_cluster.on("docker", "buildx", stderr="unknown flag: --progress\n", exit_code=125)

    result = run_taskora(["images", "build", "--repository", "ghcr.io/acme/taskora", "--tag", "1"])

    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "Error: the docker buildx plugin is not installed: install it (the docker-buildx-plugin "
        "package, or https://docs.docker.com/build/concepts/overview/#install-buildx) and try again"
    )
    assert result.stderr.count("Error:") == 1


def test_build_finds_checkout_from_working_directory(
    run_taskora: Run,
    buildx_calls: list[dict[str, Any]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without --directory, the build context is the checkout around the working directory."""
    checkout = tmp_path / "checkout"
    (checkout / "docs").mkdir(parents=True)
    (checkout / "Dockerfile").write_text("FROM scratch\n", encoding="utf-8")
    (checkout / "pyproject.toml").write_text('[project]\nname = "taskora"\n', encoding="utf-8")
    monkeypatch.chdir(checkout / "docs")

    result = run_taskora(
        ["images", "build", "--repository", "ghcr.io/acme/taskora", "--tag", "0.3.1"]
    )

    assert result.exit_code == 0, result.stderr
    [call] = buildx_calls
    assert call["context_path"] == checkout
    assert call["file"] == checkout / "Dockerfile"


def test_build_outside_checkout_rejected(
    run_taskora: Run,
    buildx_calls: list[dict[str, Any]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An installed package with no checkout around it names --directory."""
    other = tmp_path / "other"
    other.mkdir()
    # A project of another name is not a taskora checkout.
    (other / "Dockerfile").write_text("FROM scratch\n", encoding="utf-8")
    (other / "pyproject.toml").write_text('[project]\nname = "other"\n', encoding="utf-8")
    monkeypatch.chdir(other)
    monkeypatch.setattr("taskora.deploy.images.SOURCE_ROOT", tmp_path / "site-packages")

    result = run_taskora(
        ["images", "build", "--repository", "ghcr.io/acme/taskora", "--tag", "0.3.1"]
    )

    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"Error: no taskora checkout found in {other} or its parents: run from a clone of the "
        "taskora repository, or pass --directory with its path. The installed package has no "
        "Dockerfile"
    )
    assert buildx_calls == []


def test_build_uppercase_repository(run_taskora: Run, buildx_calls: list[dict[str, Any]]) -> None:
    result = run_taskora(["images", "build", "--repository", "ghcr.io/Acme/Taskora", "--tag", "1"])

    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "Error: invalid image repository 'ghcr.io/Acme/Taskora': OCI registries accept only "
        "lowercase repository names, so use 'ghcr.io/acme/taskora'"
    )
    assert buildx_calls == []


def test_build_no_buildx_plugin(run_taskora: Run, fake_cluster: FakeCluster) -> None:
    fake_cluster.on(
        "docker", "buildx", stderr="docker: unknown command: docker buildx\n", exit_code=1
    )

    result = run_taskora(["images", "build", "--repository", "ghcr.io/acme/taskora"])

    assert result.exit_code == 1
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith("Error: the docker buildx plugin is not installed")
    )


def test_build_push_denied(run_taskora: Run, fake_cluster: FakeCluster) -> None:
    fake_cluster.on(
        "docker",
        "buildx",
        "build",
        stderr="ERROR: failed to push: unauthorized: authentication required\n",
        exit_code=1,
    )

    result = run_taskora(
        [
            "images",
            "build",
            "--repository",
            "europe-west1-docker.pkg.dev/acme/apps/taskora",
            "--push",
            "--tag",
            "0.1.0",
        ]
    )

    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "Error: the registry rejected the push of europe-west1-docker.pkg.dev/acme/apps/taskora:0.1.0 "
        "(ERROR: failed to push: unauthorized: authentication required): log in with "
        "`gcloud auth configure-docker REGION-docker.pkg.dev` and try again"
    )


def test_build_json_error_after_log(run_taskora: Run, fake_cluster: FakeCluster) -> None:
    """docker's log streams to stderr first, and the JSON error follows as the last line."""
    fake_cluster.on(
        "docker",
        "buildx",
        "build",
        stdout="#1 [internal] load build definition from Dockerfile\n#9 pushing layers",
        stderr="ERROR: failed to push: unauthorized: authentication required\n",
        exit_code=1,
    )

    result = run_taskora(
        ["images", "build", "--repository", "ghcr.io/acme/taskora", "--push", "--tag", "0.1.0"]
        + ["--json"]
    )

    assert result.exit_code == 1
    assert result.stdout == ""
    *log, last = result.stderr.splitlines()
    assert "#9 pushing layers" in log
    assert json.loads(last) == {
        "error": "the registry rejected the push of ghcr.io/acme/taskora:0.1.0 (ERROR: failed "
        "to push: unauthorized: authentication required): log in with `docker login "
        "ghcr.io` and try again",
        "exit_code": 1,
    }


def test_build_docker_not_installed(
    run_taskora: Run, fake_cluster: FakeCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    (fake_cluster.bin_dir / "docker").unlink()
    monkeypatch.setenv("PATH", str(fake_cluster.bin_dir))

    result = run_taskora(["images", "build", "--repository", "ghcr.io/acme/taskora", "--tag", "1"])

    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "Error: docker not found on PATH: install Docker Engine or Docker Desktop with the "
        "buildx plugin (https://docs.docker.com/engine/install/)"
    )


def test_build_image_returns_references(buildx_calls: list[dict[str, Any]]) -> None:
    request = BuildRequest(repository="ghcr.io/acme/taskora", tags=("1.0", "1"), push=True)

    assert build_image(request) == ["ghcr.io/acme/taskora:1.0", "ghcr.io/acme/taskora:1"]
    assert buildx_calls[0]["push"] is True


# The Dockerfile's shape, read with a small parser of its instructions.


def dockerfile_stages(text: str) -> list[tuple[str, list[tuple[str, str]]]]:
    """Split a Dockerfile into stages of ``(FROM argument, [(instruction, argument)])``."""
    joined = re.sub(r"\\\n", " ", text)
    stages: list[tuple[str, list[tuple[str, str]]]] = []
    for line in joined.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, argument = line.partition(" ")
        instruction = instruction.upper()
        if instruction == "FROM":
            stages.append((argument.strip(), []))
        elif stages:
            stages[-1][1].append((instruction, argument.strip()))
    return stages


def test_dockerfile_is_multi_stage() -> None:
    stages = dockerfile_stages(DOCKERFILE.read_text(encoding="utf-8"))

    assert [base for base, _ in stages] == [
        "${PYTHON_IMAGE} AS builder",
        "${PYTHON_IMAGE} AS runtime",
    ]
    assert "ARG PYTHON_IMAGE=python:3.11-slim-trixie" in DOCKERFILE.read_text(encoding="utf-8")


def test_dockerfile_final_stage_non_root() -> None:
    _, instructions = dockerfile_stages(DOCKERFILE.read_text(encoding="utf-8"))[-1]
    users = [argument for instruction, argument in instructions if instruction == "USER"]

    assert users == ["10001:10001"]
    # USER comes after every RUN, so nothing in the final stage runs as root afterwards.
    last_run = max(
        index for index, (instruction, _) in enumerate(instructions) if instruction == "RUN"
    )
    assert [instruction for instruction, _ in instructions].index("USER") > last_run


def test_dockerfile_final_stage_has_no_build_tools() -> None:
    _, instructions = dockerfile_stages(DOCKERFILE.read_text(encoding="utf-8"))[-1]
    runs = " ".join(argument for instruction, argument in instructions if instruction == "RUN")

    for tool in ("gcc", "build-essential", "apt-get install", "pip install", "make ", "git "):
        assert tool not in runs, tool
    copies = [argument for instruction, argument in instructions if instruction == "COPY"]
    assert copies == ["--from=builder /opt/taskora /opt/taskora"]


def test_dockerfile_entrypoint_serves() -> None:
    _, instructions = dockerfile_stages(DOCKERFILE.read_text(encoding="utf-8"))[-1]
    found = dict(instructions)

    assert json.loads(found["ENTRYPOINT"]) == ["taskora", "serve", "--host", "0.0.0.0"]
    assert json.loads(found["CMD"]) == ["--port", "8000"]
    assert found["EXPOSE"] == "8000"


def test_dockerignore_keeps_tests_out() -> None:
    ignored = (REPO_ROOT / ".dockerignore").read_text(encoding="utf-8").split()

    for entry in (".git", "tests", ".cache", "bench"):
        assert entry in ignored
    assert "requirements" not in ignored


def test_dockerfile_installs_locked_dependencies() -> None:
    _, instructions = dockerfile_stages(DOCKERFILE.read_text(encoding="utf-8"))[0]
    copies = [argument for instruction, argument in instructions if instruction == "COPY"]
    runs = [argument for instruction, argument in instructions if instruction == "RUN"]

    assert copies[0] == "requirements/image.txt requirements/build.txt ./requirements/"
    assert (
        "/opt/taskora/bin/pip install --require-hashes --no-deps -r requirements/image.txt"
        in runs[0]
    )
    assert (
        "/opt/build/bin/pip install --require-hashes --no-deps -r requirements/build.txt"
        in (runs[0])
    )
    assert (
        "/opt/build/bin/pip wheel --no-deps --no-build-isolation --wheel-dir /wheels ." in (runs[1])
    )
    assert "/opt/taskora/bin/pip install --no-deps /wheels/taskora-*.whl" in runs[1]
    assert "/opt/taskora/bin/pip check" in runs[1]


# The image's lock file: exact versions with hashes for every runtime dependency.


def locked_requirements(lock: Path = IMAGE_LOCK) -> dict[str, tuple[Requirement, list[str]]]:
    """Read a lock file into ``{normalized name: (requirement, [hashes])}``."""
    joined = re.sub(r"\\\n", " ", lock.read_text(encoding="utf-8"))
    locked: dict[str, tuple[Requirement, list[str]]] = {}
    for line in joined.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        specification, *options = line.split(" --")
        requirement = Requirement(specification)
        hashes = [option.strip().removeprefix("hash=") for option in options]
        locked[canonicalize_name(requirement.name)] = (requirement, hashes)
    return locked


def test_image_lock_pins_every_dependency() -> None:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    locked = locked_requirements()

    for dependency in map(Requirement, project["project"]["dependencies"]):
        name = canonicalize_name(dependency.name)
        assert name in locked, f"{name} is missing from {IMAGE_LOCK.name}"
        [pin] = locked[name][0].specifier
        assert pin.operator == "==", f"{name} is not pinned with =="
        assert dependency.specifier.contains(pin.version), f"{name}=={pin.version}"


def test_build_lock_pins_build_backend() -> None:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    locked = locked_requirements(BUILD_LOCK)

    for dependency in map(Requirement, project["build-system"]["requires"]):
        name = canonicalize_name(dependency.name)
        assert name in locked, f"{name} is missing from {BUILD_LOCK.name}"
        [pin] = locked[name][0].specifier
        assert dependency.specifier.contains(pin.version), f"{name}=={pin.version}"


@pytest.mark.parametrize("lock", [IMAGE_LOCK, BUILD_LOCK], ids=["image", "build"])
def test_image_lock_hashes_every_pin(lock: Path) -> None:
    locked = locked_requirements(lock)

    assert len(locked) > (40 if lock == IMAGE_LOCK else 0)
    for name, (requirement, hashes) in locked.items():
        assert [spec.operator for spec in requirement.specifier] == ["=="], name
        assert hashes, f"{name} has no hash"
        for value in hashes:
            assert re.fullmatch(r"sha256:[0-9a-f]{64}", value), f"{name}: {value}"


@pytest.mark.parametrize("lock", [IMAGE_LOCK, BUILD_LOCK], ids=["image", "build"])
def test_image_lock_names_no_local_index(lock: Path) -> None:
    """A lock must not point pip at an index or a directory that only one machine has."""
    text = lock.read_text(encoding="utf-8")

    for option in ("--find-links", "--index-url", "--extra-index-url", "file://"):
        assert option not in text, option
    assert "autogenerated by pip-compile with Python 3.11" in text
