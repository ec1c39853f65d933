"""Check, before anything changes, that a deploy can succeed, and give the fix of each failure.

The checks run in order: helm, kubectl, the caller's local checks of the values, the kube
context, the cluster's API server and its Kubernetes version, and Dapr in the cluster. Then
come the cluster add-ons that the values rely on (the IngressClass, the cert-manager
ClusterIssuer, the BackendConfig and SecretProviderClass CRDs), the release namespace, the
Secrets that the values name, and the image in its registry. The cluster checks need only
kubectl. When kubectl, the context, the server or the namespace fails, the report names
the checks that depend on it as skipped, or in the failure itself, because running them
would only repeat that failure. Every check only reads: none creates anything.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from taskora.deploy import commands, helm, kubectl
from taskora.deploy.errors import DeployError
from taskora.deploy.kubectl import CREDENTIALS_COMMANDS
from taskora.errors import ExitCode

logger = logging.getLogger(__name__)

DAPR_NAMESPACE = "dapr-system"
# The Dapr resource kinds the chart renders: Component, Configuration and Resiliency.
DAPR_CRDS = ("components.dapr.io", "configurations.dapr.io", "resiliencies.dapr.io")
DAPR_INSTALL_FIX = (
    "install Dapr into the cluster with `dapr init -k --wait`, or with Helm: "
    "`helm repo add dapr https://dapr.github.io/helm-charts/ && helm upgrade --install dapr "
    "dapr/dapr --namespace dapr-system --create-namespace --wait`"
)


# GKE's own Ingress classes, which GKE reads from an annotation and which need no
# IngressClass object.
GCE_INGRESS_CLASSES = ("gce", "gce-internal")
CERT_MANAGER_INSTALL_FIX = (
    "install cert-manager (https://cert-manager.io/docs/installation/helm/), then create the "
    "ClusterIssuer"
)
BACKEND_CONFIG_CRD = "backendconfigs.cloud.google.com"
SECRET_PROVIDER_CLASS_CRD = "secretproviderclasses.secrets-store.csi.x-k8s.io"
# The IngressClass of each controller the profiles name, and how to install that controller.
INGRESS_CONTROLLER_FIXES = {
    "nginx": (
        "install ingress-nginx: `helm upgrade --install ingress-nginx ingress-nginx --repo "
        "https://kubernetes.github.io/ingress-nginx --namespace ingress-nginx --create-namespace`"
    ),
    "webapprouting.kubernetes.azure.com": (
        "enable the application routing add-on: "
        "`az aks approuting enable --resource-group GROUP --name CLUSTER`"
    ),
    "azure-alb-external": (
        "install the ALB Controller of Application Gateway for Containers "
        "(https://learn.microsoft.com/azure/application-gateway/for-containers/)"
    ),
}
# On DOKS, ingress-nginx's load balancer must keep idle event streams open for 600 seconds.
DOKS_INGRESS_NGINX_FIX = (
    "install ingress-nginx with the load balancer's idle timeout raised: `helm upgrade "
    "--install ingress-nginx ingress-nginx --repo https://kubernetes.github.io/ingress-nginx "
    "--namespace ingress-nginx --create-namespace --set-string 'controller.service."
    "annotations.service\\.beta\\.kubernetes\\.io/do-loadbalancer-http-idle-timeout-seconds=600'`"
)
# The command of each cloud's CLI that upgrades the cluster's Kubernetes version.
UPGRADE_COMMANDS = {
    "doks": "doctl kubernetes cluster upgrade CLUSTER --version VERSION",
    "gke": "gcloud container clusters upgrade CLUSTER --master --cluster-version VERSION",
    "aks": "az aks upgrade --resource-group GROUP --name CLUSTER --kubernetes-version VERSION",
}
# The lowest version in a Chart.yaml kubeVersion constraint such as ">=1.29.0-0".
_MINIMUM_VERSION = re.compile(r">=\s*v?(\d+)\.(\d+)")

# A values key that names an existing Secret: database.existingSecret, kafka.caSecret.
_SECRET_NAME_KEY = re.compile(r"^(existingSecret|[a-z][A-Za-z0-9]*Secret)$")
# Values sections named after a backend that a `type` value chooses, such as
# dapr.pubsub.type: kafka. An unchosen section's Secrets are not used.
BACKEND_SECTIONS = ("redis", "kafka", "postgresql")
# A sibling key that names a key inside that Secret, such as database.passwordKey.
_SECRET_KEY_KEY = re.compile(r"^[A-Za-z0-9]+Key$")


class CheckStatus(StrEnum):
    """Outcome of one check."""

    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class CheckResult:
    """One check: what it looked at, what it found, and for a failure the fix."""

    name: str
    status: CheckStatus
    detail: str
    fix: str = ""

    def as_dict(self) -> dict[str, str]:
        """Return the result as JSON-ready data."""
        return {
            "name": self.name,
            "status": self.status.value,
            "detail": self.detail,
            "fix": self.fix,
        }


@dataclass
class PreflightReport:
    """Every check's result and the context that the deploy must use."""

    checks: list[CheckResult] = field(default_factory=list)
    # The context every check used: --context, or the kubeconfig's current one.
    context: str | None = None
    # Set when the API server did not respond, so the CLI exits with UNREACHABLE.
    unreachable: bool = False
    # Set when the values themselves are wrong (a placeholder left, rejected by the
    # schema), so the CLI exits with USAGE.
    invalid_values: bool = False
    # Set when --context names a context that the kubeconfig lacks, so the CLI exits with
    # USAGE too.
    invalid_context: bool = False
    # Major version of helm, once the helm check has read it: 3 or 4.
    helm_major: int | None = None

    @property
    def failures(self) -> list[CheckResult]:
        """Return the failed checks, in the order they ran."""
        return [check for check in self.checks if check.status is CheckStatus.FAILED]

    def add(self, name: str, status: CheckStatus, detail: str, fix: str = "") -> CheckResult:
        """Record one result, log it, and return it."""
        result = CheckResult(name=name, status=status, detail=detail, fix=fix)
        self.checks.append(result)
        logger.info("preflight %s %s: %s", name, status.value, detail)
        return result


