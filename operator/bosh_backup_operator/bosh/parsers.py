"""bosh, bosh v1 and bbr output to typed results (pure functions).

Each parser takes exactly what the tool printed and returns plain data or raises
OutputError naming what it expected, so a format change shows up as a clear
failure instead of a wrong backup.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any


class OutputError(ValueError):
    """The tool printed something this version of the operator does not understand."""


# -- bosh v2 --json -------------------------------------------------------------------------

def json_document(stdout: str) -> dict[str, Any]:
    try:
        document = json.loads(stdout)
    except ValueError as error:
        raise OutputError(f"bosh --json printed no JSON document: {error}") from None
    if not isinstance(document, dict) or "Tables" not in document:
        raise OutputError("bosh --json document has no Tables")
    return document


def json_rows(stdout: str, content: str | None = None) -> list[dict[str, str]]:
    """Every row of every table (of the given Content) in a bosh --json document."""
    rows: list[dict[str, str]] = []
    for table in json_document(stdout).get("Tables") or []:
        if content is None or table.get("Content") == content:
            rows.extend(table.get("Rows") or [])
    return rows


def json_error_line(stdout: str) -> str:
    """The most telling line of a failed bosh --json run: a failed task's own cause (an
    `Error: ...` entry of Blocks) after what the CLI was doing, else the innermost cause."""
    try:
        document = json_document(stdout)
    except OutputError:
        return error_line(stdout)
    lines = [line for line in (document.get("Lines") or []) if line.strip()]
    causes = json_task_errors(document)
    if not causes:
        return error_line("\n".join(lines))
    chains = [line for line in lines if "\n" in line.strip()]
    context = chains[-1].strip().splitlines()[0].rstrip(":") if chains else ""
    return f"{context}: {causes[-1]}" if context else causes[-1]


def json_task_errors(document: dict[str, Any]) -> list[str]:
    """The causes a failed director task reported (its `Error: ...` events, in Blocks)."""
    return [block.strip()[len("Error: "):] for block in (document.get("Blocks") or [])
            if block.strip().startswith("Error: ")]


def error_line(text: str) -> str:
    """The innermost cause of a bosh error chain, or the last meaningful line."""
    lines = [line.rstrip() for line in text.splitlines()
             if line.strip() and line.strip() not in ("Exit code 1", "Succeeded")
             and not line.startswith("Using environment")]
    if not lines:
        return ""
    # bosh nests causes by indentation: the deepest line of the last chain says why
    last_block_start = max((i for i, line in enumerate(lines) if not line.startswith(" ")), default=0)
    block = lines[last_block_start:]
    return max(block, key=lambda line: len(line) - len(line.lstrip())).strip()


@dataclass(frozen=True)
class DirectorInfo:
    name: str
    uuid: str
    version: str
    cpi: str
    user: str = ""

    @property
    def logged_in(self) -> bool:
        return self.user not in ("", "(not logged in)", "not logged in")

    def as_status(self) -> dict[str, str]:
        return {"name": self.name, "uuid": self.uuid, "version": self.version, "cpi": self.cpi}


def parse_env(stdout: str) -> DirectorInfo:
    rows = json_rows(stdout)
    if not rows:
        raise OutputError("bosh env --json printed no table")
    row = rows[0]
    return DirectorInfo(row.get("name", ""), row.get("uuid", ""), row.get("version", ""), row.get("cpi", ""),
                        row.get("user", ""))


def _deployed(version: str) -> tuple[str, bool]:
    return version.rstrip("*"), version.endswith("*")


def parse_stemcells(stdout: str) -> list[dict[str, Any]]:
    out = []
    for row in json_rows(stdout, "stemcells"):
        version, deployed = _deployed(row["version"])
        out.append({"name": row["name"], "version": version, "os": row.get("os", ""),
                    "cid": row.get("cid", ""), "deployed": deployed})
    return out


def parse_releases(stdout: str) -> list[dict[str, Any]]:
    out = []
    for row in json_rows(stdout, "releases"):
        version, deployed = _deployed(row["version"])
        out.append({"name": row["name"], "version": version, "deployed": deployed,
                    "commitHash": row.get("commit_hash", "").rstrip("+")})
    return out


def _name_versions(cell: str) -> list[dict[str, str]]:
    items = []
    for part in re.split(r"[\n,]\s*", cell.strip()):
        if part:
            name, _, version = part.strip().rpartition("/")
            items.append({"name": name, "version": version})
    return items


def parse_deployments(stdout: str) -> list[dict[str, Any]]:
    return [{"name": row["name"], "releases": _name_versions(row.get("release_s", "")),
             "stemcells": _name_versions(row.get("stemcell_s", ""))}
            for row in json_rows(stdout, "deployments")]


@dataclass
class InstanceSummary:
    deployment: str
    instance: str
    state: str
    processes: dict[str, str] = field(default_factory=dict)

    @property
    def failing_processes(self) -> list[str]:
        return [name for name, state in self.processes.items() if state != "running"]


def parse_instances(stdout: str) -> list[InstanceSummary]:
    """instances --ps --json: an instance's row has an empty `process`; each of its
    processes follows in a row that repeats the instance's name."""
    instances: dict[tuple[str, str], InstanceSummary] = {}
    deployment = ""
    for table in json_document(stdout).get("Tables") or []:
        if table.get("Content") != "instances":
            continue
        for row in table.get("Rows") or []:
            name = row.get("instance", "")
            if not row.get("process"):
                deployment = row.get("deployment") or deployment
                instances[(deployment, name)] = InstanceSummary(deployment, name, row.get("process_state", ""))
            elif (deployment, name) in instances:
                instances[(deployment, name)].processes[row["process"]] = row.get("process_state", "")
            else:
                raise OutputError(f"instances --ps: process {row['process']} of {name} came before its instance")
    return list(instances.values())


