"""Preflight checks against fake helm, kubectl and docker executables.

No cluster, registry or Docker engine runs on the test machine, so these tests script the
process boundary (see ``fake_cluster.py``) and assert the exact commands and messages.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from deploy_helpers import CliResult, write_filled_values
from fake_cluster import UNREACHABLE, FakeCluster, preflight_calls, template_arguments

from taskora.deploy.plan import DeployRequest, merge_request_values
from taskora.deploy.preflight import (
    CheckStatus,
    PreflightError,
    PreflightInput,
    SecretReference,
    image_reference,
    run_preflight,
    secret_references,
)
from taskora.errors import ExitCode

Run = Callable[[Sequence[str]], CliResult]

IMAGE = "registry.digitalocean.com/acme/taskora:0.1.0"
VALUES = {
    "image": {"repository": "registry.digitalocean.com/acme/taskora", "tag": ""},
    "database": {"existingSecret": "taskora-database", "passwordKey": "password"},
}


def preflight_input(fake: FakeCluster, **changes: object) -> PreflightInput:
    fields: dict[str, object] = {
        "helm": fake.bin_dir / "helm",
        "values": VALUES,
        "namespace": "taskora",
        "cloud": "doks",
        "app_version": "0.1.0",
    }
    fields.update(changes)
    return PreflightInput(**fields)  # type: ignore[arg-type]


def image_found(reference: str) -> tuple[bool | None, str]:
    return True, ""


def failure_of(error: PreflightError, name: str) -> tuple[str, str]:
    [check] = [check for check in error.report.failures if check.name == name]
    return check.detail, check.fix


def test_preflight_healthy_cluster_commands(fake_cluster: FakeCluster) -> None:
    fake_cluster.healthy()

    report = run_preflight(preflight_input(fake_cluster), image_lookup=image_found)

    assert report.failures == []
    assert report.context == "do-fra1-prod"
    assert fake_cluster.calls() == preflight_calls()
    assert [check.name for check in report.checks] == [
        "helm",
        "kubectl",
        "context",
        "cluster",
        "dapr",
        "namespace",
        "secret taskora-database",
        "image",
    ]
    assert report.checks[0].detail == f"helm 3.19.0 at {fake_cluster.bin_dir / 'helm'}"
    assert report.checks[3].detail == "the API server answered: Kubernetes v1.33.1"


def test_preflight_given_context_checked(fake_cluster: FakeCluster) -> None:
    fake_cluster.healthy(context="gke_acme_europe-west1_prod")

    report = run_preflight(
        preflight_input(fake_cluster, kube_context="gke_acme_europe-west1_prod"),
        image_lookup=image_found,
    )

    assert report.context == "gke_acme_europe-west1_prod"
    assert fake_cluster.calls() == preflight_calls(
        context="gke_acme_europe-west1_prod", given_context=True
    )


def test_preflight_unknown_context(fake_cluster: FakeCluster) -> None:
    fake_cluster.healthy()
    fake_cluster.on(
        "kubectl",
        "config",
        "get-contexts",
        "staging",
        stderr="error: context staging not found\n",
        exit_code=1,
    )

    with pytest.raises(PreflightError) as error:
        run_preflight(
            preflight_input(fake_cluster, kube_context="staging"), image_lookup=image_found
        )

    detail, fix = failure_of(error.value, "context")
    assert detail == "context 'staging' not found in the kubeconfig"
    assert fix == (
        "list the contexts with `kubectl config get-contexts`, or add the cluster's with "
        "`doctl kubernetes cluster kubeconfig save CLUSTER`"
    )
    assert error.value.exit_code == ExitCode.USAGE
    # Nothing after the context is checked, because every later check needs it.
    assert fake_cluster.calls()[-1] == [
        "kubectl",
        "config",
        "get-contexts",
        "staging",
        "--output",
        "name",
    ]
    skipped = [check for check in error.value.report.checks if check.name == "cluster resources"]
    assert [check.detail for check in skipped] == [
        (
            "the API server, Dapr, the ingress add-ons, the namespace and the Secrets are "
            "checked once the context check passes"
        )
    ]


def test_preflight_no_current_context(fake_cluster: FakeCluster) -> None:
    fake_cluster.healthy()
    fake_cluster.on(
        "kubectl",
        "config",
        "current-context",
        stderr="error: current-context is not set\n",
        exit_code=1,
    )

    with pytest.raises(PreflightError) as error:
        run_preflight(preflight_input(fake_cluster, cloud="aks"), image_lookup=image_found)

    detail, fix = failure_of(error.value, "context")
    assert detail == "the kubeconfig has no current context and --context is not given"
    assert fix == (
        "pass --context NAME, or run `az aks get-credentials --resource-group GROUP --name "
        "CLUSTER`, which also selects the context"
    )


def test_preflight_unreachable_cluster(fake_cluster: FakeCluster) -> None:
    fake_cluster.healthy()
    fake_cluster.on(
        "kubectl",
        "--context",
        "do-fra1-prod",
        "--request-timeout",
        "15s",
        "get",
        "--raw",
        "/version",
        stderr=UNREACHABLE,
        exit_code=1,
    )

    with pytest.raises(PreflightError) as error:
        run_preflight(preflight_input(fake_cluster, cloud="gke"), image_lookup=image_found)

    assert error.value.exit_code == ExitCode.UNREACHABLE
    detail, fix = failure_of(error.value, "cluster")
    assert detail == (
        "the API server of context do-fra1-prod did not respond: kubectl get /version failed with exit "
        "code 1: Unable to connect to the server: dial tcp 10.0.0.1:443: i/o timeout"
    )
    assert fix.endswith("`gcloud container clusters get-credentials CLUSTER --location LOCATION`")
    assert len(fake_cluster.calls()) == 4


def test_preflight_kubectl_missing(
    fake_cluster: FakeCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_cluster.healthy()
    (fake_cluster.bin_dir / "kubectl").unlink()
    monkeypatch.setenv("PATH", str(fake_cluster.bin_dir))

    with pytest.raises(PreflightError) as error:
        run_preflight(preflight_input(fake_cluster), image_lookup=image_found)

    detail, fix = failure_of(error.value, "kubectl")
    assert detail == "kubectl not found on PATH"
    assert fix == (
        "install kubectl (https://kubernetes.io/docs/tasks/tools/) or set TASKORA_KUBECTL to "
        "the path of the kubectl executable"
    )
    assert fake_cluster.calls() == [["helm", "version", "--short"]]
    assert error.value.report.checks[-2].detail == (
        "the context, the API server, Dapr, the ingress add-ons, the namespace and the Secrets "
        "are checked once the kubectl check passes"
    )


def test_preflight_helm_two_rejected(fake_cluster: FakeCluster) -> None:
    fake_cluster.healthy()
    fake_cluster.on("helm", "version", "--short", stdout="Client: v2.17.0+ga690bad\n")

    with pytest.raises(PreflightError) as error:
        run_preflight(preflight_input(fake_cluster), image_lookup=image_found)

    detail, _ = failure_of(error.value, "helm")
    assert detail == f"helm 2.17.0 at {fake_cluster.bin_dir / 'helm'} is not Helm 3 or 4"


def test_preflight_helm_four_accepted(fake_cluster: FakeCluster) -> None:
    fake_cluster.healthy()
    fake_cluster.on("helm", "version", "--short", stdout="v4.0.1+g12500dd\n")

    report = run_preflight(preflight_input(fake_cluster), image_lookup=image_found)

    assert report.checks[0].detail == f"helm 4.0.1 at {fake_cluster.bin_dir / 'helm'}"


def test_preflight_dapr_namespace_missing(fake_cluster: FakeCluster) -> None:
    fake_cluster.healthy()
    fake_cluster.on(
        "kubectl",
        "--context",
        "do-fra1-prod",
        "--request-timeout",
        "15s",
        "get",
        "namespace",
        "dapr-system",
    )

    with pytest.raises(PreflightError) as error:
        run_preflight(preflight_input(fake_cluster), image_lookup=image_found)

    detail, fix = failure_of(error.value, "dapr")
    assert detail == "namespace dapr-system does not exist"
    assert fix.startswith("install Dapr into the cluster with `dapr init -k --wait`")
    # The later checks still run, so one run lists every problem.
    assert [check.name for check in error.value.report.checks][-3:] == [
        "namespace",
        "secret taskora-database",
        "image",
    ]


def test_preflight_dapr_crd_missing(fake_cluster: FakeCluster) -> None:
    fake_cluster.healthy()
    fake_cluster.on(
        "kubectl",
        "--context",
        "do-fra1-prod",
        "--request-timeout",
        "15s",
        "get",
        "customresourcedefinitions",
        stdout="customresourcedefinition.apiextensions.k8s.io/components.dapr.io\n",
    )

    with pytest.raises(PreflightError) as error:
        run_preflight(preflight_input(fake_cluster), image_lookup=image_found)

    detail, _ = failure_of(error.value, "dapr")
    assert detail == "the Dapr CRDs configurations.dapr.io, resiliencies.dapr.io are missing"


def test_preflight_one_dapr_crd_missing(fake_cluster: FakeCluster) -> None:
    fake_cluster.healthy()
    fake_cluster.on(
        "kubectl",
        "--context",
        "do-fra1-prod",
        "--request-timeout",
        "15s",
        "get",
        "customresourcedefinitions",
        stdout="".join(
            f"customresourcedefinition.apiextensions.k8s.io/{crd}.dapr.io\n"
            for crd in ("components", "configurations")
        ),
    )

    with pytest.raises(PreflightError) as error:
        run_preflight(preflight_input(fake_cluster), image_lookup=image_found)

    detail, _ = failure_of(error.value, "dapr")
    assert detail == "the Dapr CRD resiliencies.dapr.io is missing"


def test_preflight_namespace_missing_with_secrets(fake_cluster: FakeCluster) -> None:
    fake_cluster.healthy()
    fake_cluster.on(
        "kubectl",
        "--context",
        "do-fra1-prod",
        "--request-timeout",
        "15s",
        "get",
        "namespace",
        "taskora",
    )

    with pytest.raises(PreflightError) as error:
        run_preflight(preflight_input(fake_cluster), image_lookup=image_found)

    detail, fix = failure_of(error.value, "namespace")
    assert detail == (
        "namespace taskora does not exist, so the Secrets the values name (taskora-database) "
        "cannot exist either"
    )
    assert fix == "run `kubectl create namespace taskora`, then create the Secrets in it"
    assert not any("secret" in call for call in fake_cluster.calls())


def test_preflight_namespace_unreadable(fake_cluster: FakeCluster) -> None:
    """The Secrets that the values name are listed as skipped, not left out."""
    fake_cluster.healthy()
    fake_cluster.on(
        "kubectl",
        "--context",
        "do-fra1-prod",
        "--request-timeout",
        "15s",
        "get",
        "namespace",
        "taskora",
        stderr='Error from server (Forbidden): namespaces "taskora" is forbidden\n',
        exit_code=1,
    )

    with pytest.raises(PreflightError) as error:
        run_preflight(preflight_input(fake_cluster), image_lookup=image_found)

    detail, fix = failure_of(error.value, "namespace")
    assert detail.startswith("cannot read namespace taskora: kubectl get namespace failed")
    assert fix == "use a context allowed to read namespaces"
    skipped = [check for check in error.value.report.checks if check.name == "secrets"]
    assert [(check.status, check.detail) for check in skipped] == [
        (CheckStatus.SKIPPED, "Secret taskora-database is checked once the namespace check passes")
    ]
    assert not any("secret" in call for call in fake_cluster.calls())


def test_preflight_namespace_missing_without_secrets(fake_cluster: FakeCluster) -> None:
    fake_cluster.healthy()
    fake_cluster.on(
        "kubectl",
        "--context",
        "do-fra1-prod",
        "--request-timeout",
        "15s",
        "get",
        "namespace",
        "taskora",
    )
    values = {"image": VALUES["image"], "database": {"existingSecret": ""}}

    report = run_preflight(preflight_input(fake_cluster, values=values), image_lookup=image_found)

    namespace = [check for check in report.checks if check.name == "namespace"][0]
    assert namespace.status is CheckStatus.PASSED
    assert namespace.detail == "namespace taskora does not exist yet; helm creates it"


def test_preflight_kafka_ca_missing(fake_cluster: FakeCluster) -> None:
    """A certificate is created from its file, since a PEM block does not fit a literal."""
    fake_cluster.healthy(secrets={"kafka": ["password"]})
    fake_cluster.on(
        "kubectl",
        "--context",
        "do-fra1-prod",
        "--request-timeout",
        "15s",
        "--namespace",
        "taskora",
        "get",
        "secret",
        "kafka-ca",
    )
    values = {
        "dapr": {"pubsub": {"type": "kafka"}},
        "kafka": {
            "authType": "password",
            "existingSecret": "kafka",
            "passwordKey": "password",
            "caSecret": "kafka-ca",
            "caKey": "ca.crt",
        },
    }

    with pytest.raises(PreflightError) as error:
        run_preflight(preflight_input(fake_cluster, values=values), image_lookup=image_found)

    _, fix = failure_of(error.value, "secret kafka-ca")
    assert fix == (
        "run `kubectl --namespace taskora create secret generic kafka-ca "
        "--from-file=ca.crt=PATH`, or set kafka.caSecret to the name of an existing Secret"
    )


def test_preflight_kafka_ca_key_missing(fake_cluster: FakeCluster) -> None:
    """A certificate is written from its file again, not patched in as a JSON string."""
    fake_cluster.healthy(secrets={"kafka": ["password"], "kafka-ca": ["ca.pem"]})
    values = {
        "dapr": {"pubsub": {"type": "kafka"}},
        "kafka": {
            "authType": "password",
            "existingSecret": "kafka",
            "passwordKey": "password",
            "caSecret": "kafka-ca",
            "caKey": "ca.crt",
        },
    }

    with pytest.raises(PreflightError) as error:
        run_preflight(preflight_input(fake_cluster, values=values), image_lookup=image_found)

    detail, fix = failure_of(error.value, "secret kafka-ca")
    assert detail == "Secret kafka-ca in namespace taskora has no key ca.crt (its keys are ca.pem)"
    assert fix == (
        "write it again with its keys: `kubectl --namespace taskora create secret generic "
        "kafka-ca --from-file=ca.crt=PATH --dry-run=client -o yaml | kubectl apply -f -`, or "
        "set kafka.caKey to a key the Secret has"
    )


def test_preflight_secret_missing(fake_cluster: FakeCluster) -> None:
    fake_cluster.healthy(secrets={})
    fake_cluster.on(
        "kubectl",
        "--context",
        "do-fra1-prod",
        "--request-timeout",
        "15s",
        "--namespace",
        "taskora",
        "get",
        "secret",
        "taskora-database",
    )

    with pytest.raises(PreflightError) as error:
        run_preflight(preflight_input(fake_cluster), image_lookup=image_found)

    detail, fix = failure_of(error.value, "secret taskora-database")
    assert detail == (
        "Secret taskora-database (named by database.existingSecret) does not exist in "
        "namespace taskora"
    )
    assert fix == (
        "run `kubectl --namespace taskora create secret generic taskora-database "
        "--from-literal=password=VALUE`, or set database.existingSecret to the name of an "
        "existing Secret"
    )


def test_preflight_secret_key_missing(fake_cluster: FakeCluster) -> None:
    fake_cluster.healthy(secrets={"taskora-database": ["username"]})

    with pytest.raises(PreflightError) as error:
        run_preflight(preflight_input(fake_cluster), image_lookup=image_found)

    detail, fix = failure_of(error.value, "secret taskora-database")
    assert detail == (
        "Secret taskora-database in namespace taskora has no key password (its keys are username)"
    )
    assert fix == (
        "add it with `kubectl --namespace taskora patch secret taskora-database --type merge "
        """-p '{"stringData":{"password":"VALUE"}}'`, or set database.passwordKey to a key the """
        "Secret has"
    )


def test_preflight_token_secret_empty(fake_cluster: FakeCluster) -> None:
    """Dapr reads the fixed key "token", which no value renames."""
    fake_cluster.healthy(secrets={"taskora-dapr-token": []})

    with pytest.raises(PreflightError) as error:
        run_preflight(
            preflight_input(
                fake_cluster, values={"dapr": {"appTokenSecret": "taskora-dapr-token"}}
            ),
            image_lookup=image_found,
        )

    detail, fix = failure_of(error.value, "secret taskora-dapr-token")
    assert detail == (
        "Secret taskora-dapr-token in namespace taskora has no key token (it has no keys)"
    )
    assert fix == (
        "add it with `kubectl --namespace taskora patch secret taskora-dapr-token --type merge "
        """-p '{"stringData":{"token":"VALUE"}}'`"""
    )


