"""Layering of values, provenance, ``--set`` parsing and values-file errors (no helm needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from taskora.deploy import assets
from taskora.deploy.errors import DeployError
from taskora.deploy.plan import (
    DeployRequest,
    apply,
    build_plan,
    check_no_placeholders,
    merge_request_values,
)
from taskora.deploy.values import (
    MASKED_VALUE,
    SET_STRING_SOURCE,
    SetValue,
    ValueLayer,
    ValueOrigin,
    format_key,
    load_values_file,
    looks_secret,
    merge_values,
    parse_key,
    parse_set_arguments,
    parse_set_value,
)
from taskora.errors import ExitCode

DOKS_PROFILE = f"profile doks ({assets.PROFILES_DIR / 'doks.yaml'})"
READ_TIMEOUT = "nginx.ingress.kubernetes.io/proxy-read-timeout"
BUFFERING = "nginx.ingress.kubernetes.io/proxy-buffering"


@pytest.fixture
def any_helm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An executable in place of helm, because build_plan only checks that helm exists."""
    helm = tmp_path / "bin" / "helm"
    helm.parent.mkdir()
    helm.write_text("#!/bin/sh\nexit 0\n")
    helm.chmod(0o755)
    monkeypatch.setenv("TASKORA_HELM", str(helm))
    return helm


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_layers_apply_in_order(tmp_path: Path, any_helm: Path) -> None:
    first = write(
        tmp_path / "first.yaml",
        "replicaCount: 2\nimage:\n  repository: registry.example.org/first/taskora\n"
        "ingress:\n  annotations:\n    example.org/first: 'yes'\n",
    )
    second = write(tmp_path / "second.yaml", "replicaCount: 3\n")
    request = DeployRequest(
        cloud="doks",
        values_files=(first, second),
        set_arguments=("replicaCount=4", "image.tag=from-set"),
        image_tag="from-option",
    )

    merged = build_plan(request).values

    assert merged.values["replicaCount"] == 4
    assert merged.values["image"]["repository"] == "registry.example.org/first/taskora"
    assert merged.values["image"]["tag"] == "from-option"
    assert merged.values["image"]["pullPolicy"] == "IfNotPresent"
    assert merged.values["ingress"]["className"] == "nginx"
    # Mappings merge: the profile's annotations stay next to the file's.
    assert merged.values["ingress"]["annotations"][READ_TIMEOUT] == "3600"
    assert merged.values["ingress"]["annotations"]["example.org/first"] == "yes"


def test_provenance_names_each_layer(tmp_path: Path, any_helm: Path) -> None:
    first = write(
        tmp_path / "first.yaml",
        "replicaCount: 2\nimage:\n  repository: registry.example.org/first/taskora\n",
    )
    second = write(tmp_path / "second.yaml", "replicaCount: 3\nservice:\n  port: 8080\n")
    request = DeployRequest(
        cloud="doks",
        values_files=(first, second),
        set_arguments=("replicaCount=4",),
        image_tag="1.0.0",
    )

    merged = build_plan(request).values

    assert merged.source_of("replicaCount") == "--set"
    assert merged.source_of("image.tag") == "--image-tag"
    assert merged.source_of("image.repository") == f"values file {first}"
    assert merged.source_of("service.port") == f"values file {second}"
    assert merged.source_of("image.pullPolicy") == "chart defaults"
    assert merged.source_of("ingress.className") == DOKS_PROFILE
    assert (
        merged.source_of("ingress.annotations.nginx\\.ingress\\.kubernetes\\.io/proxy-read-timeout")
        == DOKS_PROFILE
    )


