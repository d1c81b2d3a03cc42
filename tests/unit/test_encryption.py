"""Encryption of stored files (storage/encryption.py): what the store holds, what decrypts it,
and that the stock `age` CLI reads what we write."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pyrage
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from bosh_backup_operator.storage import StorageError, StoredFile, store_file
from bosh_backup_operator.storage.encryption import (
    SUFFIX,
    EncryptingWriter,
    EncryptionError,
    Recipients,
    Undecryptable,
    decrypt_file,
    describe_recipient,
    load_identities,
)
from bosh_backup_operator.storage.pvc import PvcStore


def ssh_keypair() -> tuple[str, bytes]:
    key = ed25519.Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                serialization.NoEncryption())
    return public.decode() + " ops@vault", private


def encrypted_on_claim(tmp_path: Path, data: bytes, recipients: list[str]) -> tuple[PvcStore, StoredFile]:
    root = tmp_path / "claim"
    root.mkdir()
    store = PvcStore("backups", "bosh-backups/ns/prod/b1", root=root)
    store.begin()
    source = tmp_path / "bosh-0-director.tar"
    source.write_bytes(data)
    stored = store_file(EncryptingWriter(store.writer("bbr/bosh-0-director.tar" + SUFFIX, None), recipients,
                                         "bbr/bosh-0-director.tar"), source)
    return store, stored


def test_the_store_holds_only_ciphertext_and_both_checksums_are_kept(tmp_path: Path) -> None:
    identity = pyrage.x25519.Identity.generate()
    data = os.urandom(3 * (1 << 20) + 12345)
    store, stored = encrypted_on_claim(tmp_path, data, [str(identity.to_public())])
    on_claim = (store.staging / stored.name).read_bytes()
    assert stored.name == "bbr/bosh-0-director.tar.age"
    assert on_claim.startswith(b"age-encryption.org/v1\n") and data[:4096] not in on_claim
    assert (stored.size, stored.sha256) == (len(on_claim), hashlib.sha256(on_claim).hexdigest())
    assert stored.plaintext is not None
    assert (stored.plaintext.name, stored.plaintext.size, stored.plaintext.sha256) == (
        "bbr/bosh-0-director.tar", len(data), hashlib.sha256(data).hexdigest())
    store.verify(stored)   # the claim's read-back checks the ciphertext, no key needed
    status = stored.as_status()
    assert status["plaintext"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert "plaintext" not in StoredFile("f", 1, "0" * 64).as_status()

    plain = decrypt_file(store.staging / stored.name, tmp_path / "out.tar", [identity])
    assert (tmp_path / "out.tar").read_bytes() == data
    assert (plain.size, plain.sha256) == (len(data), hashlib.sha256(data).hexdigest())


def test_a_wrong_key_is_told_apart_from_damaged_bytes(tmp_path: Path) -> None:
    identity, stranger = pyrage.x25519.Identity.generate(), pyrage.x25519.Identity.generate()
    store, stored = encrypted_on_claim(tmp_path, os.urandom(200_000), [str(identity.to_public())])
    with pytest.raises(Undecryptable, match="No matching keys") as wrong:
        decrypt_file(store.staging / stored.name, tmp_path / "out", [stranger])
    assert wrong.value.wrong_key
    damaged = bytearray((store.staging / stored.name).read_bytes())
    damaged[-100] ^= 1
    (tmp_path / "damaged.age").write_bytes(bytes(damaged))
    with pytest.raises(Undecryptable, match="fails authentication") as damaged_error:
        decrypt_file(tmp_path / "damaged.age", tmp_path / "out", [identity])
    assert not damaged_error.value.wrong_key
    header = bytearray((store.staging / stored.name).read_bytes())
    header[30] ^= 1   # inside the recipient stanza
    (tmp_path / "header.age").write_bytes(bytes(header))
    with pytest.raises(Undecryptable):
        decrypt_file(tmp_path / "header.age", tmp_path / "out", [identity])


def test_ssh_recipients_decrypt_with_their_private_key_and_are_named_by_fingerprint(tmp_path: Path) -> None:
    public, private = ssh_keypair()
    age_identity = pyrage.x25519.Identity.generate()
    data = b"director database dump" * 5000
    store, stored = encrypted_on_claim(tmp_path, data, [public, str(age_identity.to_public())])
    for identities in (load_identities(private.decode(), "spec.identitySecretRef"), [age_identity]):
        decrypt_file(store.staging / stored.name, tmp_path / "out", identities)
        assert (tmp_path / "out").read_bytes() == data
    described = describe_recipient(public)
    assert described.startswith("ssh-ed25519 SHA256:") and described.endswith(" ops@vault")
    assert public.split()[1] not in described
    keygen = shutil.which("ssh-keygen")
    if keygen:   # the fingerprint people compare with: ssh-keygen -l's
        (tmp_path / "key.pub").write_text(public + "\n")
        shown = subprocess.run([keygen, "-l", "-f", str(tmp_path / "key.pub")], capture_output=True, text=True,
                               check=True).stdout.split()[1]
        assert described.split()[1] == shown


def test_bad_recipients_and_identities_name_the_field_and_never_echo_a_key(tmp_path: Path) -> None:
    with pytest.raises(EncryptionError, match=r"spec.encryption.recipients\[0\].*neither an age") as error:
        Recipients.gather(["AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQ"], []).parsed()
    assert error.value.reason == "RecipientInvalid" and "QQQQQQQQQQ" not in error.value.message
    with pytest.raises(EncryptionError, match="not a valid age recipient"):
        Recipients.gather(["age1" + "q" * 58], []).parsed()
    recipients_file = tmp_path / "recipients"
    recipients_file.write_text("# the ops team\n\n")
    with pytest.raises(EncryptionError, match="names no recipient"):
        Recipients.gather([], [("spec.encryption.recipientsFrom[0]", recipients_file)])
    identity = pyrage.x25519.Identity.generate()
    recipients_file.write_text(f"# rotated 2026-11\n{identity.to_public()}\n")
    assert Recipients.gather([], [("from", recipients_file)]).keys == (str(identity.to_public()),)

    secret = "-----BEGIN OPENSSH PRIVATE KEY-----\nnot really a key\n-----END OPENSSH PRIVATE KEY-----\n"
    with pytest.raises(EncryptionError) as bad:
        load_identities(secret, 'spec.identitySecretRef (Secret "k", key "identity")')
    assert bad.value.reason == "IdentityInvalid" and "not really" not in bad.value.message
    with pytest.raises(EncryptionError, match="neither an age identity"):
        load_identities("hunter2", "spec.identitySecretRef")
    two = [pyrage.x25519.Identity.generate() for _ in range(2)]
    text = "# created: 2026\n# public key: age1...\n" + "\n".join(str(i) for i in two) + "\n"
    assert len(load_identities(text, "spec.identitySecretRef")) == 2


class FailingWriter:
    """A store's writer whose storage fails after some bytes."""

    def __init__(self, fail_after: int):
        self.fail_after, self.fed, self.abandoned = fail_after, 0, False

    def feed(self, data: bytes) -> None:
        self.fed += len(data)
        if self.fed > self.fail_after:
            raise StorageError("StorageUnavailable", "the S3 server answered 503")

    def finish(self) -> Any:
        raise AssertionError("never finished")

    def abandon(self) -> None:
        self.abandoned = True