def test_preflight_secret_forbidden(fake_cluster: FakeCluster) -> None:
    fake_cluster.healthy()
    fake_cluster.on(
        "kubectl",
        "--context",
        "do-fra1-prod",
        "--request-timeout",
        "15s",
        "--namespace",
        "taskora",
        "get",
        "secret",
        stderr='Error from server (Forbidden): secrets "taskora-database" is forbidden\n',
        exit_code=1,
    )

    with pytest.raises(PreflightError) as error:
        run_preflight(preflight_input(fake_cluster), image_lookup=image_found)

    detail, fix = failure_of(error.value, "secret taskora-database")
    assert detail == (
        "cannot read Secret taskora-database in namespace taskora: kubectl get secret failed with "
        'exit code 1: Error from server (Forbidden): secrets "taskora-database" is forbidden'
    )
    assert fix == "use a context allowed to get Secrets in that namespace"


def test_preflight_error_lists_every_failure(fake_cluster: FakeCluster) -> None:
    fake_cluster.healthy(secrets={"taskora-database": []})
    fake_cluster.on(
        "kubectl",
        "--context",
        "do-fra1-prod",
        "--request-timeout",
        "15s",
        "get",
        "namespace",
        "dapr-system",
    )

    with pytest.raises(PreflightError) as error:
        run_preflight(
            preflight_input(fake_cluster), image_lookup=lambda ref: (False, "manifest unknown")
        )

    lines = error.value.message.splitlines()
    assert lines[0] == "nothing deployed: 3 preflight checks failed"
    assert [line.split(":")[0] for line in lines[1:]] == [
        "- dapr",
        "- secret taskora-database",
        "- image",
    ]
    assert lines[3] == (
        f"- image: {IMAGE} is not in the registry (manifest unknown). Fix: build and push it "
        "with `taskora images build --push`, or pass the tag that exists with --image-tag"
    )