def parse_problems(stdout: str) -> list[dict[str, str]]:
    """cloud-check --json: bosh-cli keys the '#' column "0" (it keyifies titles by
    position when they have no letters)."""
    return [{"id": row.get("0", row.get("", "")), "type": row.get("type", ""),
             "description": row.get("description", "")}
            for row in json_rows(stdout, "problems")]


# -- bosh v1 text output --------------------------------------------------------------------------

def box_rows(stdout: str) -> list[dict[str, str]]:
    """Rows of v1's '+---+' box tables, keyed by header; several tables are concatenated."""
    rows: list[dict[str, str]] = []
    header: list[str] | None = None
    rules = 0
    for line in stdout.splitlines():
        if line.startswith("+") and line.endswith("+"):
            rules += 1
            if rules % 3 == 0:
                header = None
            continue
        if not line.startswith("|"):
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        if header is None:
            header = cells
        else:
            rows.append(dict(zip(header, cells, strict=False)))
    return rows


def parse_v1_status(stdout: str) -> DirectorInfo:
    fields: dict[str, str] = {}
    in_director = False
    for line in stdout.splitlines():
        if line.strip() == "Director":
            in_director = True
            continue
        if in_director and line.startswith("  "):
            label, _, value = line.strip().partition(" ")
            fields[label] = value.strip()
        elif in_director and line.strip():
            break
    if "UUID" not in fields:
        raise OutputError("bosh status printed no Director UUID")
    return DirectorInfo(fields.get("Name", ""), fields["UUID"], fields.get("Version", ""), fields.get("CPI", ""),
                        fields.get("User", ""))


def parse_v1_stemcells(stdout: str) -> list[dict[str, Any]]:
    out = []
    for row in box_rows(stdout):
        version, deployed = _deployed(row["Version"])
        out.append({"name": row["Name"], "version": version, "os": row.get("OS", ""), "cid": row.get("CID", ""),
                    "deployed": deployed})
    return out


def parse_v1_releases(stdout: str) -> list[dict[str, Any]]:
    out = []
    for row in box_rows(stdout):
        version, deployed = _deployed(row["Versions"])
        out.append({"name": row["Name"], "version": version, "deployed": deployed,
                    "commitHash": row.get("Commit Hash", "").rstrip("+")})
    return out


def parse_v1_deployments(stdout: str) -> list[dict[str, Any]]:
    return [{"name": row["Name"], "releases": _name_versions(row.get("Release(s)", "")),
             "stemcells": _name_versions(row.get("Stemcell(s)", ""))} for row in box_rows(stdout)]


def parse_v1_backup_path(stdout: str) -> str:
    match = re.search(r"Backup of BOSH director was put in '([^']+)'", stdout)
    if not match:
        raise OutputError("bosh backup did not say where it put the backup")
    return match[1]


def parse_v1_instances(stdout: str) -> list[InstanceSummary]:
    instances: list[InstanceSummary] = []
    deployment = ""
    for line in stdout.splitlines():
        match = re.match(r"^Deployment '(.+)'$", line.strip())
        if match:
            deployment = match[1]
            continue
        if not line.startswith("|") or line.startswith("| Instance"):
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        raw = line.strip("|").split("|")[0]
        if raw.startswith("   ") and instances:
            instances[-1].processes[cells[0]] = cells[1]
        else:
            instances.append(InstanceSummary(deployment, cells[0], cells[1]))
    return instances


def parse_v1_problems(stdout: str) -> list[dict[str, str]]:
    return [{"id": m[1], "type": "", "description": m[3]}
            for m in re.finditer(r"^Problem (\d+) of (\d+): (.+)$", stdout, re.MULTILINE)]


# -- the create-env state file ----------------------------------------------------------------------

