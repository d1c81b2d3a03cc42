"""Client-side encryption of stored files in the age format (age-encryption.org/v1).

The cryptography is pyrage's (Python bindings of rage, the Rust implementation of age);
nothing here encrypts by itself. A file is encrypted as it streams to its store, in
bounded memory: its plaintext is fed in order to pyrage in a child process, and the
ciphertext goes on to the store's writer, which hashes what it stores. So the
manifest keeps two checksums per file: of the stored bytes (what storage verification
checks, without any key) and of the plaintext (what a restore checks after decrypting).

Anyone can recover by hand with the stock `age` CLI: `age -d -i key file.age > file`.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import os
import subprocess
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import FileWriter, Plaintext, StorageError, StoredFile

FORMAT = "age-encryption.org/v1"
SUFFIX = ".age"
SSH_TYPES = ("ssh-ed25519", "ssh-rsa")


class EncryptionError(StorageError):
    pass


def recipient_lines(text: str) -> list[str]:
    """The recipients in an age recipients file: one per line, # comments and blank lines skipped."""
    return [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]


def parse_recipient(key: str, origin: str) -> Any:
    """One public key as pyrage's recipient; an error naming where it came from, never echoing
    more of the line than its first characters (a private key pasted here by mistake)."""
    import pyrage

    try:
        if key.startswith("age1"):
            return pyrage.x25519.Recipient.from_str(key)
        if key.split(" ", 1)[0] in SSH_TYPES:
            return pyrage.ssh.Recipient.from_str(key)
    except pyrage.RecipientError as error:
        raise EncryptionError("RecipientInvalid", f"{origin}: {key[:12]}... is not a valid age recipient "
                                                  f"({error})") from None
    raise EncryptionError("RecipientInvalid", f"{origin}: a recipient starting {key[:8]!r} is neither an age X25519 "
                                              "public key (age1...) nor an SSH public key (ssh-ed25519 or ssh-rsa)")


def describe_recipient(key: str) -> str:
    """How manifest.json names a recipient: an age public key as it is; an SSH key by its
    type, SHA256 fingerprint (as `ssh-keygen -l` shows it) and comment."""
    if key.startswith("age1"):
        return key
    kind, blob, *comment = key.split(None, 2)
    fingerprint = base64.b64encode(hashlib.sha256(base64.b64decode(blob)).digest()).decode().rstrip("=")
    return " ".join([kind, f"SHA256:{fingerprint}", *comment])


@dataclass(frozen=True)
class Recipients:
    keys: tuple[str, ...]                 # public keys, as given
    origins: tuple[str, ...]              # where each came from, for messages

    @classmethod
    def gather(cls, inline: Sequence[str], files: Sequence[tuple[str, Path]]) -> Recipients:
        """Inline keys (spec.encryption.recipients) and recipients files ((field, path) of each
        mounted Secret or ConfigMap key)."""
        keys, origins = [], []
        for number, key in enumerate(inline):
            keys.append(key.strip())
            origins.append(f"spec.encryption.recipients[{number}]")
        for origin, path in files:
            for key in recipient_lines(path.read_text()):
                keys.append(key)
                origins.append(origin)
        if not keys:
            raise EncryptionError("RecipientInvalid", "spec.encryption names no recipient: its Secret or ConfigMap "
                                                      "keys hold no public key")
        return cls(tuple(keys), tuple(origins))

    def parsed(self) -> list[Any]:
        return [parse_recipient(key, origin) for key, origin in zip(self.keys, self.origins, strict=True)]

    def described(self) -> list[str]:
        return [describe_recipient(key) for key in self.keys]


def manifest_entry(recipients: Recipients) -> dict[str, Any]:
    return {"format": FORMAT, "recipients": recipients.described()}


PIPE_SIZE = 1 << 20   # a larger pipe: fewer wake-ups between the runner and its encrypting process


def _widen(fd: int) -> None:
    with contextlib.suppress(OSError, AttributeError):   # Linux only, and capped by the system
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_SIZE)


def _importable_from() -> str:
    """PYTHONPATH under which the child finds this package and pyrage, however this process
    found them (an installed package, or an image that adds its folders at start)."""
    here = str(Path(__file__).resolve().parents[2])
    return os.pathsep.join(dict.fromkeys([here, *[p for p in sys.path if p]]))