def test_preflight_image_lookup_through_docker(fake_cluster: FakeCluster) -> None:
    """The registry side is a fake docker: python-on-whales runs `docker manifest inspect`."""
    from taskora.deploy.images import registry_lookup

    fake_cluster.healthy()

    report = run_preflight(preflight_input(fake_cluster), image_lookup=registry_lookup)

    assert report.checks[-1].detail == f"{IMAGE} is in the registry"
    assert fake_cluster.calls() == preflight_calls(image=IMAGE)


def test_preflight_image_not_in_registry(fake_cluster: FakeCluster) -> None:
    from taskora.deploy.images import registry_lookup

    fake_cluster.healthy()
    fake_cluster.on(
        "docker", "manifest", "inspect", stderr=f"no such manifest: {IMAGE}\n", exit_code=1
    )

    with pytest.raises(PreflightError) as error:
        run_preflight(preflight_input(fake_cluster), image_lookup=registry_lookup)

    detail, _ = failure_of(error.value, "image")
    assert detail == f"{IMAGE} is not in the registry (no such manifest: {IMAGE})"


def test_preflight_image_registry_denied(fake_cluster: FakeCluster) -> None:
    from taskora.deploy.images import registry_lookup

    fake_cluster.healthy()
    fake_cluster.on(
        "docker",
        "manifest",
        "inspect",
        stderr="unauthorized: authentication required\n",
        exit_code=1,
    )

    report = run_preflight(preflight_input(fake_cluster), image_lookup=registry_lookup)

    assert report.checks[-1].status is CheckStatus.SKIPPED
    assert report.checks[-1].detail == (
        f"{IMAGE}: cannot check the registry (the registry denied access, so log in with "
        "`doctl registry login`)"
    )


