from bosh_backup_operator.api.director import (
    Reference,
    director_references,
    find_problems,
    readiness,
)

SPEC = {
    "url": "https://10.0.0.6:25555",
    "credentialsSecretRef": {"name": "creds"},
    "caCert": {"configMapKeyRef": {"name": "ca", "key": "ca.crt"}},
    "ssh": {"privateKeySecretRef": {"name": "ssh"}},
    "stateFileSecretRef": {"name": "state"},
    "storage": {"s3": {"bucket": "b", "credentialsSecretRef": {"name": "s3"}}},
}


def test_every_reference_is_found_with_the_field_it_came_from() -> None:
    fields = [ref.field for ref in director_references(SPEC)]
    assert fields == ["spec.credentialsSecretRef", "spec.caCert.configMapKeyRef",
                      "spec.ssh.privateKeySecretRef", "spec.stateFileSecretRef",
                      "spec.storage.s3.credentialsSecretRef"]
    ssh = director_references(SPEC)[2]
    assert ssh == Reference("spec.ssh.privateKeySecretRef", "Secret", "ssh", (("ssh-privatekey",),))


def test_missing_objects_and_keys_are_named_by_field() -> None:
    existing = {("Secret", "creds"): {"username"}, ("ConfigMap", "ca"): {"ca.crt"},
                ("Secret", "ssh"): {"ssh-privatekey"}, ("Secret", "s3"): {"accessKeyId",
                                                                         "secretAccessKey"}}
    problems = find_problems(director_references(SPEC), lambda k, n: existing.get((k, n)))
    assert [p.reason for p in problems] == ["SecretKeyMissing", "SecretNotFound"]
    assert problems[0].message == ('spec.credentialsSecretRef: Secret "creds" lacks key '
                                   'client+clientSecret or username+password')
    assert problems[1].message == 'spec.stateFileSecretRef: Secret "state" not found'
    ready, reason, message = readiness(problems)
    assert not ready and reason == "SecretKeyMissing" and "; " in message


def test_either_credential_form_is_enough() -> None:
    refs = director_references({"url": "https://d", "credentialsSecretRef": {"name": "c"}})
    for keys in ({"client", "clientSecret"}, {"username", "password", "extra"}):
        assert find_problems(refs, lambda k, n, keys=keys: keys) == []
    assert readiness([])[0] is True


def test_missing_claim_has_its_own_reason() -> None:
    refs = director_references({"url": "https://d", "credentialsSecretRef": {"name": "c"},
                                "storage": {"pvc": {"claimName": "backups"}}})
    problems = find_problems(refs, lambda k, n: None if k == "PersistentVolumeClaim" else {
        "client", "clientSecret"})
    assert [(p.reason, p.message) for p in problems] == [
        ("ClaimNotFound", 'spec.storage.pvc.claimName: PersistentVolumeClaim "backups" not found')]
