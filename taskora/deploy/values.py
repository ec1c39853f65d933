"""Layer Helm values and record which layer set each key.

The layers apply in this order, later ones winning: the chart's ``values.yaml``, the cloud
profile, each ``-f`` file in the order given, then each ``--set``. Mappings merge key by
key, and any other value (a string, a number, a list) replaces the earlier one whole. A ``null``
removes the key, as it does in Helm.
"""

from __future__ import annotations

import copy
import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from taskora.deploy.errors import DeployError
from taskora.errors import ExitCode

logger = logging.getLogger(__name__)

# A key path from the root of the values: mapping keys are strings, list indexes integers.
KeyPath = tuple[str | int, ...]

# Sources of the layers that are not files, as shown by --explain.
CHART_DEFAULTS_SOURCE = "chart defaults"
SET_SOURCE = "--set"
SET_STRING_SOURCE = "--set-string"

# The profiles mark every name the user must supply with this text, such as
# "replace-me-registry". A real deploy rejects merged values that still contain it.
PLACEHOLDER_MARKER = "replace-me"
# Whole values that are placeholders too: the example host name of the profiles.
PLACEHOLDER_VALUES = ("taskora.example.com",)
# Description of the placeholders in messages.
PLACEHOLDER_DESCRIPTION = (
    f"a profile placeholder ({PLACEHOLDER_MARKER!r} or {PLACEHOLDER_VALUES[0]})"
)

# Helm rejects list indexes above a fixed cap so that a typo cannot allocate a huge list,
# and this parser does the same.
MAX_LIST_INDEX = 65535

# libyaml's loader and dumper when PyYAML was built with it: they read and write the same
# YAML as the pure-Python safe ones about ten times faster, which matters for a large
# commented values.yaml on every run.
_SafeLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_SafeDumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

# Key names whose value would be a secret, such as database.password or a token. The chart's
# schema rejects such keys, but --explain runs before the schema, so it hides their values.
_SECRET_WORD = re.compile(
    r"password|passwd|passphrase|token|secret|apikey|api_key|privatekey|private_key|"
    r"credential|connectionstring",
    re.IGNORECASE,
)
# Key names that only refer to a secret kept elsewhere: existingSecret and caSecret name a
# Kubernetes Secret, imagePullSecrets lists Secrets, passwordKey names a key inside one,
# secretName names the Secret to create, and azureKeyVault.secrets lists Key Vault names.
# apiKey, privateKey and clientSecret are secrets themselves.
_SECRET_REFERENCE = re.compile(r"(?<!api)(?<!private)Key$|(?<!client)Secrets?$|Name$|^secrets$")
# Text that --explain prints in place of a value that may be secret.
MASKED_VALUE = "<hidden: the key looks like a secret>"

_INDEX_SUFFIX = re.compile(r"\[(\d+)\]")
_INTEGER = re.compile(r"[-+]?[0-9]+")


@dataclass(frozen=True)
class ValueLayer:
    """A mapping of values and the source it came from, e.g. ``values file ./my.yaml``."""

    source: str
    values: Mapping[str, Any]


@dataclass(frozen=True)
class SetValue:
    """One ``KEY=VALUE`` assignment of a ``--set`` option, already parsed."""

    path: KeyPath
    value: Any
    source: str = SET_SOURCE


@dataclass(frozen=True)
class ValueOrigin:
    """One merged value, the layer that set it, and whether --explain hides it."""

    key: str
    value: Any
    source: str
    masked: bool = False


