"""Find and run the command-line tools that a deploy drives: ``helm`` and ``kubectl``.

Every failure becomes a :class:`DeployError` whose exit code gives the kind of failure:
invalid values or a context that is not in the kubeconfig (2), an unreachable cluster (3),
a missing release (5), a concurrent operation (6), or anything else (1), such as a rollout
whose pods did not become ready.
"""

from __future__ import annotations

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
from taskora.errors import ExitCode

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Tool:
    """A command-line tool: its name, the variable that may point at it, how to install it."""

    name: str
    env_var: str
    install_hint: str


HELM = Tool(
    name="helm",
    env_var="TASKORA_HELM",
    install_hint=(
        "install Helm 3 or 4 (https://helm.sh/docs/intro/install/) "
        "or set TASKORA_HELM to the path of the helm executable"
    ),
)
KUBECTL = Tool(
    name="kubectl",
    env_var="TASKORA_KUBECTL",
    install_hint=(
        "install kubectl (https://kubernetes.io/docs/tasks/tools/) "
        "or set TASKORA_KUBECTL to the path of the kubectl executable"
    ),
)

# Messages of helm and kubectl (client-go) when the API server cannot be reached. kubectl
# words a refused connection as "The connection to the server HOST:PORT was refused - did
# you specify the right host or port?".
_UNREACHABLE = re.compile(
    r"cluster unreachable|connection refused|no such host|i/o timeout|"
    r"The connection to the server \S+ was refused|"
    r"Unable to connect to the server|TLS handshake timeout|"
    r"the server could not find the requested resource \(get version\)",
    re.IGNORECASE,
)
# A request that ran out of time. For a short query (kubectl --request-timeout, helm status)
# that means the server did not respond, but for a command that waits for a rollout
# (helm upgrade --wait, helm rollback --wait) it means the pods did not become ready.
_DEADLINE = re.compile(
    r"context deadline exceeded|Client\.Timeout exceeded",
    re.IGNORECASE,
)
# helm template and upgrade when values.schema.json rejects the values, and when a
# template's `fail` rejects a combination of values.
_INVALID_VALUES = re.compile(
    r"values don't meet the specifications of the schema|execution error at \(",
    re.IGNORECASE,
)
# A --context or --kube-context that the kubeconfig lacks. Helm 3.19 and 4.2 print
# 'Kubernetes cluster unreachable: context "NAME" does not exist', kubectl 1.32 prints
# 'context "NAME" does not exist', and `kubectl config get-contexts NAME` prints
# 'context NAME not found'.
_UNKNOWN_CONTEXT = re.compile(
    r'context "([^"]*)" does not exist|^context "?([^"\s]+)"? not found$', re.MULTILINE
)
# Helm ends some errors with this advice, but taskora has no --debug option.
_DEBUG_HINT = re.compile(r"^Use --debug flag[^\n]*\n?", re.MULTILINE)
# helm status, history, get and rollback print "Error: release: not found".
_RELEASE_NOT_FOUND = re.compile(r"release: not found|has no deployed releases", re.IGNORECASE)
# helm upgrade and rollback while another helm operation holds the release.
_CONFLICT = re.compile(r"another operation \(install/upgrade/rollback\) is in progress")


def find_tool(tool: Tool) -> Path:
    """Return the executable of ``tool``: its environment variable if set, else ``PATH``."""
    configured = os.environ.get(tool.env_var)
    if configured:
        path = Path(configured).expanduser()
        if not path.is_file() or not os.access(path, os.X_OK):
            raise DeployError(
                f"{tool.env_var} is set to {path}, which is not an executable file: "
                f"{tool.install_hint}"
            )
        return path

    found = shutil.which(tool.name)
    if found is None:
        raise DeployError(f"{tool.name} not found on PATH: {tool.install_hint}")
    return Path(found)


