"""kubectl bosh-backup reads the kubeconfig as kubectl does, and its --storage forms."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bosh_backup_operator.plugin.cli import connect, storage_option


def kubeconfig(path: Path) -> Path:
    cluster = {"server": "https://127.0.0.1:6443", "insecure-skip-tls-verify": True}
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "prod",
        "clusters": [{"name": "c", "cluster": cluster}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "prod", "context": {"cluster": "c", "user": "u", "namespace": "bosh"}},
                     {"name": "lab", "context": {"cluster": "c", "user": "u"}}]}))
    return path


def test_the_namespace_is_the_flag_else_the_contexts_else_default(tmp_path: Path) -> None:
    config = str(kubeconfig(tmp_path / "config"))
    assert connect(config, None, None).namespace == "bosh"
    assert connect(config, "lab", None).namespace == "default"
    assert connect(config, "lab", "bosh-lab").namespace == "bosh-lab"


def test_an_unreadable_kubeconfig_is_an_error_not_a_traceback(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        connect(str(tmp_path / "missing"), None, None)
    assert exited.value.code == 1
    assert capsys.readouterr().err.startswith("error: cannot read the kubeconfig: ")


def test_storage_forms(capsys: pytest.CaptureFixture[str]) -> None:
    s3_director = {"spec": {"storage": {"s3": {"bucket": "daily", "endpoint": "https://s3.example",
                                               "credentialsSecretRef": {"name": "keys"}}}}}
    assert storage_option("pvc:backups", {}) == {"pvc": {"claimName": "backups"}}
    assert storage_option("s3:weekly", s3_director) == {"s3": {"bucket": "weekly", "endpoint": "https://s3.example",
                                                               "credentialsSecretRef": {"name": "keys"}}}
    assert storage_option(None, {}) is None
    for bad, says in (("nfs:/x", 'give pvc:CLAIM or s3:BUCKET'), ("s3:weekly", "the Director's storage is not S3")):
        with pytest.raises(SystemExit):
            storage_option(bad, {"spec": {"storage": {"pvc": {"claimName": "backups"}}}})
        assert says in capsys.readouterr().err
