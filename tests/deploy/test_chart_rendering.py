"""What the chart renders for each cloud and option, and the errors it stops with."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from chart_render import INSTALL_CASES, only, render, template_error


def test_dapr_annotations_and_settings(helm_path: Path) -> None:
    documents = render(helm_path, "doks")

    pod = only(documents, "Deployment")["spec"]["template"]
    annotations = pod["metadata"]["annotations"]
    assert annotations["dapr.io/app-id"] == "taskora"
    assert annotations["dapr.io/app-port"] == "8000"
    assert annotations["dapr.io/config"] == "taskora"
    assert annotations["dapr.io/graceful-shutdown-seconds"] == "30"
    assert annotations["dapr.io/disable-builtin-k8s-secret-store"] == "true"
    assert pod["spec"]["terminationGracePeriodSeconds"] == 45
    data = only(documents, "ConfigMap")["data"]
    assert data["TASKORA_PORT"] == "8000"
    assert data["TASKORA_DAPR"] == "true"
    assert data["TASKORA_DAPR_PUBSUB"] == "taskora-pubsub"
    assert data["TASKORA_DAPR_TOPIC"] == "task-events"
    assert data["TASKORA_DAPR_STATE_STORE"] == "taskora-state"
    assert data["TASKORA_DAPR_SECRET_STORE"] == "kubernetes"


def test_dapr_disabled_renders_no_dapr(helm_path: Path) -> None:
    documents = render(helm_path, "doks", "--set", "dapr.enabled=false")

    assert [d["kind"] for d in documents if d["apiVersion"].startswith("dapr.io/")] == []
    annotations = only(documents, "Deployment")["spec"]["template"]["metadata"]["annotations"]
    assert [key for key in annotations if key.startswith("dapr.io/")] == []
    assert only(documents, "ConfigMap")["data"]["TASKORA_DAPR"] == "false"


def test_redis_pubsub_consumer_per_pod(helm_path: Path) -> None:
    component = only(render(helm_path, "doks"), "Component", "taskora-pubsub")

    metadata = {item["name"]: item for item in component["spec"]["metadata"]}
    assert component["spec"]["type"] == "pubsub.redis"
    assert metadata["consumerID"]["value"] == "{podName}"
    assert metadata["redisHost"]["value"] == (
        "replace-me-redis-do-user-0000000-0.b.db.ondigitalocean.com:25061"
    )
    assert metadata["enableTLS"]["value"] == "true"
    assert metadata["redisPassword"]["secretKeyRef"] == {"name": "taskora-redis", "key": "password"}
    assert component["auth"] == {"secretStore": "kubernetes"}
    assert component["scopes"] == ["taskora"]


def test_kafka_pubsub_with_sasl(helm_path: Path) -> None:
    component = only(
        render(
            helm_path,
            "doks",
            "--set",
            "dapr.pubsub.type=kafka",
            "--set",
            "kafka.brokers={kafka-0.example.com:25073,kafka-1.example.com:25073}",
        ),
        "Component",
        "taskora-pubsub",
    )

    metadata = {item["name"]: item for item in component["spec"]["metadata"]}
    assert component["spec"]["type"] == "pubsub.kafka"
    assert metadata["brokers"]["value"] == "kafka-0.example.com:25073,kafka-1.example.com:25073"
    assert metadata["consumerID"]["value"] == "{podName}"
    assert metadata["authType"]["value"] == "password"
    assert metadata["saslMechanism"]["value"] == "SCRAM-SHA-256"
    assert metadata["saslPassword"]["secretKeyRef"] == {"name": "taskora-kafka", "key": "password"}
    assert metadata["caCert"]["secretKeyRef"] == {"name": "taskora-kafka-ca", "key": "ca.crt"}
    assert metadata["disableTls"]["value"] == "false"


def test_cron_bindings_from_values(helm_path: Path) -> None:
    documents = render(helm_path, "doks", "--set", "dapr.bindings.reminder.schedule=@every 30s")

    for name, schedule in [("recurrence-cron", "@every 1m"), ("reminder-cron", "@every 30s")]:
        component = only(documents, "Component", name)
        assert component["spec"]["type"] == "bindings.cron"
        assert component["spec"]["metadata"] == [
            {"name": "schedule", "value": schedule},
            {"name": "direction", "value": "input"},
        ]
        assert component["scopes"] == ["taskora"]


def test_configuration_allows_referenced_secrets(helm_path: Path) -> None:
    configuration = only(render(helm_path, "doks"), "Configuration")

    assert configuration["spec"]["secrets"]["scopes"] == [
        {
            "storeName": "kubernetes",
            "defaultAccess": "deny",
            "allowedSecrets": ["taskora-redis"],
        }
    ]


def test_postgresql_state_store(helm_path: Path) -> None:
    component = only(
        render(
            helm_path,
            "doks",
            "--set",
            "dapr.stateStore.type=postgresql",
            "--set",
            "dapr.stateStore.postgresql.existingSecret=taskora-state-db",
        ),
        "Component",
        "taskora-state",
    )

    assert component["spec"]["type"] == "state.postgresql"
    assert component["spec"]["metadata"] == [
        {
            "name": "connectionString",
            "secretKeyRef": {"name": "taskora-state-db", "key": "connectionString"},
        }
    ]


def test_migration_job_is_hook(helm_path: Path) -> None:
    documents = render(helm_path, "doks")

    job = only(documents, "Job", "taskora-migration")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["taskora", "db", "upgrade"]
    env = {item["name"]: item for item in container["env"]}
    assert env["TASKORA_DATABASE_URL"]["value"] == (
        "postgresql://taskora@replace-me-db-do-user-0000000-0.b.db.ondigitalocean.com:25060"
        "/taskora?sslmode=require"
    )
    assert env["TASKORA_DATABASE_PASSWORD"]["valueFrom"] == {
        "secretKeyRef": {"name": "taskora-database", "key": "password"}
    }
    account = only(documents, "ServiceAccount", "taskora-migration")
    assert account["metadata"]["annotations"]["helm.sh/hook-weight"] == "-20"
    assert job["spec"]["template"]["spec"]["serviceAccountName"] == "taskora-migration"
    assert only(documents, "ConfigMap")["data"]["TASKORA_MIGRATE_ON_START"] == "false"


def test_dev_install_in_cluster_stores(helm_path: Path) -> None:
    documents = render(helm_path, "dev")

    assert sorted(d["metadata"]["name"] for d in documents if d["kind"] == "StatefulSet") == [
        "taskora-postgresql",
        "taskora-redis",
    ]
    data = only(documents, "ConfigMap")["data"]
    assert data["TASKORA_DATABASE_URL"] == (
        "postgresql://taskora@taskora-postgresql:5432/taskora?sslmode=disable"
    )
    assert data["TASKORA_MIGRATE_ON_START"] == "true"
    job = only(documents, "Job", "taskora-migration")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-upgrade"
    postgres = only(documents, "StatefulSet", "taskora-postgresql")["spec"]["template"]["spec"]
    env = {item["name"]: item for item in postgres["containers"][0]["env"]}
    assert env["POSTGRES_PASSWORD"]["valueFrom"] == {
        "secretKeyRef": {"name": "taskora-database", "key": "password"}
    }
    pubsub = only(documents, "Component", "taskora-pubsub")
    metadata = {item["name"]: item for item in pubsub["spec"]["metadata"]}
    assert metadata["redisHost"]["value"] == "taskora-redis:6379"
    assert metadata["enableTLS"]["value"] == "false"
    # The Deployment's selector must not match the stores' pods.
    selector = only(documents, "Deployment")["spec"]["selector"]["matchLabels"]
    assert selector["app.kubernetes.io/component"] == "api"


@pytest.mark.parametrize(
    ("cloud", "storage_class"),
    [("doks", "do-block-storage"), ("gke", "standard-rwo"), ("aks", "managed-csi")],
)
def test_profile_storage_class(helm_path: Path, cloud: str, storage_class: str) -> None:
    documents = render(
        helm_path,
        cloud,
        "--set",
        "inClusterRedis.enabled=true",
        "--set",
        "redis.existingSecret=taskora-redis",
        *(["--set", "cloudSqlProxy.enabled=false"] if cloud == "gke" else []),
    )

    claim = only(documents, "StatefulSet", "taskora-redis")["spec"]["volumeClaimTemplates"][0]
    assert claim["spec"]["storageClassName"] == storage_class


def test_gke_backend_config_linked(helm_path: Path) -> None:
    documents = render(helm_path, "gke")

    backend = only(documents, "BackendConfig")
    assert backend["apiVersion"] == "cloud.google.com/v1"
    assert backend["spec"]["timeoutSec"] == 3600
    assert backend["spec"]["healthCheck"]["requestPath"] == "/readyz"
    annotations = only(documents, "Service")["metadata"]["annotations"]
    assert json.loads(annotations["cloud.google.com/backend-config"]) == {"default": "taskora"}
    assert annotations["cloud.google.com/neg"] == '{"ingress": true}'


def test_gke_cloud_sql_proxy_sidecar(helm_path: Path) -> None:
    documents = render(helm_path, "gke")

    for kind, name in [("Deployment", "taskora"), ("Job", "taskora-migration")]:
        pod = only(documents, kind, name)["spec"]["template"]["spec"]
        proxy = pod["initContainers"][0]
        assert proxy["name"] == "cloud-sql-proxy"
        assert proxy["restartPolicy"] == "Always"
        assert proxy["args"][-1] == "replace-me-project:replace-me-region:replace-me-instance"
        assert "--private-ip" in proxy["args"]
        assert proxy["startupProbe"]["httpGet"]["path"] == "/startup"
    url = urlsplit(only(documents, "ConfigMap")["data"]["TASKORA_DATABASE_URL"])
    assert (url.hostname, url.port, url.query) == ("127.0.0.1", 5432, "sslmode=disable")
    account = only(documents, "ServiceAccount", "taskora")
    assert account["metadata"]["annotations"]["iam.gke.io/gcp-service-account"] == (
        "replace-me-gsa@replace-me-project.iam.gserviceaccount.com"
    )
    migration_account = only(documents, "ServiceAccount", "taskora-migration")
    assert "iam.gke.io/gcp-service-account" in migration_account["metadata"]["annotations"]


def test_aks_key_vault_secret_provider(helm_path: Path) -> None:
    documents = render(helm_path, "aks")

    provider = only(documents, "SecretProviderClass")
    assert provider["metadata"]["name"] == "taskora-key-vault"
    assert provider["metadata"]["annotations"]["helm.sh/hook-weight"] == "-10"
    assert provider["spec"]["parameters"]["keyvaultName"] == "replace-me-vault"
    assert provider["spec"]["secretObjects"] == [
        {
            "secretName": "taskora-database",
            "type": "Opaque",
            "data": [{"objectName": "taskora-database-password", "key": "password"}],
        },
        {
            "secretName": "taskora-redis",
            "type": "Opaque",
            "data": [{"objectName": "taskora-redis-password", "key": "password"}],
        },
    ]
    for kind, name in [("Deployment", "taskora"), ("Job", "taskora-migration")]:
        template = only(documents, kind, name)["spec"]["template"]
        assert template["metadata"]["labels"]["azure.workload.identity/use"] == "true"
        volume = next(v for v in template["spec"]["volumes"] if v["name"] == "azure-key-vault")
        assert volume["csi"]["volumeAttributes"] == {"secretProviderClass": "taskora-key-vault"}


CLIENT_ID = "5f1c7a2e-0d3b-4c9e-8a61-2b7d9e4f0c13"
CLIENT_ID_ANNOTATION = "azure.workload.identity/client-id"


def test_aks_client_id_set_once(helm_path: Path) -> None:
    documents = render(helm_path, "aks", "--set", f"azureKeyVault.clientId={CLIENT_ID}")

    provider = only(documents, "SecretProviderClass")
    assert provider["spec"]["parameters"]["clientID"] == CLIENT_ID
    for name in ("taskora", "taskora-migration"):
        annotations = only(documents, "ServiceAccount", name)["metadata"]["annotations"]
        assert annotations[CLIENT_ID_ANNOTATION] == CLIENT_ID


def test_aks_client_id_keeps_other_annotations(helm_path: Path) -> None:
    documents = render(
        helm_path,
        "aks",
        "--set",
        f"azureKeyVault.clientId={CLIENT_ID}",
        "--set",
        "serviceAccount.annotations.example\\.com/team=tasks",
    )

    annotations = only(documents, "ServiceAccount", "taskora")["metadata"]["annotations"]
    assert annotations == {CLIENT_ID_ANNOTATION: CLIENT_ID, "example.com/team": "tasks"}


def test_aks_same_client_id_twice_accepted(helm_path: Path) -> None:
    documents = render(
        helm_path,
        "aks",
        "--set",
        f"azureKeyVault.clientId={CLIENT_ID}",
        "--set",
        f"serviceAccount.annotations.azure\\.workload\\.identity/client-id={CLIENT_ID}",
    )

    annotations = only(documents, "ServiceAccount", "taskora")["metadata"]["annotations"]
    assert annotations == {CLIENT_ID_ANNOTATION: CLIENT_ID}


def test_aks_different_client_ids_rejected(helm_path: Path) -> None:
    stderr = template_error(
        helm_path,
        "-f",
        str(INSTALL_CASES["aks"]),
        "--set",
        f"azureKeyVault.clientId={CLIENT_ID}",
        "--set",
        "serviceAccount.annotations.azure\\.workload\\.identity/client-id=other-id",
    )

    assert (
        "serviceAccount.annotations.azure\\.workload\\.identity/client-id (other-id) differs from "
        f"azureKeyVault.clientId ({CLIENT_ID}), but the pods and the Key Vault driver must use "
        "one managed identity. Remove the annotation: the chart sets it from "
        "azureKeyVault.clientId, for example with --set "
        "'serviceAccount.annotations.azure\\.workload\\.identity/client-id=null'."
    ) in stderr


def test_client_id_annotation_without_key_vault(helm_path: Path) -> None:
    """Without Key Vault, workload identity still works from the annotation alone."""
    documents = render(
        helm_path,
        "aks",
        "--set",
        "azureKeyVault.enabled=false",
        "--set",
        f"serviceAccount.annotations.azure\\.workload\\.identity/client-id={CLIENT_ID}",
    )

    annotations = only(documents, "ServiceAccount", "taskora")["metadata"]["annotations"]
    assert annotations == {CLIENT_ID_ANNOTATION: CLIENT_ID}
    assert not [doc for doc in documents if doc["kind"] == "SecretProviderClass"]


def test_doks_load_balancer_annotations(helm_path: Path) -> None:
    clusterip = only(render(helm_path, "doks"), "Service")
    loadbalancer = only(
        render(
            helm_path,
            "doks",
            "--set",
            "service.type=LoadBalancer",
            "--set",
            "ingress.enabled=false",
        ),
        "Service",
    )

    assert "annotations" not in clusterip["metadata"]
    annotations = loadbalancer["metadata"]["annotations"]
    assert annotations["service.beta.kubernetes.io/do-loadbalancer-http-idle-timeout-seconds"] == (
        "600"
    )
    assert annotations["service.beta.kubernetes.io/do-loadbalancer-healthcheck-path"] == "/readyz"


@pytest.mark.parametrize("cloud", ["doks", "gke", "aks"])
def test_ingress_tls_cert_manager(helm_path: Path, cloud: str) -> None:
    ingress = only(render(helm_path, cloud), "Ingress")

    assert ingress["metadata"]["annotations"]["cert-manager.io/cluster-issuer"] == (
        "letsencrypt-prod"
    )
    assert ingress["spec"]["tls"] == [
        {"secretName": "taskora-tls", "hosts": ["taskora.example.com"]}
    ]


def test_autoscaling_owns_replicas(helm_path: Path) -> None:
    documents = render(helm_path, "doks", "--set", "autoscaling.enabled=true")

    assert "replicas" not in only(documents, "Deployment")["spec"]
    hpa = only(documents, "HorizontalPodAutoscaler")
    assert hpa["spec"]["minReplicas"] == 2
    assert hpa["spec"]["maxReplicas"] == 6
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "taskora",
    }
    pdb = only(documents, "PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == 1


def test_topology_spread_zones(helm_path: Path) -> None:
    pod = only(render(helm_path, "doks"), "Deployment")["spec"]["template"]["spec"]

    keys = [item["topologyKey"] for item in pod["topologySpreadConstraints"]]
    assert keys == ["topology.kubernetes.io/zone", "kubernetes.io/hostname"]


def test_helm_test_hook_calls_readyz(helm_path: Path) -> None:
    job = only(render(helm_path, "doks"), "Job", "taskora-test-readyz")

    assert job["metadata"]["annotations"]["helm.sh/hook"] == "test"
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["command"][-1] == "http://taskora.taskora.svc:80/readyz"


def test_registry_host_may_have_capitals(helm_path: Path) -> None:
    documents = render(
        helm_path, "dev", "--set", "image.repository=Registry.Example.com:5000/acme/taskora"
    )
    (deployment,) = [document for document in documents if document["kind"] == "Deployment"]

    image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image.startswith("Registry.Example.com:5000/acme/taskora:")


def test_recommended_labels(helm_path: Path) -> None:
    for document in render(helm_path, "dev"):
        labels = document["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] == "taskora", document["metadata"]["name"]
        assert labels["app.kubernetes.io/instance"] == "taskora"
        assert labels["app.kubernetes.io/managed-by"] == "Helm"
        assert labels["app.kubernetes.io/part-of"] == "taskora"
        assert "app.kubernetes.io/component" in labels


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--set", "config.ssePingSeconds=4000"],
            "ingress.annotations.nginx.ingress.kubernetes.io/proxy-read-timeout is 3600 seconds, "
            "which does not exceed config.ssePingSeconds (4000)",
        ),
        (
            ["--set", "gkeBackendConfig.enabled=true", "--set", "gkeBackendConfig.timeoutSec=10"],
            "gkeBackendConfig.timeoutSec is 10 seconds, which does not exceed "
            "config.ssePingSeconds (15)",
        ),
        (
            [
                "--set",
                "service.type=LoadBalancer",
                "--set-string",
                "service.loadBalancerAnnotations.service\\.beta\\.kubernetes\\.io/"
                "do-loadbalancer-http-idle-timeout-seconds=10",
            ],
            "do-loadbalancer-http-idle-timeout-seconds is 10 seconds, which does not exceed",
        ),
        (
            ["--set", "dapr.pubsub.type=kafka", "--set-json", "kafka.brokers=[]"],
            "dapr.pubsub.type is kafka but kafka.brokers is empty",
        ),
        (
            ["--set", "cloudSqlProxy.enabled=true"],
            "cloudSqlProxy.instanceConnectionName is empty",
        ),
        (
            ["--set", "terminationGracePeriodSeconds=30"],
            "terminationGracePeriodSeconds (30) must exceed dapr.gracefulShutdownSeconds (30)",
        ),
        (
            ["--set", "inClusterPostgresql.enabled=true", "--set", "database.existingSecret="],
            "inClusterPostgresql.enabled needs database.existingSecret",
        ),
        (
            ["--set", "image.repository=registry.digitalocean.com/Acme/Taskora"],
            'image.repository "registry.digitalocean.com/Acme/Taskora" has capital letters, '
            'which image references do not allow: use "registry.digitalocean.com/acme/taskora"',
        ),
    ],
    ids=[
        "nginx-timeout",
        "backend-timeout",
        "do-idle-timeout",
        "kafka-brokers",
        "proxy-instance",
        "grace-period",
        "dev-password",
        "image-capitals",
    ],
)
def test_chart_rejects_combinations(helm_path: Path, args: list[str], message: str) -> None:
    stderr = template_error(helm_path, "-f", str(INSTALL_CASES["doks"]), *args)

    assert message in stderr


# Ingress routing, the GKE class, the Dapr app token, the stream cap and the labels.


def test_ingress_routes_only_client_paths(helm_path: Path) -> None:
    ingress = only(render(helm_path, "doks"), "Ingress")

    [rule] = ingress["spec"]["rules"]
    assert [path["path"] for path in rule["http"]["paths"]] == ["/api", "/healthz"]
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert "kubernetes.io/ingress.class" not in ingress["metadata"]["annotations"]


def test_ingress_gce_class_as_annotation(helm_path: Path) -> None:
    ingress = only(render(helm_path, "gke"), "Ingress")

    assert ingress["metadata"]["annotations"]["kubernetes.io/ingress.class"] == "gce"
    assert "ingressClassName" not in ingress["spec"]


def test_dapr_app_token_annotation(helm_path: Path) -> None:
    manifests = render(helm_path, "doks", "--set", "dapr.appTokenSecret=taskora-dapr-token")

    deployment = only(manifests, "Deployment")
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["dapr.io/app-token-secret"] == "taskora-dapr-token"


def test_dapr_app_token_off_by_default(helm_path: Path) -> None:
    deployment = only(render(helm_path, "doks"), "Deployment")

    assert (
        "dapr.io/app-token-secret" not in deployment["spec"]["template"]["metadata"]["annotations"]
    )


def test_redis_pubsub_max_len(helm_path: Path) -> None:
    manifests = render(helm_path, "doks", "--set", "dapr.pubsub.maxLenApprox=5000")

    [pubsub] = [
        m for m in manifests if m["kind"] == "Component" and m["spec"]["type"] == "pubsub.redis"
    ]
    metadata = {entry["name"]: entry.get("value") for entry in pubsub["spec"]["metadata"]}
    assert metadata["maxLenApprox"] == "5000"


def test_version_label_ignores_image_tag(helm_path: Path) -> None:
    manifests = render(helm_path, "doks", "--set", "image.tag=9.9.9")

    versions = {m["metadata"]["labels"]["app.kubernetes.io/version"] for m in manifests}
    assert versions == {"0.1.0"}


def test_image_pull_secrets_both_forms(helm_path: Path) -> None:
    manifests = render(
        helm_path,
        "doks",
        "--set",
        "imagePullSecrets[0].name=regcred",
        "--set",
        "imagePullSecrets[1]=other",
    )

    deployment = only(manifests, "Deployment")
    assert deployment["spec"]["template"]["spec"]["imagePullSecrets"] == [
        {"name": "regcred"},
        {"name": "other"},
    ]
