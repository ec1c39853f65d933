"""JSON schemas of the custom resources the chart renders, and checks between their fields.

kubernetes-validate checks only built-in kinds, so these schemas cover the rest. The Dapr
ones follow the Component, Configuration and Resiliency CRDs of Dapr 1.14 to 1.16 (the
``dapr.io/v1alpha1`` API) and are stricter than the CRDs where the chart's contract is:
every Dapr resource must list scopes, and a metadata item has a value or a secretKeyRef,
never both. BackendConfig follows GKE's ``cloud.google.com/v1`` API and SecretProviderClass
the Secrets Store CSI driver's ``secrets-store.csi.x-k8s.io/v1`` API.
"""

from __future__ import annotations

from typing import Any

import jsonschema

NAME = {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "maxLength": 63}
GO_DURATION = {"type": "string", "pattern": r"^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$"}


def _metadata(namespaced: bool = True) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "name": NAME,
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
    }
    if namespaced:
        properties["namespace"] = NAME
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["name", "namespace"] if namespaced else ["name"],
        "properties": properties,
    }


def _resource(api_version: str, kind: str, spec: dict[str, Any], **extra: Any) -> dict[str, Any]:
    properties = {
        "apiVersion": {"const": api_version},
        "kind": {"const": kind},
        "metadata": _metadata(),
        "spec": spec,
        **extra,
    }
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "additionalProperties": False,
        "required": ["apiVersion", "kind", "metadata", "spec", *extra],
        "properties": properties,
    }


SCOPES = {"type": "array", "minItems": 1, "items": NAME}

METADATA_ITEM = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "value": {"type": "string"},
        "secretKeyRef": {
            "type": "object",
            "additionalProperties": False,
            "required": ["name", "key"],
            "properties": {"name": {"type": "string", "minLength": 1}, "key": {"type": "string"}},
        },
    },
    "oneOf": [{"required": ["value"]}, {"required": ["secretKeyRef"]}],
}

COMPONENT = _resource(
    "dapr.io/v1alpha1",
    "Component",
    {
        "type": "object",
        "additionalProperties": False,
        "required": ["type", "version", "metadata"],
        "properties": {
            "type": {
                "type": "string",
                "pattern": r"^(pubsub|state|secretstores|bindings|configuration|lock)\.[a-z0-9.]+$",
            },
            "version": {"type": "string", "pattern": r"^v[0-9]+$"},
            "metadata": {"type": "array", "items": METADATA_ITEM},
            "ignoreErrors": {"type": "boolean"},
            "initTimeout": GO_DURATION,
        },
    },
    scopes=SCOPES,
    auth={
        "type": "object",
        "additionalProperties": False,
        "required": ["secretStore"],
        "properties": {"secretStore": NAME},
    },
)
# auth is optional, and only scopes is required besides the resource's own fields.
COMPONENT["required"] = ["apiVersion", "kind", "metadata", "spec", "scopes"]

CONFIGURATION = _resource(
    "dapr.io/v1alpha1",
    "Configuration",
    {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "tracing": {
                "type": "object",
                "additionalProperties": False,
                "required": ["samplingRate"],
                "properties": {
                    "samplingRate": {"type": "string", "pattern": r"^(0(\.[0-9]+)?|1(\.0+)?)$"},
                    "otel": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["endpointAddress", "isSecure", "protocol"],
                        "properties": {
                            "endpointAddress": {"type": "string", "minLength": 1},
                            "isSecure": {"type": "boolean"},
                            "protocol": {"enum": ["grpc", "http"]},
                        },
                    },
                },
            },
            "metric": {
                "type": "object",
                "additionalProperties": False,
                "required": ["enabled"],
                "properties": {"enabled": {"type": "boolean"}},
            },
            "secrets": {
                "type": "object",
                "additionalProperties": False,
                "required": ["scopes"],
                "properties": {
                    "scopes": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "additionalProperties": False,
                            "required": ["storeName", "defaultAccess"],
                            "properties": {
                                "storeName": NAME,
                                "defaultAccess": {"enum": ["allow", "deny"]},
                                "allowedSecrets": {"type": "array", "items": {"type": "string"}},
                                "deniedSecrets": {"type": "array", "items": {"type": "string"}},
                            },
                        },
                    }
                },
            },
        },
    },
)