def test_preflight_image_without_docker(
    fake_cluster: FakeCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    from taskora.deploy.images import registry_lookup

    fake_cluster.healthy()
    (fake_cluster.bin_dir / "docker").unlink()
    monkeypatch.setenv("PATH", str(fake_cluster.bin_dir))

    report = run_preflight(preflight_input(fake_cluster), image_lookup=registry_lookup)

    assert report.checks[-1].status is CheckStatus.SKIPPED
    assert report.checks[-1].detail == (
        f"{IMAGE}: cannot check the registry (the docker command is not installed)"
    )


def test_secret_references_from_values() -> None:
    values = {
        "dapr": {"enabled": True, "pubsub": {"type": "kafka"}, "stateStore": {"type": "redis"}},
        "database": {"existingSecret": "db", "passwordKey": "password", "userKey": "user"},
        "redis": {"existingSecret": "redis", "passwordKey": "redis-password"},
        "kafka": {
            "authType": "password",
            "existingSecret": "kafka",
            "passwordKey": "password",
            "caSecret": "kafka-ca",
            "caKey": "ca.crt",
        },
        "dev": {"enabled": False, "postgresql": {"existingSecret": "dev-db"}},
        "ingress": {"tls": {"secretName": "taskora-tls"}},
        "imagePullSecrets": [{"name": "registry"}, "legacy"],
    }

    assert secret_references(values) == [
        SecretReference(
            "db",
            ("password", "user"),
            "database.existingSecret",
            key_sources={"password": "database.passwordKey", "user": "database.userKey"},
        ),
        SecretReference(
            "redis",
            ("redis-password",),
            "redis.existingSecret",
            key_sources={"redis-password": "redis.passwordKey"},
        ),
        SecretReference(
            "kafka",
            ("password",),
            "kafka.existingSecret",
            key_sources={"password": "kafka.passwordKey"},
        ),
        SecretReference(
            "kafka-ca", ("ca.crt",), "kafka.caSecret", key_sources={"ca.crt": "kafka.caKey"}
        ),
        SecretReference("registry", (".dockerconfigjson",), "imagePullSecrets[0]"),
        SecretReference("legacy", (".dockerconfigjson",), "imagePullSecrets[1]"),
    ]


def test_secret_references_skip_unchosen_backend() -> None:
    values = {
        "dapr": {
            "pubsub": {"type": "redis"},
            "stateStore": {"type": "redis", "postgresql": {"existingSecret": "state-db"}},
        },
        "redis": {"existingSecret": "redis", "passwordKey": "password"},
        "kafka": {"authType": "password", "existingSecret": "kafka"},
    }

    assert secret_references(values) == [
        SecretReference(
            "redis",
            ("password",),
            "redis.existingSecret",
            key_sources={"password": "redis.passwordKey"},
        )
    ]


def test_secret_references_dapr_disabled() -> None:
    values = {
        "dapr": {"enabled": False, "pubsub": {"type": "redis"}},
        "redis": {"existingSecret": "redis"},
    }

    assert secret_references(values) == []


def test_secret_references_auth_none() -> None:
    values = {
        "dapr": {"pubsub": {"type": "kafka"}},
        "kafka": {"authType": "none", "existingSecret": "kafka", "passwordKey": "password"},
    }

    assert secret_references(values) == []


def test_secret_references_key_vault_provided() -> None:
    values = {
        "database": {"existingSecret": "taskora-database", "passwordKey": "password"},
        "azureKeyVault": {
            "enabled": True,
            "secrets": [
                {"objectName": "db-password", "secretName": "taskora-database", "key": "password"}
            ],
        },
    }

    assert secret_references(values) == [
        SecretReference(
            "taskora-database",
            ("password",),
            "database.existingSecret",
            "azureKeyVault",
            key_sources={"password": "database.passwordKey"},
        )
    ]


def test_secret_references_merge_same_secret() -> None:
    values = {
        "dapr": {"pubsub": {"type": "redis"}},
        "database": {"existingSecret": "shared", "passwordKey": "db-password"},
        "redis": {"existingSecret": "shared", "passwordKey": "redis-password"},
    }

    assert secret_references(values) == [
        SecretReference(
            "shared",
            ("db-password", "redis-password"),
            "database.existingSecret",
            key_sources={
                "db-password": "database.passwordKey",
                "redis-password": "redis.passwordKey",
            },
        )
    ]


def test_image_reference_forms() -> None:
    assert (
        image_reference({"image": {"repository": "r/taskora", "tag": ""}}, "0.1.0")
        == "r/taskora:0.1.0"
    )
    assert (
        image_reference({"image": {"repository": "r/taskora", "tag": "2"}}, "0.1.0")
        == "r/taskora:2"
    )
    assert (
        image_reference({"image": {"repository": "r/taskora", "digest": "sha256:ab"}}, "0.1.0")
        == "r/taskora@sha256:ab"
    )
    assert image_reference({}, "0.1.0") is None


def profile_secrets(cloud: str, filled: Path) -> dict[str, list[str]]:
    """Return the Secrets, with their keys, that the profile and ``filled`` values name."""
    values = merge_request_values(DeployRequest(cloud=cloud, values_files=(filled,)))
    return {secret.name: list(secret.keys) for secret in secret_references(values.values)}


def test_check_command_prints_results(
    run_taskora: Run, fake_cluster: FakeCluster, tmp_path: Path
) -> None:
    filled = write_filled_values(tmp_path, "doks")
    secrets = profile_secrets("doks", filled)
    fake_cluster.healthy(secrets=secrets)

    result = run_taskora(["deploy", "--cloud", "doks", "-f", str(filled), "--check"])

    assert result.exit_code == 0, result.stderr
    assert result.stderr.splitlines()[0] == "Preflight:"
    assert (
        "  ok dapr: namespace dapr-system and CRDs components.dapr.io, configurations.dapr.io, resiliencies.dapr.io exist"
        in result.stderr.splitlines()
    )
    assert "taskora-database" in secrets
    assert "  ok values: no profile placeholder is left" in result.stderr.splitlines()
    checks = [line for line in result.stderr.splitlines() if line.startswith("  ")]
    assert len(checks) == 14
    assert all(line.startswith("  ok ") for line in checks)
    assert result.stderr.splitlines()[-1] == (
        "No check failed: 14 passed, 0 skipped. Nothing was changed."
    )
    assert result.stdout == ""
    assert fake_cluster.calls() == preflight_calls(
        image=IMAGE, secrets=tuple(secrets), addons_of="doks", values_checked=True
    )


def test_check_lists_helm_first(
    run_taskora: Run, fake_cluster: FakeCluster, tmp_path: Path
) -> None:
    """A helm that fails its check is reported first, and the render that needs it is skipped.

    The cluster checks need only kubectl, so they run and pass.
    """
    filled = write_filled_values(tmp_path, "doks")
    fake_cluster.healthy(secrets=profile_secrets("doks", filled))
    fake_cluster.on("helm", "version", "--short", stdout="Client: v2.17.0+ga690bad\n")

    result = run_taskora(
        ["deploy", "--cloud", "doks", "-f", str(filled), "--check", "--skip-image-check"]
    )

    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert lines[:6] == [
        "Preflight:",
        f"  FAILED helm: helm 2.17.0 at {fake_cluster.bin_dir / 'helm'} is not Helm 3 or 4",
        f"  ok kubectl: kubectl v1.33.2 at {fake_cluster.bin_dir / 'kubectl'}",
        "  ok values: no profile placeholder is left",
        "  skipped render: helm template needs helm, which failed its check",
        "  ok context: context do-fra1-prod (the current context)",
    ]
    assert "Error: nothing deployed: 1 preflight check failed" in lines
    assert ["helm", "template", *template_arguments("taskora")] not in fake_cluster.calls()


def test_check_command_json(run_taskora: Run, fake_cluster: FakeCluster, tmp_path: Path) -> None:
    filled = write_filled_values(tmp_path, "doks")
    fake_cluster.healthy(secrets=profile_secrets("doks", filled))

    result = run_taskora(
        ["deploy", "--cloud", "doks", "-f", str(filled), "--check", "--skip-image-check", "--json"]
    )

    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["context"] == "do-fra1-prod"
    assert document["checks"][-1] == {
        "name": "image",
        "status": "skipped",
        "detail": f"{IMAGE}: --skip-image-check turned the registry check off",
        "fix": "",
    }
    assert ["docker", "manifest", "inspect", IMAGE] not in fake_cluster.calls()


def test_check_command_unreachable_exit_code(
    run_taskora: Run, fake_cluster: FakeCluster, tmp_path: Path
) -> None:
    fake_cluster.healthy()
    fake_cluster.on(
        "kubectl",
        "--context",
        "do-fra1-prod",
        "--request-timeout",
        "15s",
        "get",
        "--raw",
        stderr=UNREACHABLE,
        exit_code=1,
    )
    filled = write_filled_values(tmp_path, "doks")

    result = run_taskora(["deploy", "--cloud", "doks", "-f", str(filled), "--check"])

    assert result.exit_code == 3
    assert "Error: nothing deployed: 1 preflight check failed" in result.stderr
    assert (
        "  FAILED cluster: the API server of context do-fra1-prod did not respond" in result.stderr
    )


def test_check_command_placeholder_and_schema(run_taskora: Run, fake_cluster: FakeCluster) -> None:
    """--check reports a placeholder and a schema error with the cluster checks, exit 2."""
    fake_cluster.healthy()

    result = run_taskora(
        ["deploy", "--cloud", "doks", "--check", "--skip-image-check", "--set", "replicaCount=x"]
    )

    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert lines[1].startswith("  ok helm: helm 3.")
    assert lines[2].startswith("  ok kubectl: kubectl v1.33.2 at ")
    assert lines[3] == (
        "  FAILED values: 4 keys still contain a profile placeholder ('replace-me' or "
        "taskora.example.com): image.repository, database.host, redis.host, ingress.host"
    )
    assert lines[4].startswith("  FAILED render: helm template failed with exit code 1: ")
    assert "- at '/replicaCount': got string, want integer" in result.stderr
    assert "Error: nothing deployed: " in result.stderr


def test_deploy_schema_error_and_unreachable(
    run_taskora: Run, fake_cluster: FakeCluster, tmp_path: Path
) -> None:
    """A deploy reports values that fail the schema with an unreachable cluster, exit 3."""
    fake_cluster.healthy()
    fake_cluster.on(
        "kubectl",
        "--context",
        "do-fra1-prod",
        "--request-timeout",
        "15s",
        "get",
        "--raw",
        stderr=UNREACHABLE,
        exit_code=1,
    )
    filled = write_filled_values(tmp_path, "doks")

    result = run_taskora(
        ["deploy", "--cloud", "doks", "-f", str(filled), "--set", "replicaCount=x"]
    )

    assert result.exit_code == 3
    lines = result.stderr.splitlines()
    # No --image-tag, so the appVersion warning comes first.
    assert lines[0].startswith("Warning: no image tag is set")
    assert lines[4] == "  ok values: no profile placeholder is left"
    assert lines[5].startswith("  FAILED render: helm template failed with exit code 1: ")
    assert "- at '/replicaCount': got string, want integer" in result.stderr
    assert (
        "  FAILED cluster: the API server of context do-fra1-prod did not respond" in result.stderr
    )
    assert (
        "  skipped cluster resources: Dapr, the ingress add-ons, the namespace and the Secrets "
        "are checked once the cluster check passes"
    ) in lines
    assert "Error: nothing deployed: 2 preflight checks failed" in result.stderr
    assert fake_cluster.values_passed("helm", "upgrade") == []


def test_check_command_connection_refused(
    run_taskora: Run, fake_cluster: FakeCluster, tmp_path: Path
) -> None:
    fake_cluster.healthy()
    fake_cluster.on(
        "kubectl",
        "--context",
        "do-fra1-prod",
        "--request-timeout",
        "15s",
        "get",
        "--raw",
        stderr="The connection to the server 127.0.0.1:6443 was refused - did you specify the "
        "right host or port?\n",
        exit_code=1,
    )
    filled = write_filled_values(tmp_path, "doks")

    result = run_taskora(["deploy", "--cloud", "doks", "-f", str(filled), "--check"])

    assert result.exit_code == 3
    assert "  FAILED cluster: the API server of context do-fra1-prod did not respond" in (
        result.stderr
    )


def test_preflight_records_helm_major(fake_cluster: FakeCluster) -> None:
    fake_cluster.healthy()
    fake_cluster.on("helm", "version", "--short", stdout="v4.2.3+g43e8b7f\n")

    report = run_preflight(preflight_input(fake_cluster), image_lookup=image_found)

    assert report.helm_major == 4


KUBECTL = ["--context", "do-fra1-prod", "--request-timeout", "15s"]
INGRESS_VALUES = {
    **VALUES,
    "ingress": {
        "enabled": True,
        "className": "nginx",
        "tls": {"secretName": "taskora-tls", "clusterIssuer": "letsencrypt-prod"},
    },
}


def test_preflight_ingress_class_missing(fake_cluster: FakeCluster) -> None:
    fake_cluster.healthy()
    fake_cluster.on("kubectl", *KUBECTL, "get", "ingressclasses", stdout="")

    with pytest.raises(PreflightError) as error:
        run_preflight(
            preflight_input(fake_cluster, values=INGRESS_VALUES), image_lookup=image_found
        )

    detail, fix = failure_of(error.value, "ingress class")
    assert detail == (
        "IngressClass nginx (ingress.className) does not exist, so no controller would serve "
        "the Ingress"
    )
    assert fix == (
        "install ingress-nginx with the load balancer's idle timeout raised: `helm upgrade "
        "--install ingress-nginx ingress-nginx --repo https://kubernetes.github.io/ingress-nginx "
        "--namespace ingress-nginx --create-namespace --set-string 'controller.service."
        "annotations.service\\.beta\\.kubernetes\\.io/do-loadbalancer-http-idle-timeout-seconds"
        "=600'`, or set ingress.className to a class listed by `kubectl get ingressclasses`"
    )
    assert error.value.exit_code == ExitCode.ERROR


def test_preflight_ingress_nginx_fix_other_cloud(fake_cluster: FakeCluster) -> None:
    """The DigitalOcean load balancer annotation is only for DOKS."""
    fake_cluster.healthy()
    fake_cluster.on("kubectl", *KUBECTL, "get", "ingressclasses", stdout="")

    with pytest.raises(PreflightError) as error:
        run_preflight(
            preflight_input(fake_cluster, values=INGRESS_VALUES, cloud="gke"),
            image_lookup=image_found,
        )

    assert failure_of(error.value, "ingress class")[1] == (
        "install ingress-nginx: `helm upgrade --install ingress-nginx ingress-nginx --repo "
        "https://kubernetes.github.io/ingress-nginx --namespace ingress-nginx "
        "--create-namespace`, or set ingress.className to a class listed by "
        "`kubectl get ingressclasses`"
    )


def test_preflight_gce_class_not_looked_up(fake_cluster: FakeCluster) -> None:
    fake_cluster.healthy()
    values = {**INGRESS_VALUES, "ingress": {**INGRESS_VALUES["ingress"], "className": "gce"}}

    report = run_preflight(preflight_input(fake_cluster, values=values), image_lookup=image_found)

    assert "ingress class" not in [check.name for check in report.checks]
    assert not any("ingressclasses" in call for call in fake_cluster.calls())


def test_preflight_cluster_issuer_missing(fake_cluster: FakeCluster) -> None:
    fake_cluster.healthy()
    fake_cluster.on("kubectl", *KUBECTL, "get", "clusterissuers.cert-manager.io", stdout="")

    with pytest.raises(PreflightError) as error:
        run_preflight(
            preflight_input(fake_cluster, values=INGRESS_VALUES), image_lookup=image_found
        )

    detail, fix = failure_of(error.value, "cluster issuer")
    assert detail == (
        "ClusterIssuer letsencrypt-prod (ingress.tls.clusterIssuer) does not exist, so no "
        "certificate would be issued"
    )
    assert fix.startswith("create it (docs/deploy.md has a Let's Encrypt example)")


def test_preflight_cert_manager_missing(fake_cluster: FakeCluster) -> None:
    fake_cluster.healthy()
    fake_cluster.on(
        "kubectl",
        *KUBECTL,
        "get",
        "clusterissuers.cert-manager.io",
        stderr='error: the server doesn\'t have a resource type "clusterissuers"\n',
        exit_code=1,
    )

    with pytest.raises(PreflightError) as error:
        run_preflight(
            preflight_input(fake_cluster, values=INGRESS_VALUES), image_lookup=image_found
        )

    assert failure_of(error.value, "cluster issuer") == (
        "cert-manager is not installed, so ClusterIssuer letsencrypt-prod "
        "(ingress.tls.clusterIssuer) cannot exist",
        "install cert-manager (https://cert-manager.io/docs/installation/helm/), then create "
        "the ClusterIssuer",
    )


@pytest.mark.parametrize(
    ("values", "crd", "fix_start"),
    [
        (
            {**VALUES, "gkeBackendConfig": {"enabled": True}},
            "backendconfigs.cloud.google.com",
            "use GKE, whose Ingress controller",
        ),
        (
            {**VALUES, "azureKeyVault": {"enabled": True}},
            "secretproviderclasses.secrets-store.csi.x-k8s.io",
            "enable the Key Vault provider of the Secrets Store CSI driver",
        ),
    ],
    ids=["backendconfig", "secretproviderclass"],
)
def test_preflight_crd_missing(
    fake_cluster: FakeCluster, values: dict[str, object], crd: str, fix_start: str
) -> None:
    fake_cluster.healthy()
    fake_cluster.on("kubectl", *KUBECTL, "get", "customresourcedefinitions", crd, stdout="")

    with pytest.raises(PreflightError) as error:
        run_preflight(preflight_input(fake_cluster, values=values), image_lookup=image_found)

    detail, fix = failure_of(error.value, f"crd {crd}")
    assert detail.startswith(f"CRD {crd} is missing, and ")
    assert fix.startswith(fix_start)


def test_preflight_kubernetes_too_old(fake_cluster: FakeCluster) -> None:
    fake_cluster.healthy()
    fake_cluster.on(
        "kubectl",
        *KUBECTL,
        "get",
        "--raw",
        "/version",
        stdout=json.dumps({"major": "1", "minor": "28", "gitVersion": "v1.28.9-gke.100"}),
    )

    with pytest.raises(PreflightError) as error:
        run_preflight(
            preflight_input(fake_cluster, cloud="gke", kube_version=">=1.29.0-0"),
            image_lookup=image_found,
        )

    assert failure_of(error.value, "kubernetes version") == (
        "the cluster runs Kubernetes v1.28.9-gke.100, older than 1.29, the chart's minimum "
        "(the Cloud SQL Auth Proxy runs as a native sidecar, on by default from 1.29)",
        "upgrade the cluster's control plane and nodes to 1.29 or later with `gcloud container "
        "clusters upgrade CLUSTER --master --cluster-version VERSION`",
    )


def test_preflight_kubernetes_version_passes(fake_cluster: FakeCluster) -> None:
    fake_cluster.healthy()

    report = run_preflight(
        preflight_input(fake_cluster, kube_version=">=1.29.0-0"), image_lookup=image_found
    )

    [check] = [check for check in report.checks if check.name == "kubernetes version"]
    assert check.detail == "v1.33.1 meets the chart's minimum 1.29"


def test_secret_references_app_token() -> None:
    values = {"dapr": {"enabled": True, "appTokenSecret": "taskora-dapr-token"}}

    assert secret_references(values) == [
        SecretReference("taskora-dapr-token", ("token",), "dapr.appTokenSecret")
    ]