def test_explain_lists_keys_in_values_order(any_helm: Path) -> None:
    merged = build_plan(DeployRequest(cloud="gke", set_arguments=("replicaCount=2",))).values

    rows = merged.explain()

    assert rows[0] == ("replicaCount", "--set")
    assert rows[1] == ("image.repository", f"profile gke ({assets.PROFILES_DIR / 'gke.yaml'})")
    assert (
        "service.annotations.cloud\\.google\\.com/neg",
        f"profile gke ({assets.PROFILES_DIR / 'gke.yaml'})",
    ) in rows
    assert ("tolerations", "chart defaults") in rows


def test_null_removes_key(tmp_path: Path, any_helm: Path) -> None:
    override = write(
        tmp_path / "override.yaml",
        f"ingress:\n  annotations:\n    {BUFFERING}: null\n",
    )

    merged = build_plan(DeployRequest(cloud="doks", values_files=(override,))).values

    assert BUFFERING not in merged.values["ingress"]["annotations"]
    assert merged.source_of(format_key(("ingress", "annotations", BUFFERING))) is None
    assert merged.values["ingress"]["annotations"][READ_TIMEOUT] == "3600"


def test_list_replaces_whole_list() -> None:
    merged = merge_values(
        [
            ValueLayer("base", {"tolerations": [{"key": "a"}, {"key": "b"}]}),
            ValueLayer("override", {"tolerations": [{"key": "c"}]}),
        ]
    )

    assert merged.values["tolerations"] == [{"key": "c"}]
    assert merged.provenance[("tolerations",)] == "override"


def test_scalar_replaced_by_mapping() -> None:
    merged = merge_values(
        [ValueLayer("base", {"a": "text"}), ValueLayer("override", {"a": {"b": 1, "c": 2}})]
    )

    assert merged.values == {"a": {"b": 1, "c": 2}}
    assert merged.provenance == {("a", "b"): "override", ("a", "c"): "override"}


def test_set_into_empty_mapping_moves_source() -> None:
    merged = merge_values(
        [ValueLayer("base", {"podLabels": {}})],
        [SetValue(path=("podLabels", "team"), value="core")],
    )

    assert merged.values == {"podLabels": {"team": "core"}}
    assert merged.provenance == {("podLabels", "team"): "--set"}


def test_set_list_index_pads_and_keeps_list_source() -> None:
    merged = merge_values(
        [ValueLayer("base", {"items": ["a"]})],
        parse_set_arguments(["items[2]=c"]),
    )

    assert merged.values["items"] == ["a", None, "c"]
    assert merged.provenance[("items",)] == "base"
    assert merged.provenance[("items", 2)] == "--set"
    assert merged.explain() == [("items", "base"), ("items[2]", "--set")]


def test_set_through_scalar_replaces_it() -> None:
    merged = merge_values([ValueLayer("base", {"a": 1})], parse_set_arguments(["a.b=2"]))

    assert merged.values == {"a": {"b": 2}}
    assert merged.provenance == {("a", "b"): "--set"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3", 3),
        ("-7", -7),
        ("0", 0),
        ("true", True),
        ("False", False),
        ("null", None),
        ("007", "007"),
        ("1.20", "1.20"),
        ("", ""),
        ("plain text", "plain text"),
        ("a\\,b", "a,b"),
        ("{a,2,true}", ["a", 2, True]),
        ("{}", []),
    ],
)
def test_set_value_parsing(text: str, expected: Any) -> None:
    assert parse_set_value(text) == expected


def test_set_parses_dotted_keys_and_types() -> None:
    assignments = parse_set_arguments(["replicaCount=3", "a.b=true"])

    assert assignments == [
        SetValue(path=("replicaCount",), value=3),
        SetValue(path=("a", "b"), value=True),
    ]


def test_set_splits_on_unescaped_commas() -> None:
    assignments = parse_set_arguments(["a=1,b=x\\,y,list={p,q}"])

    assert assignments == [
        SetValue(path=("a",), value=1),
        SetValue(path=("b",), value="x,y"),
        SetValue(path=("list",), value=["p", "q"]),
    ]


