"""Turn the options of ``taskora deploy`` into merged values and helm commands, then run them."""

from __future__ import annotations

import logging
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from taskora.deploy import assets, helm
from taskora.deploy.errors import DeployError
from taskora.deploy.values import (
    CHART_DEFAULTS_SOURCE,
    MergedValues,
    SetValue,
    ValueLayer,
    load_values_file,
    merge_values,
    parse_set_arguments,
)
from taskora.errors import ExitCode

logger = logging.getLogger(__name__)

DEFAULT_RELEASE = "taskora"
DEFAULT_NAMESPACE = "taskora"
DEFAULT_TIMEOUT = "10m"

# Helm limits release names to 53 characters, leaving room for suffixes in resource names.
_RELEASE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_RELEASE_MAX_LENGTH = 53
# A namespace is an RFC 1123 DNS label: at most 63 characters.
_NAMESPACE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
# An OCI image tag.
_IMAGE_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
# A Go duration as helm's --timeout reads it, such as 10m, 90s or 1h30m.
_DURATION = re.compile(r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$")


@dataclass(frozen=True)
class DeployRequest:
    """The options of one ``taskora deploy`` run."""

    cloud: str
    release: str = DEFAULT_RELEASE
    namespace: str = DEFAULT_NAMESPACE
    image_tag: str | None = None
    values_files: tuple[Path, ...] = ()
    set_arguments: tuple[str, ...] = ()
    kube_context: str | None = None
    timeout: str = DEFAULT_TIMEOUT


@dataclass(frozen=True)
class DeployPlan:
    """Everything needed to render or deploy: the merged values, the chart and helm."""

    request: DeployRequest
    values: MergedValues
    helm: Path
    chart_dir: Path = field(default=assets.CHART_DIR)

    def upgrade_command(self, values_file: Path) -> list[str]:
        """Return the ``helm upgrade --install`` command for the given merged values file."""
        return helm.upgrade_command(
            self.helm,
            self.chart_dir,
            self.request.release,
            self.request.namespace,
            values_file,
            timeout=self.request.timeout,
            kube_context=self.request.kube_context,
        )

    def template_command(self, values_file: Path) -> list[str]:
        """Return the ``helm template`` command for the given merged values file."""
        return helm.template_command(
            self.helm, self.chart_dir, self.request.release, self.request.namespace, values_file
        )


@dataclass(frozen=True)
class DryRun:
    """The result of ``--dry-run``: the command that would run and the rendered manifests."""

    upgrade_command: list[str]
    manifests: str


def build_plan(request: DeployRequest) -> DeployPlan:
    """Validate the request, merge the values layers and find helm.

    Raises :class:`DeployError` for invalid input, before anything runs.
    """
    _check_request(request)
    profile = assets.profile_path(request.cloud)

    layers = [
        ValueLayer(
            CHART_DEFAULTS_SOURCE, load_values_file(assets.chart_values_path(), "chart values file")
        ),
        ValueLayer(f"profile {request.cloud} ({profile})", load_values_file(profile, "profile")),
    ]
    for values_file in request.values_files:
        layers.append(ValueLayer(f"values file {values_file}", load_values_file(values_file)))

    assignments = parse_set_arguments(request.set_arguments)
    if request.image_tag is not None:
        assignments.append(
            SetValue(path=("image", "tag"), value=request.image_tag, source="--image-tag")
        )

    merged = merge_values(layers, assignments)
    return DeployPlan(request=request, values=merged, helm=helm.find_helm())


def render(plan: DeployPlan) -> DryRun:
    """Render the manifests with ``helm template``, without contacting a cluster."""
    with _merged_values_file(plan.values) as values_file:
        manifests = helm.run_helm(
            plan.template_command(values_file), timeout=helm.TEMPLATE_TIMEOUT_SECONDS
        )
        return DryRun(upgrade_command=plan.upgrade_command(values_file), manifests=manifests)


def apply(plan: DeployPlan) -> helm.ReleaseStatus:
    """Install or upgrade the release with ``helm upgrade --install`` and return its status."""
    request = plan.request
    with _merged_values_file(plan.values) as values_file:
        output = helm.run_helm(plan.upgrade_command(values_file))
    status = helm.parse_release(output, request.release, request.namespace)
    logger.info(
        "release %s in namespace %s: revision %s, status %s",
        status.name,
        status.namespace,
        status.revision,
        status.status,
    )
    return status


@contextmanager
def _merged_values_file(values: MergedValues) -> Iterator[Path]:
    """Write the merged values to a private temporary file that helm reads with ``-f``."""
    with tempfile.TemporaryDirectory(prefix="taskora-deploy-") as directory:
        path = Path(directory) / "values.yaml"
        path.write_text(values.to_yaml(), encoding="utf-8")
        yield path


def _check_request(request: DeployRequest) -> None:
    if len(request.release) > _RELEASE_MAX_LENGTH or not _RELEASE_NAME.match(request.release):
        raise DeployError(
            f"invalid release name {request.release!r}: use at most {_RELEASE_MAX_LENGTH} "
            "lowercase letters, digits, '-' and '.', starting and ending with a letter or digit",
            exit_code=ExitCode.USAGE,
        )
    if not _NAMESPACE.match(request.namespace):
        raise DeployError(
            f"invalid namespace {request.namespace!r}: use at most 63 lowercase letters, digits "
            "and '-', starting and ending with a letter or digit",
            exit_code=ExitCode.USAGE,
        )
    if request.image_tag is not None and not _IMAGE_TAG.match(request.image_tag):
        raise DeployError(
            f"invalid image tag {request.image_tag!r}: use at most 128 letters, digits, '_', '.' "
            "and '-', not starting with '.' or '-'",
            exit_code=ExitCode.USAGE,
        )
    if not _DURATION.match(request.timeout):
        raise DeployError(
            f"invalid timeout {request.timeout!r}: use a duration such as 10m, 90s or 1h30m",
            exit_code=ExitCode.USAGE,
        )
    if request.kube_context is not None and not request.kube_context.strip():
        raise DeployError(
            "invalid --kube-context: the context name is empty", exit_code=ExitCode.USAGE
        )
