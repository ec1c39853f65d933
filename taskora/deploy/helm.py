"""Find the ``helm`` executable, build its command lines and run them."""

from __future__ import annotations

import json
import logging
import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from taskora.deploy.errors import DeployError

logger = logging.getLogger(__name__)

HELM_ENV = "TASKORA_HELM"
INSTALL_HINT = (
    "install Helm 3 or 4 (https://helm.sh/docs/intro/install/) "
    f"or set {HELM_ENV} to the path of the helm executable"
)

# `helm template` only renders local files, so two minutes is generous.
# A hang means a broken binary.
TEMPLATE_TIMEOUT_SECONDS = 120.0


@dataclass(frozen=True)
class ReleaseStatus:
    """Name, namespace, revision, status and notes of a release, from ``helm upgrade --install``."""

    name: str
    namespace: str
    revision: int | None
    status: str | None
    notes: str


def find_helm() -> Path:
    """Return the helm executable: ``$TASKORA_HELM`` if set, else ``helm`` on ``PATH``."""
    configured = os.environ.get(HELM_ENV)
    if configured:
        path = Path(configured).expanduser()
        if not path.is_file() or not os.access(path, os.X_OK):
            raise DeployError(
                f"{HELM_ENV} is set to {path}, which is not an executable file: {INSTALL_HINT}"
            )
        return path

    found = shutil.which("helm")
    if found is None:
        raise DeployError(f"helm not found on PATH: {INSTALL_HINT}")
    return Path(found)


def template_command(
    helm: Path, chart: Path, release: str, namespace: str, values_file: Path
) -> list[str]:
    """Build the ``helm template`` command that renders the manifests without a cluster."""
    return [
        str(helm),
        "template",
        release,
        str(chart),
        "--namespace",
        namespace,
        "-f",
        str(values_file),
    ]


def upgrade_command(
    helm: Path,
    chart: Path,
    release: str,
    namespace: str,
    values_file: Path,
    *,
    timeout: str,
    kube_context: str | None = None,
) -> list[str]:
    """Build the ``helm upgrade --install`` command that deploys the release.

    ``--wait`` makes helm return only once the pods are ready, or fail after ``timeout``.
    ``--output json`` lets :func:`parse_release` read the revision and status.
    """
    # NOTE: these flags are tested against Helm 3.19 only, because the tests have no Helm 4
    # binary. Helm 4 gives --wait an optional strategy value, so bare --wait should still parse.
    command = [
        str(helm),
        "upgrade",
        "--install",
        release,
        str(chart),
        "--namespace",
        namespace,
        "--create-namespace",
        "-f",
        str(values_file),
        "--wait",
        "--timeout",
        timeout,
        "--output",
        "json",
    ]
    if kube_context:
        command.extend(["--kube-context", kube_context])
    return command


def run_helm(command: Sequence[str], *, timeout: float | None = None) -> str:
    """Run a helm command and return its standard output.

    Raises :class:`DeployError` with helm's standard error when helm exits non-zero, and
    when it cannot start or runs longer than ``timeout`` seconds (None waits forever).
    """
    action = f"helm {command[1]}" if len(command) > 1 else "helm"
    logger.info("running %s", shlex.join(command))
    try:
        completed = subprocess.run(
            list(command), capture_output=True, text=True, timeout=timeout, check=False
        )
    except FileNotFoundError:
        raise DeployError(f"helm not found at {command[0]}: {INSTALL_HINT}") from None
    except PermissionError:
        raise DeployError(f"helm at {command[0]} is not executable: {INSTALL_HINT}") from None
    except subprocess.TimeoutExpired:
        raise DeployError(f"{action} timed out after {timeout:g} seconds") from None

    if completed.returncode != 0:
        stderr = completed.stderr.strip() or completed.stdout.strip() or "no output"
        # Helm starts its own messages with "Error: ", which the CLI already prints.
        stderr = stderr.removeprefix("Error: ")
        raise DeployError(f"{action} failed with exit code {completed.returncode}: {stderr}")
    if completed.stderr.strip():
        # Helm prints warnings, such as a world-readable kubeconfig, on stderr and still succeeds.
        logger.warning("%s: %s", action, completed.stderr.strip())
    return completed.stdout


def parse_release(output: str, release: str, namespace: str) -> ReleaseStatus:
    """Read the release's revision, status and notes from ``helm upgrade`` output.

    The output is JSON from ``--output json``, possibly after a line such as
    ``Release "x" does not exist. Installing it now.``. Plain text output with
    ``REVISION:`` and ``STATUS:`` lines is read as a fallback.
    """
    start = output.find("{")
    if start != -1:
        try:
            document, _ = json.JSONDecoder().raw_decode(output[start:])
        except json.JSONDecodeError:
            document = None
        if isinstance(document, dict):
            info = document.get("info") if isinstance(document.get("info"), dict) else {}
            revision = document.get("version")
            return ReleaseStatus(
                name=str(document.get("name") or release),
                namespace=str(document.get("namespace") or namespace),
                revision=revision if isinstance(revision, int) else None,
                status=str(info["status"]) if info.get("status") else None,
                notes=str(info.get("notes") or "").strip(),
            )

    revision_match = re.search(r"^REVISION:\s*(\d+)\s*$", output, re.MULTILINE)
    status_match = re.search(r"^STATUS:\s*(\S+)\s*$", output, re.MULTILINE)
    notes_match = re.search(r"^NOTES:\s*$(.*)", output, re.MULTILINE | re.DOTALL)
    return ReleaseStatus(
        name=release,
        namespace=namespace,
        revision=int(revision_match.group(1)) if revision_match else None,
        status=status_match.group(1) if status_match else None,
        notes=notes_match.group(1).strip() if notes_match else "",
    )
