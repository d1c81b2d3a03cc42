"""argv for bbr, bosh v2 and bosh v1 (pure). Secrets never appear here: the CLIs read
them from environment variables that the pod gets as secret references."""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass

from . import paths


@dataclass(frozen=True)
class Tools:
    """Where the runner image has each tool (names on PATH or absolute paths)."""
    bosh: str = "bosh"
    bosh_v1: str = "bosh1"
    bbr: str = "bbr"


def url_host(url: str) -> str:
    return urllib.parse.urlsplit(url).hostname or ""


def bbr(tools: Tools, host: str, port: int, username: str, subcommand: str,
        artifact_path: str | None = None) -> list[str]:
    argv = [tools.bbr, "director", "--host", f"{host}:{port}", "--username", username,
            "--private-key-path", paths.SSH_KEY, subcommand]
    if artifact_path:
        argv += ["--artifact-path", artifact_path]
    return argv


def bosh(tools: Tools, *args: str, deployment: str | None = None) -> list[str]:
    """bosh v2, non-interactive with JSON output; environment, CA and credentials come
    from BOSH_ENVIRONMENT, BOSH_CA_CERT, BOSH_CLIENT and BOSH_CLIENT_SECRET."""
    argv = [tools.bosh, "-n", "--json"]
    if deployment:
        argv += ["-d", deployment]
    return argv + list(args)


def bosh_v1(tools: Tools, *args: str) -> list[str]:
    """bosh v1, non-interactive, with its config in the work folder; credentials come
    from BOSH_USER and BOSH_PASSWORD."""
    return [tools.bosh_v1, "-n", "-c", paths.V1_CONFIG, *args]


def bosh_v1_target(tools: Tools, url: str, with_ca: bool) -> list[str]:
    argv = bosh_v1(tools, "target", url)
    return [*argv, "--ca-cert", paths.CA_CERT] if with_ca else argv