def test_a_store_failure_mid_file_surfaces_as_itself_and_nothing_hangs(tmp_path: Path) -> None:
    recipients = [str(pyrage.x25519.Identity.generate().to_public())]
    inner = FailingWriter(fail_after=2 << 20)
    writer = EncryptingWriter(inner, recipients, "bbr/big.tar")
    source = tmp_path / "big.tar"
    source.write_bytes(os.urandom(16 << 20))
    with pytest.raises(StorageError, match="503"):
        store_file(writer, source)
    assert inner.abandoned and not writer.thread.is_alive() and writer.process.poll() is not None

    idle = EncryptingWriter(FailingWriter(fail_after=1 << 40), recipients, "bbr/other.tar")
    idle.feed(b"x" * (3 << 20))
    idle.abandon()   # bbr failed: the follower drops what it was sending
    assert not idle.thread.is_alive() and idle.inner.abandoned   # type: ignore[attr-defined]
    assert idle.process.poll() is not None   # no encrypting process outlives its file


@pytest.mark.skipif(shutil.which("age") is None, reason="the stock age CLI (Debian package age) is not installed")
def test_the_stock_age_cli_decrypts_what_the_runner_stores(tmp_path: Path) -> None:
    """The README's recovery by hand starts with `age -d -i key`."""
    identity = pyrage.x25519.Identity.generate()
    data = os.urandom(5 << 20)
    store, stored = encrypted_on_claim(tmp_path, data, [str(identity.to_public())])
    key = tmp_path / "key.txt"
    key.write_text(f"# created by age-keygen\n{identity}\n")
    key.chmod(0o600)
    subprocess.run(["age", "-d", "-i", str(key), "-o", str(tmp_path / "out.tar"), str(store.staging / stored.name)],
                   check=True)
    assert hashlib.sha256((tmp_path / "out.tar").read_bytes()).hexdigest() == stored.plaintext.sha256  # type: ignore[union-attr]