def failure_exit_code(message: str, *, waits_for_rollout: bool = False) -> ExitCode:
    """Choose the exit code of a failed helm or kubectl run from its error output.

    ``waits_for_rollout`` marks a command that waits for pods to become ready, whose
    timeout is a failed rollout (ERROR) rather than an unreachable cluster.
    """
    if _INVALID_VALUES.search(message) or _UNKNOWN_CONTEXT.search(message):
        return ExitCode.USAGE
    if _UNREACHABLE.search(message):
        return ExitCode.UNREACHABLE
    if _DEADLINE.search(message):
        return ExitCode.ERROR if waits_for_rollout else ExitCode.UNREACHABLE
    if _RELEASE_NOT_FOUND.search(message):
        return ExitCode.NOT_FOUND
    if _CONFLICT.search(message):
        return ExitCode.CONFLICT
    return ExitCode.ERROR


def unknown_context_message(name: str) -> str:
    """Return the error for a kube context that the kubeconfig does not contain."""
    return (
        f"context {name!r} not found in the kubeconfig: list the contexts with "
        "`kubectl config get-contexts` and pass one of them with --context"
    )


def run_tool(
    command: Sequence[str],
    tool: Tool,
    *,
    timeout: float | None = None,
    waits_for_rollout: bool = False,
) -> str:
    """Run ``command`` and return its standard output.

    Raises :class:`DeployError` with the tool's error output when it exits non-zero, and
    when it cannot start or runs longer than ``timeout`` seconds (None waits forever).
    ``waits_for_rollout`` is passed to :func:`failure_exit_code`.
    """
    action = f"{tool.name} {_subcommand(command)}".strip()
    logger.info("running %s", shlex.join(command))
    try:
        completed = subprocess.run(
            list(command), capture_output=True, text=True, timeout=timeout, check=False
        )
    except FileNotFoundError:
        raise DeployError(f"{tool.name} not found at {command[0]}: {tool.install_hint}") from None
    except PermissionError:
        raise DeployError(
            f"{tool.name} at {command[0]} is not executable: {tool.install_hint}"
        ) from None
    except subprocess.TimeoutExpired:
        raise DeployError(
            f"{action} timed out after {timeout:g} seconds", exit_code=ExitCode.UNREACHABLE
        ) from None

    if completed.returncode != 0:
        stderr = completed.stderr.strip() or completed.stdout.strip() or "no output"
        # Both tools start their messages with "Error: " or "error: ", which the CLI prints.
        stderr = re.sub(r"^(Error|error): ", "", stderr)
        stderr = _DEBUG_HINT.sub("", stderr).strip()
        logger.info("%s failed with exit code %d", action, completed.returncode)
        unknown_context = _UNKNOWN_CONTEXT.search(stderr)
        if unknown_context is not None:
            name = unknown_context.group(1) or unknown_context.group(2)
            raise DeployError(unknown_context_message(name), exit_code=ExitCode.USAGE)
        raise DeployError(
            f"{action} failed with exit code {completed.returncode}: {stderr}",
            exit_code=failure_exit_code(stderr, waits_for_rollout=waits_for_rollout),
        )
    if completed.stderr.strip():
        # Warnings, such as a world-readable kubeconfig, arrive on stderr with success.
        logger.warning("%s: %s", action, completed.stderr.strip())
    return completed.stdout


def _subcommand(command: Sequence[str]) -> str:
    """Name the action of ``command``: ``upgrade``, ``get secret``, ``config current-context``."""
    words = []
    index = 1
    while index < len(command):
        word = command[index]
        if word in ("--context", "--kube-context", "--namespace", "-n", "--request-timeout"):
            index += 2
            continue
        if not word.startswith("-"):
            words.append(word)
        index += 1
    # These subcommands take a second word that names what they act on.
    if words and words[0] in _TWO_WORD_SUBCOMMANDS:
        return " ".join(words[:2])
    return words[0] if words else ""


_TWO_WORD_SUBCOMMANDS = ("config", "get", "plugin", "diff")