def test_set_key_with_escaped_dots() -> None:
    path = parse_key("ingress.annotations.nginx\\.ingress\\.kubernetes\\.io/proxy-body-size")

    assert path == ("ingress", "annotations", "nginx.ingress.kubernetes.io/proxy-body-size")
    assert (
        format_key(path) == "ingress.annotations.nginx\\.ingress\\.kubernetes\\.io/proxy-body-size"
    )


def test_set_key_with_indexes() -> None:
    assert parse_key("a.b[0][3].c") == ("a", "b", 0, 3, "c")


def test_set_without_equals_rejected() -> None:
    with pytest.raises(DeployError) as error:
        parse_set_arguments(["replicaCount"])

    assert error.value.message == (
        "invalid --set 'replicaCount': expected KEY=VALUE, for example --set replicaCount=2"
    )
    assert error.value.exit_code == ExitCode.USAGE


@pytest.mark.parametrize("argument", ["=1", "a..b=1", ".a=1", "a.=1"])
def test_set_empty_key_part_rejected(argument: str) -> None:
    with pytest.raises(DeployError) as error:
        parse_set_arguments([argument])

    assert error.value.message.startswith(f"invalid --set {argument!r}: the key has an empty part")


@pytest.mark.parametrize("argument", ["a[x]=1", "a[-1]=1", "a[1=1", "a[1]b=1"])
def test_set_bad_index_rejected(argument: str) -> None:
    with pytest.raises(DeployError) as error:
        parse_set_arguments([argument])

    assert "a list index is written name[0]" in error.value.message


def test_set_huge_index_rejected() -> None:
    with pytest.raises(DeployError) as error:
        parse_set_arguments(["a[70000]=1"])

    assert (
        error.value.message
        == "invalid --set 'a[70000]=1': list index 70000 is above the maximum 65535"
    )


def test_missing_values_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.yaml"

    with pytest.raises(DeployError) as error:
        load_values_file(missing)

    assert error.value.message == f"values file not found: {missing}"
    assert error.value.exit_code == ExitCode.USAGE


def test_malformed_values_file_names_line(tmp_path: Path) -> None:
    broken = write(tmp_path / "broken.yaml", "replicaCount: 2\nimage:\n  tag: [1, 2\nservice: {}\n")

    with pytest.raises(DeployError) as error:
        load_values_file(broken)

    assert error.value.message == (
        f"invalid YAML in values file {broken} at line 4, column 8: expected ',' or ']', but got ':'"
    )


def test_indented_key_names_line(tmp_path: Path) -> None:
    broken = write(tmp_path / "broken.yaml", "a: 1\n  b: 2\n")

    with pytest.raises(DeployError) as error:
        load_values_file(broken)

    assert error.value.message == (
        f"invalid YAML in values file {broken} at line 2, column 4: mapping values are not allowed here"
    )


@pytest.mark.parametrize(
    ("text", "found"), [("- a\n- b\n", "a list"), ("just text\n", "a string"), ("42\n", "a number")]
)
def test_values_file_not_mapping(tmp_path: Path, text: str, found: str) -> None:
    path = write(tmp_path / "list.yaml", text)

    with pytest.raises(DeployError) as error:
        load_values_file(path)

    assert error.value.message == (
        f"values file {path} must contain a mapping of keys to values at the top level, not {found}"
    )


def test_empty_values_file_is_empty_mapping(tmp_path: Path) -> None:
    assert load_values_file(write(tmp_path / "empty.yaml", "# nothing yet\n")) == {}


def test_values_file_non_string_key(tmp_path: Path) -> None:
    path = write(tmp_path / "keys.yaml", "podLabels:\n  1: one\n")

    with pytest.raises(DeployError) as error:
        load_values_file(path)

    assert (
        error.value.message
        == f"values file {path} has the non-string key 1 under podLabels: quote it"
    )


def test_values_file_is_directory(tmp_path: Path) -> None:
    with pytest.raises(DeployError) as error:
        load_values_file(tmp_path)

    assert error.value.message == f"values file {tmp_path} is a directory: pass a YAML file"


