"""A small JSON client for the Kubernetes API, built from a kubeconfig.

The harness works with plain dicts (as the API speaks them) and needs watches;
this keeps it free of the generated client's model classes.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import urllib3
import yaml


class ApiError(Exception):
    def __init__(self, status: int, body: dict[str, Any] | str):
        self.status = status
        self.body = body
        message = body.get("message", body) if isinstance(body, dict) else body
        super().__init__(f"HTTP {status}: {message}")

    @property
    def reason(self) -> str:
        return self.body.get("reason", "") if isinstance(self.body, dict) else ""


class Rest:
    def __init__(self, kubeconfig: Path):
        config = yaml.safe_load(Path(kubeconfig).read_text())
        context = next(c["context"] for c in config["contexts"]
                       if c["name"] == config["current-context"])
        cluster = next(c["cluster"] for c in config["clusters"] if c["name"] == context["cluster"])
        user = next(u["user"] for u in config["users"] if u["name"] == context["user"])
        self.server = cluster["server"].rstrip("/")
        tls = ssl.create_default_context(cafile=cluster["certificate-authority"])
        if "client-certificate" in user:
            tls.load_cert_chain(user["client-certificate"], user["client-key"])
        self.headers = {"Accept": "application/json"}
        if "token" in user:
            self.headers["Authorization"] = f"Bearer {user['token']}"
        self.pool = urllib3.PoolManager(ssl_context=tls, maxsize=8, retries=False)

    def _url(self, path: str, query: dict[str, Any] | None) -> str:
        query = {k: v for k, v in (query or {}).items() if v is not None}
        return self.server + path + (f"?{urlencode(query)}" if query else "")

    def request(self, method: str, path: str, body: Any = None, *,
                query: dict[str, Any] | None = None, content_type: str = "application/json",
                timeout: float = 30) -> dict[str, Any]:
        headers = dict(self.headers)
        data = None
        if body is not None:
            headers["Content-Type"] = content_type
            data = json.dumps(body).encode()
        response = self.pool.request(method, self._url(path, query), body=data, headers=headers,
                                     timeout=timeout)
        payload: Any
        try:
            payload = json.loads(response.data) if response.data else {}
        except ValueError:
            payload = response.data.decode(errors="replace")
        if response.status >= 400:
            raise ApiError(response.status, payload)
        return payload if isinstance(payload, dict) else {"raw": payload}

    def get(self, path: str, **query: Any) -> dict[str, Any]:
        return self.request("GET", path, query=query)

    def post(self, path: str, body: Any) -> dict[str, Any]:
        return self.request("POST", path, body)

    def merge_patch(self, path: str, body: Any) -> dict[str, Any]:
        return self.request("PATCH", path, body, content_type="application/merge-patch+json")

    def strategic_patch(self, path: str, body: Any) -> dict[str, Any]:
        return self.request("PATCH", path, body,
                            content_type="application/strategic-merge-patch+json")

    def delete(self, path: str, body: Any = None) -> dict[str, Any]:
        return self.request("DELETE", path, body)

    def watch(self, path: str, resource_version: str, timeout_seconds: int = 60,
              **query: Any) -> Iterator[dict[str, Any]]:
        """Yields watch events until the server ends the watch."""
        url = self._url(path, {**query, "watch": "true", "resourceVersion": resource_version,
                               "allowWatchBookmarks": "true",
                               "timeoutSeconds": timeout_seconds})
        response = self.pool.request("GET", url, headers=self.headers, preload_content=False,
                                     timeout=urllib3.Timeout(connect=10, read=timeout_seconds + 10))
        try:
            if response.status >= 400:
                raise ApiError(response.status, response.read().decode(errors="replace"))
            buffer = b""
            for chunk in response.stream(65536):
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    if line.strip():
                        yield json.loads(line)
        finally:
            response.release_conn()
