"""The chart checked by real tools for every cloud profile and a development install.

helm lint --strict and helm template with Helm 3 and Helm 4, kubernetes-validate --strict
for each Kubernetes minor version the clouds offer, checkov's Kubernetes checks, schemas
of the custom resources, the values schema, and a search for secret values.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
from chart_render import (
    INSTALL_CASES,
    KUBERNETES_VERSIONS,
    NAMESPACE,
    helm,
    only,
    render,
    template_error,
    template_text,
)
from dapr_schemas import SCHEMAS, CustomResourceError, validate_custom_resource
from deploy_helpers import REPO_ROOT

from taskora.deploy import assets

CASES = list(INSTALL_CASES)
CUSTOM_KINDS = {kind for _, kind in SCHEMAS}

# checkov checks skipped for every render, with the reason that docs/deploy.md repeats.
CHECKOV_SKIPS = {
    "CKV_K8S_43": "images are pinned by tag; set image.digest to pin the service by digest",
    "CKV_K8S_15": "IfNotPresent with pinned tags; Always would make every pod start "
    "depend on the registry",
    "CKV_K8S_35": "the service and PostgreSQL read passwords from environment variables, "
    "filled from Secrets by secretKeyRef",
}


@pytest.fixture(scope="module")
def manifests(helm_path: Path) -> dict[str, list[dict[str, Any]]]:
    return {case: render(helm_path, case) for case in CASES}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("major", [3, 4])
@pytest.mark.timeout(900)
def test_lint_strict(request: pytest.FixtureRequest, case: str, major: int) -> None:
    helm_path = request.getfixturevalue("helm_path" if major == 3 else "helm4_path")

    completed = helm(
        helm_path, "lint", "--strict", str(assets.CHART_DIR), "-f", str(INSTALL_CASES[case])
    )

    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "1 chart(s) linted, 0 chart(s) failed" in completed.stdout


@pytest.mark.parametrize("case", CASES)
@pytest.mark.timeout(900)
def test_helm4_renders_like_helm3(helm_path: Path, helm4_path: Path, case: str) -> None:
    helm3_documents = render(helm_path, case)

    helm4_documents = render(helm4_path, case)

    assert helm4_documents == helm3_documents


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("case", CASES)
def test_kubernetes_validate_strict(
    manifests: dict[str, list[dict[str, Any]]], case: str, version: str
) -> None:
    built_in = [doc for doc in manifests[case] if doc["kind"] not in CUSTOM_KINDS]

    for document in built_in:
        # strict=True rejects fields that the Kubernetes schema does not define.
        kubernetes_validate.validate(document, version, strict=True)

    assert len(built_in) >= 10


def test_kubernetes_validate_rejects_unknown_field(
    manifests: dict[str, list[dict[str, Any]]],
) -> None:
    deployment = copy.deepcopy(only(manifests["doks"], "Deployment"))
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessprobe"] = {}

    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, "1.35.0", strict=True)


def test_kubernetes_validate_ships_versions() -> None:
    schema_dir = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"

    for version in KUBERNETES_VERSIONS:
        assert (schema_dir / f"v{version}-local-strict").is_dir(), version


@pytest.mark.parametrize("case", CASES)
def test_custom_resources_match_schemas(
    manifests: dict[str, list[dict[str, Any]]], case: str
) -> None:
    custom = [doc for doc in manifests[case] if doc["kind"] in CUSTOM_KINDS]

    for document in custom:
        validate_custom_resource(document, "taskora")

    kinds = sorted(doc["kind"] for doc in custom)
    expected = ["Component"] * 5 + ["Configuration", "Resiliency"]
    if case == "gke":
        expected.append("BackendConfig")
    if case == "aks":
        expected.append("SecretProviderClass")
    assert kinds == sorted(expected)


def _component(manifests: dict[str, list[dict[str, Any]]], name: str) -> dict[str, Any]:
    return copy.deepcopy(only(manifests["doks"], "Component", name))


def _break_scopes(doc: dict[str, Any]) -> None:
    doc["scopes"] = ["another-app"]


def _drop_scopes(doc: dict[str, Any]) -> None:
    del doc["scopes"]


def _inline_password(doc: dict[str, Any]) -> None:
    doc["spec"]["metadata"] = [
        item if item["name"] != "redisPassword" else {"name": "redisPassword", "value": "x"}
        for item in doc["spec"]["metadata"]
    ]


def _value_and_reference(doc: dict[str, Any]) -> None:
    doc["spec"]["metadata"][0]["secretKeyRef"] = {"name": "s", "key": "k"}


def _shared_consumer(doc: dict[str, Any]) -> None:
    for item in doc["spec"]["metadata"]:
        if item["name"] == "consumerID":
            item["value"] = "taskora"


def _drop_auth(doc: dict[str, Any]) -> None:
    del doc["auth"]


def _wrong_api_version(doc: dict[str, Any]) -> None:
    doc["apiVersion"] = "dapr.io/v1"


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (_break_scopes, "has scopes ['another-app'], expected ['taskora']"),
        (_drop_scopes, "'scopes' is a required property"),
        (_inline_password, "sets redisPassword as a value; it must be a secretKeyRef"),
        (_value_and_reference, "at '/spec/metadata/0'"),
        (_shared_consumer, "has consumerID 'taskora', expected '{podName}'"),
        (_drop_auth, "uses a secretKeyRef without auth.secretStore"),
        (_wrong_api_version, "no schema for dapr.io/v1 Component"),
    ],
    ids=[
        "other-scope",
        "no-scopes",
        "inline-password",
        "value-and-ref",
        "shared-consumer",
        "no-auth",
        "api-version",
    ],
)
def test_component_schema_rejects(
    manifests: dict[str, list[dict[str, Any]]], mutate: Any, message: str
) -> None:
    document = _component(manifests, "taskora-pubsub")
    names = [item["name"] for item in document["spec"]["metadata"]]
    assert "redisPassword" in names
    mutate(document)

    with pytest.raises(CustomResourceError) as error:
        validate_custom_resource(document, "taskora")

    assert message in str(error.value)


def test_cron_binding_schema_rejects_output(manifests: dict[str, list[dict[str, Any]]]) -> None:
    document = _component(manifests, "recurrence-cron")
    document["spec"]["metadata"][1]["value"] = "output"

    with pytest.raises(CustomResourceError) as error:
        validate_custom_resource(document, "taskora")

    assert "needs a schedule and direction 'input'" in str(error.value)


def test_resiliency_schema_rejects_undefined_policy(
    manifests: dict[str, list[dict[str, Any]]],
) -> None:
    document = copy.deepcopy(only(manifests["doks"], "Resiliency"))
    document["spec"]["targets"]["components"]["taskora-pubsub"]["outbound"]["retry"] = "missing"

    with pytest.raises(CustomResourceError) as error:
        validate_custom_resource(document, "taskora")

    assert "taskora-pubsub.outbound.retry names undefined policy 'missing'" in str(error.value)


def test_configuration_schema_rejects_sampling_rate(
    manifests: dict[str, list[dict[str, Any]]],
) -> None:
    document = copy.deepcopy(only(manifests["doks"], "Configuration"))
    document["spec"]["tracing"]["samplingRate"] = "2"

    with pytest.raises(CustomResourceError) as error:
        validate_custom_resource(document, "taskora")

    assert "at '/spec/tracing/samplingRate'" in str(error.value)


@pytest.mark.timeout(1800)
def test_checkov_finds_no_failures(helm_path: Path, checkov_path: Path, tmp_path: Path) -> None:
    for case in CASES:
        (tmp_path / f"{case}.yaml").write_text(template_text(helm_path, case), encoding="utf-8")

    completed = subprocess.run(
        [
            str(checkov_path),
            "--directory",
            str(tmp_path),
            "--framework",
            "kubernetes",
            "--output",
            "json",
            "--quiet",
            "--compact",
            "--skip-check",
            ",".join(CHECKOV_SKIPS),
        ],
        capture_output=True,
        text=True,
        timeout=1500,
        check=False,
    )

    report = json.loads(completed.stdout)
    summary = report["summary"]
    failed = [
        f"{check['check_id']} {check['resource']} {check['file_path']}"
        for check in report["results"]["failed_checks"]
    ]
    assert failed == []
    assert summary["parsing_errors"] == 0
    assert summary["resource_count"] >= 60
    assert summary["passed"] >= 1000
    assert completed.returncode == 0, completed.stderr[-2000:]


def test_checkov_skips_documented() -> None:
    text = (REPO_ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    section = text.split("## Validation", 1)[1].split("\n## ", 1)[0]

    for check_id in CHECKOV_SKIPS:
        rows = [line for line in section.splitlines() if f"`{check_id}`" in line]
        assert len(rows) == 1, check_id
        assert len(rows[0].split("|")) >= 4, rows[0]


@pytest.mark.parametrize("major", [3, 4])
@pytest.mark.timeout(900)
def test_values_file_rejected_by_key(
    request: pytest.FixtureRequest, major: int, tmp_path: Path
) -> None:
    helm_path = request.getfixturevalue("helm_path" if major == 3 else "helm4_path")
    values = tmp_path / "wrong.yaml"
    values.write_text(
        "replicaCount: two\ndapr:\n  pubsub:\n    type: rabbitmq\ningress:\n  tls:\n    issuer: x\n",
        encoding="utf-8",
    )

    stderr = template_error(helm_path, "-f", str(values))

    assert "at '/replicaCount': got string, want integer" in stderr
    assert "at '/dapr/pubsub/type'" in stderr
    assert "at '/ingress/tls': additional properties 'issuer' not allowed" in stderr


@pytest.mark.parametrize(
    "key",
    ["database.password", "redis.password", "kafka.password", "dapr.stateStore.connectionString"],
)
def test_schema_rejects_credential_keys(helm_path: Path, key: str) -> None:
    parent, _, leaf = key.rpartition(".")

    stderr = template_error(helm_path, "--set", f"{key}=Sentinel-Secret-4f1c")

    assert f"at '/{parent.replace('.', '/')}': additional properties '{leaf}' not allowed" in stderr
    assert "Sentinel-Secret-4f1c" not in stderr


# A Secret name that no other value contains, to find every place the chart writes it.
SENTINEL = "sentinel-7d3a"


@pytest.mark.parametrize("case", CASES)
def test_no_secret_in_manifests(helm_path: Path, case: str) -> None:
    names = {
        "database.existingSecret": f"{SENTINEL}-db",
        "redis.existingSecret": f"{SENTINEL}-redis",
        "kafka.existingSecret": f"{SENTINEL}-kafka",
        "kafka.caSecret": f"{SENTINEL}-ca",
    }
    settings = [f"{key}={value}" for key, value in names.items()]
    settings += [
        "dapr.pubsub.type=kafka",
        "kafka.brokers={broker-0.example.com:9093}",
        "kafka.authType=password",
        "kafka.username=taskora",
    ]
    args = [arg for setting in settings for arg in ("--set", setting)]

    documents = render(helm_path, case, *args)

    assert [doc["kind"] for doc in documents if doc["kind"] == "Secret"] == []
    # A Secret's name may appear only where a manifest refers to the Secret.
    places = sorted({path for doc in documents for path in _paths_of(doc, SENTINEL)})
    assert places, "the sentinel Secret names were not rendered at all"
    for path in places:
        assert path.endswith(("secretKeyRef/name", "allowedSecrets/*")), path
    for document in documents:
        for path, env in _env_entries(document):
            if re.search(r"PASSWORD|TOKEN|AUTH$", env["name"]):
                assert "value" not in env, path
                assert set(env["valueFrom"]) == {"secretKeyRef"}, path
        if document["kind"] == "Component":
            for item in document["spec"]["metadata"]:
                if re.search(r"[Pp]assword|connectionString|caCert", item["name"]):
                    assert "value" not in item, (document["metadata"]["name"], item)
    config_map = only(documents, "ConfigMap")
    assert not any(re.search(r"PASSWORD|TOKEN", key) for key in config_map["data"])


def _paths_of(node: Any, text: str, path: str = "") -> list[str]:
    """List the paths (``kind/a/b/*``) of every string in ``node`` that contains ``text``."""
    if isinstance(node, dict):
        prefix = path or node.get("kind", "")
        return [
            hit for key, value in node.items() for hit in _paths_of(value, text, f"{prefix}/{key}")
        ]
    if isinstance(node, list):
        return [hit for value in node for hit in _paths_of(value, text, f"{path}/*")]
    return [path] if isinstance(node, str) and text in node else []


def _env_entries(document: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    spec = document.get("spec", {})
    pod = spec.get("template", {}).get("spec") or spec
    entries = []
    for group in ("initContainers", "containers"):
        for container in pod.get(group) or []:
            for env in container.get("env") or []:
                path = f"{document['kind']}/{document['metadata']['name']}/{container['name']}"
                entries.append((path, env))
    return entries


def test_dev_install_namespaced(manifests: dict[str, list[dict[str, Any]]]) -> None:
    for document in manifests["dev"]:
        assert document["metadata"]["namespace"] == NAMESPACE, document["metadata"]["name"]
