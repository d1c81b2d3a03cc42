"""A failed bosh or bbr command to a reason, the tool's own line, and the next action (pure)."""

from __future__ import annotations

from dataclasses import dataclass

from .parsers import bbr_error, bbr_exit_meaning, error_line, json_error_line


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


def diagnose_bosh(stdout: str, stderr: str, json_output: bool) -> Diagnosis:
    line = json_error_line(stdout) if json_output else error_line(stderr or stdout)
    if not line:
        line = error_line(stderr)
    return _director_problem(line, "API (spec.url)") or Diagnosis("DirectorCommandFailed", line, "")


def diagnose_bbr(code: int, stderr: str, cleanup_argv: list[str] | None, cleaned: bool | None) -> Diagnosis:
    line = bbr_error(stderr)
    if "already exists on instance" in line:
        command = " ".join(cleanup_argv) if cleanup_argv else "bbr director ... backup-cleanup"
        return Diagnosis("BackupAlreadyInProgress", line,
                         "Another bbr run is in progress on the director, or an interrupted one left its "
                         f"folder behind. If none is running, run `{command}` and create a new DirectorBackup.")
    if "ParsePrivateKey" in line:
        return Diagnosis("SshKeyInvalid", line, "The Secret of the Director's spec.ssh.privateKeySecretRef does not "
                                                "hold a private key in PEM or OpenSSH form.")
    if "unable to authenticate" in line or "handshake failed" in line:
        return Diagnosis("SshAuthenticationFailed", line, "Check spec.ssh.username and that the key in "
                                                          "spec.ssh.privateKeySecretRef is authorized on the "
                                                          "director VM.")
    network = _director_problem(line, "SSH port (spec.ssh)")
    if network:
        return network
    meanings = bbr_exit_meaning(code)
    reason = "BbrFailed"
    if code & 4:
        reason = "BbrLockFailed"
    elif code & 8 and not code & 1:
        reason = "BbrUnlockFailed"
    elif code & 16 and not code & 1:
        reason = "BbrCleanupFailed"
    action = f"bbr exit code {code}: {', '.join(meanings)}."
    if code & 8:
        action += " Check the director's jobs (`monit summary` on its VM): they may still be stopped."
    if cleaned is True:
        action += " The runner ran `bbr director backup-cleanup` afterwards."
    elif cleaned is False:
        command = " ".join(cleanup_argv) if cleanup_argv else "bbr director ... backup-cleanup"
        action += f" The runner's `bbr director backup-cleanup` failed too: run `{command}` by hand."
    return Diagnosis(reason, line, action)