class PreflightError(DeployError):
    """One or more preflight checks failed; nothing was deployed."""

    def __init__(self, report: PreflightReport) -> None:
        failures = report.failures
        count = len(failures)
        lines = [
            f"nothing deployed: {count} preflight {'check' if count == 1 else 'checks'} failed"
        ]
        for check in failures:
            detail = _end_sentence(check.detail)
            if "\n" in detail:
                # A tool's message of several lines gets its fix on a line of its own.
                lines.append(f"- {check.name}: {indent_continuation(detail)}\n  Fix: {check.fix}")
            else:
                lines.append(f"- {check.name}: {detail} Fix: {check.fix}")
        if report.unreachable:
            exit_code = ExitCode.UNREACHABLE
        elif report.invalid_values or report.invalid_context:
            exit_code = ExitCode.USAGE
        else:
            exit_code = ExitCode.ERROR
        super().__init__("\n".join(lines), exit_code=exit_code)
        self.report = report


def indent_continuation(text: str, indent: str = "  ") -> str:
    """Indent every line of ``text`` after the first, so it reads as part of one list item."""
    return text.replace("\n", "\n" + indent)


def _end_sentence(text: str) -> str:
    """End ``text`` with a period unless a tool's message already ends it (``port?``)."""
    text = text.rstrip()
    return text if text.endswith((".", "?", "!")) else f"{text}."


# Secret keys that hold a PEM file, such as Kafka's CA certificate, rather than a password.
CERTIFICATE_SUFFIXES = (".crt", ".pem")


@dataclass(frozen=True)
class SecretReference:
    """A Secret that the values name, the keys it must contain, and the key that names it."""

    name: str
    keys: tuple[str, ...]
    value_key: str
    # The values section whose driver creates the Secret when the pods start, or "".
    provided_by: str = ""
    # For each key that a value names, that value's key: "password" -> "database.passwordKey".
    key_sources: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PreflightInput:
    """Input of the preflight checks: helm, the merged values, the namespace, cloud and context."""

    helm: Path
    values: Mapping[str, Any]
    namespace: str
    cloud: str
    kube_context: str | None = None
    # Why helm could not be found, when it could not. The helm check then fails with it.
    helm_error: str = ""
    app_version: str = ""
    # The chart's kubeVersion constraint, such as ">=1.29.0-0". Empty skips the comparison.
    kube_version: str = ""