def test_unknown_cloud_lists_known(any_helm: Path) -> None:
    with pytest.raises(DeployError) as error:
        build_plan(DeployRequest(cloud="gcp"))

    assert error.value.message == "unknown cloud 'gcp': use one of aks, doks, gke"
    assert error.value.exit_code == ExitCode.USAGE


@pytest.mark.parametrize(
    ("field", "value", "start"),
    [
        ("release", "Taskora", "invalid release name 'Taskora'"),
        ("release", "a" * 54, f"invalid release name '{'a' * 54}'"),
        ("namespace", "team_a", "invalid namespace 'team_a'"),
        ("image_tag", "-bad", "invalid image tag '-bad'"),
        ("timeout", "10 minutes", "invalid timeout '10 minutes'"),
    ],
)
def test_invalid_request_fields(any_helm: Path, field: str, value: str, start: str) -> None:
    request = DeployRequest(cloud="doks", **{field: value})

    with pytest.raises(DeployError) as error:
        build_plan(request)

    assert error.value.message.startswith(start)
    assert error.value.exit_code == ExitCode.USAGE


def test_cloud_name_normalized(any_helm: Path) -> None:
    plan = build_plan(DeployRequest(cloud="AKS"))

    assert plan.request.cloud == "aks"
    assert plan.values.source_of("ingress.className") == (
        f"profile aks ({assets.PROFILES_DIR / 'aks.yaml'})"
    )


def test_placeholder_keys_nested_and_lists() -> None:
    merged = merge_values(
        [
            ValueLayer(
                "test",
                {
                    "image": {"repository": "Replace-Me.example/taskora", "tag": "1.0"},
                    "hosts": ["tasks.example.org", "REPLACE-ME.example.org"],
                    "annotations": {"replace-me/key": "kept", "a.b": "replace-me-value"},
                    "replicaCount": 2,
                },
            )
        ]
    )

    assert merged.placeholder_keys() == ["image.repository", "hosts[1]", "annotations.a\\.b"]


def test_placeholder_keys_none_left() -> None:
    merged = merge_values(
        [ValueLayer("test", {"image": {"repository": "replace-me/taskora"}})],
        [SetValue(path=("image", "repository"), value="acme/taskora")],
    )

    assert merged.placeholder_keys() == []
    check_no_placeholders(merged)


def test_placeholder_error_one_key() -> None:
    merged = merge_values([ValueLayer("test", {"database": {"host": "replace-me-db"}})])

    with pytest.raises(DeployError) as error:
        check_no_placeholders(merged)

    assert error.value.message == (
        "nothing deployed: 1 key still contains a profile placeholder ('replace-me' or "
        "taskora.example.com): database.host. Set each with -f FILE or --set KEY=VALUE"
    )
    assert error.value.exit_code == ExitCode.USAGE


def test_apply_rejects_placeholders_before_helm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "helm-ran"
    helm = tmp_path / "helm"
    helm.write_text(f"#!/bin/sh\ntouch {marker}\n", encoding="utf-8")
    helm.chmod(0o755)
    monkeypatch.setenv("TASKORA_HELM", str(helm))
    plan = build_plan(DeployRequest(cloud="doks"))

    with pytest.raises(DeployError) as error:
        apply(plan)

    assert error.value.message.startswith("nothing deployed: 4 keys still contain")
    assert not marker.exists()


def test_values_out_same_as_input(tmp_path: Path, any_helm: Path) -> None:
    own = write(tmp_path / "own.yaml", "replicaCount: 2\n")
    (tmp_path / "sub").mkdir()
    same_file = tmp_path / "sub" / ".." / "own.yaml"
    request = DeployRequest(cloud="doks", values_files=(own,), values_out=same_file)

    with pytest.raises(DeployError) as error:
        build_plan(request)

    assert error.value.message.startswith(f"invalid --values-out {same_file}: it is also")
    assert error.value.exit_code == ExitCode.USAGE