@dataclass
class MergedValues:
    """The merged values and, for each leaf key path, the source of the layer that set it."""

    values: dict[str, Any]
    provenance: dict[KeyPath, str] = field(default_factory=dict)

    def source_of(self, dotted_key: str) -> str | None:
        """Return the source of a key written as in ``--set`` (``image.tag``), or None."""
        return self.provenance.get(parse_key(dotted_key))

    def explain(self) -> list[tuple[str, str]]:
        """List ``(key, source)`` for every leaf, in the order of the merged values."""
        return [(format_key(path), source) for path, source in self._sourced_paths()]

    def origins(self) -> list[ValueOrigin]:
        """List every leaf's key, value and source, in the order of the merged values.

        The value of a key that looks secret (:func:`looks_secret`) is replaced with
        :data:`MASKED_VALUE`, unless it is empty or a boolean (``automountToken: false``).
        """
        rows: list[ValueOrigin] = []
        for path, source in self._sourced_paths():
            value = _value_at(self.values, path)
            masked = (
                looks_secret(path)
                and not isinstance(value, bool)
                and value not in (None, "", [], {})
            )
            rows.append(
                ValueOrigin(
                    key=format_key(path),
                    value=MASKED_VALUE if masked else value,
                    source=source,
                    masked=masked,
                )
            )
        return rows

    def _sourced_paths(self) -> list[tuple[KeyPath, str]]:
        rows: list[tuple[KeyPath, str]] = []
        for leaf in _leaf_paths(self.values, ()):
            if leaf in self.provenance:
                rows.append((leaf, self.provenance[leaf]))
            # List elements assigned one by one with --set a[0]=x have their own entries.
            nested = sorted(
                (
                    path
                    for path in self.provenance
                    if len(path) > len(leaf) and path[: len(leaf)] == leaf
                ),
                key=lambda path: [str(part) for part in path],
            )
            rows.extend((path, self.provenance[path]) for path in nested)
        return rows

    def placeholder_keys(self) -> list[str]:
        """List the keys whose string value is a profile placeholder.

        A placeholder contains :data:`PLACEHOLDER_MARKER` or is one of
        :data:`PLACEHOLDER_VALUES`, in any case. Keys are written as in ``--set``
        (``image.repository``, ``hosts[0]``), in the order of the merged values. Only values
        are checked, not mapping keys.
        """
        return [
            format_key(path)
            for path, text in _string_leaves(self.values, ())
            if PLACEHOLDER_MARKER in text.lower() or text.lower() in PLACEHOLDER_VALUES
        ]

    def to_yaml(self) -> str:
        """Serialize the values as YAML, in the order the layers defined the keys."""
        return yaml.dump(
            self.values,
            Dumper=_SafeDumper,
            sort_keys=False,
            default_flow_style=False,
            allow_unicode=True,
        )


class ValuesMerger:
    """Apply layers and ``--set`` assignments in order, tracking provenance."""

    def __init__(self) -> None:
        self._values: dict[str, Any] = {}
        self._provenance: dict[KeyPath, str] = {}

    def merge_layer(self, layer: ValueLayer) -> None:
        """Deep-merge a layer's mapping over the values merged so far."""
        logger.debug("merging values from %s", layer.source)
        self._merge_mapping(self._values, layer.values, (), layer.source)

    def assign(self, assignment: SetValue) -> None:
        """Set one key path, creating the mappings and lists on the way, as ``helm --set`` does."""
        path = assignment.path
        node: Any = self._values
        for depth, part in enumerate(path[:-1]):
            next_part = path[depth + 1]
            container_type = list if isinstance(next_part, int) else dict
            child = _get_child(node, part)
            if not isinstance(child, container_type):
                # A scalar (or the wrong kind of container) sits where the path needs to go
                # deeper, so it is replaced and no longer has a source of its own.
                self._forget(path[: depth + 1])
                child = container_type()
                _set_child(node, part, child)
            elif isinstance(child, dict):
                # An empty mapping had its own entry, which its new key replaces.
                self._provenance.pop(path[: depth + 1], None)
            node = child

        last = path[-1]
        self._forget(path)
        if assignment.value is None:
            _delete_child(node, last)
            return
        value = copy.deepcopy(assignment.value)
        _set_child(node, last, value)
        self._record(path, value, assignment.source)

    def result(self) -> MergedValues:
        """Return the merged values and their provenance."""
        return MergedValues(values=copy.deepcopy(self._values), provenance=dict(self._provenance))

    def _merge_mapping(
        self, base: dict[str, Any], override: Mapping[str, Any], path: KeyPath, source: str
    ) -> None:
        for key, value in override.items():
            key_path = (*path, key)
            current = base.get(key)
            if value is None:
                base.pop(key, None)
                self._forget(key_path)
            elif isinstance(value, Mapping) and isinstance(current, dict):
                if value:
                    # An empty mapping had its own entry, which its new keys replace.
                    self._provenance.pop(key_path, None)
                self._merge_mapping(current, value, key_path, source)
            else:
                self._forget(key_path)
                base[key] = _without_nulls(copy.deepcopy(value))
                self._record(key_path, base[key], source)

    def _record(self, path: KeyPath, value: Any, source: str) -> None:
        if isinstance(value, dict) and value:
            for key, child in value.items():
                self._record((*path, key), child, source)
        else:
            self._provenance[path] = source

    def _forget(self, path: KeyPath) -> None:
        """Drop the provenance of ``path`` and of every key below it."""
        size = len(path)
        for known in [known for known in self._provenance if known[:size] == path]:
            del self._provenance[known]