# Returns True when the registry has the image, False when it does not, and None with a
# reason when it cannot tell (no docker CLI, no credentials, registry unreachable).
ImageLookup = Callable[[str], tuple[bool | None, str]]
# Checks of the values that run on this machine, after the helm and kubectl checks: they
# receive the report and whether helm passed its check, and add their own results.
LocalChecks = Callable[["PreflightReport", bool], None]


def run_preflight(
    preflight: PreflightInput,
    *,
    image_lookup: ImageLookup | None = None,
    local_checks: LocalChecks | None = None,
) -> PreflightReport:
    """Run every check and return the report. Raises :class:`PreflightError` if one failed.

    ``image_lookup`` None skips the registry check. ``local_checks`` run right after the
    helm and kubectl checks, so that the report lists helm before a render that uses it.
    """
    report = PreflightReport()
    helm_ok, kubectl_path = _check_tools(preflight, report)
    if local_checks is not None:
        local_checks(report, helm_ok)
    failed = _check_cluster(kubectl_path, preflight, report)
    if failed is not None:
        report.add(
            "cluster resources",
            CheckStatus.SKIPPED,
            f"{_UNCHECKED_AFTER[failed]} are checked once the {failed} check passes",
        )

    _check_image(preflight, image_lookup, report)
    if report.failures:
        raise PreflightError(report)
    return report


# The cluster checks left undone when one fails, keyed by the check that failed.
_UNCHECKED_AFTER = {
    "kubectl": "the context, the API server, Dapr, the ingress add-ons, the namespace and the "
    "Secrets",
    "context": "the API server, Dapr, the ingress add-ons, the namespace and the Secrets",
    "cluster": "Dapr, the ingress add-ons, the namespace and the Secrets",
}


def _check_cluster(
    kubectl_path: Path | None, preflight: PreflightInput, report: PreflightReport
) -> str | None:
    """Run the checks that read the cluster, which need only kubectl, each after the one it needs.

    Returns the name of the check that failed and stopped the rest (``kubectl``,
    ``context`` or ``cluster``), or None when they all ran.
    """
    if kubectl_path is None:
        return "kubectl"
    context = _check_context(kubectl_path, preflight, report)
    if context is None:
        return "context"
    if not _check_server(kubectl_path, context, preflight, report):
        return "cluster"
    report.context = context
    _check_dapr(kubectl_path, context, report)
    _check_addons(kubectl_path, context, preflight, report)
    secrets = secret_references(preflight.values)
    required = [secret for secret in secrets if not secret.provided_by]
    if _check_namespace(kubectl_path, context, preflight.namespace, required, report):
        for secret in secrets:
            _check_secret(kubectl_path, context, preflight.namespace, secret, report)
    return None


def secret_references(values: Mapping[str, Any]) -> list[SecretReference]:
    """Find every existing Secret that the values name and the deploy would use.

    The rules read the values, not a fixed list of keys, so new values sections follow:

    - A key named ``existingSecret`` or ending in ``Secret`` (``caSecret``) names a Secret.
      Sibling keys ending in ``Key`` name the keys it must contain: ``caKey`` belongs to
      ``caSecret``, and the other ``*Key`` siblings to ``existingSecret``.
    - A mapping with ``enabled: false`` is skipped, and so is one with ``authType: none``.
    - A section named after a backend (``redis``, ``kafka``, ``postgresql``) is skipped
      unless some ``type`` value in the enabled values chooses that backend.
    - ``imagePullSecrets`` entries name registry Secrets.
    - A Secret listed as ``secretName`` under the ``secrets`` of an enabled section, such as
      ``azureKeyVault``, is created by that section's driver when the pods start, so it is
      reported and not required.
    """
    chosen = set(_chosen_backends(values))
    provided = dict(_provided_secrets(values, ()))
    found: dict[str, SecretReference] = {}
    for reference in _walk_secret_references(values, (), chosen):
        reference = dataclasses.replace(reference, provided_by=provided.get(reference.name, ""))
        known = found.get(reference.name)
        if known is None:
            found[reference.name] = reference
        else:
            keys = tuple(dict.fromkeys((*known.keys, *reference.keys)))
            sources = {**reference.key_sources, **known.key_sources}
            found[reference.name] = dataclasses.replace(known, keys=keys, key_sources=sources)

    # Dapr reads the app API token from the fixed key "token" of this Secret.
    dapr = _mapping(values.get("dapr"))
    token_secret = dapr.get("appTokenSecret")
    if dapr.get("enabled") is not False and isinstance(token_secret, str) and token_secret:
        known = found.get(token_secret) or SecretReference(token_secret, (), "dapr.appTokenSecret")
        keys = tuple(dict.fromkeys((*known.keys, "token")))
        found[token_secret] = dataclasses.replace(known, keys=keys)

    for index, entry in enumerate(values.get("imagePullSecrets") or []):
        name = entry.get("name") if isinstance(entry, Mapping) else entry
        if isinstance(name, str) and name and name not in found:
            found[name] = SecretReference(
                name, (".dockerconfigjson",), f"imagePullSecrets[{index}]"
            )
    return list(found.values())