def test_example_host_is_placeholder() -> None:
    merged = merge_values(
        [ValueLayer("test", {"ingress": {"host": "Taskora.Example.com"}, "other": "example.com"})]
    )

    assert merged.placeholder_keys() == ["ingress.host"]


def test_set_string_keeps_strings() -> None:
    assignments = parse_set_arguments(
        ["image.tag=1.20,replicaCount=3,flag=true,list={007,x},escaped=a\\,b"],
        SET_STRING_SOURCE,
        as_string=True,
    )

    assert [(a.path, a.value, a.source) for a in assignments] == [
        (("image", "tag"), "1.20", "--set-string"),
        (("replicaCount",), "3", "--set-string"),
        (("flag",), "true", "--set-string"),
        (("list",), ["007", "x"], "--set-string"),
        (("escaped",), "a,b", "--set-string"),
    ]


def test_set_string_error_names_option() -> None:
    with pytest.raises(DeployError) as error:
        parse_set_arguments(["replicaCount"], SET_STRING_SOURCE, as_string=True)

    assert error.value.message == (
        "invalid --set-string 'replicaCount': expected KEY=VALUE, for example "
        "--set-string replicaCount=2"
    )
    assert error.value.exit_code == ExitCode.USAGE


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (("database", "password"), True),
        (("redis", "token"), True),
        (("azure", "clientSecret"), True),
        (("service", "apiKey"), True),
        (("tls", "privateKey"), True),
        (("tokens", 0), True),
        (("database", "existingSecret"), False),
        (("database", "passwordKey"), False),
        (("dapr", "appTokenSecret"), False),
        (("ingress", "tls", "secretName"), False),
        (("imagePullSecrets",), False),
        (("azureKeyVault", "secrets", 0, "objectName"), False),
        (("serviceAccount", "automountToken"), True),
        (("replicaCount",), False),
    ],
)
def test_looks_secret_names(path: tuple[str | int, ...], expected: bool) -> None:
    assert looks_secret(path) is expected


def test_origins_mask_secret_values() -> None:
    merged = merge_values(
        [ValueLayer("base", {"database": {"password": "hunter2", "passwordKey": "password"}})],
        [SetValue(path=("serviceAccount", "automountToken"), value=False)],
    )

    assert merged.origins() == [
        ValueOrigin("database.password", MASKED_VALUE, "base", masked=True),
        ValueOrigin("database.passwordKey", "password", "base"),
        ValueOrigin("serviceAccount.automountToken", False, "--set"),
    ]


def test_origins_list_elements_set_by_index() -> None:
    merged = merge_values(
        [ValueLayer("base", {"items": ["a", "b"]})],
        [SetValue(path=("items", 3), value="d")],
    )

    assert merged.origins() == [
        ValueOrigin("items", ["a", "b", None, "d"], "base"),
        ValueOrigin("items[3]", "d", "--set"),
    ]


def placeholder_table(text: str) -> dict[str, list[str]]:
    """Read the "Keys to set" table of docs/deploy.md: each profile and its keys, in order."""
    table: dict[str, list[str]] = {}
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if len(cells) == 2 and cells[0].strip("`") in assets.known_clouds():
            table[cells[0].strip("`")] = [key.strip().strip("`") for key in cells[1].split(",")]
    return table


def test_docs_list_each_profile_placeholder() -> None:
    """The docs list exactly the keys, in the order that a deploy's error names them."""
    docs = (Path(__file__).resolve().parents[2] / "docs" / "deploy.md").read_text("utf-8")
    table = placeholder_table(docs)

    assert sorted(table) == sorted(assets.known_clouds())
    for cloud in assets.known_clouds():
        merged = merge_request_values(DeployRequest(cloud=cloud))
        assert table[cloud] == merged.placeholder_keys(), cloud