_POLICY_NAMES = {"type": "object", "additionalProperties": {"type": "object"}}
RESILIENCY = _resource(
    "dapr.io/v1alpha1",
    "Resiliency",
    {
        "type": "object",
        "additionalProperties": False,
        "required": ["policies", "targets"],
        "properties": {
            "policies": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "timeouts": {"type": "object", "additionalProperties": GO_DURATION},
                    "retries": {
                        "type": "object",
                        "additionalProperties": {
                            "type": "object",
                            "additionalProperties": False,
                            "required": ["policy", "maxRetries"],
                            "properties": {
                                "policy": {"enum": ["constant", "exponential"]},
                                "duration": GO_DURATION,
                                "maxInterval": GO_DURATION,
                                "maxRetries": {"type": "integer", "minimum": -1},
                            },
                        },
                    },
                    "circuitBreakers": {
                        "type": "object",
                        "additionalProperties": {
                            "type": "object",
                            "additionalProperties": False,
                            "required": ["trip", "timeout"],
                            "properties": {
                                "maxRequests": {"type": "integer", "minimum": 0},
                                "interval": GO_DURATION,
                                "timeout": GO_DURATION,
                                "trip": {
                                    "type": "string",
                                    "pattern": r"^consecutiveFailures >= [0-9]+$",
                                },
                            },
                        },
                    },
                },
            },
            "targets": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "apps": _POLICY_NAMES,
                    "actors": _POLICY_NAMES,
                    "components": {
                        "type": "object",
                        "additionalProperties": {
                            "type": "object",
                            "additionalProperties": False,
                            "properties": {
                                direction: {
                                    "type": "object",
                                    "additionalProperties": False,
                                    "properties": {
                                        "timeout": {"type": "string"},
                                        "retry": {"type": "string"},
                                        "circuitBreaker": {"type": "string"},
                                    },
                                }
                                for direction in ("inbound", "outbound")
                            },
                        },
                    },
                },
            },
        },
    },
    scopes=SCOPES,
)

BACKEND_CONFIG = _resource(
    "cloud.google.com/v1",
    "BackendConfig",
    {
        "type": "object",
        "additionalProperties": False,
        "required": ["timeoutSec"],
        "properties": {
            "timeoutSec": {"type": "integer", "minimum": 1},
            "connectionDraining": {
                "type": "object",
                "additionalProperties": False,
                "properties": {"drainingTimeoutSec": {"type": "integer", "minimum": 0}},
            },
            "healthCheck": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "type": {"enum": ["HTTP", "HTTPS", "HTTP2"]},
                    "requestPath": {"type": "string", "pattern": "^/"},
                    "port": {"type": "integer", "minimum": 1, "maximum": 65535},
                },
            },
        },
    },
)

SECRET_PROVIDER_CLASS = _resource(
    "secrets-store.csi.x-k8s.io/v1",
    "SecretProviderClass",
    {
        "type": "object",
        "additionalProperties": False,
        "required": ["provider", "parameters"],
        "properties": {
            "provider": {"enum": ["azure", "gcp", "aws", "vault"]},
            "parameters": {"type": "object", "additionalProperties": {"type": "string"}},
            "secretObjects": {
                "type": "array",
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["secretName", "type", "data"],
                    "properties": {
                        "secretName": NAME,
                        "type": {"type": "string"},
                        "data": {
                            "type": "array",
                            "minItems": 1,
                            "items": {
                                "type": "object",
                                "additionalProperties": False,
                                "required": ["objectName", "key"],
                                "properties": {
                                    "objectName": {"type": "string"},
                                    "key": {"type": "string"},
                                },
                            },
                        },
                    },
                },
            },
        },
    },
)