def image_reference(values: Mapping[str, Any], app_version: str) -> str | None:
    """Return the image the chart deploys: ``repository@digest`` or ``repository:tag``."""
    image = values.get("image")
    if not isinstance(image, Mapping) or not image.get("repository"):
        return None
    repository = str(image["repository"])
    if image.get("digest"):
        return f"{repository}@{image['digest']}"
    return f"{repository}:{image.get('tag') or app_version}"


def _chosen_backends(node: Mapping[str, Any]) -> Iterator[str]:
    if node.get("enabled") is False:
        return
    for key, value in node.items():
        if isinstance(value, Mapping):
            yield from _chosen_backends(value)
        elif key == "type" and isinstance(value, str):
            yield value


def _provided_secrets(node: Mapping[str, Any], path: tuple[str, ...]) -> Iterator[tuple[str, str]]:
    if node.get("enabled") is False:
        return
    for key, value in node.items():
        if isinstance(value, Mapping):
            yield from _provided_secrets(value, (*path, key))
        elif key == "secrets" and isinstance(value, list):
            for entry in value:
                if isinstance(entry, Mapping) and isinstance(entry.get("secretName"), str):
                    yield entry["secretName"], ".".join(path) or "the values"


def _walk_secret_references(
    node: Mapping[str, Any], path: tuple[str, ...], chosen: set[str]
) -> Iterator[SecretReference]:
    if node.get("enabled") is False:
        return
    names = {
        key: value
        for key, value in node.items()
        if _SECRET_NAME_KEY.match(key) and isinstance(value, str) and value
    }
    if node.get("authType") == "none":
        names = {}
    key_keys = [
        key
        for key, value in node.items()
        if _SECRET_KEY_KEY.match(key) and isinstance(value, str) and value
    ]
    for name_key, secret in names.items():
        prefix = name_key.removesuffix("Secret")
        if name_key == "existingSecret" or name_key.endswith("ExistingSecret"):
            claimed = {f"{other.removesuffix('Secret')}Key" for other in names if other != name_key}
            keys = [key for key in key_keys if key not in claimed]
        else:
            keys = [key for key in key_keys if key == f"{prefix}Key"]
        yield SecretReference(
            secret,
            tuple(str(node[key]) for key in keys),
            ".".join((*path, name_key)),
            key_sources={str(node[key]): ".".join((*path, key)) for key in keys},
        )

    for key, value in node.items():
        if not isinstance(value, Mapping):
            continue
        if key in BACKEND_SECTIONS and key not in chosen:
            continue
        yield from _walk_secret_references(value, (*path, key), chosen)


def _check_tools(preflight: PreflightInput, report: PreflightReport) -> tuple[bool, Path | None]:
    """Check the versions of helm and kubectl.

    Returns whether helm passed, and kubectl, or None when kubectl is unusable.
    """
    if preflight.helm_error:
        # The fix already explains how to install helm, so the detail leaves that part out.
        detail = preflight.helm_error.removesuffix(f": {helm.INSTALL_HINT}")
        report.add("helm", CheckStatus.FAILED, detail, helm.INSTALL_HINT)
        helm_ok = False
    else:
        helm_ok = _check_helm(preflight.helm, report)
    try:
        kubectl_path = kubectl.find_kubectl()
        version = kubectl.parse_client_version(
            kubectl.run_kubectl(kubectl.client_version_command(kubectl_path))
        )
    except DeployError as error:
        # The fix explains how to install kubectl, so the detail leaves that part out.
        detail = error.message.removesuffix(f": {commands.KUBECTL.install_hint}")
        report.add("kubectl", CheckStatus.FAILED, detail, commands.KUBECTL.install_hint)
        return helm_ok, None
    report.add("kubectl", CheckStatus.PASSED, f"kubectl {version} at {kubectl_path}")
    return helm_ok, kubectl_path


