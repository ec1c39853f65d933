"""A JSON Schema of Dapr's Component resource, and a validator built on it.

kubernetes-validate accepts any custom resource without checking it, so these tests carry
their own schema. It follows the Component spec page of the Dapr docs
(docs.dapr.io/reference/resource-specs/component-schema). ``apiVersion`` is
dapr.io/v1alpha1 and ``kind`` is Component. ``metadata.name``, ``spec.type`` and
``spec.version`` are required. Each ``spec.metadata`` item has a name and exactly one of
``value`` or ``secretKeyRef`` (name and key), as the "Reference secrets in components"
page describes.
"""

from __future__ import annotations

from typing import Any

import jsonschema

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"

COMPONENT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "dapr.io/v1alpha1"},
        "kind": {"const": "Component"},
        "auth": {
            "type": "object",
            "required": ["secretStore"],
            "additionalProperties": False,
            "properties": {"secretStore": {"type": "string", "minLength": 1}},
        },
        "metadata": {
            "type": "object",
            "required": ["name"],
            "additionalProperties": False,
            "properties": {
                "name": {"type": "string", "pattern": DNS_LABEL},
                "namespace": {"type": "string", "pattern": DNS_LABEL},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        },
        "spec": {
            "type": "object",
            "required": ["type", "version"],
            "additionalProperties": False,
            "properties": {
                "type": {
                    "type": "string",
                    "pattern": r"^(bindings|configuration|conversation|crypto|lock|"
                    r"middleware\.http|nameresolution|pubsub|secretstores|state|workflow)"
                    r"\.[a-z0-9][a-z0-9.\-]*$",
                },
                "version": {"type": "string", "pattern": r"^v[0-9]+((alpha|beta)[0-9]+)?$"},
                "initTimeout": {"type": "string", "pattern": r"^([0-9]+(ms|s|m|h))+$"},
                "ignoreErrors": {"type": "boolean"},
                "metadata": {"type": "array", "items": {"$ref": "#/$defs/metadataItem"}},
            },
        },
        "scopes": {
            "type": "array",
            "items": {"type": "string", "pattern": DNS_LABEL},
            "uniqueItems": True,
        },
    },
    "$defs": {
        "metadataItem": {
            "type": "object",
            "required": ["name"],
            "additionalProperties": False,
            "properties": {
                "name": {"type": "string", "minLength": 1},
                "value": {"type": ["string", "number", "boolean"]},
                "secretKeyRef": {
                    "type": "object",
                    "required": ["name", "key"],
                    "additionalProperties": False,
                    "properties": {
                        "name": {"type": "string", "minLength": 1},
                        "key": {"type": "string", "minLength": 1},
                    },
                },
            },
            "oneOf": [{"required": ["value"]}, {"required": ["secretKeyRef"]}],
        }
    },
}

# Metadata fields that each component type cannot work without, from the component
# reference pages of the Dapr docs (Redis Streams, Redis, Local file, Cron binding spec).
REQUIRED_METADATA = {
    "pubsub.redis": {"redisHost"},
    "state.redis": {"redisHost"},
    "secretstores.local.file": {"secretsFile"},
    "bindings.cron": {"schedule"},
}

_VALIDATOR = jsonschema.Draft202012Validator(COMPONENT_SCHEMA)


class InvalidComponent(Exception):
    """A component that Dapr would reject, with every problem found."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def component_problems(component: Any) -> list[str]:
    """Return what is wrong with ``component`` (a parsed manifest); empty when valid."""
    problems = [
        f"{'/'.join(str(part) for part in error.absolute_path) or '(root)'}: {error.message}"
        for error in sorted(_VALIDATOR.iter_errors(component), key=lambda item: item.path)
    ]
    if problems:
        return problems

    items = component["spec"].get("metadata", [])
    names = [item["name"] for item in items]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        problems.append(f"spec/metadata: duplicate names {duplicates}")
    missing = REQUIRED_METADATA.get(component["spec"]["type"], set()) - set(names)
    if missing:
        problems.append(f"spec/metadata: missing {sorted(missing)}")
    return problems


def validate_component(component: Any) -> None:
    """Raise :class:`InvalidComponent` unless ``component`` is a valid Dapr Component."""
    problems = component_problems(component)
    if problems:
        raise InvalidComponent(problems)