class EncryptingWriter:
    """A FileWriter: takes a file's plaintext, hands its age ciphertext to the store's writer.
    finish() gives the stored file (named <name>.age, hashed as stored) with its plaintext's
    size and sha256 beside it.

    pyrage holds the interpreter lock while it encrypts, which would stall the runner's
    other threads (uploads, hashing, the other files); so it runs in a child process of
    its own, fed through pipes (`python -m bosh_backup_operator.storage.encryption`), and
    the cores share the work."""

    def __init__(self, inner: FileWriter, recipients: Sequence[str], plaintext_name: str):
        self.inner, self.name = inner, plaintext_name
        self.digest, self.size = hashlib.sha256(), 0
        self.error: BaseException | None = None
        self.process = subprocess.Popen([sys.executable, "-m", __name__, *recipients], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0,
                                        env={**os.environ, "PYTHONPATH": _importable_from()})
        assert self.process.stdin and self.process.stdout
        _widen(self.process.stdin.fileno())
        _widen(self.process.stdout.fileno())
        self.thread = threading.Thread(target=self._pass_on, daemon=True, name=f"age-{plaintext_name}")
        self.thread.start()

    def _pass_on(self) -> None:
        """The ciphertext, as it comes, to the store's writer."""
        assert self.process.stdout
        fd = self.process.stdout.fileno()
        try:
            while data := os.read(fd, PIPE_SIZE):
                self.inner.feed(data)
        except BaseException as error:
            self.error = error
            self.process.kill()

    def _failed(self) -> StorageError:
        if isinstance(self.error, StorageError):
            return self.error
        said = ""
        if self.process.poll() is not None and self.process.stderr:   # its last line: pyrage's error
            said = "".join(self.process.stderr.read().decode(errors="replace").strip().splitlines()[-1:])
        return EncryptionError("EncryptionFailed", f"encrypting {self.name}: {self.error or said or 'it stopped'}")

    def feed(self, data: bytes) -> None:
        self.digest.update(data)
        self.size += len(data)
        assert self.process.stdin
        try:
            self.process.stdin.write(data)
        except (BrokenPipeError, ValueError):   # it stopped: the store's error, or its own
            self.thread.join()
            raise self._failed() from None

    def finish(self) -> StoredFile:
        assert self.process.stdin
        with contextlib.suppress(BrokenPipeError):
            self.process.stdin.close()
        self.thread.join()
        code = self.process.wait()
        if self.error is not None or code != 0:
            raise self._failed()
        stored = self.inner.finish()
        return StoredFile(stored.name, stored.size, stored.sha256,
                          plaintext=Plaintext(self.name, self.size, self.digest.hexdigest()))

    def abandon(self) -> None:
        self.process.kill()
        self.process.wait()
        self.thread.join(timeout=30)
        for pipe in (self.process.stdin, self.process.stdout, self.process.stderr):
            with contextlib.suppress(OSError):
                if pipe:
                    pipe.close()
        self.inner.abandon()


def _encrypt_stdin(recipients: Sequence[str]) -> None:
    """The child: stdin's plaintext to stdout as age ciphertext, for these public keys."""
    import pyrage

    parsed = Recipients(tuple(recipients), tuple("argument" for _ in recipients)).parsed()
    _widen(0)
    pyrage.encrypt_io(sys.stdin.buffer, sys.stdout.buffer, parsed)  # type: ignore[arg-type]
    sys.stdout.buffer.flush()


def load_identities(text: str, origin: str) -> list[Any]:
    """The private keys in an identity Secret: age identities (AGE-SECRET-KEY-1..., one per
    line, as `age-keygen` writes them) or one unencrypted OpenSSH private key. Messages
    never quote the key."""
    import pyrage

    try:
        if "-----BEGIN" in text:
            return [pyrage.ssh.Identity.from_buffer(text.encode())]
        keys = [line.strip() for line in text.splitlines() if line.strip().startswith("AGE-SECRET-KEY-")]
        if keys:
            return [pyrage.x25519.Identity.from_str(key) for key in keys]
    except pyrage.IdentityError as error:
        raise EncryptionError("IdentityInvalid", f"{origin}: the identity cannot be read ({error})") from None
    raise EncryptionError("IdentityInvalid", f"{origin}: holds neither an age identity (AGE-SECRET-KEY-1..., as "
                                             "age-keygen writes it) nor an OpenSSH private key")


class Undecryptable(Exception):
    """A file no given identity opens (wrong_key), or whose ciphertext was changed."""

    def __init__(self, message: str, *, wrong_key: bool):
        super().__init__(message)
        self.wrong_key = wrong_key


class _HashingSink:
    def __init__(self, handle: Any):
        self.handle, self.digest, self.size = handle, hashlib.sha256(), 0
        self.error: OSError | None = None

    def write(self, data: Any) -> int:
        self.digest.update(data)
        self.size += len(data)
        try:
            return int(self.handle.write(data))
        except OSError as error:   # ours (a full disk), not the ciphertext's
            self.error = error
            raise

    def flush(self) -> None:
        self.handle.flush()


def decrypt_file(source: Path, target: Path, identities: list[Any]) -> Plaintext:
    """source (age ciphertext) decrypted into target; the plaintext's size and sha256.
    Undecryptable when no identity opens it or its bytes were changed."""
    import pyrage

    with source.open("rb") as src, target.open("wb") as dst:
        sink = _HashingSink(dst)
        try:
            pyrage.decrypt_io(src, sink, identities)  # type: ignore[arg-type]
        except pyrage.DecryptError as error:   # the header: no identity fits, or it was changed
            raise Undecryptable(str(error), wrong_key="no matching keys" in str(error).lower()) from None
        except OSError as error:               # the payload: a chunk fails its authentication
            if sink.error is not None:
                raise sink.error from None
            raise Undecryptable(f"the ciphertext fails authentication ({error})", wrong_key=False) from None
    return Plaintext(target.name, sink.size, sink.digest.hexdigest())


if __name__ == "__main__":
    _encrypt_stdin(sys.argv[1:])