def _check_helm(helm_path: Path, report: PreflightReport) -> bool:
    try:
        output = helm.run_helm(helm.version_command(helm_path), timeout=helm.QUERY_TIMEOUT_SECONDS)
        major, minor, patch = helm.parse_version(output)
    except DeployError as error:
        report.add("helm", CheckStatus.FAILED, error.message, helm.INSTALL_HINT)
        return False
    version = f"{major}.{minor}.{patch}"
    report.helm_major = major
    if major not in helm.SUPPORTED_MAJORS:
        report.add(
            "helm",
            CheckStatus.FAILED,
            f"helm {version} at {helm_path} is not Helm 3 or 4",
            helm.INSTALL_HINT,
        )
        return False
    report.add("helm", CheckStatus.PASSED, f"helm {version} at {helm_path}")
    return True


def _check_context(
    kubectl_path: Path, preflight: PreflightInput, report: PreflightReport
) -> str | None:
    credentials = CREDENTIALS_COMMANDS.get(preflight.cloud, "your cloud's get-credentials command")
    if preflight.kube_context:
        try:
            kubectl.run_kubectl(kubectl.get_context_command(kubectl_path, preflight.kube_context))
        except DeployError as error:
            if error.exit_code is ExitCode.USAGE:
                report.invalid_context = True
                detail = f"context {preflight.kube_context!r} not found in the kubeconfig"
            else:
                detail = (
                    f"cannot read context {preflight.kube_context!r} from the kubeconfig: "
                    f"{error.message}"
                )
            report.add(
                "context",
                CheckStatus.FAILED,
                detail,
                f"list the contexts with `kubectl config get-contexts`, or add the cluster's "
                f"with `{credentials}`",
            )
            return None
        report.add("context", CheckStatus.PASSED, f"context {preflight.kube_context} (--context)")
        return preflight.kube_context

    try:
        context = kubectl.run_kubectl(kubectl.current_context_command(kubectl_path)).strip()
    except DeployError as error:
        context = ""
        logger.info("no current kube context: %s", error.message)
    if not context:
        report.add(
            "context",
            CheckStatus.FAILED,
            "the kubeconfig has no current context and --context is not given",
            f"pass --context NAME, or run `{credentials}`, which also selects the context",
        )
        return None
    report.add("context", CheckStatus.PASSED, f"context {context} (the current context)")
    return context


def _check_server(
    kubectl_path: Path, context: str, preflight: PreflightInput, report: PreflightReport
) -> bool:
    try:
        version = kubectl.parse_server_version(
            kubectl.run_kubectl(kubectl.server_version_command(kubectl_path, context))
        )
    except DeployError as error:
        report.unreachable = error.exit_code is ExitCode.UNREACHABLE
        credentials = CREDENTIALS_COMMANDS.get(preflight.cloud, "the get-credentials command")
        report.add(
            "cluster",
            CheckStatus.FAILED,
            f"the API server of context {context} did not respond: {error.message}",
            "check that the cluster is running and your network reaches it (VPN, authorized "
            f"networks), and refresh expired credentials with `{credentials}`",
        )
        return False
    report.add(
        "cluster", CheckStatus.PASSED, f"the API server answered: Kubernetes {version.git_version}"
    )
    _check_kubernetes_version(version, preflight, report)
    return True


def minimum_kubernetes_version(constraint: str) -> tuple[int, int] | None:
    """Return ``(major, minor)`` of the ``>=`` bound of a kubeVersion constraint, or None."""
    match = _MINIMUM_VERSION.search(constraint)
    if match is None:
        return None
    return int(match.group(1)), int(match.group(2))


def _check_kubernetes_version(
    version: kubectl.ServerVersion, preflight: PreflightInput, report: PreflightReport
) -> None:
    minimum = minimum_kubernetes_version(preflight.kube_version)
    if minimum is None:
        return
    shown = f"{minimum[0]}.{minimum[1]}"
    if (version.major, version.minor) >= minimum:
        report.add(
            "kubernetes version",
            CheckStatus.PASSED,
            f"{version.git_version} meets the chart's minimum {shown}",
        )
        return
    upgrade = UPGRADE_COMMANDS.get(preflight.cloud, "your cloud's cluster upgrade command")
    report.add(
        "kubernetes version",
        CheckStatus.FAILED,
        f"the cluster runs Kubernetes {version.git_version}, older than {shown}, the chart's "
        "minimum (the Cloud SQL Auth Proxy runs as a native sidecar, on by default from 1.29)",
        f"upgrade the cluster's control plane and nodes to {shown} or later with `{upgrade}`",
    )