def merge_values(
    layers: Sequence[ValueLayer], assignments: Sequence[SetValue] = ()
) -> MergedValues:
    """Merge ``layers`` in order, then apply ``assignments`` in order."""
    merger = ValuesMerger()
    for layer in layers:
        merger.merge_layer(layer)
    for assignment in assignments:
        merger.assign(assignment)
    return merger.result()


def load_values_file(path: Path, kind: str = "values file") -> dict[str, Any]:
    """Read a YAML file whose top level is a mapping. An empty file is an empty mapping.

    ``kind`` names the file in error messages ("values file", "profile"). Every failure
    raises :class:`DeployError` naming the file, and the line for a YAML syntax error.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DeployError(f"{kind} not found: {path}", exit_code=ExitCode.USAGE) from None
    except IsADirectoryError:
        raise DeployError(
            f"{kind} {path} is a directory: pass a YAML file", exit_code=ExitCode.USAGE
        ) from None
    except UnicodeDecodeError as error:
        raise DeployError(
            f"{kind} {path} is not UTF-8 text: {error.reason} at byte {error.start}",
            exit_code=ExitCode.USAGE,
        ) from None
    except OSError as error:
        raise DeployError(
            f"cannot read {kind} {path}: {error.strerror}", exit_code=ExitCode.USAGE
        ) from None

    try:
        data = _load_yaml(text)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = error.problem or error.context or "syntax error"
        raise DeployError(
            f"invalid YAML in {kind} {path}{where}: {problem}", exit_code=ExitCode.USAGE
        ) from None
    except yaml.YAMLError as error:
        raise DeployError(
            f"invalid YAML in {kind} {path}: {error}", exit_code=ExitCode.USAGE
        ) from None

    if data is None:
        return {}
    if not isinstance(data, dict):
        raise DeployError(
            f"{kind} {path} must contain a mapping of keys to values at the top level, "
            f"not {_describe_type(data)}",
            exit_code=ExitCode.USAGE,
        )
    _check_string_keys(data, (), path, kind)
    return data


def parse_set_arguments(
    arguments: Sequence[str], source: str = SET_SOURCE, *, as_string: bool = False
) -> list[SetValue]:
    """Parse ``--set`` arguments, each holding one or more comma-separated ``KEY=VALUE`` pairs.

    Keys are dotted paths (``ingress.annotations``), with ``\\.`` for a dot inside a key and
    ``name[0]`` for a list index. Values follow ``helm --set``, described in
    :func:`parse_set_value`. A comma inside a value is written ``\\,``. With
    ``as_string``, as for ``--set-string``, every value stays a string.
    """
    option = "--set-string" if as_string else "--set"
    assignments: list[SetValue] = []
    for argument in arguments:
        for item in _split_unescaped(argument):
            key, separator, raw_value = item.partition("=")
            if not separator:
                raise DeployError(
                    f"invalid {option} {item!r}: expected KEY=VALUE, for example "
                    f"{option} replicaCount=2",
                    exit_code=ExitCode.USAGE,
                )
            path = parse_key(key, argument=item, option=option)
            value = parse_set_string_value(raw_value) if as_string else parse_set_value(raw_value)
            assignments.append(SetValue(path=path, value=value, source=source))
    return assignments


def parse_set_value(text: str) -> Any:
    """Convert a ``--set`` value the way ``helm --set`` does.

    ``true``/``false`` (any case) become booleans, ``null`` removes the key, and an
    integer without a leading zero becomes an int. ``{a,b}`` is a list of such values.
    Anything else stays a string, including ``1.5`` and ``007``, so an image tag such as
    ``1.20`` keeps its digits; put floats in a ``-f`` file.
    """
    unescaped = text.replace("\\,", ",")
    lowered = unescaped.lower()
    if lowered == "true":
        return True
    if lowered == "false":
        return False
    if lowered == "null":
        return None
    if unescaped == "0":
        return 0
    if _INTEGER.fullmatch(unescaped) and not unescaped.startswith("0"):
        return int(unescaped)
    if text.startswith("{") and text.endswith("}"):
        inner = text[1:-1]
        return [parse_set_value(part) for part in _split_unescaped(inner)] if inner else []
    return unescaped


def parse_set_string_value(text: str) -> str | list[str]:
    """Convert a ``--set-string`` value as ``helm --set-string`` does: always a string.

    ``{a,b}`` is a list of strings, and ``\\,`` is a comma inside a value.
    """
    if text.startswith("{") and text.endswith("}"):
        inner = text[1:-1]
        return [part.replace("\\,", ",") for part in _split_unescaped(inner)] if inner else []
    return text.replace("\\,", ",")


def parse_key(key: str, argument: str | None = None, option: str = "--set") -> KeyPath:
    """Split a ``--set`` key such as ``ingress.annotations.a\\.b/c`` or ``items[0].name``.

    ``option`` names the command-line option in error messages.
    """
    shown = argument if argument is not None else key
    segments: list[str] = []
    current: list[str] = []
    escaped = False
    for char in key:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ".":
            segments.append("".join(current))
            current = []
        else:
            current.append(char)
    segments.append("".join(current))

    path: list[str | int] = []
    for segment in segments:
        name, indexes = _split_indexes(segment, shown, option)
        if not name:
            raise DeployError(
                f"invalid {option} {shown!r}: the key has an empty part. "
                "Write keys like image.tag or items[0].name",
                exit_code=ExitCode.USAGE,
            )
        path.append(name)
        path.extend(indexes)
    return tuple(path)


def looks_secret(path: KeyPath) -> bool:
    """Tell whether the key at ``path`` is named like a secret value (``database.password``).

    The name that counts is the last mapping key of the path, so ``tokens[0]`` counts as
    ``tokens``. Names that only refer to a secret kept elsewhere, such as ``existingSecret``,
    ``passwordKey`` and ``secretName``, do not count.
    """
    names = [part for part in path if isinstance(part, str)]
    if not names:
        return False
    name = names[-1]
    return bool(_SECRET_WORD.search(name)) and not _SECRET_REFERENCE.search(name)


def format_key(path: KeyPath) -> str:
    """Write a key path the way ``--set`` reads it, escaping dots inside keys."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            escaped = part.replace("\\", "\\\\").replace(".", "\\.")
            text += f".{escaped}" if text else escaped
    return text