SCHEMAS: dict[tuple[str, str], dict[str, Any]] = {
    ("dapr.io/v1alpha1", "Component"): COMPONENT,
    ("dapr.io/v1alpha1", "Configuration"): CONFIGURATION,
    ("dapr.io/v1alpha1", "Resiliency"): RESILIENCY,
    ("cloud.google.com/v1", "BackendConfig"): BACKEND_CONFIG,
    ("secrets-store.csi.x-k8s.io/v1", "SecretProviderClass"): SECRET_PROVIDER_CLASS,
}

# Component metadata that contains a credential: it must come from a secretKeyRef.
CREDENTIAL_METADATA = {"redisPassword", "saslPassword", "connectionString", "caCert", "password"}


class CustomResourceError(Exception):
    """A rendered custom resource breaks its schema or the chart's rules."""


def validate_custom_resource(document: dict[str, Any], app_id: str) -> None:
    """Check one custom resource against its schema and the rules between its fields.

    Raises :class:`CustomResourceError` naming the resource and the first problem found.
    """
    key = (document.get("apiVersion"), document.get("kind"))
    schema = SCHEMAS.get(key)  # type: ignore[arg-type]
    name = document.get("metadata", {}).get("name")
    if schema is None:
        raise CustomResourceError(f"no schema for {key[0]} {key[1]} {name!r}")
    try:
        jsonschema.validate(document, schema)
    except jsonschema.ValidationError as error:
        path = "/".join(str(part) for part in error.absolute_path)
        raise CustomResourceError(f"{key[1]} {name!r} at '/{path}': {error.message}") from None

    if key[0] == "dapr.io/v1alpha1" and key[1] != "Configuration":
        if document["scopes"] != [app_id]:
            raise CustomResourceError(
                f"{key[1]} {name!r} has scopes {document['scopes']}, expected [{app_id!r}]"
            )
    if key[1] == "Component":
        _check_component(document, name)
    if key[1] == "Resiliency":
        _check_resiliency(document, name)


def _check_component(document: dict[str, Any], name: str) -> None:
    items = document["spec"]["metadata"]
    names = [item["name"] for item in items]
    if len(names) != len(set(names)):
        raise CustomResourceError(f"Component {name!r} repeats a metadata name: {names}")
    for item in items:
        if item["name"] in CREDENTIAL_METADATA and "secretKeyRef" not in item:
            raise CustomResourceError(
                f"Component {name!r} sets {item['name']} as a value; it must be a secretKeyRef"
            )
        if "secretKeyRef" in item and "auth" not in document:
            raise CustomResourceError(
                f"Component {name!r} uses a secretKeyRef without auth.secretStore"
            )
    kind = document["spec"]["type"]
    values = {item["name"]: item.get("value") for item in items}
    if kind.startswith("pubsub.") and values.get("consumerID") != "{podName}":
        raise CustomResourceError(
            f"Component {name!r} has consumerID {values.get('consumerID')!r}, expected "
            "'{podName}' so that every replica receives every event"
        )
    if kind == "bindings.cron":
        if not values.get("schedule") or values.get("direction") != "input":
            raise CustomResourceError(
                f"Component {name!r} needs a schedule and direction 'input', got {values}"
            )


def _check_resiliency(document: dict[str, Any], name: str) -> None:
    policies = document["spec"]["policies"]
    kinds = {"timeout": "timeouts", "retry": "retries", "circuitBreaker": "circuitBreakers"}
    for target, rules in document["spec"]["targets"].get("components", {}).items():
        for direction, references in rules.items():
            for field, policy in references.items():
                if policy not in policies.get(kinds[field], {}):
                    raise CustomResourceError(
                        f"Resiliency {name!r} target {target}.{direction}.{field} names "
                        f"undefined policy {policy!r}"
                    )