def _check_addons(
    kubectl_path: Path, context: str, preflight: PreflightInput, report: PreflightReport
) -> None:
    """Check the cluster add-ons that the values rely on, each only when the values use it."""
    values = preflight.values
    ingress = _mapping(values.get("ingress"))
    if ingress.get("enabled"):
        class_name = str(ingress.get("className") or "")
        if class_name and class_name not in GCE_INGRESS_CLASSES:
            _check_ingress_class(kubectl_path, context, class_name, preflight.cloud, report)
        tls = _mapping(ingress.get("tls"))
        issuer = str(tls.get("clusterIssuer") or "")
        if tls.get("secretName") and issuer:
            _check_cluster_issuer(kubectl_path, context, issuer, report)
    if _mapping(values.get("gkeBackendConfig")).get("enabled"):
        _check_crd(
            kubectl_path,
            context,
            BACKEND_CONFIG_CRD,
            "gkeBackendConfig.enabled",
            "use GKE, whose Ingress controller (the HttpLoadBalancing add-on) installs it, or set "
            "gkeBackendConfig.enabled=false",
            report,
        )
    if _mapping(values.get("azureKeyVault")).get("enabled"):
        _check_crd(
            kubectl_path,
            context,
            SECRET_PROVIDER_CLASS_CRD,
            "azureKeyVault.enabled",
            "enable the Key Vault provider of the Secrets Store CSI driver: `az aks "
            "enable-addons --addons azure-keyvault-secrets-provider --resource-group GROUP "
            "--name CLUSTER`, or set azureKeyVault.enabled=false",
            report,
        )


def _check_ingress_class(
    kubectl_path: Path, context: str, class_name: str, cloud: str, report: PreflightReport
) -> None:
    try:
        found = kubectl.parse_names(
            kubectl.run_kubectl(
                kubectl.get_names_command(kubectl_path, context, "ingressclasses", [class_name])
            )
        )
    except DeployError as error:
        report.add(
            "ingress class",
            CheckStatus.FAILED,
            f"cannot read IngressClass {class_name}: {error.message}",
            "use a context allowed to read ingressclasses",
        )
        return
    if class_name in found:
        report.add("ingress class", CheckStatus.PASSED, f"IngressClass {class_name} exists")
        return
    install = INGRESS_CONTROLLER_FIXES.get(
        class_name, "install the ingress controller that serves it"
    )
    if cloud == "doks" and class_name == "nginx":
        install = DOKS_INGRESS_NGINX_FIX
    report.add(
        "ingress class",
        CheckStatus.FAILED,
        f"IngressClass {class_name} (ingress.className) does not exist, so no controller would "
        "serve the Ingress",
        f"{install}, or set ingress.className to a class listed by `kubectl get ingressclasses`",
    )


def _check_cluster_issuer(
    kubectl_path: Path, context: str, issuer: str, report: PreflightReport
) -> None:
    try:
        found = kubectl.parse_names(
            kubectl.run_kubectl(
                kubectl.get_names_command(
                    kubectl_path, context, "clusterissuers.cert-manager.io", [issuer]
                )
            )
        )
    except DeployError as error:
        if "the server doesn't have a resource type" in error.message:
            report.add(
                "cluster issuer",
                CheckStatus.FAILED,
                f"cert-manager is not installed, so ClusterIssuer {issuer} "
                "(ingress.tls.clusterIssuer) cannot exist",
                CERT_MANAGER_INSTALL_FIX,
            )
        else:
            report.add(
                "cluster issuer",
                CheckStatus.FAILED,
                f"cannot read ClusterIssuer {issuer}: {error.message}",
                "use a context allowed to read clusterissuers.cert-manager.io",
            )
        return
    if issuer in found:
        report.add("cluster issuer", CheckStatus.PASSED, f"ClusterIssuer {issuer} exists")
        return
    report.add(
        "cluster issuer",
        CheckStatus.FAILED,
        f"ClusterIssuer {issuer} (ingress.tls.clusterIssuer) does not exist, so no certificate "
        "would be issued",
        "create it (docs/deploy.md has a Let's Encrypt example), set ingress.tls.clusterIssuer "
        'to one listed by `kubectl get clusterissuers`, or set it to "" and create the TLS '
        "Secret yourself",
    )


