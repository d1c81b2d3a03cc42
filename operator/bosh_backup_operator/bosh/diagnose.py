"""A failed bosh or bbr command to a reason, the tool's own line, and the next action (pure)."""

from __future__ import annotations

from dataclasses import dataclass

from .parsers import (
    OutputError,
    bbr_error,
    bbr_exit_meaning,
    error_line,
    json_document,
    json_error_line,
    json_task_errors,
    killed_by,
)


@dataclass(frozen=True)
class Diagnosis:
    reason: str
    tool_line: str
    next_action: str

    def message(self, step: str) -> str:
        text = f"{step} failed: {self.tool_line or 'no error output'}"
        return f"{text}. {self.next_action}" if self.next_action else text


def _director_problem(line: str, what: str) -> Diagnosis | None:
    lowered = line.lower()
    if any(word in lowered for word in ("connection refused", "no such host", "i/o timeout", "ssh.dial failed",
                                        "network is unreachable")):
        return Diagnosis("DirectorUnreachable", line, f"Check that the director's {what} answers from the "
                                                      "cluster (address, firewalls, network policies).")
    if "x509" in lowered or "certificate" in lowered:
        return Diagnosis("DirectorCertificateInvalid", line, "Check the Director's spec.caCert: it must hold the "
                                                             "CA that signed the director's certificate.")
    if "status code '401'" in lowered or "not authorized" in lowered or "bad credentials" in lowered:
        return Diagnosis("DirectorAuthenticationFailed", line, "Check the keys of the Director's "
                                                               "spec.credentialsSecretRef (client and clientSecret, "
                                                               "or username and password).")
    return None


def _task_failed(stdout: str) -> bool:
    """Whether a director task ran and failed: the director answered, whatever the cause
    says about other hosts (a release URL that refuses connections, say)."""
    try:
        return bool(json_task_errors(json_document(stdout)))
    except OutputError:
        return False


def diagnose_bosh(stdout: str, stderr: str, json_output: bool) -> Diagnosis:
    line = json_error_line(stdout) if json_output else error_line(stderr or stdout)
    if not line:
        line = error_line(stderr)
    if json_output and _task_failed(stdout):
        return Diagnosis("DirectorCommandFailed", line, "")
    return _director_problem(line, "API (spec.url)") or Diagnosis("DirectorCommandFailed", line, "")


def _bbr_reason(code: int, line: str) -> str:
    if killed_by(code) is not None:
        return "BbrKilled"
    if code & 4:
        return "BbrLockFailed"
    cleanup_words = ("clean up", "cleaning up", "Unable to delete artifact directory")
    if line and all(any(word in message for word in cleanup_words) for message in line.split("; ")):
        return "BbrCleanupFailed"  # every error bbr reports is about its cleanup
    if code & 8 and not code & 1:
        return "BbrUnlockFailed"
    if code & 16 and not code & 1:
        return "BbrCleanupFailed"
    return "BbrFailed"


def diagnose_bbr(code: int, stderr: str, cleanup_argv: list[str] | None, cleaned: bool | None) -> Diagnosis:
    line = bbr_error(stderr)
    cleanup = " ".join(cleanup_argv) if cleanup_argv else "bbr director ... backup-cleanup"
    if "already exists on instance" in line:
        return Diagnosis("BackupAlreadyInProgress", line,
                         "Another bbr run is in progress on the director, or an interrupted one left its "
                         f"folder behind. If none is running, run `{cleanup}` and create a new DirectorBackup.")
    if "failed reading private key" in line:
        return Diagnosis("SshKeyMissing", line, "The key of the Director's spec.ssh.privateKeySecretRef did not "
                                                "reach the runner: check the Secret's key name.")
    if "ParsePrivateKey" in line:
        return Diagnosis("SshKeyInvalid", line, "The Secret of the Director's spec.ssh.privateKeySecretRef does not "
                                                "hold a private key in PEM or OpenSSH form (a public key, or a "
                                                "passphrase-protected key, will not do).")
    if "unable to authenticate" in line:
        return Diagnosis("SshAuthenticationFailed", line, "Check spec.ssh.username and that the key in "
                                                          "spec.ssh.privateKeySecretRef is authorized on the "
                                                          "director VM.")
    if "handshake failed" in line:
        return Diagnosis("SshHandshakeFailed", line, "Something answers at spec.ssh.host, but not an SSH server: "
                                                     "check the host and port (bbr needs the director VM's sshd, "
                                                     "port 22 by default).")
    if "Backup is corrupted" in line or "Could not validate backup" in line:
        return Diagnosis("ArtifactCorrupted", line, "bbr refused the artifact before touching the director: its "
                                                    "files do not match bbr's metadata. Restore another backup.")
    # only bbr's own connection: a job script's message may mention other refused connections
    network = _director_problem(line, "SSH port (spec.ssh)") if "Dial failed" in line else None
    if network:
        return network
    reason = _bbr_reason(code, line)
    action = f"bbr exit code {code}: {', '.join(bbr_exit_meaning(code))}."
    if code & 8 and killed_by(code) is None:
        action += " Check the director's jobs (`monit summary` on its VM): they may still be stopped."
    if cleaned is True:
        action += " The runner ran `bbr director backup-cleanup` afterwards."
    elif cleaned is False:
        action += f" The runner's `bbr director backup-cleanup` failed too: run `{cleanup}` by hand."
    elif reason == "BbrCleanupFailed":
        action += f" Files may be left on the director VM: run `{cleanup}`."
    return Diagnosis(reason, line, action)
