"""The simulated director's HTTPS API (its VM, which bbr reaches over SSH, is vm.py).

API (HTTPS, the paths the bosh CLI uses): /info, /uaa/oauth/token, /stemcells,
/releases, /deployments, /deployments/<d>/instances, /deployments/<d>/scans,
/deployments/<d>/problems, /tasks/<id>[/output], and CLI v1's /backups and /restore.
Test-only administration lives under /_sim/ behind an admin token.


    python -m boshsim.server --state DIR --iaas FILE --port P --cert C --key K
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import logging
import secrets
import shutil
import ssl
import tarfile
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from .faults import Faults
from .state import DirectorState, Iaas, read_manifest, sha1_file

log = logging.getLogger("boshsim")
RECREATE_PLAN = "Recreate VM and wait for processes to start"


def now() -> int:
    return int(time.time())


class Director:
    """The director's behaviour, independent of HTTP."""

    def __init__(self, state: DirectorState, iaas: Iaas):
        self.state, self.iaas = state, iaas
        self.lock = state.lock
        # tasks live apart from the database: a restore does not rewind them, and a large
        # database is not rewritten on every task event
        self.task_lock = threading.Lock()
        self.task_log = state.read_tasks()
        self.tokens: dict[str, str] = {}  # token -> client
        self.faults = Faults(state.path)
        self.restarting_until = 0.0
        self.auth = json.loads((state.path / "auth.json").read_text())
        self.admin_token = (state.path / "admin-token").read_text().strip()

    # -- authentication -----------------------------------------------------------

    def issue_token(self, client: str, secret: str) -> str | None:
        if self.auth["clients"].get(client) != secret:
            return None
        token = secrets.token_hex(16)
        self.tokens[token] = client
        return token

    def user_of(self, header: str | None) -> str | None:
        """Who the Authorization header proves to be, or None."""
        if not header:
            return None
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer":
            return self.tokens.get(value)
        if scheme.lower() == "basic" and self.auth["mode"] == "basic":
            user, _, password = base64.b64decode(value).decode().partition(":")
            return user if self.auth["users"].get(user) == password else None
        return None

    def authorized(self, header: str | None) -> bool:
        return self.user_of(header) is not None

    def info(self, header: str | None = None) -> dict[str, Any]:
        db = self.state.db()
        auth: dict[str, Any] = {"type": "basic", "options": {}}
        if self.auth["mode"] == "uaa":
            auth = {"type": "uaa", "options": {"url": f"{self.auth['url']}/uaa", "urls": []}}
        return {"name": db["name"], "uuid": db["uuid"], "version": db["version"], "user": self.user_of(header),
                "cpi": db["cpi"], "stemcell_os": db["stemcell_os"],
                "stemcell_version": db["stemcell_version"], "user_authentication": auth,
                "features": {"config_server": {"status": True, "extras": {"urls": []}},
                             "local_dns": {"status": True, "extras": {}},
                             "snapshots": {"status": False}}}

    # -- tasks ------------------------------------------------------------------------

    def new_task(self, description: str, deployment: str | None, work: Any) -> int:
        """Queues a task; a quick one is done before the caller is sent to it, as on a
        real director, so the CLI's first poll finds it finished (it sleeps 500 ms otherwise)."""
        with self.task_lock:
            task_id = self.task_log["next_task_id"]
            self.task_log["next_task_id"] += 1
            self.task_log["tasks"].append({"id": task_id, "state": "queued", "description": description,
                                        "timestamp": now(), "started_at": None, "result": None,
                                        "user": "admin", "deployment": deployment, "context_id": "",
                                        "events": [], "result_output": ""})
            self.state.save_tasks(self.task_log)
        worker = threading.Thread(target=self.run_task, args=(task_id, work), daemon=True)
        worker.start()
        worker.join(0.25)
        return int(task_id)

    def update_task(self, task_id: int, **changes: Any) -> None:
        with self.task_lock:
            task = next(t for t in self.task_log["tasks"] if t["id"] == task_id)
            for key, value in changes.items():
                if key == "event":
                    task["events"].append(value)
                else:
                    task[key] = value
            self.state.save_tasks(self.task_log)

    def event(self, task_id: int, stage: str, task: str, state: str = "finished",
              error: str | None = None) -> None:
        event: dict[str, Any] = {"time": now(), "stage": stage, "tags": [], "total": 1,
                                 "task": task, "index": 1, "state": state, "progress": 100}
        if error:
            event["data"] = {"error": error}
        self.update_task(task_id, event=event)

    def run_task(self, task_id: int, work: Any) -> None:
        while self.state.workers_stopped():  # bbr's lock script stopped the workers: tasks queue
            time.sleep(0.1)
        self.update_task(task_id, state="processing", started_at=now())
        time.sleep(self.faults.get("slow_seconds", 0))
        try:
            description = self.task(task_id)["description"]
            failure = self.faults.task_failure(description)
            if failure:
                raise TaskError(failure)
            result, output = work(task_id)
            self.update_task(task_id, state="done", result=result, result_output=output, timestamp=now())
        except Exception as error:
            if not isinstance(error, TaskError):  # a bug in the simulator: report it like the director would
                log.exception("task %s crashed", task_id)
            message = str(error) if isinstance(error, TaskError) else f"Unexpected error: {error}"
            # the director's event log ends a failed task with an error event: the CLI shows it
            self.update_task(task_id, event={"time": now(), "error": {"code": 100, "message": message}})
            self.update_task(task_id, state="error", result=message, timestamp=now())

    def tasks(self, query: dict[str, str]) -> list[dict[str, Any]]:
        """GET /tasks: newest first, filtered as the CLI's `tasks` and `tasks --recent` ask."""
        states = set(query["state"].split(",")) if query.get("state") else None
        with self.task_lock:
            every = list(self.task_log["tasks"])
        found = [t for t in reversed(every)
                 if (states is None or t["state"] in states)
                 and (not query.get("deployment") or t["deployment"] == query["deployment"])]
        limit = int(query.get("limit") or 0)
        return [{k: v for k, v in t.items() if k not in ("events", "result_output")}
                for t in (found[:limit] if limit else found)]

    def task(self, task_id: int) -> dict[str, Any]:
        with self.task_lock:
            for task in self.task_log["tasks"]:
                if task["id"] == task_id:
                    return dict(task)
        raise KeyError(task_id)

    # -- stemcells and releases -------------------------------------------------------

    def upload(self, kind: str, location: str, sha1: str | None, fix: bool):
        def work(task_id: int) -> tuple[str, str]:
            with tempfile.TemporaryDirectory() as scratch:
                local = Path(scratch) / "upload.tgz"
                self.event(task_id, f"Update {kind}", f"Downloading remote {kind}", "started")
                try:
                    with urllib.request.urlopen(location, timeout=60) as response, local.open("wb") as out:
                        shutil.copyfileobj(response, out)
                except Exception as error:
                    raise TaskError(f"Downloading remote {kind} failed. Check task debug log for details."
                                    f" ({error})") from error
                actual = sha1_file(local)
                if sha1 and actual != sha1.removeprefix("sha1:"):
                    raise TaskError(f"Expected stream to have digest '{sha1}' but was '{actual}'")
                found, manifest = read_manifest(local)
                if found != kind:
                    raise TaskError(f"Expected a {kind} tarball but found a {found}")
                name, version = manifest["name"], str(manifest["version"])
                label = "Stemcell" if kind == "stemcell" else "Release"
                with self.lock:
                    db = self.state.db()
                    rows = db[f"{kind}s"]
                    row = next((r for r in rows if r["name"] == name and r["version"] == version), None)
                    if row and not fix:
                        self.event(task_id, f"Update {kind}", f"{label} '{name}/{version}' already exists")
                        return f"/{kind}s/{name}/{version}", f"{label} '{name}/{version}' already exists.\n"
                    blob_id = self.state.put_blob(local)
                    if row:  # --fix: the row stays, the blob is replaced
                        old = row.get("blob_id")
                        row.update(blob_id=blob_id, sha1=actual)
                        if old and old != blob_id:
                            (self.state.blobs / old).unlink(missing_ok=True)
                    else:
                        row = {"name": name, "version": version, "sha1": actual, "blob_id": blob_id}
                        if kind == "stemcell":
                            row.update(os=manifest.get("operating_system", ""), cpi="",
                                       cid=f"stemcell-{hashlib.sha1(f'{name}{version}'.encode()).hexdigest()[:12]}")
                        else:
                            row.update(commit_hash=manifest.get("commit_hash", ""),
                                       uncommitted_changes=bool(manifest.get("uncommitted_changes")),
                                       jobs=[j["name"] for j in manifest.get("jobs", [])])
                        rows.append(row)
                    self.state.save(db)
                self.event(task_id, f"Update {kind}", f"Uploading {kind} '{name}/{version}'")
                return f"/{kind}s/{name}/{version}", f"{label} '{name}/{version}' uploaded.\n"
        return work

    def stemcells(self) -> list[dict[str, Any]]:
        db = self.state.db()

        def users(stemcell: dict[str, Any]) -> list[dict[str, str]]:
            return [{"name": d["name"]} for d in db["deployments"]
                    if {"name": stemcell["name"], "version": stemcell["version"]} in d["stemcells"]]
        return [{"name": s["name"], "operating_system": s["os"], "version": s["version"],
                 "cid": s["cid"], "cpi": s.get("cpi", ""), "api_version": 3, "deployments": users(s)}
                for s in db["stemcells"]]

    def releases(self) -> list[dict[str, Any]]:
        db = self.state.db()
        deployed = {(r["name"], r["version"]) for d in db["deployments"] for r in d["releases"]}
        by_name: dict[str, list[dict[str, Any]]] = {}
        for r in db["releases"]:
            by_name.setdefault(r["name"], []).append({
                "version": r["version"], "commit_hash": r["commit_hash"],
                "uncommitted_changes": r["uncommitted_changes"],
                "currently_deployed": (r["name"], r["version"]) in deployed, "job_names": r["jobs"]})
        return [{"name": name, "release_versions": versions} for name, versions in by_name.items()]

    def deployments(self) -> list[dict[str, Any]]:
        return [{"name": d["name"], "releases": d["releases"], "stemcells": d["stemcells"],
                 "cloud_config": "none", "teams": []} for d in self.state.db()["deployments"]]

    def deployment(self, name: str) -> dict[str, Any] | None:
        return next((d for d in self.state.db()["deployments"] if d["name"] == name), None)

    # -- instances and cloud-check --------------------------------------------------------

    def instances_task(self, name: str):
        def work(task_id: int) -> tuple[str, str]:
            deployment = self.deployment(name)
            if deployment is None:
                raise TaskError(f"Deployment '{name}' doesn't exist")
            vms = self.iaas.read()["vms"]
            lines = []
            for inst in deployment["instances"]:
                vm = vms.get(inst["vm_cid"])
                responsive = bool(vm and vm.get("agent_responsive", True))
                processes = inst["processes"] if responsive else []
                state = "unresponsive agent" if not responsive else (
                    "running" if all(p["state"] == "running" for p in processes) else "failing")
                lines.append(json.dumps({
                    "agent_id": inst["agent_id"], "cid": inst["vm_cid"] if vm else None,
                    "job_name": inst["job"], "index": inst["index"], "id": inst["id"],
                    "az": inst["az"], "ips": inst["ips"], "job_state": state, "state": "started",
                    "processes": [{"name": p["name"], "state": p["state"]} for p in processes],
                    "vm_type": inst.get("vm_type", "default"), "bootstrap": inst["index"] == 0,
                    "disk_cid": inst.get("disk_cid")}))
            return "", "\n".join(lines) + "\n"
        return work

    def problems_for(self, name: str) -> list[dict[str, Any]]:
        deployment = self.deployment(name) or {"instances": []}
        vms = self.iaas.read()["vms"]
        problems = []
        for inst in deployment["instances"]:
            label = f"{inst['job']}/{inst['id']} ({inst['index']})"
            vm = vms.get(inst["vm_cid"])
            if vm is None:
                problems.append({"type": "missing_vm", "description":
                                 f"VM for '{label}' with cloud ID '{inst['vm_cid']}' missing.",
                                 "resolutions": [{"name": "ignore", "plan": "Skip for now"},
                                                 {"name": "recreate_vm", "plan": RECREATE_PLAN},
                                                 {"name": "delete_vm_reference", "plan": "Delete VM reference"}],
                                 "instance": inst["id"], "default": "recreate_vm"})
            elif not vm.get("agent_responsive", True):
                problems.append({"type": "unresponsive_agent", "description":
                                 f"VM for '{label}' with cloud ID '{inst['vm_cid']}' is not responding.",
                                 "resolutions": [{"name": "ignore", "plan": "Skip for now"},
                                                 {"name": "reboot_vm", "plan": "Reboot VM"},
                                                 {"name": "recreate_vm", "plan": RECREATE_PLAN},
                                                 {"name": "delete_vm", "plan": "Delete VM"},
                                                 {"name": "delete_vm_reference", "plan": "Delete VM reference"}],
                                 "instance": inst["id"], "default": "recreate_vm"})
        for number, problem in enumerate(problems, start=1):
            problem["id"] = number
        return problems

    def scan_task(self, name: str):
        def work(task_id: int) -> tuple[str, str]:
            if self.deployment(name) is None:
                raise TaskError(f"Deployment '{name}' doesn't exist")
            found = len(self.problems_for(name))
            self.event(task_id, "Scanning VMs", f"{found} problem(s) found")
            return f"scan complete, {found} problem(s)", ""
        return work

    def resolve_task(self, name: str, answers: dict[str, str | None]):
        def work(task_id: int) -> tuple[str, str]:
            problems = {str(p["id"]): p for p in self.problems_for(name)}
            resolved = 0
            for problem_id, resolution in answers.items():
                problem = problems.get(str(problem_id))
                if not problem:
                    continue
                resolution = resolution or problem["default"]
                if resolution in ("recreate_vm", "reboot_vm"):
                    self.recreate_vm(name, problem["instance"])
                    resolved += 1
                self.event(task_id, "Applying problem resolutions",
                           f"{problem['type']} {problem['id']}: {resolution}")
            return f"{resolved} resolved", ""
        return work

    def recreate_vm(self, deployment_name: str, instance_id: str) -> None:
        with self.lock:
            db = self.state.db()
            deployment = next(d for d in db["deployments"] if d["name"] == deployment_name)
            inst = next(i for i in deployment["instances"] if i["id"] == instance_id)
            with self.iaas.edit() as cloud:
                cloud["vms"].pop(inst["vm_cid"], None)
                inst["vm_cid"] = f"vm-{secrets.token_hex(6)}"
                cloud["vms"][inst["vm_cid"]] = {"agent_responsive": True}
            for process in inst["processes"]:
                process["state"] = "running"
            self.state.save(db)

    # -- CLI v1 backup and restore (database only) ------------------------------------------

    def v1_backup_task(self):
        def work(task_id: int) -> tuple[str, str]:
            dump = json.dumps(self.state.db(), indent=2, sort_keys=True).encode()
            target = self.state.path / "v1-backup.tgz"
            with tarfile.open(target, "w:gz") as archive:
                info = tarfile.TarInfo("director_db.sql")
                info.size = len(dump)
                archive.addfile(info, io.BytesIO(dump))
            self.event(task_id, "Backing up director", "Dumping database")
            return "backup done", ""
        return work

    def v1_restore(self, tarball: Path) -> None:
        with tarfile.open(tarball, "r:gz") as archive:
            member = archive.extractfile("director_db.sql")
            if member is None:
                raise ValueError("director_db.sql missing from the backup")
            restored = json.loads(member.read())
        with self.lock:  # the task history is the director's own, not the database's
            self.state.save(restored)
        self.restarting_until = time.monotonic() + 1.5  # the director restarts after a restore


