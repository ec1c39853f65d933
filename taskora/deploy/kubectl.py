"""Build and run the read-only ``kubectl`` commands that preflight uses.

Every command names its context with ``--context``, so that all checks and the deploy
itself go to the same cluster even if the kubeconfig's current context changes meanwhile.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from taskora.deploy import commands
from taskora.deploy.errors import DeployError

# kubectl reads these quickly or not at all: a longer wait only delays the error.
# --request-timeout bounds each API request, and the process timeout bounds the whole run,
# including a credential plugin (gke-gcloud-auth-plugin, kubelogin) that hangs.
REQUEST_TIMEOUT = "15s"
PROCESS_TIMEOUT_SECONDS = 20.0

# Prints the Secret's name and its data keys, never the values, so no secret reaches this
# process or its logs.
SECRET_KEYS_TEMPLATE = "{{.metadata.name}}{{range $key, $value := .data}} {{$key}}{{end}}"

_SERVER_VERSION = re.compile(r"v?(\d+)\.(\d+)")

# The command of each cloud's CLI that writes a kubeconfig context for a cluster.
CREDENTIALS_COMMANDS = {
    "doks": "doctl kubernetes cluster kubeconfig save CLUSTER",
    "gke": "gcloud container clusters get-credentials CLUSTER --location LOCATION",
    "aks": "az aks get-credentials --resource-group GROUP --name CLUSTER",
}

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServerVersion:
    """The Kubernetes version of the API server, from ``GET /version``."""

    major: int
    minor: int
    git_version: str


def find_kubectl() -> Path:
    """Return kubectl: ``$TASKORA_KUBECTL`` if set, else ``kubectl`` on ``PATH``."""
    return commands.find_tool(commands.KUBECTL)


def run_kubectl(command: Sequence[str]) -> str:
    """Run a kubectl command and return its standard output; see :func:`commands.run_tool`."""
    return commands.run_tool(command, commands.KUBECTL, timeout=PROCESS_TIMEOUT_SECONDS)


def client_version_command(kubectl: Path) -> list[str]:
    """Build ``kubectl version --client --output json``, which needs no cluster."""
    return [str(kubectl), "version", "--client", "--output", "json"]


def parse_client_version(output: str) -> str:
    """Return the client's ``gitVersion`` (``v1.32.4``) from :func:`client_version_command`."""
    try:
        version = json.loads(output)["clientVersion"]["gitVersion"]
    except (json.JSONDecodeError, KeyError, TypeError):
        raise DeployError(
            f"cannot read the kubectl version from {output[:200]!r}: reinstall kubectl"
        ) from None
    return str(version)


def unreachable_message(failure: str, kube_context: str | None, detail: str) -> str:
    """Write the error for ``failure`` (``cannot read release taskora``) when the cluster is down.

    ``detail`` is the tool's own message. Without ``kube_context`` the current context is
    read from the kubeconfig, so the message names the cluster that did not respond.
    """
    context = f"context {kube_context}" if kube_context else _current_context_description()
    credentials = ", ".join(f"`{command}`" for command in CREDENTIALS_COMMANDS.values())
    return (
        f"{failure}, because the cluster of {context} did not respond: {detail}. Check that "
        "the cluster is running and your network reaches it (VPN, authorized networks), and "
        f"refresh expired credentials with your cloud's command: {credentials}"
    )


def _current_context_description() -> str:
    try:
        name = run_kubectl(current_context_command(find_kubectl())).strip()
    except DeployError as error:
        logger.info("cannot read the current context: %s", error.message)
        return "the current context"
    return f"context {name} (the current context)" if name else "the current context"


def current_context_command(kubectl: Path) -> list[str]:
    """Build ``kubectl config current-context``."""
    return [str(kubectl), "config", "current-context"]


def get_context_command(kubectl: Path, context: str) -> list[str]:
    """Build ``kubectl config get-contexts NAME --output name``, which fails for an unknown one."""
    return [str(kubectl), "config", "get-contexts", context, "--output", "name"]


def server_version_command(kubectl: Path, context: str) -> list[str]:
    """Build ``kubectl get --raw /version``, the cheapest request that proves the server responds."""
    return [
        str(kubectl),
        "--context",
        context,
        "--request-timeout",
        REQUEST_TIMEOUT,
        "get",
        "--raw",
        "/version",
    ]


def parse_server_version(output: str) -> ServerVersion:
    """Read the server's version from ``GET /version`` (``{"major": "1", "minor": "33+"...}``)."""
    try:
        document = json.loads(output)
        git_version = str(document["gitVersion"])
    except (json.JSONDecodeError, KeyError, TypeError):
        raise DeployError(f"cannot read the Kubernetes version from {output[:200]!r}") from None
    match = _SERVER_VERSION.match(git_version)
    if match is None:
        raise DeployError(f"cannot read the Kubernetes version from {git_version!r}")
    return ServerVersion(
        major=int(match.group(1)), minor=int(match.group(2)), git_version=git_version
    )


def get_names_command(
    kubectl: Path, context: str, kind: str, names: Sequence[str], namespace: str | None = None
) -> list[str]:
    """Build ``kubectl get KIND NAME... --output name --ignore-not-found``.

    Found objects print as ``kind.group/name`` lines and missing ones print nothing.
    """
    command = [str(kubectl), "--context", context, "--request-timeout", REQUEST_TIMEOUT]
    if namespace is not None:
        command += ["--namespace", namespace]
    return [*command, "get", kind, *names, "--output", "name", "--ignore-not-found"]


def parse_names(output: str) -> set[str]:
    """Return the object names of ``--output name`` lines, without their ``kind/`` prefix."""
    return {line.rsplit("/", 1)[-1] for line in output.split() if line.strip()}


def secret_keys_command(kubectl: Path, context: str, namespace: str, name: str) -> list[str]:
    """Build a ``kubectl get secret`` that prints the Secret's name and data keys only."""
    return [
        str(kubectl),
        "--context",
        context,
        "--request-timeout",
        REQUEST_TIMEOUT,
        "--namespace",
        namespace,
        "get",
        "secret",
        name,
        "--ignore-not-found",
        "--output",
        f"go-template={SECRET_KEYS_TEMPLATE}",
    ]


def parse_secret_keys(output: str) -> set[str] | None:
    """Return the data keys printed by :func:`secret_keys_command`, or None if not found."""
    words = output.split()
    if not words:
        return None
    return set(words[1:])