def _split_indexes(segment: str, shown: str, option: str) -> tuple[str, list[int]]:
    """Split ``name[1][2]`` into ``("name", [1, 2])``."""
    bracket = segment.find("[")
    if bracket == -1:
        return segment, []
    name, suffix = segment[:bracket], segment[bracket:]
    indexes = [int(match.group(1)) for match in _INDEX_SUFFIX.finditer(suffix)]
    if "".join(f"[{index}]" for index in indexes) != suffix or not indexes:
        raise DeployError(
            f"invalid {option} {shown!r}: a list index is written name[0] with a "
            "non-negative integer",
            exit_code=ExitCode.USAGE,
        )
    for index in indexes:
        if index > MAX_LIST_INDEX:
            raise DeployError(
                f"invalid {option} {shown!r}: list index {index} "
                f"is above the maximum {MAX_LIST_INDEX}",
                exit_code=ExitCode.USAGE,
            )
    return name, indexes


def _split_unescaped(text: str) -> Iterator[str]:
    """Split on commas that are neither escaped with a backslash nor inside ``{...}``."""
    start = 0
    depth = 0
    escaped = False
    for position, char in enumerate(text):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "{":
            depth += 1
        elif char == "}" and depth:
            depth -= 1
        elif char == "," and depth == 0:
            yield text[start:position]
            start = position + 1
    yield text[start:]


