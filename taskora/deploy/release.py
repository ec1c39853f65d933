"""Read and roll back a deployed release: ``taskora deploy status`` and ``rollback``."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from taskora.deploy import helm
from taskora.deploy.errors import DeployError
from taskora.deploy.plan import DeployRequest, normalize_release_request
from taskora.errors import ExitCode

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReleaseRef:
    """Reference to a release: its name, namespace and kube context."""

    release: str
    namespace: str
    kube_context: str | None = None


@dataclass(frozen=True)
class ReleaseReport:
    """The release's current state and its recent revisions, oldest first."""

    details: helm.ReleaseDetails
    history: list[helm.Revision]


def check_ref(ref: ReleaseRef, timeout: str = "5m") -> None:
    """Raise :class:`DeployError` for an invalid release, namespace, context or timeout."""
    normalize_release_request(
        DeployRequest(
            cloud="",
            release=ref.release,
            namespace=ref.namespace,
            kube_context=ref.kube_context,
            timeout=timeout,
        )
    )


def release_status(ref: ReleaseRef, helm_path: Path | None = None) -> ReleaseReport:
    """Read ``helm status`` and ``helm history`` of the release.

    A release that does not exist raises :class:`DeployError` with exit code NOT_FOUND.
    """
    check_ref(ref)
    helm_path = helm_path or helm.find_helm()
    details = helm.parse_status(
        _run_for(ref, helm.status_command(helm_path, ref.release, ref.namespace, ref.kube_context))
    )
    history = helm.parse_history(
        _run_for(ref, helm.history_command(helm_path, ref.release, ref.namespace, ref.kube_context))
    )
    return ReleaseReport(details=details, history=history)


def rollback(
    ref: ReleaseRef, revision: int | None, *, timeout: str, helm_path: Path | None = None
) -> ReleaseReport:
    """Roll the release back to ``revision`` (None: the previous one) and return its new state.

    The revision must be in the release's history, so a typo fails before helm changes
    anything.
    """
    check_ref(ref, timeout)
    if revision is not None and revision < 1:
        raise DeployError(
            f"invalid revision {revision}: revisions start at 1. List them with "
            "`taskora deploy status`",
            exit_code=ExitCode.USAGE,
        )
    helm_path = helm_path or helm.find_helm()
    history = helm.parse_history(
        _run_for(ref, helm.history_command(helm_path, ref.release, ref.namespace, ref.kube_context))
    )
    known = [entry.revision for entry in history]
    if revision is not None and revision not in known:
        raise DeployError(
            f"revision {revision} of release {ref.release} not found in namespace "
            f"{ref.namespace}: the recent revisions are {', '.join(map(str, known)) or 'none'}",
            exit_code=ExitCode.NOT_FOUND,
        )
    if revision is None and len(known) < 2:
        raise DeployError(
            f"release {ref.release} has no previous revision to roll back to: pass a REVISION "
            "from `taskora deploy status`",
            exit_code=ExitCode.CONFLICT,
        )

    logger.info("rolling back release %s to revision %s", ref.release, revision or "previous")
    helm.run_helm(
        helm.rollback_command(
            helm_path,
            ref.release,
            ref.namespace,
            revision,
            timeout=timeout,
            kube_context=ref.kube_context,
        ),
        waits_for_rollout=True,
    )
    return release_status(ref, helm_path)


def _run_for(ref: ReleaseRef, command: list[str]) -> str:
    try:
        return helm.read_from_cluster(
            command,
            failure=f"cannot read release {ref.release}",
            kube_context=ref.kube_context,
            timeout=helm.QUERY_TIMEOUT_SECONDS,
        )
    except DeployError as error:
        if error.exit_code is ExitCode.NOT_FOUND:
            raise DeployError(
                f"release {ref.release} not found in namespace {ref.namespace}: check --release "
                "and --namespace, or list releases with `helm list --all-namespaces`",
                exit_code=ExitCode.NOT_FOUND,
            ) from None
        raise
