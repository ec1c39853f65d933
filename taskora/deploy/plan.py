"""Turn the options of ``taskora deploy`` into merged values and helm commands, then run them."""

from __future__ import annotations

import dataclasses
import logging
import re
import shlex
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from taskora.deploy import assets, helm
from taskora.deploy.errors import DeployError
from taskora.deploy.values import (
    CHART_DEFAULTS_SOURCE,
    PLACEHOLDER_DESCRIPTION,
    SET_STRING_SOURCE,
    MergedValues,
    SetValue,
    ValueLayer,
    load_values_file,
    merge_values,
    parse_set_arguments,
)
from taskora.errors import ExitCode

if TYPE_CHECKING:
    from taskora.deploy.diff import ResourceChange
    from taskora.deploy.preflight import PreflightReport

logger = logging.getLogger(__name__)

DEFAULT_RELEASE = "taskora"
DEFAULT_NAMESPACE = "taskora"
DEFAULT_TIMEOUT = "10m"
# The chart's name, the default of the taskora.fullname helper's suffix.
CHART_NAME = "taskora"

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
    # --set-string arguments, applied after every --set as helm does.
    set_string_arguments: tuple[str, ...] = ()
    kube_context: str | None = None
    timeout: str = DEFAULT_TIMEOUT
    # Where to keep the merged values that helm reads. None writes them to a temporary file
    # that is removed once helm exits.
    values_out: Path | None = None


@dataclass(frozen=True)
class DeployPlan:
    """Everything needed to render or deploy: the merged values, the chart and helm."""

    request: DeployRequest
    values: MergedValues
    helm: Path
    chart_dir: Path = field(default=assets.CHART_DIR)
    # Major version of helm, which chooses the rollback flag of the upgrade command. Preflight
    # reads it; until then the command has Helm 3's form.
    helm_major: int = 3
    # Why helm was not found, for a plan built with require_helm=False. ``helm`` is then
    # only the bare name "helm", and preflight reports this as its failed helm check.
    helm_error: str = ""

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
            helm_major=self.helm_major,
        )

    def template_command(self, values_file: Path) -> list[str]:
        """Return the ``helm template`` command for the given merged values file."""
        return helm.template_command(
            self.helm, self.chart_dir, self.request.release, self.request.namespace, values_file
        )


@dataclass(frozen=True)
class DiffResult:
    """Result of ``--diff``: the helm-diff plugin's output, or the changes per resource."""

    method: str
    changes: list[ResourceChange] = field(default_factory=list)
    plugin_output: str = ""


@dataclass(frozen=True)
class DryRun:
    """The result of ``--dry-run``: the command that would run and the rendered manifests."""

    upgrade_command: list[str]
    manifests: str
    # Major version of the helm that rendered, which chose the upgrade command's rollback
    # flag; None when it was not read or could not be, and the command has Helm 3's form.
    helm_major: int | None = None


def build_plan(request: DeployRequest, *, require_helm: bool = True) -> DeployPlan:
    """Validate the request, merge the values layers and find helm.

    Raises :class:`DeployError` for invalid input, before anything runs, and when helm is
    not found, unless ``require_helm`` is false: the plan then records why in ``helm_error``.
    """
    request = normalize_request(request)
    values = merge_request_values(request)
    try:
        helm_path = helm.find_helm()
    except DeployError as error:
        if require_helm:
            raise
        logger.info("helm not found: %s", error.message)
        return DeployPlan(
            request=request, values=values, helm=Path(helm.HELM_NAME), helm_error=error.message
        )
    return DeployPlan(request=request, values=values, helm=helm_path)


def normalize_request(request: DeployRequest) -> DeployRequest:
    """Validate the request and return it with the cloud named as its profile file is.

    Raises :class:`DeployError` for invalid input.
    """
    _check_request(request)
    profile = assets.profile_path(request.cloud)
    return dataclasses.replace(request, cloud=profile.stem)


def merge_request_values(request: DeployRequest) -> MergedValues:
    """Validate the request and merge its values layers, without looking for helm.

    Raises :class:`DeployError` for invalid input or an unreadable values file.
    """
    request = normalize_request(request)
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
    assignments += parse_set_arguments(
        request.set_string_arguments, SET_STRING_SOURCE, as_string=True
    )
    if request.image_tag is not None:
        assignments.append(
            SetValue(path=("image", "tag"), value=request.image_tag, source="--image-tag")
        )

    return merge_values(layers, assignments)


