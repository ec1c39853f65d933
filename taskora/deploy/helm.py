"""Build ``helm`` command lines, run them, and read what helm prints."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from taskora.deploy import commands, kubectl
from taskora.deploy.errors import DeployError
from taskora.deploy.values import format_key
from taskora.errors import ExitCode

logger = logging.getLogger(__name__)

HELM_ENV = commands.HELM.env_var
HELM_NAME = commands.HELM.name
INSTALL_HINT = commands.HELM.install_hint

# `helm template` only renders local files, so two minutes is generous.
# A hang means a broken binary.
TEMPLATE_TIMEOUT_SECONDS = 120.0
# Commands that only read the release from the cluster.
QUERY_TIMEOUT_SECONDS = 60.0

# Helm majors whose command lines this module builds.
SUPPORTED_MAJORS = (3, 4)

_VERSION = re.compile(r"v?(\d+)\.(\d+)\.(\d+)")

# One line of the schema errors that helm 3.19 and 4.2 print, such as
# "- at '/replicaCount': got string, want integer".
_PATTERN_ERROR = re.compile(
    r"^- at '(?P<pointer>/[^']*)': '(?P<value>.*)' does not match pattern '.*'$", re.MULTILINE
)
# A schema error on a string value given as a number or a boolean, which --set infers
# from text such as 7200 or true.
_STRING_WANTED = re.compile(
    r"^- at '(?P<pointer>/[^']*)': got (number|integer|boolean), want string$", re.MULTILINE
)
# Descriptions of the expected form of a value, for the schema patterns whose regular
# expression alone does not show a user what to write, keyed by the JSON pointer that helm
# prints.
PATTERN_HINTS = {
    "/cloudSqlProxy/instanceConnectionName": (
        "is not a Cloud SQL instance connection name. Write it as PROJECT:REGION:INSTANCE with "
        "your own lowercase names, such as acme-prod:europe-west1:taskora, and print the "
        "instance's name with `gcloud sql instances describe INSTANCE "
        "--format='value(connectionName)'`"
    ),
}


@dataclass(frozen=True)
class ReleaseStatus:
    """Name, namespace, revision, status and notes of a release, from ``helm upgrade --install``."""

    name: str
    namespace: str
    revision: int | None
    status: str | None
    notes: str


@dataclass(frozen=True)
class ReleaseDetails:
    """A release as ``helm status --output json`` describes it."""

    name: str
    namespace: str
    revision: int
    status: str
    chart: str
    app_version: str
    last_deployed: str
    description: str
    # The service container's image in the release's manifest, or "" when none is found.
    image: str = ""


@dataclass(frozen=True)
class Revision:
    """One line of ``helm history --output json``."""

    revision: int
    updated: str
    status: str
    chart: str
    app_version: str
    description: str


def find_helm() -> Path:
    """Return the helm executable: ``$TASKORA_HELM`` if set, else ``helm`` on ``PATH``."""
    return commands.find_tool(commands.HELM)


def run_helm(
    command: Sequence[str], *, timeout: float | None = None, waits_for_rollout: bool = False
) -> str:
    """Run a helm command and return its standard output.

    Raises :class:`DeployError` with helm's standard error when helm exits non-zero, and
    when it cannot start or runs longer than ``timeout`` seconds (None waits forever).
    Pass ``waits_for_rollout`` for ``--wait`` commands, whose timeout is a failed rollout.
    """
    try:
        return commands.run_tool(
            command, commands.HELM, timeout=timeout, waits_for_rollout=waits_for_rollout
        )
    except DeployError as error:
        explained = explain_schema_errors(error.message)
        if explained == error.message:
            raise
        raise DeployError(explained, exit_code=error.exit_code) from None


def read_from_cluster(
    command: Sequence[str], *, failure: str, kube_context: str | None, timeout: float
) -> str:
    """Run a helm command that reads from the cluster and return its standard output.

    When the cluster does not respond, the :class:`DeployError` starts with ``failure``
    (``cannot read release taskora``) and names the context and the fixes.
    """
    try:
        return run_helm(command, timeout=timeout)
    except DeployError as error:
        if error.exit_code is not ExitCode.UNREACHABLE:
            raise
        raise DeployError(
            kubectl.unreachable_message(failure, kube_context, error.message),
            exit_code=ExitCode.UNREACHABLE,
        ) from None


def explain_schema_errors(message: str) -> str:
    """Add what to do to the schema errors in helm's ``message`` that do not show it.

    The regular expression of each error in :data:`PATTERN_HINTS` is replaced with the
    hint, and an error on a string value that got a number or a boolean names the
    ``--set-string`` option for its key. Other lines stay as they are.
    """

    def replace_pattern(match: re.Match[str]) -> str:
        hint = PATTERN_HINTS.get(match.group("pointer"))
        if hint is None:
            return match.group(0)
        return f"- at {match.group('pointer')!r}: {match.group('value')!r} {hint}"

    def add_set_string(match: re.Match[str]) -> str:
        key = _pointer_to_key(match.group("pointer"))
        return (
            f"{match.group(0)}. Quote the value in the values file, or pass it with "
            f"--set-string {key}=VALUE, which keeps it a string"
        )

    message = _PATTERN_ERROR.sub(replace_pattern, message)
    return _STRING_WANTED.sub(add_set_string, message)


def _pointer_to_key(pointer: str) -> str:
    """Write a JSON pointer (RFC 6901) from helm's schema errors as a ``--set`` key.

    A segment of digits is taken as a list index, because the chart has no such map key.
    """
    path: list[str | int] = []
    for segment in pointer.split("/")[1:]:
        part = segment.replace("~1", "/").replace("~0", "~")
        path.append(int(part) if part.isdigit() else part)
    return format_key(tuple(path))


def parse_version(output: str) -> tuple[int, int, int]:
    """Read ``(major, minor, patch)`` from ``helm version --short`` (``v3.19.0+g3d8990f``)."""
    match = _VERSION.search(output)
    if match is None:
        raise DeployError(f"cannot read a version from `helm version --short`: {output.strip()!r}")
    major, minor, patch = (int(part) for part in match.groups())
    return major, minor, patch


def version_command(helm: Path) -> list[str]:
    """Build ``helm version --short``."""
    return [str(helm), "version", "--short"]


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
    helm_major: int = 3,
) -> list[str]:
    """Build the ``helm upgrade --install`` command that deploys the release.

    ``--wait`` makes helm return only once the pods are ready, or fail after ``timeout``.
    A failed upgrade is then rolled back (a failed first install uninstalled): Helm 3
    does that with ``--atomic``, and Helm 4 with ``--rollback-on-failure``, the name that
    replaces the deprecated ``--atomic`` (``helm upgrade --help`` of Helm 4.2 lists only it).
    ``--output json`` lets :func:`parse_release` read the revision and status.
    """
    rollback_flag = "--rollback-on-failure" if helm_major >= 4 else "--atomic"
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
        rollback_flag,
        "--wait",
        "--timeout",
        timeout,
        "--output",
        "json",
    ]
    return _with_context(command, kube_context)


def plugin_list_command(helm: Path) -> list[str]:
    """Build ``helm plugin list``, which shows whether the helm-diff plugin is installed."""
    return [str(helm), "plugin", "list"]


def has_diff_plugin(plugin_list: str) -> bool:
    """Tell whether ``helm plugin list`` output has a plugin named ``diff``."""
    for line in plugin_list.splitlines()[1:]:
        fields = line.split()
        if fields and fields[0] == "diff":
            return True
    return False


def diff_upgrade_command(
    helm: Path,
    chart: Path,
    release: str,
    namespace: str,
    values_file: Path,
    *,
    kube_context: str | None = None,
) -> list[str]:
    """Build ``helm diff upgrade`` of the helm-diff plugin for the same release and values.

    ``--allow-unreleased`` shows a first install as all additions instead of failing.
    """
    command = [
        str(helm),
        "diff",
        "upgrade",
        release,
        str(chart),
        "--namespace",
        namespace,
        "-f",
        str(values_file),
        "--allow-unreleased",
    ]
    return _with_context(command, kube_context)


def get_manifest_command(
    helm: Path, release: str, namespace: str, kube_context: str | None = None
) -> list[str]:
    """Build ``helm get manifest``, which prints the manifests of the deployed revision."""
    return _with_context(
        [str(helm), "get", "manifest", release, "--namespace", namespace], kube_context
    )


def status_command(
    helm: Path, release: str, namespace: str, kube_context: str | None = None
) -> list[str]:
    """Build ``helm status --output json``."""
    return _with_context(
        [str(helm), "status", release, "--namespace", namespace, "--output", "json"],
        kube_context,
    )


def history_command(
    helm: Path, release: str, namespace: str, kube_context: str | None = None, maximum: int = 10
) -> list[str]:
    """Build ``helm history --output json`` for the last ``maximum`` revisions."""
    return _with_context(
        [
            str(helm),
            "history",
            release,
            "--namespace",
            namespace,
            "--max",
            str(maximum),
            "--output",
            "json",
        ],
        kube_context,
    )


def rollback_command(
    helm: Path,
    release: str,
    namespace: str,
    revision: int | None,
    *,
    timeout: str,
    kube_context: str | None = None,
) -> list[str]:
    """Build ``helm rollback``; without a revision helm goes back to the previous one."""
    command = [str(helm), "rollback", release]
    if revision is not None:
        command.append(str(revision))
    command += ["--namespace", namespace, "--wait", "--timeout", timeout]
    return _with_context(command, kube_context)


def parse_release(output: str, release: str, namespace: str) -> ReleaseStatus:
    """Read the release's revision, status and notes from ``helm upgrade`` output.

    The output is JSON from ``--output json``, possibly after a line such as
    ``Release "x" does not exist. Installing it now.``. Plain text output with
    ``REVISION:`` and ``STATUS:`` lines is read as a fallback.
    """
    document = _first_json_object(output)
    if document is not None:
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


def parse_status(output: str) -> ReleaseDetails:
    """Read ``helm status --output json``."""
    document = _first_json_object(output)
    if document is None:
        raise DeployError(f"cannot read the output of helm status as JSON: {output[:200]!r}")
    info = document.get("info") or {}
    metadata = (document.get("chart") or {}).get("metadata") or {}
    chart = f"{metadata.get('name', '?')}-{metadata.get('version', '?')}"
    return ReleaseDetails(
        name=str(document.get("name", "")),
        namespace=str(document.get("namespace", "")),
        revision=int(document.get("version", 0)),
        status=str(info.get("status", "unknown")),
        chart=chart,
        app_version=str(metadata.get("appVersion", "")),
        last_deployed=str(info.get("last_deployed", "")),
        description=str(info.get("description", "")),
        image=deployment_image(str(document.get("manifest") or "")),
    )


def deployment_image(manifest: str) -> str:
    """Return the image of the first container of the first Deployment in ``manifest``.

    That is the service's image: the Dapr sidecar is added when the pods are created, and
    the Cloud SQL Auth Proxy runs as an init container. Returns "" when there is none.
    """
    import yaml

    try:
        documents = list(yaml.safe_load_all(manifest))
    except yaml.YAMLError as error:
        logger.info("cannot read the release manifest as YAML: %s", error)
        return ""
    for document in documents:
        if not isinstance(document, dict) or document.get("kind") != "Deployment":
            continue
        containers = (((document.get("spec") or {}).get("template") or {}).get("spec") or {}).get(
            "containers"
        ) or []
        if containers and isinstance(containers[0], dict):
            return str(containers[0].get("image", ""))
    return ""


def parse_history(output: str) -> list[Revision]:
    """Read ``helm history --output json``, oldest revision first."""
    try:
        rows: Any = json.loads(output)
    except json.JSONDecodeError:
        raise DeployError(
            f"cannot read the output of helm history as JSON: {output[:200]!r}"
        ) from None
    if not isinstance(rows, list):
        raise DeployError(f"helm history printed {type(rows).__name__} instead of a list")
    return [
        Revision(
            revision=int(row.get("revision", 0)),
            updated=str(row.get("updated", "")),
            status=str(row.get("status", "")),
            chart=str(row.get("chart", "")),
            app_version=str(row.get("app_version", "")),
            description=str(row.get("description", "")),
        )
        for row in rows
        if isinstance(row, dict)
    ]


def _with_context(command: list[str], kube_context: str | None) -> list[str]:
    if kube_context:
        command.extend(["--kube-context", kube_context])
    return command


def _first_json_object(output: str) -> dict[str, Any] | None:
    start = output.find("{")
    if start == -1:
        return None
    try:
        document, _ = json.JSONDecoder().raw_decode(output[start:])
    except json.JSONDecodeError:
        return None
    return document if isinstance(document, dict) else None