def _check_crd(
    kubectl_path: Path,
    context: str,
    crd: str,
    value_key: str,
    fix: str,
    report: PreflightReport,
) -> None:
    name = f"crd {crd}"
    try:
        found = kubectl.parse_names(
            kubectl.run_kubectl(
                kubectl.get_names_command(kubectl_path, context, "customresourcedefinitions", [crd])
            )
        )
    except DeployError as error:
        report.add(
            name,
            CheckStatus.FAILED,
            f"cannot read CRD {crd}: {error.message}",
            "use a context allowed to read customresourcedefinitions",
        )
        return
    if crd in found:
        report.add(name, CheckStatus.PASSED, f"CRD {crd} exists")
        return
    report.add(
        name,
        CheckStatus.FAILED,
        f"CRD {crd} is missing, and {value_key} renders a resource of that kind",
        fix,
    )


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _check_dapr(kubectl_path: Path, context: str, report: PreflightReport) -> None:
    try:
        namespaces = kubectl.parse_names(
            kubectl.run_kubectl(
                kubectl.get_names_command(kubectl_path, context, "namespace", [DAPR_NAMESPACE])
            )
        )
        crds = kubectl.parse_names(
            kubectl.run_kubectl(
                kubectl.get_names_command(
                    kubectl_path, context, "customresourcedefinitions", DAPR_CRDS
                )
            )
        )
    except DeployError as error:
        report.add(
            "dapr",
            CheckStatus.FAILED,
            f"cannot read Dapr's namespace and CRDs: {error.message}",
            "use a context allowed to read namespaces and customresourcedefinitions",
        )
        return

    missing = [crd for crd in DAPR_CRDS if crd not in crds]
    if DAPR_NAMESPACE not in namespaces:
        report.add(
            "dapr",
            CheckStatus.FAILED,
            f"namespace {DAPR_NAMESPACE} does not exist",
            DAPR_INSTALL_FIX,
        )
    elif missing:
        report.add(
            "dapr",
            CheckStatus.FAILED,
            f"the Dapr CRD {missing[0]} is missing"
            if len(missing) == 1
            else f"the Dapr CRDs {', '.join(missing)} are missing",
            DAPR_INSTALL_FIX,
        )
    else:
        report.add(
            "dapr",
            CheckStatus.PASSED,
            f"namespace {DAPR_NAMESPACE} and CRDs {', '.join(DAPR_CRDS)} exist",
        )


def _check_namespace(
    kubectl_path: Path,
    context: str,
    namespace: str,
    secrets: Sequence[SecretReference],
    report: PreflightReport,
) -> bool:
    """Check the release namespace and return whether it exists."""
    try:
        found = kubectl.parse_names(
            kubectl.run_kubectl(
                kubectl.get_names_command(kubectl_path, context, "namespace", [namespace])
            )
        )
    except DeployError as error:
        report.add(
            "namespace",
            CheckStatus.FAILED,
            f"cannot read namespace {namespace}: {error.message}",
            "use a context allowed to read namespaces",
        )
        if secrets:
            names = ", ".join(secret.name for secret in secrets)
            subject = f"Secret {names} is" if len(secrets) == 1 else f"Secrets {names} are"
            report.add(
                "secrets",
                CheckStatus.SKIPPED,
                f"{subject} checked once the namespace check passes",
            )
        return False

    if namespace in found:
        report.add("namespace", CheckStatus.PASSED, f"namespace {namespace} exists")
        return True
    if not secrets:
        report.add(
            "namespace",
            CheckStatus.PASSED,
            f"namespace {namespace} does not exist yet; helm creates it",
        )
        return False
    names = ", ".join(secret.name for secret in secrets)
    report.add(
        "namespace",
        CheckStatus.FAILED,
        f"namespace {namespace} does not exist, so the Secrets the values name ({names}) "
        "cannot exist either",
        f"run `kubectl create namespace {namespace}`, then create the Secrets in it",
    )
    return False