def render(plan: DeployPlan, *, read_helm_version: bool = False) -> DryRun:
    """Render the manifests with ``helm template``, without contacting a cluster.

    Placeholder values are rendered as they are, so that a user can inspect a profile
    before filling it in. :meth:`MergedValues.placeholder_keys` lists them.
    ``read_helm_version`` runs ``helm version`` beside the render, so that the returned
    upgrade command has the rollback flag of that helm at little wall-clock cost on two or
    more cores.
    """
    version_process = _start_helm_version(plan.helm) if read_helm_version else None
    try:
        with _values_file(plan.values, plan.request.values_out) as values_file:
            manifests = helm.run_helm(
                plan.template_command(values_file), timeout=helm.TEMPLATE_TIMEOUT_SECONDS
            )
            helm_major = _read_helm_major(version_process) if version_process else None
            if helm_major is not None:
                plan = dataclasses.replace(plan, helm_major=helm_major)
            return DryRun(
                upgrade_command=plan.upgrade_command(values_file),
                manifests=manifests,
                helm_major=helm_major,
            )
    finally:
        if version_process is not None and not _pipe_closed(version_process):
            # The render failed before the version was read: stop helm version if it still
            # runs, and let communicate() close its pipe.
            if version_process.poll() is None:
                version_process.kill()
            version_process.communicate()


def _pipe_closed(process: subprocess.Popen[str]) -> bool:
    return process.stdout is None or process.stdout.closed


