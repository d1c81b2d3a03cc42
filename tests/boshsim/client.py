"""What the stand-in CLIs share: TLS to the director, authentication, tasks.

Errors carry bosh-cli's nested wording ("Fetching info:\\n  Performing request GET
'...':\\n    ..."), so the operator meets the same text it would from the real CLI.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import ssl
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any


class CliError(Exception):
    """An error whose message is printed as is, then 'Exit code 1'."""


def chain(*lines: str) -> str:
    """bosh-cli's error chain: each cause indented two more spaces under its context."""
    return "\n".join("  " * depth + line for depth, line in enumerate(lines))


def wrap(context: str, error: object) -> str:
    """An existing error (maybe a chain itself) as the cause of a new context."""
    return context + "\n" + "\n".join("  " + line for line in str(error).splitlines())


def normalize_url(environment: str) -> str:
    if "://" not in environment:
        environment = f"https://{environment}"
    parts = urllib.parse.urlsplit(environment)
    host = parts.hostname or ""
    port = parts.port or 25555
    return f"{parts.scheme}://{host}:{port}"


def ssl_context(ca_cert: str | None) -> ssl.SSLContext:
    """--ca-cert / BOSH_CA_CERT: a path or the PEM text itself."""
    if not ca_cert:
        return ssl.create_default_context()
    if "BEGIN CERTIFICATE" in ca_cert:
        return ssl.create_default_context(cadata=ca_cert)
    if not os.path.exists(ca_cert):
        raise CliError(chain("Parsing CA certificate:", f"open {ca_cert}: no such file or directory"))
    return ssl.create_default_context(cafile=ca_cert)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class Director:
    def __init__(self, environment: str, ca_cert: str | None, client: str | None,
                 secret: str | None):
        self.url = normalize_url(environment)
        self.context = ssl_context(ca_cert)
        self.client, self.secret = client, secret
        self.opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=self.context),
                                                  _NoRedirect())
        self._auth_header: str | None = None
        self._info: dict[str, Any] | None = None

    # -- transport ------------------------------------------------------------------------

    def raw(self, method: str, path: str, body: bytes | None = None,
            headers: dict[str, str] | None = None, timeout: float = 60) -> tuple[int, dict[str, str], bytes]:
        request = urllib.request.Request(self.url + path, data=body, method=method,
                                         headers=headers or {})
        try:
            with self.opener.open(request, timeout=timeout) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read()
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise CliError(chain(f"Performing request {method} '{self.url}{path}':",
                                f"Performing {method} request:",
                                f'Retry: {method.capitalize()} "{self.url}{path}": {describe(reason, self.url)}')
                           ) from None

    def info(self, authenticated: bool = False) -> dict[str, Any]:
        if authenticated:  # the director names the user when the credentials are valid
            status, _, body = self.raw("GET", "/info", headers={"Authorization": self.auth_header()})
            return dict(json.loads(body)) if status == 200 else {}
        if self._info is None:
            try:
                status, _, body = self.raw("GET", "/info")
            except CliError as error:
                raise CliError(wrap("Fetching info:", error)) from None
            if status != 200:
                raise CliError(chain("Fetching info:", f"Director responded with non-successful status "
                                                      f"code '{status}' response '{body.decode()}'"))
            self._info = json.loads(body)
        return self._info

    def auth_header(self) -> str:
        if self._auth_header:
            return self._auth_header
        if not self.client or self.secret is None:
            raise CliError("Expected non-empty client/client secret (or username/password); "
                           "set BOSH_CLIENT and BOSH_CLIENT_SECRET")
        auth = self.info()["user_authentication"]
        if auth["type"] == "uaa":
            form = urllib.parse.urlencode({"grant_type": "client_credentials"}).encode()
            basic = base64.b64encode(f"{self.client}:{self.secret}".encode()).decode()
            token_path = urllib.parse.urlsplit(auth["options"]["url"]).path + "/oauth/token"
            status, _, body = self.raw("POST", token_path, form, {
                "Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"})
            if status != 200:
                raise CliError(chain("Requesting token via client credentials grant:",
                                    f"UAA responded with non-successful status code '{status}' "
                                    f"response '{body.decode()}'"))
            self._auth_header = f"Bearer {json.loads(body)['access_token']}"
        else:
            self._auth_header = "Basic " + base64.b64encode(f"{self.client}:{self.secret}".encode()).decode()
        return self._auth_header

    def call(self, method: str, path: str, body: Any = None, *, raw_body: bytes | None = None,
             content_type: str = "application/json") -> tuple[int, dict[str, str], bytes]:
        try:
            headers = {"Authorization": self.auth_header()}
        except CliError as error:
            raise CliError(wrap(f"Performing request {method} '{self.url}{path}':", error)) from None
        data = raw_body
        if body is not None:
            data = json.dumps(body).encode()
        if data is not None:
            headers["Content-Type"] = content_type
        status, response_headers, payload = self.raw(method, path, data, headers)
        if status >= 400:
            raise CliError(f"Director responded with non-successful status code '{status}' "
                           f"response '{payload.decode(errors='replace')}'")
        return status, response_headers, payload

    def get_json(self, path: str) -> Any:
        return json.loads(self.call("GET", path)[2])

    # -- tasks --------------------------------------------------------------------------------

    def task_from(self, response: tuple[int, dict[str, str], bytes]) -> int:
        status, headers, _ = response
        location = headers.get("Location") or headers.get("location") or ""
        if status != 302 or "/tasks/" not in location:
            raise CliError(f"Expected a task redirect, got status '{status}'")
        return int(location.rsplit("/", 1)[1])

    def wait_task(self, task_id: int, on_event: Any = None, timeout: float = 3600) -> dict[str, Any]:
        seen = 0
        deadline = time.monotonic() + timeout
        while True:
            task = self.get_json(f"/tasks/{task_id}")
            events = [json.loads(line) for line in
                      self.call("GET", f"/tasks/{task_id}/output?type=event")[2].decode().splitlines() if line]
            for event in events[seen:]:
                if on_event:
                    on_event(event)
            seen = len(events)
            if task["state"] in ("done", "error", "cancelled", "timeout"):
                return dict(task)
            if time.monotonic() > deadline:
                raise CliError(f"Timed out waiting for task '{task_id}'")
            time.sleep(0.2)

    def task_result(self, task_id: int) -> str:
        return self.call("GET", f"/tasks/{task_id}/output?type=result")[2].decode()


def describe(reason: Any, url: str) -> str:
    """Go's wording for the usual network failures."""
    text = str(reason)
    host = urllib.parse.urlsplit(url).netloc
    if isinstance(reason, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in text:
        return "tls: failed to verify certificate: x509: certificate signed by unknown authority"
    if isinstance(reason, ConnectionRefusedError) or "Connection refused" in text:
        return f"dial tcp {host}: connect: connection refused"
    if isinstance(reason, socket.gaierror) or "Name or service not known" in text:
        return f"dial tcp: lookup {host.split(':')[0]}: no such host"
    if isinstance(reason, TimeoutError) or "timed out" in text:
        return f"dial tcp {host}: i/o timeout"
    return text


def scratch_file(suffix: str) -> str:
    handle, path = tempfile.mkstemp(suffix=suffix)
    os.close(handle)
    return path
