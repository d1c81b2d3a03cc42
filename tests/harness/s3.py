"""A real S3-compatible server on loopback: versitygw over a folder (build-s3.sh)."""

from __future__ import annotations

import secrets
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .cluster import Process, free_port, start_process, wait_for
from .pki import CertificateAuthority

BUILD_SCRIPT = Path(__file__).with_name("build-s3.sh")


def versitygw_binary() -> Path:
    result = subprocess.run(["bash", str(BUILD_SCRIPT)], check=True, stdout=subprocess.PIPE, text=True)
    return Path(result.stdout.strip().splitlines()[-1])


@dataclass
class S3Server:
    root: Path
    ca: CertificateAuthority | None = None       # serve HTTPS with a cert from this CA
    access_key: str = field(default_factory=lambda: "AK" + secrets.token_hex(8).upper())
    secret_key: str = field(default_factory=lambda: secrets.token_hex(20))
    port: int = field(default_factory=free_port)
    process: Process | None = None

    @property
    def endpoint(self) -> str:
        return f"{'https' if self.ca else 'http'}://127.0.0.1:{self.port}"

    def start(self) -> S3Server:
        data = self.root / "data"
        data.mkdir(parents=True, exist_ok=True)
        argv = [str(versitygw_binary()), "--port", f"127.0.0.1:{self.port}", "--access", self.access_key,
                "--secret", self.secret_key, "--region", "us-east-1"]
        if self.ca:
            pair = self.ca.issue(f"s3-{self.port}", "s3", server=True, hosts=("127.0.0.1", "localhost"))
            argv += ["--cert", str(pair.cert), "--key", str(pair.key)]
        self.process = start_process("versitygw", [*argv, "posix", str(data)], self.root / "versitygw.log")
        wait_for("versitygw", self._answers, timeout=30)
        return self

    def _answers(self) -> bool:
        if self.process:
            self.process.check()
        try:
            self.client().list_buckets()
            return True
        except Exception:
            return False

    def stop(self) -> None:
        if self.process:
            self.process.stop()
            self.process = None

    def client(self) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=self.access_key,
                            aws_secret_access_key=self.secret_key, region_name="us-east-1",
                            verify=str(self.ca.cert_path) if self.ca else True,
                            config=Config(s3={"addressing_style": "path"}))

    def uploads_in_flight(self, bucket: str) -> int:
        """Multipart uploads begun and not yet completed: a backup streaming its tars."""
        return len(self.client().list_multipart_uploads(Bucket=bucket).get("Uploads", []))

    def bucket(self, name: str) -> str:
        self.client().create_bucket(Bucket=name)
        return name