def _load_yaml(text: str) -> Any:
    try:
        return yaml.load(text, Loader=_SafeLoader)  # noqa: S506 - a safe loader
    except yaml.YAMLError:
        # libyaml words its errors differently, so the pure-Python loader reports them.
        return yaml.safe_load(text)


def _get_child(node: Any, part: str | int) -> Any:
    if isinstance(part, int):
        return node[part] if part < len(node) else None
    return node.get(part)


def _set_child(node: Any, part: str | int, value: Any) -> None:
    if isinstance(part, int):
        # Helm pads a list with nulls up to the index it sets.
        node.extend([None] * (part + 1 - len(node)))
    node[part] = value


def _delete_child(node: Any, part: str | int) -> None:
    if isinstance(part, int):
        if part < len(node):
            node[part] = None
    else:
        node.pop(part, None)


def _value_at(node: Any, path: KeyPath) -> Any:
    """Return the value at ``path``, or None where the path leaves the values."""
    for part in path:
        if isinstance(part, int):
            if not isinstance(node, list) or part >= len(node):
                return None
        elif not isinstance(node, dict):
            return None
        node = _get_child(node, part)
    return node


def _without_nulls(value: Any) -> Any:
    """Drop null entries of mappings, as Helm does when it merges values."""
    if isinstance(value, dict):
        return {key: _without_nulls(child) for key, child in value.items() if child is not None}
    return value


def _leaf_paths(node: Any, path: KeyPath) -> Iterator[KeyPath]:
    if isinstance(node, dict) and node:
        for key, child in node.items():
            yield from _leaf_paths(child, (*path, key))
    else:
        yield path


def _string_leaves(node: Any, path: KeyPath) -> Iterator[tuple[KeyPath, str]]:
    """Yield the path and text of every string inside mappings and lists."""
    if isinstance(node, dict):
        for key, child in node.items():
            yield from _string_leaves(child, (*path, key))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            yield from _string_leaves(child, (*path, index))
    elif isinstance(node, str):
        yield path, node


def _check_string_keys(node: Any, path: KeyPath, file: Path, kind: str) -> None:
    if isinstance(node, dict):
        for key, child in node.items():
            if not isinstance(key, str):
                where = f" under {format_key(path)}" if path else " at the top level"
                raise DeployError(
                    f"{kind} {file} has the non-string key {key!r}{where}: quote it",
                    exit_code=ExitCode.USAGE,
                )
            _check_string_keys(child, (*path, key), file, kind)
    elif isinstance(node, list):
        for index, child in enumerate(node):
            _check_string_keys(child, (*path, index), file, kind)


def _describe_type(value: object) -> str:
    names = {list: "a list", str: "a string", int: "a number", float: "a number", bool: "a boolean"}
    return names.get(type(value), f"a {type(value).__name__}")