def _check_secret(
    kubectl_path: Path,
    context: str,
    namespace: str,
    secret: SecretReference,
    report: PreflightReport,
) -> None:
    name = f"secret {secret.name}"
    if secret.provided_by:
        report.add(
            name,
            CheckStatus.SKIPPED,
            f"Secret {secret.name} is created from {secret.provided_by} when the pods start",
        )
        return
    try:
        keys = kubectl.parse_secret_keys(
            kubectl.run_kubectl(
                kubectl.secret_keys_command(kubectl_path, context, namespace, secret.name)
            )
        )
    except DeployError as error:
        report.add(
            name,
            CheckStatus.FAILED,
            f"cannot read Secret {secret.name} in namespace {namespace}: {error.message}",
            "use a context allowed to get Secrets in that namespace",
        )
        return

    if keys is None:
        report.add(
            name,
            CheckStatus.FAILED,
            f"Secret {secret.name} (named by {secret.value_key}) does not exist in namespace "
            f"{namespace}",
            _create_secret_fix(secret, namespace),
        )
        return
    missing = [key for key in secret.keys if key not in keys]
    if missing:
        present = f"its keys are {', '.join(sorted(keys))}" if keys else "it has no keys"
        report.add(
            name,
            CheckStatus.FAILED,
            f"Secret {secret.name} in namespace {namespace} has no key {', '.join(missing)} "
            f"({present})",
            _add_secret_keys_fix(secret, missing, namespace),
        )
        return
    listed = f" with key {', '.join(secret.keys)}" if secret.keys else ""
    report.add(name, CheckStatus.PASSED, f"Secret {secret.name} exists{listed}")


def _add_secret_keys_fix(secret: SecretReference, missing: list[str], namespace: str) -> str:
    if any(key.endswith(CERTIFICATE_SUFFIXES) for key in missing):
        # A PEM file does not fit a JSON string typed in a shell, so the Secret is written
        # again from files. That replaces the Secret, so the command gives every key it needs.
        sources = " ".join(_secret_key_source(key) for key in secret.keys)
        fix = (
            f"write it again with its keys: `kubectl --namespace {namespace} create secret "
            f"generic {secret.name} {sources} --dry-run=client -o yaml | kubectl apply -f -`"
        )
    else:
        string_data = ",".join(f'"{key}":"VALUE"' for key in missing)
        fix = (
            f"add {'it' if len(missing) == 1 else 'them'} with `kubectl --namespace {namespace} "
            f"patch secret {secret.name} --type merge -p '{{\"stringData\":{{{string_data}}}}}'`"
        )
    sources = [secret.key_sources[key] for key in missing if key in secret.key_sources]
    if sources:
        fix += f", or set {' and '.join(sources)} to a key the Secret has"
    return fix


def _create_secret_fix(secret: SecretReference, namespace: str) -> str:
    if secret.keys == (".dockerconfigjson",):
        return (
            f"run `kubectl --namespace {namespace} create secret docker-registry {secret.name} "
            "--docker-server=REGISTRY --docker-username=USER --docker-password=PASSWORD`"
        )
    literals = (
        " ".join(_secret_key_source(key) for key in secret.keys) or "--from-literal=KEY=VALUE"
    )
    return (
        f"run `kubectl --namespace {namespace} create secret generic {secret.name} {literals}`, "
        f"or set {secret.value_key} to the name of an existing Secret"
    )


def _secret_key_source(key: str) -> str:
    """Return the kubectl option that fills ``key``: a file for a certificate, else a literal."""
    if key.endswith(CERTIFICATE_SUFFIXES):
        return f"--from-file={key}=PATH"
    return f"--from-literal={key}=VALUE"


def _check_image(
    preflight: PreflightInput, image_lookup: ImageLookup | None, report: PreflightReport
) -> None:
    reference = image_reference(preflight.values, preflight.app_version)
    if reference is None:
        report.add("image", CheckStatus.SKIPPED, "the values set no image.repository")
        return
    if image_lookup is None:
        report.add(
            "image",
            CheckStatus.SKIPPED,
            f"{reference}: --skip-image-check turned the registry check off",
        )
        return

    found, reason = image_lookup(reference)
    if found is None:
        report.add(
            "image", CheckStatus.SKIPPED, f"{reference}: cannot check the registry ({reason})"
        )
    elif found:
        report.add("image", CheckStatus.PASSED, f"{reference} is in the registry")
    else:
        report.add(
            "image",
            CheckStatus.FAILED,
            f"{reference} is not in the registry ({reason})",
            "build and push it with `taskora images build --push`, or pass the tag that "
            "exists with --image-tag",
        )