def state_file_problems(text: str) -> list[str]:
    """What makes a create-env state file unusable for `bosh create-env --state`: it must be
    a JSON object with the director's id and its disks and stemcells sections."""
    try:
        state = json.loads(text)
    except ValueError as error:
        return [f"it is not JSON ({error})"]
    if not isinstance(state, dict):
        return ["it is not a JSON object"]
    problems = []
    if not isinstance(state.get("director_id"), str) or not state.get("director_id"):
        problems.append("director_id is missing")
    for section in ("disks", "stemcells"):
        if not isinstance(state.get(section), list):
            problems.append(f"the {section} section is missing (a list)")
    disks: list[Any] = state["disks"] if isinstance(state.get("disks"), list) else []
    if any(not isinstance(disk, dict) or not disk.get("cid") for disk in disks):
        problems.append("a disk has no cid")
    current = state.get("current_disk_id")
    if current and current not in {disk.get("id") for disk in disks if isinstance(disk, dict)}:
        problems.append(f"current_disk_id {current!r} is not among the disks")
    return problems


# -- any tool's version ---------------------------------------------------------------------------

TOOL_VERSION = re.compile(r"^(?:(?P<bbr>bbr version)|(?P<boshV1>BOSH)|(?P<bosh>version)) (?P<version>\d[\w.+-]*)",
                          re.MULTILINE)


def parse_tool_version(stdout: str) -> tuple[str, str] | None:
    """(bosh|boshV1|bbr, version) from `TOOL --version`: `version 7.10.6`, `BOSH 1.3262.26.0`,
    `bbr version 1.9.81`; None for anything else."""
    match = TOOL_VERSION.search(stdout)
    if not match:
        return None
    kind = next(name for name in ("bbr", "boshV1", "bosh") if match[name])
    return kind, match["version"]


# -- bbr ------------------------------------------------------------------------------------------

BBR_LINE = re.compile(r"^\[bbr\] \d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2} (?P<level>[A-Z]+) - (?P<message>.*)$")
BBR_PERCENT = re.compile(r"^Copying backup for job (?P<job>\S+) on \S+ -- (?P<percent>\d+)% complete$")
BBR_COPY_START = re.compile(r"^Copying backup -- (?P<size>\S+) uncompressed -- for job (?P<job>\S+) on ")
BBR_COPY_DONE = re.compile(r"^Finished copying backup -- for job (?P<job>\S+) on (?P<instance>[^/\s]+)/")


def bbr_message(line: str) -> str | None:
    match = BBR_LINE.match(line.strip())
    return match["message"] if match else None


@dataclass
class BbrProgress:
    """Turns bbr's copy lines into one percentage over all jobs."""

    jobs: list[str]
    done: dict[str, int] = field(default_factory=dict)

    def feed(self, line: str) -> int | None:
        message = bbr_message(line)
        if message is None:
            return None
        match = BBR_PERCENT.match(message)
        if match:
            self.done[match["job"]] = int(match["percent"])
        elif done := BBR_COPY_DONE.match(message):
            self.done[done["job"]] = 100
        elif not BBR_COPY_START.match(message):
            return None
        return sum(self.done.values()) // max(len(self.jobs), 1)


BBR_EXIT_BITS = {1: "the backup or restore failed", 4: "the pre-backup lock failed",
                 8: "the post-backup unlock failed: the director may still be locked",
                 16: "cleanup on the director failed"}


def killed_by(code: int) -> int | None:
    """The signal that ended a process: Python reports -N, a container runtime 128+N."""
    if code < 0:
        return -code
    if code > 128:
        return code - 128
    return None


def bbr_exit_meaning(code: int) -> list[str]:
    """bbr's exit code is a bitmask: 1 error, 4 lock, 8 unlock, 16 cleanup."""
    signal_number = killed_by(code)
    if signal_number is not None:
        return [f"bbr was killed by signal {signal_number}"
                + (" (SIGKILL: out of memory, or the pod's grace period ran out)" if signal_number == 9 else "")]
    return [text for bit, text in BBR_EXIT_BITS.items() if code & bit]


def bbr_artifact_usable(code: int) -> bool:
    """Only an unlock failure alone (8) leaves a complete artifact behind; bbr 1.9 adds
    bit 1 to a cleanup failure (17), and calls that backup failed."""
    return code in (0, 8)


BBR_ERROR_MARKER = re.compile(r"\d+ errors? occurred:|error \d+:")
BBR_HINTS = ("It is recommended", "Stacktrace written")


def bbr_error(stderr: str) -> str:
    """The messages of bbr's error blocks, in order, with their context: bbr nests blocks
    (`1 error occurred:` inside another) and glues `error k+1:` to the end of line k."""
    text = "\n".join(line for line in stderr.splitlines() if not line.strip().startswith(BBR_HINTS))
    fragments = [part.strip() for part in BBR_ERROR_MARKER.split(text) if part.strip()]
    messages: list[str] = []
    pending = ""
    for fragment in fragments:
        if fragment.endswith(":"):  # context for the nested block that follows
            pending = f"{pending} {fragment}".strip()
            continue
        message = f"{pending} {fragment}".strip()
        pending = ""
        if message not in messages:
            messages.append(" ".join(message.split()))
    if pending:
        messages.append(pending)
    return "; ".join(messages)
