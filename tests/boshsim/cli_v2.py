"""A stand-in for the bosh CLI v2 (v7), for the commands the operator runs.

The real CLI cannot be built here (its Go module is not served), so this speaks the
simulator's API and prints what bosh v7 prints: the same global flags and
environment variables, `--json` documents of {Tables, Blocks, Lines} with header
keys lower-cased and non-alphanumerics folded to "_", 'Succeeded' or 'Exit code 1'.

Commands: env, stemcells, releases, deployments, upload-stemcell, upload-release,
cloud-check (cck), instances.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from typing import Any

from .client import CliError, Director, chain, wrap

GLOBAL_VALUES = {"-e": "environment", "--environment": "environment", "--ca-cert": "ca_cert",
                 "--client": "client", "--client-secret": "client_secret", "-d": "deployment",
                 "--deployment": "deployment", "--config": "config"}
GLOBAL_FLAGS = {"--json": "json", "-n": "non_interactive", "--non-interactive": "non_interactive",
                "--tty": "tty", "--no-color": "no_color"}


def keyify(header: str) -> str:
    cleaned = "".join(c.lower() if c.isalnum() else " " for c in header)
    return "_".join(part for part in cleaned.split(" ") if part)


class Ui:
    def __init__(self, json_mode: bool):
        self.json_mode = json_mode
        self.tables: list[dict[str, Any]] = []
        self.blocks: list[str] = []
        self.lines: list[str] = []

    def line(self, text: str = "") -> None:
        if self.json_mode:
            self.lines.append(text)
        else:
            print(text, flush=True)

    def error(self, text: str = "") -> None:
        if self.json_mode:
            self.lines.append(text)
        else:
            print(text, file=sys.stderr, flush=True)

    def table(self, content: str, header: list[str], rows: list[list[str]], notes: list[str] | None = None
              ) -> None:
        if self.json_mode:
            self.tables.append({"Content": content, "Header": {keyify(h): h for h in header},
                                "Rows": [{keyify(h): v for h, v in zip(header, row, strict=True)} for row in rows],
                                "Notes": notes or None})
            return
        widths = [max([len(h)] + [len(line) for r in rows for line in r[i].splitlines() or [""]])
                  for i, h in enumerate(header)]
        print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip())
        for row in rows:
            height = max(len(v.splitlines()) or 1 for v in row)
            for n in range(height):
                cells = [(v.splitlines() + [""] * height)[n] for v in row]
                print("  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip())
        print()
        for note in notes or []:
            print(note)
        if notes:
            print()
        print(f"{len(rows)} {content}")

    def flush(self) -> None:
        if self.json_mode:
            print(json.dumps({"Tables": self.tables or None, "Blocks": self.blocks or None,
                              "Lines": self.lines or None}, indent=4))


def split_args(argv: list[str]) -> tuple[dict[str, Any], list[str]]:
    options: dict[str, Any] = {}
    rest: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        name, _, inline = arg.partition("=")
        if name in GLOBAL_VALUES:
            if inline:
                options[GLOBAL_VALUES[name]] = inline
            else:
                i += 1
                options[GLOBAL_VALUES[name]] = argv[i] if i < len(argv) else ""
        elif arg in GLOBAL_FLAGS:
            options[GLOBAL_FLAGS[arg]] = True
        else:
            rest.append(arg)
        i += 1
    return options, rest


class Cli:
    def __init__(self, options: dict[str, Any], ui: Ui):
        self.ui = ui
        self.options = options
        env = os.environ
        self.environment = options.get("environment") or env.get("BOSH_ENVIRONMENT")
        self.client = options.get("client") or env.get("BOSH_CLIENT")
        self.secret = options.get("client_secret") or env.get("BOSH_CLIENT_SECRET")
        self.deployment_name = options.get("deployment") or env.get("BOSH_DEPLOYMENT")
        self.non_interactive = bool(options.get("non_interactive") or env.get("BOSH_NON_INTERACTIVE"))
        self._director: Director | None = None

    def director(self) -> Director:
        if self._director is None:
            if not self.environment:
                raise CliError("Expected non-empty Director URL")
            self._director = Director(self.environment, self.options.get("ca_cert") or
                                      os.environ.get("BOSH_CA_CERT"), self.client, self.secret)
            as_whom = f"as client '{self.client}'" if self.client else "as anonymous user"
            self.ui.line(f"Using environment '{self._director.url.split('://')[1].rsplit(':', 1)[0]}' {as_whom}")
            self.ui.line()
        return self._director

    def require_deployment(self) -> str:
        if not self.deployment_name:
            raise CliError("Expected non-empty deployment name")
        return str(self.deployment_name)

    def confirm(self) -> None:
        if self.non_interactive:
            return
        if self.ui.json_mode:
            raise CliError("Cannot ask for confirmation in JSON UI")
        self.ui.line("Continue? [yN]: ")
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            raise CliError("Stopped")

    # -- commands ----------------------------------------------------------------------

    def env(self, args: argparse.Namespace) -> None:
        director = self.director()
        info = director.info()
        user = "(not logged in)"
        if self.client:
            try:
                director.auth_header()
                user = str(self.client)
            except CliError:
                pass
        features = [f"{name}: {'enabled' if value.get('status') else 'disabled'}"
                    for name, value in sorted(info["features"].items())]
        self.ui.table("", ["Name", "UUID", "Version", "Director Stemcell", "CPI", "Features", "User"],
                      [[info["name"], info["uuid"], info["version"],
                        f"{info['stemcell_os']}/{info['stemcell_version']}", info["cpi"],
                        "\n".join(features), user]])

    def stemcells(self, args: argparse.Namespace) -> None:
        try:
            stemcells = self.director().get_json("/stemcells")
        except CliError as error:
            raise CliError(wrap("Finding stemcells:", error)) from None
        rows = [[s["name"], s["version"] + ("*" if s["deployments"] else ""), s["operating_system"],
                 s.get("cpi", ""), s["cid"]]
                for s in sorted(sorted(stemcells, key=lambda s: version_key(s["version"]), reverse=True),
                                key=lambda s: s["name"])]
        self.ui.table("stemcells", ["Name", "Version", "OS", "CPI", "CID"], rows,
                      ["(*) Currently deployed"])

    def releases(self, args: argparse.Namespace) -> None:
        try:
            releases = self.director().get_json("/releases")
        except CliError as error:
            raise CliError(wrap("Finding releases:", error)) from None
        rows = []
        for release in sorted(releases, key=lambda r: r["name"]):
            for version in sorted(release["release_versions"], key=lambda v: version_key(v["version"]),
                                  reverse=True):
                rows.append([release["name"], version["version"] + ("*" if version["currently_deployed"] else ""),
                             version["commit_hash"] + ("+" if version["uncommitted_changes"] else "")])
        self.ui.table("releases", ["Name", "Version", "Commit Hash"], rows,
                      ["(*) Currently deployed", "(+) Uncommitted changes"])

    def deployments(self, args: argparse.Namespace) -> None:
        try:
            deployments = self.director().get_json("/deployments")
        except CliError as error:
            raise CliError(wrap("Finding deployments:", error)) from None
        rows = [[d["name"], "\n".join(f"{r['name']}/{r['version']}" for r in d["releases"]),
                 "\n".join(f"{s['name']}/{s['version']}" for s in d["stemcells"]), ""]
                for d in sorted(deployments, key=lambda d: d["name"])]
        self.ui.table("deployments", ["Name", "Release(s)", "Stemcell(s)", "Team(s)"], rows)

    def upload(self, kind: str, args: argparse.Namespace) -> None:
        label = "Stemcell" if kind == "stemcell" else "Release"
        director = self.director()
        location = args.url
        if re.match(r"^https?://|^file://", location) is None:
            raise CliError(f"Uploading {kind} file '{location}': local files are not supported by the "
                           "stand-in CLI; give a URL")
        if args.name and args.version and not args.fix:
            existing = self.existing(kind, args.name, args.version)
            if existing:
                self.ui.line(f"{label} '{args.name}/{args.version}' already exists.")
                return
        body: dict[str, Any] = {"location": location}
        if args.sha1:
            body["sha1"] = args.sha1
        path = f"/{kind}s" + ("?fix=true" if args.fix else "")
        try:
            task_id = director.task_from(director.call("POST", path, body))
        except CliError as error:
            raise CliError(wrap(f"Uploading remote {kind} '{location}':", error)) from None
        self.follow_to_done(task_id, f"Uploading remote {kind} '{location}':")
        result = director.task_result(task_id).strip()
        if result:
            self.ui.line(result)

    def existing(self, kind: str, name: str, version: str) -> bool:
        if kind == "stemcell":
            return any(s["name"] == name and s["version"] == version
                       for s in self.director().get_json("/stemcells"))
        return any(r["name"] == name and any(v["version"] == version for v in r["release_versions"])
                   for r in self.director().get_json("/releases"))

    def follow_to_done(self, task_id: int, context: str = "") -> dict[str, Any]:
        """follow(), then fail as the CLI does when the task did not finish 'done'."""
        task = self.follow(task_id)
        if task["state"] != "done":
            message = f"Expected task '{task_id}' to succeed but state is '{task['state']}'"
            raise CliError(chain(context, message) if context else message)
        return task

    def follow(self, task_id: int) -> dict[str, Any]:
        self.ui.line(f"Task {task_id}")
        self.ui.line()

        def show(event: dict[str, Any]) -> None:
            stamp = time.strftime("%H:%M:%S", time.gmtime(event["time"]))
            text = f"Task {task_id} | {stamp} | {event['stage']}: {event['task']}"
            if event["state"] == "finished":
                text += " (00:00:00)"
            self.ui.line(text)
            if event.get("data", {}).get("error"):
                self.ui.line(f"                  L Error: {event['data']['error']}")
        task = self.director().wait_task(task_id, show)
        if task["state"] == "error":
            stamp = time.strftime("%H:%M:%S", time.gmtime())
            self.ui.line(f"Task {task_id} | {stamp} | Error: {task['result']}")
        self.ui.line()
        self.ui.line(f"Task {task_id} {task['state']}")
        self.ui.line()
        return task

    def cloud_check(self, args: argparse.Namespace) -> None:
        name = self.require_deployment()
        director = self.director()
        try:
            task_id = director.task_from(director.call("POST", f"/deployments/{name}/scans"))
        except CliError as error:
            raise CliError(wrap("Performing cloud check:", error)) from None
        self.follow_to_done(task_id)
        problems = director.get_json(f"/deployments/{name}/problems")
        self.ui.table("problems", ["#", "Type", "Description"],
                      [[str(p["id"]), p["type"], p["description"]] for p in problems])
        if not problems:
            return
        if args.report:
            raise CliError(f"{len(problems)} problem(s) found")
        if not args.auto and (self.non_interactive or self.ui.json_mode):
            raise CliError("Choosing resolutions needs a terminal: use --auto or --report")
        self.confirm()
        answers = {str(p["id"]): None for p in problems}
        task_id = director.task_from(director.call("PUT", f"/deployments/{name}/problems",
                                                   {"resolutions": answers}))
        self.follow_to_done(task_id)

    def instances(self, args: argparse.Namespace) -> None:
        director = self.director()
        names = [self.deployment_name] if self.deployment_name else [
            d["name"] for d in director.get_json("/deployments")]
        for name in names:
            try:
                task_id = director.task_from(director.call("GET", f"/deployments/{name}/instances?format=full"))
            except CliError as error:
                raise CliError(wrap("Fetching instances:", error)) from None
            task = director.wait_task(task_id)
            if task["state"] != "done":
                raise CliError(chain("Fetching instances:", str(task["result"])))
            vms = [json.loads(line) for line in director.task_result(task_id).splitlines() if line]
            header = ["Instance", "Process State", "AZ", "IPs", "Deployment"]
            if args.ps:
                header.insert(1, "Process")
            rows = []
            for vm in sorted(vms, key=lambda v: (v["job_name"], v["index"])):
                row = [f"{vm['job_name']}/{vm['id']}", vm["process_state"], vm["az"] or "",
                       "\n".join(vm["ips"]), name]
                if args.ps:
                    row.insert(1, "")
                rows.append(row)
                if args.ps:
                    rows += [["", p["name"], p["state"], "", "", name] for p in vm["processes"]]
            self.ui.table("instances", header, rows)


def version_key(version: str) -> tuple[Any, ...]:
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"[.-]", version))


def parser_for(command: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"bosh {command}", add_help=False)
    if command in ("upload-stemcell", "upload-release"):
        parser.add_argument("url")
        parser.add_argument("--fix", action="store_true")
        parser.add_argument("--sha1")
        parser.add_argument("--name")
        parser.add_argument("--version")
    elif command in ("cloud-check", "cck"):
        parser.add_argument("--report", action="store_true")
        parser.add_argument("--auto", "-a", action="store_true")
        parser.add_argument("--resolution", action="append")
    elif command in ("instances", "is"):
        parser.add_argument("--ps", "-p", action="store_true")
        parser.add_argument("--details", "-i", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> int:
    options, rest = split_args(list(sys.argv[1:] if argv is None else argv))
    ui = Ui(bool(options.get("json")))
    if not rest:
        print("Usage: bosh [OPTIONS] COMMAND", file=sys.stderr)
        return 1
    command, command_args = rest[0], rest[1:]
    cli = Cli(options, ui)
    handlers = {
        "env": cli.env, "environment": cli.env, "stemcells": cli.stemcells, "ss": cli.stemcells,
        "releases": cli.releases, "rs": cli.releases, "deployments": cli.deployments, "ds": cli.deployments,
        "upload-stemcell": lambda a: cli.upload("stemcell", a), "us": lambda a: cli.upload("stemcell", a),
        "upload-release": lambda a: cli.upload("release", a), "ur": lambda a: cli.upload("release", a),
        "cloud-check": cli.cloud_check, "cck": cli.cloud_check,
        "instances": cli.instances, "is": cli.instances,
    }
    code = 0
    try:
        if command not in handlers:
            raise CliError(f"Unknown command `{command}'. Please specify one command of: " +
                           ", ".join(sorted(handlers)))
        parser = parser_for(command)
        try:
            args = parser.parse_args(command_args)
        except SystemExit:
            raise CliError(f"Invalid usage of `{command}'") from None
        handlers[command](args)
        ui.line()
        ui.line("Succeeded")
    except CliError as error:
        ui.error(str(error))
        ui.error()
        ui.error("Exit code 1")
        code = 1
    ui.flush()
    return code


if __name__ == "__main__":
    sys.exit(main())
