"""The CRDs: generated, complete, documented, and strict where a rule can be stated."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bosh_backup_operator.api.crdgen import readme_text, stale_files
from bosh_backup_operator.api.crds import all_crds

CRDS_DIR = Path(__file__).resolve().parents[2] / "crds"
KINDS = {c["spec"]["names"]["kind"]: c for c in all_crds()}


def walk(schema: dict[str, Any], path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, schema
    for name, child in (schema.get("properties") or {}).items():
        yield from walk(child, f"{path}.{name}")
    if isinstance(schema.get("items"), dict):
        yield from walk(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from walk(schema["additionalProperties"], f"{path}{{}}")


def root(kind: str) -> dict[str, Any]:
    return KINDS[kind]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def rules(schema: dict[str, Any]) -> list[str]:
    return [r["rule"] for r in schema.get("x-kubernetes-validations", [])]


def test_crds_folder_matches_the_python_definitions() -> None:
    assert stale_files(CRDS_DIR) == [], "run: python -m bosh_backup_operator.api.crdgen"


def test_readme_api_reference_lists_every_field_as_the_schemas_do() -> None:
    readme = CRDS_DIR.parent / "README.md"
    assert readme_text(readme) == readme.read_text(), "run: python -m bosh_backup_operator.api.crdgen"
    for kind in KINDS:
        section = readme.read_text().split(f"### {kind} (")[1].split("\n### ")[0]
        fields = [path for path, _ in walk(root(kind)["properties"]["spec"], "spec")
                  if "{}" not in path and path != "spec" and not path.endswith("[]")]
        missing = [f for f in fields if f"| `{f}` |" not in section]
        assert not missing, f"{kind}: not in the README's reference: {missing}"
    assert "| `spec.retention.keepDaily` | integer |" in readme.read_text()


def test_the_five_kinds_exist_in_our_group() -> None:
    assert set(KINDS) == {"Director", "DirectorBackup", "DirectorRestore", "DirectorBackupSchedule",
                          "DirectorBackupCatalog"}
    for crd in KINDS.values():
        assert crd["spec"]["group"] == "bosh-backup.dev"
        assert crd["spec"]["versions"][0]["name"] == "v1alpha1"
        assert crd["spec"]["scope"] == "Namespaced"


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_field_has_a_description(kind: str) -> None:
    undocumented = [path for path, node in walk(root(kind), kind)
                    if "description" not in node and "x-kubernetes-int-or-string" not in node
                    and not path.endswith("{}") and path != f"{kind}.metadata"]
    assert undocumented == []


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_spec_is_fully_structural(kind: str) -> None:
    open_nodes = [path for path, node in walk(root(kind)["properties"]["spec"], "spec")
                  if node.get("x-kubernetes-preserve-unknown-fields")]
    assert open_nodes == []
    objects_without_properties = [
        path for path, node in walk(root(kind), kind)
        if node.get("type") == "object" and "properties" not in node
        and "additionalProperties" not in node and not path.endswith(".metadata")]
    assert objects_without_properties == []


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_kind_has_status_columns_short_names_and_category(kind: str) -> None:
    spec = KINDS[kind]["spec"]
    version = spec["versions"][0]
    assert version["subresources"] == {"status": {}}
    assert [c["name"] for c in version["additionalPrinterColumns"]][-2:] in (["Age", "Message"],
                                                                           ["Schedule", "Age"],
                                                                           ["Next", "Age"])
    assert spec["names"]["shortNames"]
    assert spec["names"]["categories"] == ["bosh-backup"]


def test_backup_short_name_is_dbk() -> None:
    assert KINDS["DirectorBackup"]["spec"]["names"]["shortNames"] == ["dbk"]


def test_restore_spec_is_immutable_and_has_exactly_one_source() -> None:
    spec = root("DirectorRestore")["properties"]["spec"]
    assert "self == oldSelf" in rules(spec)
    source_rules = rules(spec["properties"]["source"])
    assert "has(self.backupRef) != has(self.path)" in source_rules


def test_no_field_can_hold_a_secret_value() -> None:
    """Secrets are only ever referenced; no spec field takes a password, token or key."""
    suspicious = ("password", "secret", "token", "privatekey", "accesskey")
    for kind in KINDS:
        for path, node in walk(root(kind)["properties"]["spec"], "spec"):
            leaf = path.rsplit(".", 1)[-1].lower()
            if any(word in leaf for word in suspicious):
                assert leaf.endswith("ref"), f"{kind} {path} looks like it holds a secret"
                assert node["type"] == "object"


def test_every_cel_rule_has_a_message() -> None:
    for kind in KINDS:
        for path, node in walk(root(kind), kind):
            for validation in node.get("x-kubernetes-validations", []):
                assert validation.get("message"), f"{kind} {path}: {validation['rule']}"
