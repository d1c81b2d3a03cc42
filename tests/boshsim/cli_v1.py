"""A stand-in for the retired Ruby bosh CLI v1, for the commands of the docs' procedure.

    bosh [-c CONFIG] [-n] [--user U --password P] target URL [--ca-cert FILE]
    bosh status                          the director's name, URL, version, UUID and CPI
    bosh backup [PATH] [--force]         bosh_backup_<director>_<epoch>.tgz, database only
    bosh restore PATH                    replaces the database; the director restarts
    bosh upload stemcell|release URL [--fix] [--sha1 S] [--skip-if-exists] [--name N --version V]
    bosh stemcells | releases | deployments
    bosh cloudcheck [DEPLOYMENT] [--auto | --report]
    bosh instances [--ps]

Credentials come from --user/--password or BOSH_USER/BOSH_PASSWORD; the target is
kept in the config file (~/.bosh_config unless -c). Tables are v1's box drawings.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from .client import CliError, Director, normalize_url

RESTORE_TIMEOUT = float(os.environ.get("BOSH_V1_RESTORE_TIMEOUT", "600"))


def box(header: list[str], rows: list[list[str]]) -> str:
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(header)]
    rule = "+" + "+".join("-" * (w + 2) for w in widths) + "+"

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"
    return "\n".join([rule, line(header), rule, *(line(r) for r in rows), rule])


class V1:
    def __init__(self, config_path: Path, non_interactive: bool, user: str | None, password: str | None):
        self.config_path = config_path
        self.config: dict[str, Any] = {}
        if config_path.exists():
            self.config = yaml.safe_load(config_path.read_text()) or {}
        self.non_interactive = non_interactive
        self.user = user or os.environ.get("BOSH_USER")
        self.password = password or os.environ.get("BOSH_PASSWORD")

    def director(self) -> Director:
        target = self.config.get("target")
        if not target:
            raise CliError("Please choose target first")
        return Director(target, self.config.get("ca_cert"), self.user, self.password)

    def save(self) -> None:
        self.config_path.parent.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(yaml.safe_dump(self.config))

    def task(self, director: Director, response: tuple[int, dict[str, str], bytes], what: str) -> dict[str, Any]:
        task_id = director.task_from(response)
        print(f"Director task {task_id}")
        task = director.wait_task(task_id, lambda e: print(f"  {e['stage']} > {e['task']}. Done"))
        print(f"Task {task_id} {task['state']}")
        if task["state"] != "done":
            raise CliError(f"{what} failed: {task['result']}")
        return task

    def confirm(self, question: str) -> None:
        if self.non_interactive:
            return
        print(f"{question} (type 'yes' to continue): ", end="", flush=True)
        if sys.stdin.readline().strip() != "yes":
            raise CliError("Canceled")

    # -- commands ------------------------------------------------------------------------

    def target(self, args: list[str]) -> None:
        if not args:
            raise CliError("Usage: bosh target URL [--ca-cert FILE]")
        url = normalize_url(args[0])
        ca_cert = args[args.index("--ca-cert") + 1] if "--ca-cert" in args else None
        info = Director(url, ca_cert, None, None).info()
        self.config.update(target=url, target_name=info["name"], target_uuid=info["uuid"],
                           ca_cert=ca_cert)
        self.save()
        print(f"Target set to '{info['name']}'")

    def status(self, args: list[str]) -> None:
        director = self.director()
        info = director.info()
        user = None
        if self.user and self.password is not None:
            user = director.info(authenticated=True).get("user")
        print(f"Config\n             {self.config_path}\n")
        print("Director")
        for label, value in (("Name", info["name"]), ("URL", director.url), ("Version", info["version"]),
                             ("User", user or "not logged in"), ("UUID", info["uuid"]),
                             ("CPI", info["cpi"]), ("dns", "enabled (domain_name: bosh)"),
                             ("compiled_package_cache", "disabled"), ("snapshots", "disabled")):
            print(f"  {label:<10} {value}")

    def backup(self, args: list[str]) -> None:
        director = self.director()
        force = "--force" in args
        paths = [a for a in args if not a.startswith("--")]
        name = f"bosh_backup_{self.config.get('target_name', 'director')}_{int(time.time())}.tgz"
        target = Path(paths[0]) if paths else Path.cwd() / name
        if target.is_dir():
            target = target / name
        if target.exists() and not force:
            raise CliError(f"Backup file '{target}' already exists, use --force to overwrite")
        self.task(director, director.call("POST", "/backups"), "Backup")
        _, _, payload = director.call("GET", "/backups")
        target.write_bytes(payload)
        print(f"Backup of BOSH director was put in '{target}'.")

    def restore(self, args: list[str]) -> None:
        if not args:
            raise CliError("Usage: bosh restore PATH")
        tarball = Path(args[0])
        if not tarball.is_file():
            raise CliError(f"Backup file '{tarball}' does not exist")
        director = self.director()
        self.confirm("Restoring the director database will replace all existing data. Are you sure?")
        director.call("POST", "/restore", raw_body=tarball.read_bytes(), content_type="application/x-compressed")
        print("Restoring database, the director will restart...")
        deadline = time.monotonic() + RESTORE_TIMEOUT
        while time.monotonic() < deadline:
            time.sleep(0.5)
            status, _, _ = director.raw("GET", "/info")
            if status == 200:
                print("Restore done!")
                return
        raise CliError("Restore database timed out.")

    def upload(self, args: list[str]) -> None:
        if len(args) < 2 or args[0] not in ("stemcell", "release"):
            raise CliError("Usage: bosh upload stemcell|release LOCATION [--fix]")
        kind, location = args[0], args[1]
        fix = "--fix" in args
        if fix and ("--skip-if-exists" in args or "--name" in args or "--version" in args):
            raise CliError("Option '--fix' cannot be used with '--skip-if-exists', '--name' or '--version'")
        body: dict[str, Any] = {"location": location}
        if "--sha1" in args:
            body["sha1"] = args[args.index("--sha1") + 1]
        print(f"Using remote {kind} '{location}'")
        director = self.director()
        path = f"/{kind}s" + ("?fix=true" if fix else "")
        task = self.task(director, director.call("POST", path, body), f"Uploading {kind}")
        result = director.task_result(task["id"]).strip()
        print(result or f"{kind.capitalize()} uploaded and created.")

    def stemcells(self, args: list[str]) -> None:
        stemcells = self.director().get_json("/stemcells")
        rows = [[s["name"], s["operating_system"], s["version"] + ("*" if s["deployments"] else ""), s["cid"]]
                for s in sorted(stemcells, key=lambda s: (s["name"], s["version"]))]
        print(box(["Name", "OS", "Version", "CID"], rows))
        print("\n(*) Currently in-use\n")
        print(f"Stemcells total: {len(rows)}")

    def releases(self, args: list[str]) -> None:
        releases = self.director().get_json("/releases")
        rows = []
        for release in sorted(releases, key=lambda r: r["name"]):
            for version in release["release_versions"]:
                rows.append([release["name"], version["version"] + ("*" if version["currently_deployed"] else ""),
                             version["commit_hash"] + ("+" if version["uncommitted_changes"] else "")])
        print(box(["Name", "Versions", "Commit Hash"], rows))
        print("(*) Currently deployed\n(+) Uncommitted changes\n")
        print(f"Releases total: {len(rows)}")

    def deployments(self, args: list[str]) -> None:
        deployments = self.director().get_json("/deployments")
        rows = [[d["name"], ", ".join(f"{r['name']}/{r['version']}" for r in d["releases"]),
                 ", ".join(f"{s['name']}/{s['version']}" for s in d["stemcells"])]
                for d in sorted(deployments, key=lambda d: d["name"])]
        print(box(["Name", "Release(s)", "Stemcell(s)"], rows))
        print(f"\nDeployments total: {len(rows)}")

    def cloudcheck(self, args: list[str]) -> None:
        auto, report = "--auto" in args, "--report" in args
        names = [a for a in args if not a.startswith("--")]
        if self.non_interactive and not (auto or report):
            raise CliError("Cloudcheck cannot be run in non-interactive mode\n"
                           "Please use `--auto' flag if you want automated resolutions "
                           "or `--report' if you just want a report of the errors")
        director = self.director()
        name = names[0] if names else self.config.get("deployment_name")
        if not name:
            raise CliError("Please choose deployment first")
        print("Performing cloud check...")
        self.task(director, director.call("POST", f"/deployments/{name}/scans"), "Cloud check")
        problems = director.get_json(f"/deployments/{name}/problems")
        if not problems:
            print("No problems found")
            return
        print(f"Found {len(problems)} problem{'s' if len(problems) > 1 else ''}\n")
        for number, problem in enumerate(problems, start=1):
            print(f"Problem {number} of {len(problems)}: {problem['description']}")
        if report:
            raise CliError(f"Found {len(problems)} problem{'s' if len(problems) > 1 else ''}")
        print("Applying resolutions...")
        self.task(director, director.call("PUT", f"/deployments/{name}/problems",
                                          {"resolutions": {str(p["id"]): None for p in problems}}),
                  "Applying resolutions")
        print("Cloudcheck is finished")

    def instances(self, args: list[str]) -> None:
        director = self.director()
        total = 0
        for deployment in sorted(director.get_json("/deployments"), key=lambda d: d["name"]):
            name = deployment["name"]
            task_id = director.task_from(director.call("GET", f"/deployments/{name}/instances?format=full"))
            director.wait_task(task_id)
            vms = [json.loads(line) for line in director.task_result(task_id).splitlines() if line]
            rows = []
            for vm in sorted(vms, key=lambda v: (v["job_name"], v["index"])):
                rows.append([f"{vm['job_name']}/{vm['index']} ({vm['id']})", vm["job_state"], vm["az"] or "n/a",
                             vm["vm_type"], ", ".join(vm["ips"])])
                if "--ps" in args:
                    rows += [[f"  {p['name']}", p["state"], "", "", ""] for p in vm["processes"]]
            print(f"\nDeployment '{name}'\n")
            print(box(["Instance", "State", "AZ", "VM Type", "IPs"], rows))
            total += len(vms)
        print(f"\nInstances total: {total}")


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    config = Path(os.environ.get("HOME", "/")) / ".bosh_config"
    non_interactive, user, password = False, None, None
    rest: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in ("-c", "--config"):
            config, i = Path(args[i + 1]), i + 1
        elif arg in ("-n", "--non-interactive"):
            non_interactive = True
        elif arg == "--user":
            user, i = args[i + 1], i + 1
        elif arg == "--password":
            password, i = args[i + 1], i + 1
        else:
            rest.append(arg)
        i += 1
    if rest == ["--version"]:
        print("BOSH 1.3262.26.0")  # the last release of the Ruby CLI
        return 0
    cli = V1(config, non_interactive, user, password)
    commands = {"target": cli.target, "status": cli.status, "backup": cli.backup, "restore": cli.restore,
                "upload": cli.upload, "stemcells": cli.stemcells, "releases": cli.releases,
                "deployments": cli.deployments, "cloudcheck": cli.cloudcheck, "cck": cli.cloudcheck,
                "instances": cli.instances}
    if not rest or rest[0] not in commands:
        print(f"Unknown command: {' '.join(rest)}", file=sys.stderr)
        return 1
    try:
        commands[rest[0]](rest[1:])
        return 0
    except CliError as error:
        print(str(error), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