class TaskError(Exception):
    pass


class Handler(BaseHTTPRequestHandler):
    """JSON, text and file responses shared by both sides of the director."""

    director: Director
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", type(self).__name__, format % args)

    def send_json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def send_text(self, status: int, text: str) -> None:
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def send_range(self, text: str) -> None:
        """Task output as the director serves it: the CLI polls with `Range: bytes=N-`."""
        data = text.encode()
        header = self.headers.get("Range", "")
        if not header.startswith("bytes="):
            return self.send_text(200, text)
        start = int(header[len("bytes="):].split("-", 1)[0] or 0)
        if start >= len(data):
            self.send_response(416)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        chunk = data[start:]
        self.send_response(206)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.send_header("Content-Length", str(len(chunk)))
        self.end_headers()
        self.wfile.write(chunk)
        return None

    def redirect_to_task(self, task_id: int) -> None:
        self.send_response(302)
        self.send_header("Location", f"/tasks/{task_id}")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def send_file(self, path: Path) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(path.stat().st_size))
        self.end_headers()
        with path.open("rb") as handle:
            shutil.copyfileobj(handle, self.wfile)



class ApiHandler(Handler):
    """The director API."""

    def route(self, method: str) -> None:
        director = self.director
        time.sleep(director.faults.get("slow_seconds", 0))
        url = urllib.parse.urlsplit(self.path)
        path, query = url.path.rstrip("/") or "/", dict(urllib.parse.parse_qsl(url.query))
        if time.monotonic() < director.restarting_until:
            return self.send_text(502, "director is restarting")
        if path == "/info" and method == "GET":  # answers anyone; names the user when credentials are valid
            return self.send_json(200, director.info(self.headers.get("Authorization")))
        if path == "/uaa/oauth/token" and method == "POST":
            return self.token()
        if path.startswith("/_sim/"):
            if self.headers.get("X-Sim-Admin") != director.admin_token:
                return self.send_text(403, "admin token required")
            return self.admin(method, path)
        if not director.authorized(self.headers.get("Authorization")):
            return self.send_text(401, f"Not authorized: '{path}'\n")
        return self.api(method, path, query)

    def do_GET(self) -> None:
        self.route("GET")

    def do_POST(self) -> None:
        self.route("POST")

    def do_PUT(self) -> None:
        self.route("PUT")

    # -- endpoints -------------------------------------------------------------------------------

    def token(self) -> None:
        form = dict(urllib.parse.parse_qsl(self.body().decode()))
        client, secret = form.get("client_id", ""), form.get("client_secret", "")
        header = self.headers.get("Authorization", "")
        if header.lower().startswith("basic "):
            client, _, secret = base64.b64decode(header[6:]).decode().partition(":")
        token = self.director.issue_token(client, secret)
        if token is None:
            return self.send_json(401, {"error": "unauthorized", "error_description": "Bad credentials"})
        self.send_json(200, {"access_token": token, "token_type": "bearer", "expires_in": 3599,
                             "scope": "bosh.admin", "jti": secrets.token_hex(8)})

    def api(self, method: str, path: str, query: dict[str, str]) -> None:
        director = self.director
        parts = path.strip("/").split("/")
        fix = query.get("fix") == "true"
        if path == "/stemcell_uploads" and method == "POST":
            wanted = json.loads(self.body() or b"{}").get("stemcell") or {}
            known = any(s["name"] == wanted.get("name") and s["version"] == wanted.get("version")
                        for s in director.stemcells())
            return self.send_json(200, {"needed": not known})
        if path == "/tasks" and method == "GET":
            return self.send_json(200, director.tasks(query))
        if path in ("/stemcells", "/releases"):
            kind = path.strip("/")[:-1]
            if method == "GET":
                return self.send_json(200, director.stemcells() if kind == "stemcell" else director.releases())
            body = json.loads(self.body() or b"{}")
            task = director.new_task(f"create {kind} from remote url" if kind == "stemcell" else
                                     "create release", None,
                                     director.upload(kind, body["location"], body.get("sha1"), fix))
            return self.redirect_to_task(task)
        if path == "/deployments" and method == "GET":
            return self.send_json(200, director.deployments())
        if parts[0] == "deployments" and len(parts) == 3:
            name, what = parts[1], parts[2]
            if director.deployment(name) is None:
                return self.send_json(404, {"code": 70000, "description": f"Deployment '{name}' doesn't exist"})
            if what == "instances" and method == "GET":
                return self.redirect_to_task(director.new_task("retrieve vm-stats", name,
                                                               director.instances_task(name)))
            if what == "scans" and method == "POST":
                return self.redirect_to_task(director.new_task("scan cloud", name, director.scan_task(name)))
            if what == "problems" and method == "GET":
                problems = [{k: v for k, v in p.items() if k not in ("instance", "default")}
                            for p in director.problems_for(name)]
                return self.send_json(200, problems)
            if what == "problems" and method == "PUT":
                answers = json.loads(self.body() or b"{}").get("resolutions", {})
                return self.redirect_to_task(director.new_task("apply resolutions", name,
                                                               director.resolve_task(name, answers)))
        if parts[0] == "tasks" and len(parts) >= 2:
            try:
                found = director.task(int(parts[1]))
            except (KeyError, ValueError):
                return self.send_json(404, {"code": 10000, "description": f"Task {parts[1]} not found"})
            if len(parts) == 2:
                return self.send_json(200, {k: v for k, v in found.items() if k not in ("events", "result_output")})
            kind = query.get("type", "event")
            if kind == "result":
                return self.send_range(found["result_output"])
            events = "".join(json.dumps(e) + "\n" for e in found["events"])
            if kind == "debug":
                events = "".join(f"D, [{e.get('time')}] DEBUG -- {json.dumps(e)}\n" for e in found["events"])
            return self.send_range(events)
        if path == "/backups":
            if method == "POST":
                return self.redirect_to_task(director.new_task("bosh backup", None, director.v1_backup_task()))
            backup = director.state.path / "v1-backup.tgz"
            if not backup.exists():
                return self.send_json(404, {"code": 10001, "description": "No backup found"})
            return self.send_file(backup)
        if path == "/restore" and method == "POST":
            with tempfile.NamedTemporaryFile(suffix=".tgz") as upload:
                upload.write(self.body())
                upload.flush()
                director.v1_restore(Path(upload.name))
            return self.send_json(202, {})
        self.send_json(404, {"code": 10000, "description": f"no route for {method} {path}"})

    def admin(self, method: str, path: str) -> None:
        """Test-only: seed deployments, read a snapshot, set faults."""
        director = self.director
        if path == "/_sim/snapshot":
            return self.send_json(200, director.state.snapshot())
        if path == "/_sim/deployments" and method == "POST":
            deployment = json.loads(self.body())
            with director.lock:
                db = director.state.db()
                db["deployments"] = [d for d in db["deployments"] if d["name"] != deployment["name"]]
                with director.iaas.edit() as cloud:
                    for inst in deployment["instances"]:
                        cloud["vms"].setdefault(inst["vm_cid"], {"agent_responsive": True})
                db["deployments"].append(deployment)
                director.state.save(db)
            return self.send_json(201, deployment)
        if path == "/_sim/faults" and method == "PUT":
            director.faults.replace(json.loads(self.body()))
            return self.send_json(200, director.faults.all())
        self.send_json(404, {"description": f"no admin route {method} {path}"})


def serve(state_dir: Path, iaas_file: Path, port: int, cert: Path, key: Path) -> None:
    director = Director(DirectorState(state_dir), Iaas(iaas_file))
    api_handler = type("Api", (ApiHandler,), {"director": director})
    api = ThreadingHTTPServer(("127.0.0.1", port), api_handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    api.socket = context.wrap_socket(api.socket, server_side=True)
    log.info("director %s listening on https://127.0.0.1:%s", director.state.db()["name"], port)
    api.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description="A simulated BOSH director.")
    parser.add_argument("--state", type=Path, required=True)
    parser.add_argument("--iaas", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cert", type=Path, required=True)
    parser.add_argument("--key", type=Path, required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    serve(args.state, args.iaas, args.port, args.cert, args.key)


if __name__ == "__main__":
    main()
