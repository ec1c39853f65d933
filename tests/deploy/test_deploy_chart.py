"""The chart itself with the real helm: lint, schema, Kubernetes validation, names, packaging."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from chart_render import template_text
from deploy_helpers import REPO_ROOT

import taskora
from taskora.deploy import assets
from taskora.deploy.helm import deployment_image, parse_release

KUBERNETES_VERSION = "1.34.0"
PROFILES = ["doks", "gke", "aks"]


def helm(helm_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(helm_path), *args], capture_output=True, text=True, timeout=120, check=False
    )


def render(helm_path: Path, *args: str) -> list[dict[str, Any]]:
    completed = helm(helm_path, "template", "taskora", str(assets.CHART_DIR), *args)
    assert completed.returncode == 0, completed.stderr
    return [document for document in yaml.safe_load_all(completed.stdout) if document]


@pytest.mark.parametrize("cloud", [*PROFILES, None], ids=[*PROFILES, "defaults"])
def test_chart_lints_strict(helm_path: Path, cloud: str | None) -> None:
    args = ["lint", "--strict", str(assets.CHART_DIR)]
    if cloud is not None:
        args += ["-f", str(assets.PROFILES_DIR / f"{cloud}.yaml")]

    completed = helm(helm_path, *args)

    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "1 chart(s) linted, 0 chart(s) failed" in completed.stdout


# Kinds of every install through a cloud profile; each profile adds its own below.
COMMON_KINDS = [
    "Component",
    "Component",
    "Component",
    "Component",
    "Component",
    "ConfigMap",
    "Configuration",
    "Deployment",
    "Ingress",
    "Job",
    "Job",
    "NetworkPolicy",
    "NetworkPolicy",
    "PodDisruptionBudget",
    "Resiliency",
    "Service",
    "ServiceAccount",
    "ServiceAccount",
]
PROFILE_KINDS = {"doks": [], "gke": ["BackendConfig"], "aks": ["SecretProviderClass"]}
CUSTOM_KINDS = {"Component", "Configuration", "Resiliency", "BackendConfig", "SecretProviderClass"}


@pytest.mark.parametrize("cloud", PROFILES)
def test_manifests_valid_for_kubernetes(helm_path: Path, cloud: str) -> None:
    documents = render(helm_path, "-f", str(assets.PROFILES_DIR / f"{cloud}.yaml"))

    assert sorted(document["kind"] for document in documents) == sorted(
        COMMON_KINDS + PROFILE_KINDS[cloud]
    )
    for document in documents:
        if document["kind"] in CUSTOM_KINDS:
            continue  # test_chart_validation checks custom resources against their schemas.
        # strict=True rejects fields that the Kubernetes schema does not define.
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def test_manifests_valid_with_options(helm_path: Path) -> None:
    documents = render(
        helm_path,
        "--set",
        "ingress.tls.secretName=taskora-tls",
        "--set",
        "serviceAccount.name=taskora",
        "--set",
        "imagePullSecrets={registry-credentials}",
        "--set",
        "nodeSelector.pool=general",
        "--set",
        "autoscaling.enabled=true",
    )

    for document in documents:
        if document["kind"] not in CUSTOM_KINDS:
            kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
    assert any(document["kind"] == "HorizontalPodAutoscaler" for document in documents)


def test_ingress_disabled_renders_none(helm_path: Path) -> None:
    documents = render(helm_path, "--set", "ingress.enabled=false")

    assert [document["kind"] for document in documents if document["kind"] == "Ingress"] == []


def test_pod_security_and_tmp_volume(helm_path: Path) -> None:
    deployment = next(d for d in render(helm_path) if d["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]

    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert container["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
    assert pod["volumes"] == [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}]
    assert container["command"] == ["taskora", "serve", "--host", "0.0.0.0", "--port", "8000"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}


def test_fullname_cut_to_63_characters(helm_path: Path) -> None:
    release = "a" * 53
    completed = helm(
        helm_path, "template", release, str(assets.CHART_DIR), "--set", "nameOverride=" + "b" * 20
    )

    assert completed.returncode == 0, completed.stderr
    deployment = next(
        d for d in yaml.safe_load_all(completed.stdout) if d and d["kind"] == "Deployment"
    )
    assert deployment["metadata"]["name"] == release + "-" + "b" * 9


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "unknownKey=1"], "additional properties 'unknownKey' not allowed"),
        (
            ["--set", "ingress.classname=nginx"],
            "at '/ingress': additional properties 'classname' not allowed",
        ),
        (["--set", "replicaCount=many"], "at '/replicaCount': got string, want integer"),
        (["--set", "database.sslMode=always"], "at '/database/sslMode'"),
        (["--set", "config.logLevel=LOUD"], "at '/config/logLevel'"),
    ],
)
def test_schema_rejects_values(helm_path: Path, args: list[str], message: str) -> None:
    completed = helm(helm_path, "template", "taskora", str(assets.CHART_DIR), *args)

    assert completed.returncode == 1
    assert message in completed.stderr


def test_chart_app_version_matches_package() -> None:
    chart = yaml.safe_load((assets.CHART_DIR / "Chart.yaml").read_text(encoding="utf-8"))

    assert chart["apiVersion"] == "v2"
    assert chart["name"] == "taskora"
    assert chart["appVersion"] == taskora.__version__


def test_profiles_symlink_at_repository_root() -> None:
    link = REPO_ROOT / "profiles"

    assert link.is_symlink()
    assert os.readlink(link) == "taskora/deploy/profiles"
    assert sorted(path.name for path in link.iterdir()) == ["aks.yaml", "doks.yaml", "gke.yaml"]


def test_deploy_modules_do_not_import_server() -> None:
    code = (
        "import sys, taskora.cli.deploy, taskora.deploy.plan; "
        "print(sorted(name for name in sys.modules if name.startswith('taskora.server')))"
    )

    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )

    assert completed.stdout.strip() == "[]"


def test_parse_release_text_fallback() -> None:
    output = 'Release "t" has been upgraded.\nNAME: t\nNAMESPACE: prod\nSTATUS: deployed\nREVISION: 4\nNOTES:\nHello\n'

    status = parse_release(output, "t", "prod")

    assert status.revision == 4
    assert status.status == "deployed"
    assert status.notes == "Hello"


@pytest.mark.parametrize("case", ["gke", "dev"])
def test_deployment_image_of_render(helm_path: Path, case: str) -> None:
    """status reads the service image from a real render, past the GKE proxy init container."""
    manifest = template_text(
        helm_path,
        case,
        "--set",
        "image.repository=registry.example.org/acme/taskora",
        "--set",
        "image.tag=0.2.0",
        "--set",
        "cloudSqlProxy.instanceConnectionName=acme:europe-west1:db",
    )

    assert deployment_image(manifest) == "registry.example.org/acme/taskora:0.2.0"


def test_deployment_image_none() -> None:
    assert deployment_image("") == ""
    assert deployment_image("kind: Service\nmetadata:\n  name: x\n") == ""
    assert deployment_image("kind: Deployment\nspec: [unclosed\n") == ""