def _start_helm_version(helm_path: Path) -> subprocess.Popen[str] | None:
    try:
        return subprocess.Popen(
            helm.version_command(helm_path),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
    except OSError as error:
        logger.info("cannot run %s version: %s", helm_path, error)
        return None


def _read_helm_major(process: subprocess.Popen[str]) -> int | None:
    """Return the major version that ``helm version`` printed, or None when it failed."""
    try:
        output, _ = process.communicate(timeout=helm.QUERY_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        logger.info("helm version timed out, so the dry run shows Helm 3's upgrade command")
        return None
    if process.returncode != 0:
        logger.info("helm version exited with code %d", process.returncode)
        return None
    try:
        return helm.parse_version(output)[0]
    except DeployError as error:
        logger.info("cannot read helm's version: %s", error.message)
        return None


def apply(plan: DeployPlan) -> helm.ReleaseStatus:
    """Install or upgrade the release with ``helm upgrade --install`` and return its status.

    Raises :class:`DeployError` before running helm when a value is still a placeholder.
    """
    request = plan.request
    check_no_placeholders(plan.values)
    with _values_file(plan.values, request.values_out) as values_file:
        try:
            output = helm.run_helm(plan.upgrade_command(values_file), waits_for_rollout=True)
        except DeployError as error:
            if error.exit_code is ExitCode.CONFLICT:
                steps = locked_release_steps(plan)
            elif error.exit_code is ExitCode.ERROR:
                steps = failed_rollout_steps(plan)
            else:
                raise
            raise DeployError(f"{error.message}\n{steps}", exit_code=error.exit_code) from None
    status = helm.parse_release(output, request.release, request.namespace)
    logger.info(
        "release %s in namespace %s: revision %s, status %s",
        status.name,
        status.namespace,
        status.revision,
        status.status,
    )
    return status


def failed_rollout_steps(plan: DeployPlan) -> str:
    """Return the commands that show why a deploy's pods or migration Job failed."""
    request = plan.request
    kubectl = "kubectl"
    if request.kube_context:
        kubectl += f" --context {shlex.quote(request.kube_context)}"
    kubectl += f" --namespace {request.namespace}"
    job = f"{release_fullname(plan.values.values, request.release)}-migration"
    return (
        "Next: read the migration Job's log with "
        f"`{kubectl} logs job/{job} --all-containers`, see why pods did not become ready "
        f"with `{kubectl} describe pods -l app.kubernetes.io/instance={request.release}`, "
        f"and check the release with `{_release_command('status', request)}`"
    )


def locked_release_steps(plan: DeployPlan) -> str:
    """Return what to do when another helm operation holds the release."""
    request = plan.request
    uninstall = f"helm uninstall {request.release} --namespace {request.namespace}"
    if request.kube_context:
        uninstall += f" --kube-context {shlex.quote(request.kube_context)}"
    return (
        "Next: wait for the other operation to end and check the release with "
        f"`{_release_command('status', request)}`. If a deploy was interrupted and the "
        "release stays pending-upgrade or pending-rollback, return it to its last revision "
        f"with `{_release_command('rollback', request)}`. If it stays pending-install, "
        f"remove it with `{uninstall}`. Then deploy again."
    )


def _release_command(subcommand: str, request: DeployRequest) -> str:
    command = (
        f"taskora deploy {subcommand} --release {request.release} --namespace {request.namespace}"
    )
    if request.kube_context:
        command += f" --context {shlex.quote(request.kube_context)}"
    return command


def release_fullname(values: Mapping[str, Any], release: str) -> str:
    """Return the chart's resource name prefix, as the ``taskora.fullname`` helper builds it."""
    override = str(values.get("fullnameOverride") or "")
    if override:
        return override[:63].rstrip("-")
    name = str(values.get("nameOverride") or "") or CHART_NAME
    if name in release:
        return release[:63].rstrip("-")
    return f"{release}-{name}"[:63].rstrip("-")


def run_preflight(
    plan: DeployPlan, *, check_image: bool = True, check_values: bool = False
) -> tuple[DeployPlan, PreflightReport]:
    """Run the preflight checks and return the plan pinned to the context and helm they found.

    ``check_values`` also checks the values for placeholders and renders them with a local
    ``helm template``, after the helm check, so that a schema error is reported with the
    cluster's checks.
    Raises :class:`~taskora.deploy.preflight.PreflightError` listing each failure and its fix.
    """
    # Imported here, as diff below, because --dry-run needs neither and should start fast.
    from taskora.deploy import preflight

    image_lookup = None
    if check_image:
        from taskora.deploy.images import registry_lookup

        image_lookup = registry_lookup
    report = preflight.run_preflight(
        preflight.PreflightInput(
            helm=plan.helm,
            values=plan.values.values,
            namespace=plan.request.namespace,
            cloud=plan.request.cloud,
            kube_context=plan.request.kube_context,
            helm_error=plan.helm_error,
            app_version=chart_app_version(),
            kube_version=chart_metadata().get("kubeVersion", ""),
        ),
        image_lookup=image_lookup,
        local_checks=partial(_check_values, plan) if check_values else None,
    )
    request = dataclasses.replace(plan.request, kube_context=report.context)
    return dataclasses.replace(plan, request=request, helm_major=report.helm_major or 3), report


def _check_values(plan: DeployPlan, report: PreflightReport, helm_ok: bool) -> None:
    """Add the placeholder check and a local ``helm template`` to ``report``.

    ``helm_ok`` is whether helm passed its preflight check. The render is skipped when it
    did not.
    """
    from taskora.deploy.preflight import CheckStatus

    keys = plan.values.placeholder_keys()
    if keys:
        report.invalid_values = True
        report.add(
            "values",
            CheckStatus.FAILED,
            f"{len(keys)} {'key still contains' if len(keys) == 1 else 'keys still contain'} "
            f"{PLACEHOLDER_DESCRIPTION}: {', '.join(keys)}",
            "set each with -f FILE or --set KEY=VALUE",
        )
    else:
        report.add("values", CheckStatus.PASSED, "no profile placeholder is left")

    if plan.helm_error:
        report.add("render", CheckStatus.SKIPPED, "helm template needs helm, which is missing")
        return
    if not helm_ok:
        report.add(
            "render", CheckStatus.SKIPPED, "helm template needs helm, which failed its check"
        )
        return
    try:
        manifests = render(plan).manifests
    except DeployError as error:
        report.invalid_values = report.invalid_values or error.exit_code is ExitCode.USAGE
        report.add(
            "render",
            CheckStatus.FAILED,
            error.message,
            "correct the values that helm names, then run the command again",
        )
        return
    count = sum(1 for line in manifests.splitlines() if line.startswith("kind:"))
    report.add("render", CheckStatus.PASSED, f"helm template rendered {count} resources")


def diff(plan: DeployPlan) -> DiffResult:
    """Show what a deploy would change in the release, changing nothing.

    Uses ``helm diff upgrade`` when the helm-diff plugin is installed, else compares
    ``helm get manifest`` of the release with ``helm template`` (an absent release is empty).
    """
    from taskora.deploy.diff import compare_manifests

    request = plan.request
    failure = f"cannot compare with release {request.release}"
    plugins = helm.run_helm(helm.plugin_list_command(plan.helm), timeout=helm.QUERY_TIMEOUT_SECONDS)
    if helm.has_diff_plugin(plugins):
        with _values_file(plan.values, request.values_out) as values_file:
            command = helm.diff_upgrade_command(
                plan.helm,
                plan.chart_dir,
                request.release,
                request.namespace,
                values_file,
                kube_context=request.kube_context,
            )
            output = helm.read_from_cluster(
                command,
                failure=failure,
                kube_context=request.kube_context,
                timeout=helm.TEMPLATE_TIMEOUT_SECONDS,
            )
        return DiffResult(method="helm-diff", plugin_output=output)

    command = helm.get_manifest_command(
        plan.helm, request.release, request.namespace, request.kube_context
    )
    try:
        deployed = helm.read_from_cluster(
            command,
            failure=failure,
            kube_context=request.kube_context,
            timeout=helm.QUERY_TIMEOUT_SECONDS,
        )
    except DeployError as error:
        if error.exit_code is not ExitCode.NOT_FOUND:
            raise
        logger.info("release %s not found, so every resource is new", request.release)
        deployed = ""
    rendered = render(plan).manifests
    return DiffResult(method="helm get manifest", changes=compare_manifests(deployed, rendered))


def chart_app_version() -> str:
    """Return the chart's ``appVersion``, the image tag used when ``image.tag`` is empty."""
    return chart_metadata().get("appVersion", "")


def chart_metadata() -> dict[str, str]:
    """Return the string fields of the chart's ``Chart.yaml``, such as ``kubeVersion``."""
    chart = assets.CHART_DIR / "Chart.yaml"
    try:
        metadata = yaml.safe_load(chart.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as error:
        raise DeployError(f"cannot read {chart}: {error}") from None
    return {str(key): str(value) for key, value in metadata.items() if isinstance(value, str)}


def check_no_placeholders(values: MergedValues) -> None:
    """Raise :class:`DeployError` naming every key whose value still contains a placeholder."""
    keys = values.placeholder_keys()
    if not keys:
        return
    subject = "1 key still contains" if len(keys) == 1 else f"{len(keys)} keys still contain"
    raise DeployError(
        f"nothing deployed: {subject} {PLACEHOLDER_DESCRIPTION}: "
        f"{', '.join(keys)}. Set each with -f FILE or --set KEY=VALUE",
        exit_code=ExitCode.USAGE,
    )


def write_values_file(values: MergedValues, path: Path) -> None:
    """Write the merged values as YAML to ``path``, replacing an existing file."""
    try:
        path.write_text(values.to_yaml(), encoding="utf-8")
    except OSError as error:
        raise DeployError(
            f"failed to write the merged values to {path}: {error.strerror or error}"
        ) from None


@contextmanager
def _values_file(values: MergedValues, kept_path: Path | None) -> Iterator[Path]:
    """Yield a file containing the merged values: ``kept_path`` if given, else a temporary one."""
    if kept_path is None:
        with _merged_values_file(values) as temporary:
            yield temporary
        return
    # An absolute path keeps the printed helm command valid from any directory, and
    # resolve() drops the ".." parts that Path.absolute() keeps.
    path = kept_path.resolve()
    write_values_file(values, path)
    yield path


@contextmanager
def _merged_values_file(values: MergedValues) -> Iterator[Path]:
    """Write the merged values to a private temporary file that helm reads with ``-f``."""
    with tempfile.TemporaryDirectory(prefix="taskora-deploy-") as directory:
        path = Path(directory) / "values.yaml"
        path.write_text(values.to_yaml(), encoding="utf-8")
        yield path


def normalize_release_request(request: DeployRequest) -> None:
    """Validate the release, namespace, context and timeout of a request that names no cloud.

    Raises :class:`DeployError` for invalid input.
    """
    _check_release_fields(request)


def _check_request(request: DeployRequest) -> None:
    _check_release_fields(request)
    if request.image_tag is not None and not _IMAGE_TAG.match(request.image_tag):
        raise DeployError(
            f"invalid image tag {request.image_tag!r}: use at most 128 letters, digits, '_', '.' "
            "and '-', not starting with '.' or '-'",
            exit_code=ExitCode.USAGE,
        )
    if request.values_out is not None:
        _check_values_out(request.values_out, request.values_files)


def _check_release_fields(request: DeployRequest) -> None:
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
    if not _DURATION.match(request.timeout):
        raise DeployError(
            f"invalid timeout {request.timeout!r}: use a duration such as 10m, 90s or 1h30m",
            exit_code=ExitCode.USAGE,
        )
    if request.kube_context is not None and not request.kube_context.strip():
        raise DeployError(
            "invalid --context: the context name is empty. Pass a name from "
            "`kubectl config get-contexts`",
            exit_code=ExitCode.USAGE,
        )


def _check_values_out(values_out: Path, values_files: tuple[Path, ...]) -> None:
    if values_out.is_dir():
        raise DeployError(
            f"invalid --values-out {values_out}: it is a directory. Pass a file path",
            exit_code=ExitCode.USAGE,
        )
    if not values_out.absolute().parent.is_dir():
        raise DeployError(
            f"invalid --values-out {values_out}: directory {values_out.parent} does not exist. "
            "Create it, or pass a file in an existing directory",
            exit_code=ExitCode.USAGE,
        )
    target = values_out.resolve()
    for values_file in values_files:
        if values_file.resolve() == target:
            raise DeployError(
                f"invalid --values-out {values_out}: it is also passed with -f, and writing "
                "the merged values would overwrite it. Choose another file",
                exit_code=ExitCode.USAGE,
            )
